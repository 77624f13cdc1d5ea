"""Model loading policy: skops with the platform's trusted types; anything that runs code from
the artifact (pickle, cloudpickle, python_function) only with the deployment's opt-in."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from modelops.serving_runtime.errors import UnsafeModel, reason_code
from modelops.serving_runtime.loader import import_mlflow, load_model
from modelops.serving_runtime.settings import RuntimeSettings

X = np.random.default_rng(0).normal(size=(60, 3))
Y = (X[:, 0] > 0).astype(int)


class Payload:
    """What an attacker registers: unpickling it runs a command (here, touching a file)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))

    def predict(self, x: Any) -> Any:  # pragma: no cover - never reached
        return x


def save(model: Any, path: Path, fmt: str, **kw: Any) -> str:
    mlflow = import_mlflow()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Listed requirements: inferring them would load (and so run) the model while saving.
        mlflow.sklearn.save_model(
            model, str(path), serialization_format=fmt, pip_requirements=["scikit-learn"], **kw
        )
    return str(path)


def settings(uri: str, **kw: Any) -> RuntimeSettings:
    return RuntimeSettings(model_uri=uri, model_version="1", **kw)


def test_a_pickled_payload_is_not_deserialized_by_default(tmp_path: Path) -> None:
    """H-2: registering a pickled model and moving an alias would run its code in the pod."""
    marker = tmp_path / "owned"
    uri = save(Payload(marker), tmp_path / "evil", "cloudpickle")
    assert not marker.exists()
    with pytest.raises(UnsafeModel, match="serialized with cloudpickle") as refused:
        load_model(settings(uri))
    assert not marker.exists()
    assert reason_code(refused.value, "Unavailable", "LoadFailed") == "PickleNotAllowed"
    # The same artifact with the opt-in does run the payload: the policy is what stops it.
    with pytest.raises(Exception):  # noqa: B017 - the payload is no estimator
        load_model(settings(uri, allow_pickle=True))
    assert marker.exists()


def test_pickle_formats_load_with_the_opt_in(tmp_path: Path) -> None:
    uri = save(LogisticRegression().fit(X, Y), tmp_path / "m", "cloudpickle")
    model = load_model(settings(uri, allow_pickle=True))
    assert model.predict(X[:2], False).predictions.tolist() == Y[:2].tolist()


def test_skops_models_need_no_opt_in(tmp_path: Path) -> None:
    estimator = LogisticRegression().fit(X, Y)
    uri = save(estimator, tmp_path / "m", "skops")
    model = load_model(settings(uri))
    assert model.predict(X[:5], False).predictions.tolist() == estimator.predict(X[:5]).tolist()


def test_skops_trusts_the_platforms_types_not_the_models_own_list(tmp_path: Path) -> None:
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, Y)
    # The model's MLmodel lists the tree type as trusted; only the runtime's list counts.
    uri = save(forest, tmp_path / "m", "skops", skops_trusted_types=["sklearn.tree._tree.Tree"])
    with pytest.raises(UnsafeModel, match="sklearn.tree._tree.Tree") as refused:
        load_model(settings(uri, skops_trusted_types=[]))
    assert refused.value.reason == "UntrustedTypes"
    model = load_model(settings(uri))  # the default list admits trees
    assert model.predict(X[:5], False).predictions.tolist() == forest.predict(X[:5]).tolist()
