"""Downloading MODEL_URI through MLflow and loading it as a LoadedModel."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import numpy as np

from modelops.serving_runtime.flavors import pyfunc_model, sklearn_model
from modelops.serving_runtime.model import LoadedModel
from modelops.serving_runtime.settings import REGISTRY_URI, RuntimeSettings


def _prepare_mlflow_env(settings: RuntimeSettings) -> None:
    # The platform chose MODEL_URI (the operator pins it from its registry), so the model is
    # as trusted as the image; MLflow 3 refuses to deserialize any sklearn model, skops
    # included, without this flag. An explicit "false" in the environment still wins.
    os.environ.setdefault("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    # MLflow's HTTP client retries for minutes by default; our loader retries with its own
    # backoff and reports each failure at /ready instead.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if settings.mlflow_tracking_uri:
        os.environ["MLFLOW_TRACKING_URI"] = settings.mlflow_tracking_uri


def resolve_version(uri: str, mlmodel: Any) -> str:
    """The registry version a URI names (resolving an alias or stage), else the model's id."""
    match = REGISTRY_URI.match(uri)
    if match and match.group("ref"):
        name, sep, ref = match.group("name"), match.group("sep"), match.group("ref")
        if sep == "/" and ref.isdigit():
            return ref
        from mlflow import MlflowClient

        client = MlflowClient()
        if sep == "@":
            return str(client.get_model_version_by_alias(name, ref).version)
        if ref.lower() == "latest":
            versions = client.search_model_versions(f"name='{name}'")
            return str(max(int(v.version) for v in versions))
        stage = [
            v
            for v in client.search_model_versions(f"name='{name}'")
            if (v.current_stage or "").lower() == ref.lower()
        ]
        if stage:
            return str(max(int(v.version) for v in stage))
    return (getattr(mlmodel, "model_uuid", None) or "unknown")[:12]


def import_mlflow() -> Any:
    """Import MLflow's pyfunc and sklearn modules, without their import-time warnings.

    MLflow 3.17 warns while importing its own modules (it infers schemas from its pydantic
    types at import); that is noise for a server, and an error where warnings are errors."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mlflow
        import mlflow.pyfunc
        import mlflow.sklearn
    return mlflow


def load_model(settings: RuntimeSettings) -> LoadedModel:
    """Download and load MODEL_URI (blocking). Raises on any failure; the manager retries."""
    _prepare_mlflow_env(settings)
    mlflow = import_mlflow()
    from mlflow.models import Model

    uri = settings.model_uri
    local = uri if os.path.isdir(uri) else None
    workdir = None
    if local is None:
        workdir = tempfile.mkdtemp(prefix="modelops-model-")
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=workdir)
    try:
        mlmodel = Model.load(local)
        version = settings.model_version or resolve_version(uri, mlmodel)
        input_schema = mlmodel.get_input_schema()
        common = {
            "name": settings.model_name,
            "version": version,
            "uri": uri,
            "model_uuid": mlmodel.model_uuid or "",
            "run_id": mlmodel.run_id,
        }
        if "sklearn" in mlmodel.flavors:
            estimator = mlflow.sklearn.load_model(local)
            schema, mode, call = sklearn_model(estimator, input_schema)
            classes = getattr(estimator, "classes_", None)
            return LoadedModel(
                flavor="sklearn",
                schema=schema,
                call=call,
                input_mode=mode,
                has_proba=hasattr(estimator, "predict_proba"),
                classes=np.asarray(classes).tolist() if classes is not None else None,
                **common,
            )
        pyfunc = mlflow.pyfunc.load_model(local)
        schema, mode, call = pyfunc_model(pyfunc, input_schema)
        workdir = None  # other flavors may read their files lazily: keep them
        return LoadedModel(flavor="pyfunc", schema=schema, call=call, input_mode=mode, **common)
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
