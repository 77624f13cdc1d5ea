"""The drift CronJob builder."""

from __future__ import annotations

from modelops.operator.api.v1alpha1.drift_monitor import DriftMonitor
from modelops.operator.api.v1alpha1.model_deployment import (
    ModelDeploymentStatus,
    ResolvedModel,
)
from modelops.operator.resources.drift_monitor import (
    build_drift_cronjob,
    drift_args,
    drift_target,
)
from modelops.operator.settings import OperatorSettings

from ..conftest import make_md


def monitor(**spec: object) -> DriftMonitor:
    return DriftMonitor.model_validate(
        {
            "apiVersion": "modelops.dev/v1alpha1",
            "kind": "DriftMonitor",
            "metadata": {"name": "fraud-drift", "namespace": "risk", "uid": "u-1"},
            "spec": {"modelDeploymentRef": {"name": "fraud"}, **spec},
        }
    )


def served_md(**spec: object):
    md = make_md({"model": {"uri": "models:/fraud@champion"}, **spec})
    md.status = ModelDeploymentStatus(
        model=ResolvedModel(resolved_uri="models:/fraud/7", name="fraud", version="7")
    )
    return md


def test_defaults_read_the_prediction_log_against_the_served_versions_training_data(
    settings: OperatorSettings,
) -> None:
    target = drift_target(
        served_md(predictionLog={"enabled": True, "redisUrl": "redis://r:1/0"}), settings
    )
    args = drift_args(monitor(), target)
    assert args == [
        "drift",
        "--threshold",
        "0.2",
        "--reference-model",
        "models:/fraud/7",
        "--window",
        "1h",
        "--min-rows",
        "100",
        "--monitor",
        "risk/fraud-drift",
        "--model-deployment",
        "fraud",
    ]
    assert target.stream == "modelops:predictions:risk:fraud"
    assert target.redis_env == {"name": "PREDICTION_LOG_REDIS_URL", "value": "redis://r:1/0"}


def test_explicit_data_columns_methods_and_report(settings: OperatorSettings) -> None:
    m = monitor(
        reference={"uri": "s3://b/train.parquet"},
        current={"uri": "s3://b/today.parquet", "minRows": 10},
        columns=["a", "b"],
        methods={"b": "psi", "a": "ks"},
        threshold={"driftShare": 0.5},
        report={"uri": "s3://b/reports"},
    )
    args = drift_args(m, drift_target(served_md(), settings))
    assert args == [
        "drift",
        "--threshold",
        "0.5",
        "--reference",
        "s3://b/train.parquet",
        "--current",
        "s3://b/today.parquet",
        "--min-rows",
        "10",
        "--columns",
        "a,b",
        "--method",
        "a=ks",
        "--method",
        "b=psi",
        "--report-dir",
        "s3://b/reports",
        "--monitor",
        "risk/fraud-drift",
        "--model-deployment",
        "fraud",
    ]


def test_explicit_reference_still_checks_the_served_models_inputs(
    settings: OperatorSettings,
) -> None:
    m = monitor(reference={"uri": "s3://b/train.parquet"})
    args = drift_args(m, drift_target(served_md(), settings))
    model = args[args.index("--model") + 1]
    assert model == drift_target(served_md(), settings).model_uri and model.startswith("models:/")


