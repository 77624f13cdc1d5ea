"""The operator's registry client against a real MLflow: what proves a retraining run's
version is that run's."""

from __future__ import annotations

import uuid

from modelops.operator.clients.registry import retrained_version
from modelops.operator.settings import OperatorSettings

from .helpers import register_model

TAG = "modelops.retrain_id"


def test_only_a_version_tagged_with_the_runs_id_counts_as_the_runs(mlflow_url: str) -> None:
    import mlflow

    settings = OperatorSettings(mlflow_tracking_uri=mlflow_url)
    client = mlflow.MlflowClient(tracking_uri=mlflow_url, registry_uri=mlflow_url)
    name = f"rt{uuid.uuid4().hex[:8]}"

    def check() -> tuple[str | None, str]:
        return retrained_version(name, "challenger", TAG, "run-1", mlflow_url, settings)

    first = register_model(mlflow_url, name, alias="champion")
    client.set_registered_model_alias(name, "challenger", first)
    # Somebody moved the alias, to a version no run of the operator's registered.
    found, why = check()
    assert found is None and f"names version {first}, which is not tagged {TAG}=run-1" in why
    client.set_model_version_tag(name, first, TAG, "run-0")  # another run's version
    assert check()[0] is None
    second = register_model(mlflow_url, name, alias="challenger", seed=1)
    client.set_model_version_tag(name, second, TAG, "run-1")
    assert check() == (second, f"registered {name} version {second} as @challenger")
    client.delete_registered_model_alias(name, "challenger")
    found, why = check()
    assert found is None and "names no version" in why
