"""Downloading MODEL_URI through MLflow and loading it as a LoadedModel."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import numpy as np

from modelops.serving_runtime.errors import UnsafeModel
from modelops.serving_runtime.flavors import pyfunc_model, sklearn_model
from modelops.serving_runtime.model import LoadedModel
from modelops.serving_runtime.settings import REGISTRY_URI, RuntimeSettings


def _prepare_mlflow_env(settings: RuntimeSettings) -> None:
    # MLflow's own gate for every sklearn format (skops included, since it trusts the types
    # the model lists): opened only with the deployment's explicit opt-in, and MLflow's
    # loaders are only called then (skops models are loaded here, with the platform's types).
    if settings.allow_pickle:
        os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "true"
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


def load_sklearn(local: str, flavor: dict[str, Any], settings: RuntimeSettings, mlflow: Any) -> Any:
    """The estimator: skops with the platform's trusted types, pickle formats by opt-in only."""
    fmt = flavor.get("serialization_format", "cloudpickle")
    if fmt == "skops":
        import skops.io

        path = os.path.join(local, flavor.get("pickled_model", "model.skops"))
        untrusted = [
            t
            for t in skops.io.get_untrusted_types(file=path)
            if t not in settings.skops_trusted_types
        ]
        if untrusted:
            raise UnsafeModel(
                "UntrustedTypes",
                f"the skops model holds types the platform does not trust: "
                f"{', '.join(untrusted)} (SKOPS_TRUSTED_TYPES lists those it does)",
            )
        return skops.io.load(path, trusted=list(settings.skops_trusted_types))
    if not settings.allow_pickle:
        raise UnsafeModel(
            "PickleNotAllowed",
            f"the model is serialized with {fmt}, which runs code from the artifact when "
            "loaded; log it with serialization_format='skops', or set ALLOW_PICKLE "
            "(spec.model.allowPickle) to serve it",
        )
    return mlflow.sklearn.load_model(local)


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
            estimator = load_sklearn(local, mlmodel.flavors["sklearn"], settings, mlflow)
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
        if not settings.allow_pickle:
            raise UnsafeModel(
                "PickleNotAllowed",
                "a python_function model runs its own code when loaded (a cloudpickled class "
                "or a code file); set ALLOW_PICKLE (spec.model.allowPickle) to serve it",
            )
        pyfunc = mlflow.pyfunc.load_model(local)
        schema, mode, call = pyfunc_model(pyfunc, input_schema)
        workdir = None  # other flavors may read their files lazily: keep them
        return LoadedModel(flavor="pyfunc", schema=schema, call=call, input_mode=mode, **common)
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
