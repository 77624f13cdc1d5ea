"""Pure builder: the Job that scores a rollout's candidate on holdout data before traffic."""

from __future__ import annotations

import json
from typing import Any

from modelops.operator.api.v1alpha1.model_deployment import ModelDeployment, ResolvedModel
from modelops.operator.resources.common import child_name
from modelops.operator.resources.jobs import build_job
from modelops.operator.settings import OperatorSettings

COMPONENT = "rollout-validation"


def job_name(name: str, version: str) -> str:
    """One Job per candidate version: a new version validates afresh."""
    return child_name(name, f"validate-{version}")


def build_validation_job(
    md: ModelDeployment,
    candidate: ResolvedModel,
    stable: ResolvedModel | None,
    settings: OperatorSettings,
) -> dict[str, Any] | None:
    v = md.spec.rollout.validation
    if v is None or not candidate.resolved_uri or not candidate.version:
        return None
    args = [
        "validate",
        "--candidate", candidate.resolved_uri,
        "--data", v.data,
        "--target", v.target,
        "--metrics", json.dumps([m.wire() for m in v.metrics], separators=(",", ":")),
    ]  # fmt: skip
    if stable is not None and stable.resolved_uri:
        args += ["--stable", stable.resolved_uri]
    if md.spec.model.allow_pickle:
        args.append("--allow-pickle")
    tracking = md.spec.model.tracking_uri or settings.mlflow_tracking_uri
    env = [{"name": "MLFLOW_TRACKING_URI", "value": tracking}]
    env_from = None
    if md.spec.model.credentials_secret_ref is not None:
        env_from = [{"secretRef": {"name": md.spec.model.credentials_secret_ref.name}}]
    owner = {"apiVersion": md.api_version, "kind": md.kind, "metadata": md.metadata}
    name = str(md.metadata["name"])
    return build_job(
        owner,
        job_name(name, candidate.version),
        v.job,
        COMPONENT,
        args,
        env,
        settings,
        env_from,
    )