def test_cronjob_is_owned_forbids_overlap_and_is_hardened(settings: OperatorSettings) -> None:
    md = served_md(
        model={"uri": "models:/fraud@champion", "credentialsSecretRef": {"name": "mlflow-creds"}},
        cache={"redisSecretRef": {"name": "redis", "key": "url"}},
    )
    cron = build_drift_cronjob(
        monitor(schedule="*/5 * * * *", timeZone="Europe/Paris"),
        drift_target(md, settings),
        settings,
    )
    assert cron["metadata"]["ownerReferences"][0]["kind"] == "DriftMonitor"
    spec = cron["spec"]
    assert (spec["schedule"], spec["timeZone"], spec["concurrencyPolicy"]) == (
        "*/5 * * * *",
        "Europe/Paris",
        "Forbid",
    )
    job = spec["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] == 3600 and job["backoffLimit"] == 1
    # Bad input (exit 2 or 3) fails the run at once; an eviction is retried without counting.
    fail, ignore = job["podFailurePolicy"]["rules"]
    assert fail == {
        "action": "FailJob",
        "onExitCodes": {"containerName": "drift-monitor", "operator": "In", "values": [2, 3]},
    }
    assert ignore["action"] == "Ignore"
    assert ignore["onPodConditions"] == [{"type": "DisruptionTarget", "status": "True"}]
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    (c,) = pod["containers"]
    assert c["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["envFrom"] == [{"secretRef": {"name": "mlflow-creds"}}]
    env = {e["name"]: e for e in c["env"]}
    assert env["PREDICTION_LOG_REDIS_URL"]["valueFrom"] == {
        "secretKeyRef": {"name": "redis", "key": "url"}
    }
    labels = job["template"]["metadata"]["labels"]
    assert labels["modelops.dev/drift-monitor"] == "fraud-drift"
    assert labels["app.kubernetes.io/component"] == "drift-monitor"


def test_reports_on_the_model_run_name_the_served_version(settings: OperatorSettings) -> None:
    (c,) = build_drift_cronjob(
        monitor(reference={"uri": "s3://b/ref.parquet"}, columns=["a"], report={"modelRun": True}),
        drift_target(served_md(), settings),
        settings,
    )["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    args = c["args"]
    assert "--report-to-run" in args and "--report-dir" not in args
    assert args[args.index("--model") + 1] == "models:/fraud/7"


def test_the_jobs_pod_runs_as_the_named_service_account(settings: OperatorSettings) -> None:
    cron = build_drift_cronjob(
        monitor(job={"serviceAccountName": "drift-reader", "imagePullSecrets": [{"name": "r"}]}),
        drift_target(served_md(), settings),
        settings,
    )
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "drift-reader"
    assert pod["imagePullSecrets"] == [{"name": "r"}]
    assert pod["automountServiceAccountToken"] is False


def test_the_job_takes_the_on_drift_actions_with_the_tenants_rights(
    settings: OperatorSettings,
) -> None:
    """The webhook URL reaches the job's pod by Secret reference (never as an argument, never
    read by the operator); the tag is the job's, naming the served version."""
    m = monitor(
        reference={"uri": "s3://b/train.parquet"},
        columns=["a"],
        onDrift={"tagModelVersion": True, "webhookSecretRef": {"name": "hook", "key": "url"}},
    )
    target = drift_target(served_md(), settings)
    args = drift_args(m, target)
    assert "--tag-model-version" in args
    assert args[args.index("--model") + 1] == "models:/fraud/7"  # what to tag
    (c,) = build_drift_cronjob(m, target, settings)["spec"]["jobTemplate"]["spec"]["template"][
        "spec"
    ]["containers"]
    env = {e["name"]: e for e in c["env"]}
    assert env["ON_DRIFT_WEBHOOK_URL"] == {
        "name": "ON_DRIFT_WEBHOOK_URL",
        "valueFrom": {"secretKeyRef": {"name": "hook", "key": "url"}},
    }
    assert not any("hook" in a for a in c["args"])


def test_performance_rules_reach_the_job_as_one_json_argument(settings: OperatorSettings) -> None:
    target = drift_target(served_md(), settings)
    rules = [{"name": "accuracy", "min": 0.85}, {"name": "f1", "min": 0.8, "max": 1.0}]
    args = drift_args(monitor(performance={"metrics": rules, "minLabels": 30}), target)
    at = args.index("--performance")
    assert args[at + 1] == ('[{"min":0.85,"name":"accuracy"},{"max":1.0,"min":0.8,"name":"f1"}]')
    assert args[args.index("--min-labels") + 1] == "30"
    assert "--performance" not in drift_args(monitor(), target)
