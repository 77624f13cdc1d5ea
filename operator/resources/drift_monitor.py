"""Pure builders: a DriftMonitor and its target ModelDeployment -> the drift CronJob."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from modelops.operator.api.v1alpha1.drift_monitor import CRONJOB_SUFFIX, DriftMonitor
from modelops.operator.api.v1alpha1.model_deployment import ModelDeployment
from modelops.operator.resources.jobs import build_cronjob
from modelops.operator.resources.model_deployment import (
    prediction_log_redis_env,
    prediction_stream,
)
from modelops.operator.settings import OperatorSettings

COMPONENT = "drift-monitor"
DEFAULT_WINDOW = "1h"
WEBHOOK_ENV = "ON_DRIFT_WEBHOOK_URL"


@dataclass(frozen=True)
class DriftTarget:
    """What a drift run needs to know about the ModelDeployment it watches."""

    model_uri: str | None
    """The pinned model (models:/NAME/VERSION) whose training data is the default reference."""
    model_version: str | None
    tracking_uri: str
    model_name: str | None
    """The registered model served (what retraining registers a new version of)."""
    stream: str
    redis_env: dict[str, Any] | None
    """PREDICTION_LOG_REDIS_URL as an env entry: a value, or a Secret reference."""
    credentials_secret: str | None


def drift_target(md: ModelDeployment, settings: OperatorSettings) -> DriftTarget:
    spec = md.spec
    model = md.status.model if md.status else None
    return DriftTarget(
        model_uri=model.resolved_uri if model else None,
        model_version=model.version if model else None,
        tracking_uri=spec.model.tracking_uri or settings.mlflow_tracking_uri,
        model_name=model.name if model else None,
        stream=prediction_stream(str(md.metadata["namespace"]), str(md.metadata["name"])),
        redis_env=prediction_log_redis_env(md, settings),
        credentials_secret=(
            spec.model.credentials_secret_ref.name if spec.model.credentials_secret_ref else None
        ),
    )


def drift_args(dm: DriftMonitor, target: DriftTarget) -> list[str]:
    """The `modelops-runtime drift` command line for one run."""
    spec = dm.spec
    args = ["drift", "--threshold", str(spec.threshold.drift_share)]
    if spec.reference.uri:
        args += ["--reference", spec.reference.uri]
        if target.model_uri and not spec.columns:
            # The served model's inputs are what must be present in the current data.
            args += ["--model", target.model_uri]
    elif target.model_uri:
        args += ["--reference-model", target.model_uri]
    if spec.current.uri:
        args += ["--current", spec.current.uri]
    else:
        args += ["--window", spec.current.window or DEFAULT_WINDOW]
    args += ["--min-rows", str(spec.current.min_rows)]
    if spec.columns:
        args += ["--columns", ",".join(spec.columns)]
    for column, method in sorted((spec.methods or {}).items()):
        args += ["--method", f"{column}={method}"]
    if spec.report is not None and spec.report.uri:
        args += ["--report-dir", spec.report.uri]
    elif spec.report is not None and spec.report.model_run and target.model_uri:
        args.append("--report-to-run")
        if "--model" not in args and "--reference-model" not in args:
            args += ["--model", target.model_uri]
    ns, name = dm.metadata["namespace"], dm.metadata["name"]
    args += ["--monitor", f"{ns}/{name}", "--model-deployment", spec.model_deployment_ref.name]
    if spec.performance is not None:
        if target.model_uri and "--model" not in args and "--reference-model" not in args:
            # Quality is judged for the version served, named here.
            args += ["--model", target.model_uri]
        rules = [m.wire() for m in spec.performance.metrics]
        args += ["--performance", json.dumps(rules, separators=(",", ":"), sort_keys=True)]
        args += ["--min-labels", str(spec.performance.min_labels)]
    if spec.on_drift.tag_model_version:
        # The job tags with the tenant's own registry credentials, not the operator's.
        args.append("--tag-model-version")
        if target.model_uri and "--model" not in args and "--reference-model" not in args:
            args += ["--model", target.model_uri]
    return args


def build_drift_cronjob(
    dm: DriftMonitor, target: DriftTarget, settings: OperatorSettings
) -> dict[str, Any]:
    env: list[dict[str, Any]] = [
        {"name": "MLFLOW_TRACKING_URI", "value": target.tracking_uri},
        {"name": "PREDICTION_LOG_STREAM", "value": target.stream},
        {"name": "HOME", "value": "/tmp"},
    ]
    if target.redis_env is not None:
        env.append(target.redis_env)
    ref = dm.spec.on_drift.webhook_secret_ref
    if ref is not None:
        # The job posts the webhook from the tenant's namespace, under its network policies;
        # the URL (which may hold a token) stays in the Secret, out of the args.
        env.append(
            {
                "name": WEBHOOK_ENV,
                "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}},
            }
        )
    owner = {"apiVersion": dm.api_version, "kind": dm.kind, "metadata": dm.metadata}
    cron = build_cronjob(
        owner,
        dm.spec,
        dm.spec.schedule,
        COMPONENT,
        CRONJOB_SUFFIX,
        drift_args(dm, target),
        env,
        settings,
    )
    if target.credentials_secret:
        container = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
        container["envFrom"] = credentials_env_from(target)
    return cron


def credentials_env_from(target: DriftTarget) -> list[dict[str, Any]]:
    """The registry and object-store credentials of the ModelDeployment, for a job that reads
    or writes what the model's registry holds."""
    if not target.credentials_secret:
        return []
    return [{"secretRef": {"name": target.credentials_secret}}]
