"""MLflow registry I/O: pin an alias or stage to a version, and pre-flight the model's needs."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

from modelops.operator.api.v1alpha1.model_deployment import ResolvedModel
from modelops.operator.settings import OperatorSettings
from modelops.operator.status.resolution import (
    MODEL_NOT_FOUND,
    REGISTRY_UNAVAILABLE,
    Compatibility,
    Resolution,
    compatibility_problems,
)

_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(@(?P<alias>[^/]+)|/(?P<ref>[^/]+))$")
# MLflow error codes that mean "no such model/alias/version": retrying will not help until
# somebody registers it, so they are reported as ModelNotFound, not as an outage.
_NOT_FOUND_CODES = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"}


def _client(tracking_uri: str, timeout: float) -> Any:
    # MLflow's client retries a refused connection for minutes by default; the operator
    # retries on its own schedule and must report an outage promptly.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(int(timeout)))
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def warm() -> None:
    """Import what the first registry call would: MLflow then loads every installed request
    header plugin (Feast's among them), about six seconds of CPU that would otherwise fall on
    the first ModelDeployments an operator sees."""
    import mlflow.tracking.request_header.registry  # noqa: F401


def _failure(exc: Exception, what: str) -> Resolution:
    from mlflow.exceptions import MlflowException

    if isinstance(exc, MlflowException) and exc.error_code in _NOT_FOUND_CODES:
        return Resolution(None, MODEL_NOT_FOUND, f"{what}: {exc.message}")
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return Resolution(None, REGISTRY_UNAVAILABLE, f"{what}: {text[:500]}")


def resolve(uri: str, tracking_uri: str, settings: OperatorSettings) -> Resolution:
    """models:/NAME@ALIAS and models:/NAME/STAGE -> models:/NAME/VERSION; other URIs as is."""
    m = _MODELS_URI.match(uri)
    if m is None:
        # runs:/, s3:// and image paths are already immutable enough: served as written.
        return Resolution(ResolvedModel(uri=uri, resolved_uri=uri))
    name, alias, ref = m["name"], m["alias"], m["ref"]
    try:
        client = _client(tracking_uri, settings.registry_timeout_seconds)
        if alias is not None:
            mv = client.get_model_version_by_alias(name, alias)
        elif ref.isdigit():
            mv = client.get_model_version(name, ref)
        elif ref.lower() == "latest":
            versions = client.search_model_versions(f"name='{name}'")
            if not versions:
                return Resolution(None, MODEL_NOT_FOUND, f"{uri}: model {name} has no versions")
            mv = max(versions, key=lambda v: int(v.version))
        else:
            # Legacy stages (Production, Staging): deprecated by MLflow, still honoured.
            versions = _latest_in_stage(client, name, ref)
            if not versions:
                return Resolution(None, MODEL_NOT_FOUND, f"{uri}: no version in stage {ref}")
            mv = versions[0]
    except Exception as exc:  # every registry failure becomes a condition
        return _failure(exc, f"Could not resolve {uri}")
    return Resolution(
        ResolvedModel(
            uri=uri,
            resolved_uri=f"models:/{name}/{mv.version}",
            name=name,
            version=str(mv.version),
            run_id=mv.run_id or None,
        )
    )


def move_alias(
    name: str, alias: str, version: str, tracking_uri: str, settings: OperatorSettings
) -> None:
    """Point `alias` at `version` (a promotion: the registry records what production runs)."""
    _client(tracking_uri, settings.registry_timeout_seconds).set_registered_model_alias(
        name, alias, version
    )


def tag_version(
    name: str, version: str, key: str, value: str, tracking_uri: str, settings: OperatorSettings
) -> None:
    _client(tracking_uri, settings.registry_timeout_seconds).set_model_version_tag(
        name, version, key, value
    )


def retrained_version(
    name: str, alias: str, tag: str, retrain_id: str, tracking_uri: str, settings: OperatorSettings
) -> tuple[str | None, str]:
    """The version `alias` names, when it carries tag=retrain_id: proof that the run the
    operator launched registered it (the alias alone could have been moved by anyone).
    Raises when the registry cannot be asked: the check is retried, not failed."""
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri, settings.registry_timeout_seconds)
    try:
        mv = client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in _NOT_FOUND_CODES:
            return None, f"the Job completed, but {name}@{alias} names no version"
        raise
    if (mv.tags or {}).get(tag) != retrain_id:
        return None, (
            f"the Job completed, but {name}@{alias} names version {mv.version}, which is not "
            f"tagged {tag}={retrain_id}: this run registered nothing under @{alias}"
        )
    return str(mv.version), f"registered {name} version {mv.version} as @{alias}"


def _latest_in_stage(client: Any, name: str, stage: str) -> list[Any]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return list(client.get_latest_versions(name, stages=[stage]))


def check_compatibility(
    model: ResolvedModel, tracking_uri: str, settings: OperatorSettings, allow_pickle: bool
) -> Compatibility:
    """Read the version's MLmodel and requirements.txt and compare them with the runtime."""
    if model.name is None or model.version is None:
        return Compatibility(None, "Not a registry model: not checked")
    try:
        client = _client(tracking_uri, settings.registry_timeout_seconds)
        root = client.get_model_version_download_uri(model.name, model.version)
        sizes = _sizes(root, tracking_uri)
        too_big = [
            f"{f} is {sizes[f]} bytes"
            for f in ("MLmodel", "requirements.txt")
            if (sizes.get(f) or 0) > settings.preflight_max_bytes
        ]
        if too_big:
            # A registry the tenant controls must not fill the operator's disk or memory.
            return Compatibility(
                None,
                f"Not checked: {', '.join(too_big)}, over the "
                f"{settings.preflight_max_bytes}-byte pre-flight limit",
            )
        if "MLmodel" not in sizes:
            return Compatibility(None, f"{model.resolved_uri} has no MLmodel file")
        with tempfile.TemporaryDirectory(prefix="modelops-preflight-") as tmp:
            mlmodel = _download(f"{root}/MLmodel", tracking_uri, tmp)
            if mlmodel is None:
                return Compatibility(None, f"{model.resolved_uri} has no MLmodel file")
            meta = yaml.safe_load(Path(mlmodel).read_text()) or {}
            reqs_path = None
            if "requirements.txt" in sizes:
                reqs_path = _download(f"{root}/requirements.txt", tracking_uri, tmp)
            reqs = Path(reqs_path).read_text() if reqs_path else ""
    except Exception as exc:  # a failed pre-flight is reported, not fatal
        return Compatibility(None, f"Could not read the model's metadata: {str(exc)[:300]}")
    problems = compatibility_problems(meta, reqs, settings, allow_pickle)
    if problems:
        return Compatibility(False, "; ".join(problems))
    return Compatibility(True, "The runtime ships every flavor and package the model needs")


def _sizes(root: str, tracking_uri: str) -> dict[str, int | None]:
    """The files at the top of a model version, with their sizes where the store tells."""
    import mlflow

    listed = mlflow.artifacts.list_artifacts(artifact_uri=root, tracking_uri=tracking_uri)
    return {Path(f.path).name: f.file_size for f in listed if not f.is_dir}


def _download(uri: str, tracking_uri: str, dst: str) -> str | None:
    import mlflow

    try:
        return str(
            mlflow.artifacts.download_artifacts(uri, dst_path=dst, tracking_uri=tracking_uri)
        )
    except Exception:  # a missing file is answered with None
        return None
