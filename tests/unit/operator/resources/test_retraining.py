"""The retraining Job builder: the user's container, the run's context, hardened."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from modelops.operator.api.v1alpha1.drift_monitor import DriftMonitor
from modelops.operator.resources.drift_monitor import DriftTarget
from modelops.operator.resources.retraining import build_retrain_job
from modelops.operator.settings import OperatorSettings
from modelops.operator.status import retraining as rt

NOW = datetime(2026, 12, 2, 9, 0, 0, tzinfo=UTC)
TARGET = DriftTarget(
    model_uri="models:/fraud/7",
    model_version="7",
    tracking_uri="http://mlflow:5000",
    model_name="fraud",
    stream="modelops:predictions:risk:fraud",
    redis_env={"name": "PREDICTION_LOG_REDIS_URL", "value": "redis://r:6379/0"},
    credentials_secret="s3-credentials",
)


def monitor(**retrain: object) -> DriftMonitor:
    return DriftMonitor.model_validate(
        {
            "apiVersion": "modelops.dev/v1alpha1",
            "kind": "DriftMonitor",
            "metadata": {"name": "fraud-drift", "namespace": "risk", "uid": "u-1"},
            "spec": {
                "modelDeploymentRef": {"name": "fraud"},
                "onDrift": {"retrain": True},
                "retrain": {"image": "registry.example/trainer:3", **retrain},
            },
        }
    )


def job(settings: OperatorSettings, **retrain: object) -> dict[str, object]:
    run = rt.started("fraud-drift", "00aa11bb22cc33dd", "Drift", "fraud-drift-29", NOW)
    figures = {"driftShare": 0.5, "driftedColumns": ["f3"]}
    return build_retrain_job(monitor(**retrain), TARGET, run, figures, (1000.0, 4600.0), settings)


def test_the_users_container_runs_with_the_runs_context(settings: OperatorSettings) -> None:
    built = job(
        settings,
        command=["python", "/opt/trainer/train.py"],
        env=[
            {"name": "EPOCHS", "value": "3"},
            {"name": "TOKEN", "secretKeyRef": {"name": "t", "key": "k"}},
        ],
        configMaps=[{"name": "trainer", "mountPath": "/opt/trainer"}],
    )
    assert built["metadata"]["name"] == "fraud-drift-retrain-00aa11bb"
    assert built["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    pod = built["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "registry.example/trainer:3"
    assert container["command"] == ["python", "/opt/trainer/train.py"]
    assert "args" not in container
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["MODELOPS_MODEL_NAME"] == "fraud" and env["MODELOPS_STABLE_VERSION"] == "7"
    assert env["MODELOPS_REGISTER_ALIAS"] == "challenger"
    assert env["MODELOPS_RETRAIN_ID"] == "00aa11bb22cc33dd"
    assert env["MODELOPS_RETRAIN_REASON"] == "Drift"
    assert json.loads(env["MODELOPS_RETRAIN_FIGURES"])["driftedColumns"] == ["f3"]
    assert (env["MODELOPS_WINDOW_START"], env["MODELOPS_WINDOW_END"]) == ("1000.000", "4600.000")
    assert env["PREDICTION_LOG_REDIS_URL"] == "redis://r:6379/0"
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert env["EPOCHS"] == "3"
    assert env["TOKEN"] == {"secretKeyRef": {"name": "t", "key": "k"}}
    assert container["envFrom"] == [{"secretRef": {"name": "s3-credentials"}}]
    assert {"name": "cm-0", "mountPath": "/opt/trainer", "readOnly": True} in container[
        "volumeMounts"
    ]
    assert {"name": "cm-0", "configMap": {"name": "trainer"}} in pod["volumes"]
    # Hardened like the operator's own jobs; its failures are the author's, not retried.
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["automountServiceAccountToken"] is False
    assert built["spec"]["backoffLimit"] == 0
    assert built["spec"]["activeDeadlineSeconds"] == 3600
    # The trainer's exit codes are its own: none is taken as bad input; evictions still retry.
    (rule,) = built["spec"]["podFailurePolicy"]["rules"]
    assert rule["action"] == "Ignore" and rule["onPodConditions"][0]["type"] == "DisruptionTarget"


def test_the_runtime_image_by_default(settings: OperatorSettings) -> None:
    built = job(settings, image=None, args=["--epochs", "3"])
    (container,) = built["spec"]["template"]["spec"]["containers"]
    assert container["image"] == settings.runtime_image
    assert container["args"] == ["--epochs", "3"] and "command" not in container
