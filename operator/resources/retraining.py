"""Pure builder: a DriftMonitor's retraining run -> the user's training Job, with the run's
context in its environment."""

from __future__ import annotations

import json
from typing import Any

from modelops.operator.api.v1alpha1.drift_monitor import DriftMonitor, RetrainStatus
from modelops.operator.api.v1alpha1.schedule import JobRuntime
from modelops.operator.resources.common import child_metadata, common_labels, owner_label
from modelops.operator.resources.drift_monitor import DriftTarget, credentials_env_from
from modelops.operator.resources.jobs import job_spec
from modelops.operator.settings import OperatorSettings

COMPONENT = "retrain"
# The training run's own failures are for its author to fix: a retry repeats them.
BACKOFF_LIMIT = 0


def retrain_env(
    dm: DriftMonitor,
    target: DriftTarget,
    run: RetrainStatus,
    figures: dict[str, Any],
    window: tuple[float, float],
) -> list[dict[str, Any]]:
    """What the training code needs to know, by the names docs/feedback-loop.md lists."""
    assert dm.spec.retrain is not None
    ns, name = dm.metadata["namespace"], dm.metadata["name"]
    env: list[dict[str, Any]] = [
        {"name": "MLFLOW_TRACKING_URI", "value": target.tracking_uri},
        {"name": "MODELOPS_MODEL_NAME", "value": target.model_name or ""},
        {"name": "MODELOPS_STABLE_VERSION", "value": target.model_version or ""},
        {"name": "MODELOPS_REGISTER_ALIAS", "value": dm.spec.retrain.alias},
        {"name": "MODELOPS_RETRAIN_ID", "value": run.retrain_id},
        {"name": "MODELOPS_RETRAIN_REASON", "value": run.reason},
        {"name": "MODELOPS_RETRAIN_FIGURES", "value": json.dumps(figures, sort_keys=True)},
        {"name": "MODELOPS_WINDOW_START", "value": f"{window[0]:.3f}"},
        {"name": "MODELOPS_WINDOW_END", "value": f"{window[1]:.3f}"},
        {"name": "MODELOPS_DRIFT_MONITOR", "value": f"{ns}/{name}"},
        {"name": "PREDICTION_LOG_STREAM", "value": target.stream},
        {"name": "HOME", "value": "/tmp"},
    ]
    if target.redis_env is not None:
        env.append(target.redis_env)
    for var in dm.spec.retrain.env or []:
        if var.secret_key_ref is not None:
            ref = var.secret_key_ref
            env.append(
                {
                    "name": var.name,
                    "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}},
                }
            )
        else:
            env.append({"name": var.name, "value": var.value or ""})
    return env


def build_retrain_job(
    dm: DriftMonitor,
    target: DriftTarget,
    run: RetrainStatus,
    figures: dict[str, Any],
    window: tuple[float, float],
    settings: OperatorSettings,
) -> dict[str, Any]:
    """The Job, owned by the monitor, hardened like the operator's own jobs."""
    retrain = dm.spec.retrain
    assert retrain is not None
    name = dm.metadata["name"]
    runtime = JobRuntime(
        image=retrain.image,
        resources=retrain.resources,
        active_deadline=retrain.active_deadline,
        backoff_limit=BACKOFF_LIMIT,
    )
    volumes = [
        (
            {"name": f"cm-{i}", "configMap": {"name": cm.name}},
            {"name": f"cm-{i}", "mountPath": cm.mount_path, "readOnly": True},
        )
        for i, cm in enumerate(retrain.config_maps or [])
    ]
    spec = job_spec(
        name,
        runtime,
        COMPONENT,
        retrain.args or [],
        retrain_env(dm, target, run, figures, window),
        settings,
        extra_volumes=volumes,
        env_from=credentials_env_from(target) or None,
        # The team's trainer: its exit codes mean what it says, none is known to be bad input.
        bad_input_exit_codes=(),
    )
    container = spec["template"]["spec"]["containers"][0]
    if retrain.command:
        container["command"] = retrain.command
    if not retrain.args:
        container.pop("args")
    labels = {**common_labels(name, COMPONENT), owner_label(COMPONENT): name}
    owner = {"apiVersion": dm.api_version, "kind": dm.kind, "metadata": dm.metadata}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": child_metadata(owner, run.job_name, labels),
        "spec": spec,
    }
