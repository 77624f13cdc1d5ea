"""DriftMonitor: scheduled Evidently drift checks on what a ModelDeployment served."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from modelops.operator.api.base import (
    API_VERSION,
    Condition,
    CrdInfo,
    KubeModel,
    ObjectRef,
    PrinterColumn,
    SecretKeyRef,
    condition_columns,
    identifier,
    matching,
    message_column,
)
from modelops.operator.api.v1alpha1.schedule import (
    DURATION_PATTERN,
    MAX_CRONJOB_NAME,
    ScheduleFields,
    cron_field,
    duration,
)

# Evidently 0.7's registered drift methods (stattests), by the names its presets accept.
DriftMethod = Literal[
    "ks",
    "chisquare",
    "z",
    "jensenshannon",
    "kl_div",
    "psi",
    "wasserstein",
    "anderson",
    "cramer_von_mises",
    "fisher_exact",
    "g_test",
    "hellinger",
    "mannw",
    "ed",
    "es",
    "t_test",
    "empirical_mmd",
    "TVD",
]
DATA_URI_PATTERN = r"^(runs:/[0-9a-zA-Z]+/\S+|models:/\S+|s3://\S+|gs://\S+|mlflow-artifacts:/\S+|https?://\S+|/\S*)$"


def data_uri() -> Any:
    return matching(
        DATA_URI_PATTERN,
        "must be a runs:/, models:/, s3://, gs://, mlflow-artifacts:/, http:// or https:// URI, "
        "or an absolute path",
        default=None,
        max_length=2048,
    )


class CurrentData(KubeModel):
    """What the model saw: a window of its prediction log, or a dataset."""

    model_config = KubeModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "!(has(self.uri) && has(self.window))",
                    "message": "current: set window (the prediction log) or uri, not both",
                }
            ]
        }
    }

    window: str | None = Field(
        default=None,
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": f"self.matches('{DURATION_PATTERN}')",
                    "message": "window must be a duration like 30m, 1h or 7d",
                }
            ]
        },
    )
    """How far back to read the deployment's prediction log (e.g. 1h, 30m, 7d); 1h when
    neither window nor uri is set."""
    min_rows: int = Field(default=100, ge=1, le=100_000_000)
    """Fewer current rows than this make the run fail with a clear error instead of a guess."""
    uri: str | None = data_uri()
    """A dataset (parquet or csv) to use instead of the prediction log."""


class ReferenceData(KubeModel):
    """The data the model was trained on."""

    uri: str | None = data_uri()
    """runs:/RUN/path, s3://..., or a file path (parquet or csv). When absent: the dataset
    that mlflow.log_input recorded on the run of the model version now served."""


class Threshold(KubeModel):
    """When the whole dataset counts as drifted."""

    drift_share: float = Field(default=0.2, gt=0, le=1)
    """The share of drifted columns at or above which the dataset has drifted, in (0, 1]."""


class ReportSpec(KubeModel):
    """Where the Evidently reports (HTML and JSON) go: an object store, or the served model
    version's MLflow run. Never a path inside the job's pod, whose filesystem goes with it."""

    model_config = KubeModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.uri) != (has(self.modelRun) && self.modelRun)",
                    "message": "set exactly one of uri and modelRun: true",
                }
            ]
        }
    }

    uri: str | None = matching(
        r"^(s3://\S+|gs://\S+|mlflow-artifacts:/\S+)$",
        "must be an s3://, gs:// or mlflow-artifacts:/ URI (a path in the job's pod would go "
        "with the pod)",
        default=None,
        max_length=2048,
    )
    """An artifact store URI MLflow can write (s3://bucket/drift/fraud): each run's reports go
    under it, named by the run's time."""
    model_run: bool = False
    """Attach each run's reports to the MLflow run of the served model version, under
    modelops-drift/ (needs a model served from the registry, and write access to its run)."""


class OnDrift(KubeModel):
    """What happens when dataset drift is found; an Event is always posted."""

    retrain: bool = False
    """Start spec.retrain's Job (subject to its cooldown)."""
    tag_model_version: bool = False
    """Tag the served MLflow model version with modelops.drift=true and the drift share (the
    job does it, with the registry credentials of spec.model.credentialsSecretRef)."""
    webhook_secret_ref: SecretKeyRef | None = None
    """A Secret key holding an http(s) URL to POST the result to as JSON. The job's pod posts
    it, from this namespace and under its network policies; redirects are not followed."""


# roc_auc needs class probabilities, which the prediction log does not keep.
PerformanceMetricName = Literal["accuracy", "precision", "recall", "f1", "rmse", "mae", "r2"]
CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1")


class PerformanceMetric(KubeModel):
    """One quality measure and the bound it must stay within."""

    model_config = KubeModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.min) || has(self.max)",
                    "message": "a performance metric needs min or max",
                },
                {
                    "rule": "!has(self.min) || !has(self.max) || self.min <= self.max",
                    "message": "min must not exceed max",
                },
            ]
        }
    }

    name: PerformanceMetricName
    """accuracy, precision, recall or f1 (classifiers; precision, recall and f1 are macro
    averages over more than two classes), or rmse, mae or r2 (regressors). Computed by
    Evidently."""
    min: float | None = None
    """The value must be at least this (e.g. accuracy 0.85)."""
    max: float | None = None
    """The value must be at most this (e.g. rmse)."""


class Performance(KubeModel):
    """Model quality in production: the window's logged predictions joined, by prediction id,
    with the labels clients sent to the deployment's POST /feedback."""

    model_config = KubeModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "self.metrics.all(m, m.name in "
                    + str(list(CLASSIFICATION_METRICS))
                    + ") || self.metrics.all(m, !(m.name in "
                    + str(list(CLASSIFICATION_METRICS))
                    + "))",
                    "message": "performance metrics are all classification metrics "
                    "(accuracy, precision, recall, f1) or all regression metrics "
                    "(rmse, mae, r2)",
                }
            ]
        }
    }

    metrics: list[PerformanceMetric] = Field(
        min_length=1,
        max_length=8,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    """The measures to compute and their bounds."""
    min_labels: int = Field(default=50, ge=1, le=10_000_000)
    """Fewer labelled predictions in the window than this report TooFewLabels: neither a pass
    nor a breach."""


class OnPerformanceBreach(KubeModel):
    """What happens when a spec.performance measure breaches its bound; a PerformanceDegraded
    Event is always posted."""

    retrain: bool = False
    """Start spec.retrain's Job (subject to its cooldown)."""


# Set by the operator on the retraining container: the run's context (docs/feedback-loop.md).
RETRAIN_ENV = (
    "MLFLOW_TRACKING_URI",
    "MODELOPS_MODEL_NAME",
    "MODELOPS_STABLE_VERSION",
    "MODELOPS_REGISTER_ALIAS",
    "MODELOPS_RETRAIN_ID",
    "MODELOPS_RETRAIN_REASON",
    "MODELOPS_RETRAIN_FIGURES",
    "MODELOPS_WINDOW_START",
    "MODELOPS_WINDOW_END",
    "MODELOPS_DRIFT_MONITOR",
    "PREDICTION_LOG_STREAM",
    "PREDICTION_LOG_REDIS_URL",
)


class RetrainEnvVar(KubeModel):
    """An extra environment variable for the training container."""

    model_config = KubeModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "!(self.name in [" + ", ".join(f"'{n}'" for n in RETRAIN_ENV) + "])",
                    "message": "is set by the operator: " + ", ".join(RETRAIN_ENV),
                    "fieldPath": ".name",
                },
                {
                    "rule": "!(has(self.value) && has(self.secretKeyRef))",
                    "message": "set value or secretKeyRef, not both",
                },
            ]
        }
    }

    name: str = identifier(
        max_length=253,
    )
    """The variable's name (not one of the context variables the operator sets)."""
    value: str | None = Field(default=None, max_length=32768)
    """Its value."""
    secret_key_ref: SecretKeyRef | None = None
    """Or a key of a Secret in this namespace."""


class ConfigMapMount(KubeModel):
    """A ConfigMap of this namespace mounted read-only: the training code, without an image."""

    name: str = Field(min_length=1, max_length=253)
    """The ConfigMap."""
    mount_path: str = matching(
        r"^/[A-Za-z0-9._/-]*$",
        "must be an absolute path of letters, digits, '.', '_', '-' and '/'",
        max_length=256,
    )
    """Where its keys appear as files."""


class Retrain(KubeModel):
    """The user's training Job, launched when a run finds what onDrift or onPerformanceBreach
    retrains on. It reads the window's predictions and labels, trains, registers a version
    tagged modelops.retrain_id=$MODELOPS_RETRAIN_ID and points $MODELOPS_REGISTER_ALIAS at it."""

    image: str | None = Field(default=None, max_length=1024)
    """The training image; the operator's runtime image by default (it has MLflow,
    scikit-learn, pandas, redis and the modelops readers)."""
    command: list[str] | None = Field(default=None, max_length=64)
    """The entrypoint, as in a container."""
    args: list[str] | None = Field(default=None, max_length=256)
    """Its arguments."""
    env: list[RetrainEnvVar] | None = Field(default=None, max_length=64)
    """Extra environment."""
    config_maps: list[ConfigMapMount] | None = Field(default=None, max_length=8)
    """ConfigMaps mounted read-only (a training script, its settings)."""
    resources: dict[str, dict[str, str | int]] | None = None
    """Container resources as in a Pod spec; requests cpu 250m, memory 512Mi and a 2Gi memory
    limit by default."""
    active_deadline: Annotated[str, *duration("30s", "1d")] = "1h"
    """A run taking longer is stopped and counted as failed."""
    alias: str = matching(
        r"^[A-Za-z0-9_-]{1,64}$",
        "must be an MLflow alias: 1 to 64 letters, digits, '_' and '-'",
        default="challenger",
    )
    """The alias the new version is registered under: make it a ModelDeployment's
    rollout.candidate and the new version is validated and rolled out."""
    cooldown: str = Field(
        default="1h",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": f"self.matches('{DURATION_PATTERN}')",
                    "message": "cooldown must be a duration like 30m, 1h or 1d",
                }
            ]
        },
    )
    """After a run finishes, breaches start nothing for this long."""


_NO_RETRAIN = "(!has(self.{on}) || !has(self.{on}.retrain) || !self.{on}.retrain)"


class DriftMonitorSpec(ScheduleFields):
    """The desired state of a DriftMonitor."""

    model_config = ScheduleFields.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.performance) || !has(self.current) "
                    "|| !has(self.current.uri)",
                    "message": "performance joins labels to the prediction log: it cannot be "
                    "used with current.uri",
                },
                {
                    "rule": "has(self.retrain) || ("
                    + _NO_RETRAIN.format(on="onDrift")
                    + " && "
                    + _NO_RETRAIN.format(on="onPerformanceBreach")
                    + ")",
                    "message": "onDrift.retrain and onPerformanceBreach.retrain need spec.retrain",
                },
                {
                    "rule": "has(self.performance) || !has(self.onPerformanceBreach)",
                    "message": "onPerformanceBreach needs spec.performance",
                },
            ]
        }
    }

    model_deployment_ref: ObjectRef
    """The ModelDeployment whose prediction log is the current data."""
    schedule: str = cron_field("@hourly")
    """When to check, in cron syntax (default @hourly)."""
    reference: ReferenceData = Field(default_factory=ReferenceData)
    """The reference (training) data."""
    current: CurrentData = Field(default_factory=CurrentData)
    """The current data."""
    columns: list[str] | None = Field(default=None, max_length=1000)
    """The columns to compare; by default the served model's input features (its signature),
    else every reference column. A compared column missing from the current data, empty there
    or of another type (numbers arriving as strings) fails the run."""
    methods: dict[str, DriftMethod] | None = None
    """A drift method per column (Evidently's names); Evidently picks by type and size otherwise."""
    threshold: Threshold = Field(default_factory=Threshold)
    """When the dataset counts as drifted."""
    report: ReportSpec | None = None
    """Where to write the HTML and JSON reports; none are kept by default."""
    on_drift: OnDrift = Field(default_factory=OnDrift)
    """Actions on dataset drift."""
    performance: Performance | None = None
    """Model quality from ground truth, checked in the same run over the same window (the
    current data must be the prediction log: labels join to logged predictions)."""
    on_performance_breach: OnPerformanceBreach | None = None
    """Actions when a performance measure breaches its bound."""
    retrain: Retrain | None = None
    """The training Job onDrift.retrain and onPerformanceBreach.retrain start."""


class PerformanceValue(KubeModel):
    """One measure of a run."""

    name: str
    """The metric."""
    value: float | None = None
    """Its value over the labelled predictions (absent when it could not be computed)."""
    min: float | None = None
    """The lower bound asked for."""
    max: float | None = None
    """The upper bound asked for."""
    passed: bool | None = None
    """Whether the value is within the bounds (absent when there is no value)."""


class PerformanceResult(KubeModel):
    """Model quality over a run's window."""

    model_version: str | None = None
    """The version whose predictions were judged (the one served; a canary's candidate and
    a replaced version are left out)."""
    window: str | None = None
    """How far back the predictions were read."""
    predictions: int | None = None
    """Logged predictions of that version in the window."""
    labelled: int | None = None
    """Those with a label."""
    join_rate: float | None = None
    """labelled / predictions."""
    reason: str | None = None
    """WithinThresholds, Breached, TooFewLabels or NotComputed (a measure had no value)."""
    message: str | None = None
    """What breached, or why there is no verdict."""
    metrics: list[PerformanceValue] | None = Field(default=None, max_length=8)
    """Each measure."""


class DriftResult(KubeModel):
    """One run's outcome."""

    job_name: str | None = None
    """The Job that ran it."""
    start_time: datetime | None = None
    """When the run started."""
    completion_time: datetime | None = None
    """When it finished."""
    rows_reference: int | None = None
    """Reference rows compared."""
    rows_current: int | None = None
    """Current rows compared."""
    dataset_drift: bool | None = None
    """Whether the share of drifted columns reached the threshold."""
    drift_share: float | None = None
    """The share of drifted columns."""
    drifted_columns: list[str] | None = None
    """The columns found drifted."""
    report_uri: str | None = None
    """Where the report was written (s3://..., or runs:/RUN_ID/modelops-drift/... on the
    model version's MLflow run)."""
    report_error: str | None = None
    """Why the report could not be written (the drift figures stand)."""
    performance: PerformanceResult | None = None
    """Model quality, when spec.performance asks for it."""
    error: str | None = None
    """Why the run failed, when it did."""


class RetrainStatus(KubeModel):
    """The latest retraining run."""

    phase: Literal["Running", "Succeeded", "Failed"]
    """Running, Succeeded (a version was registered under the alias) or Failed."""
    job_name: str
    """The Job."""
    retrain_id: str
    """The id the run tags its version with (modelops.retrain_id)."""
    reason: Literal["Drift", "PerformanceBreach"]
    """What started it."""
    trigger: str | None = None
    """The drift run whose finding started it."""
    started_at: datetime
    """When it was launched."""
    finished_at: datetime | None = None
    """When it finished."""
    version: str | None = None
    """The version it registered under the alias."""
    message: str | None = None
    """What happened, or why it failed."""


class DriftHistoryEntry(KubeModel):
    """A past run, newest first."""

    time: datetime
    """When the run finished."""
    drift_share: float | None = None
    """The share of drifted columns."""
    dataset_drift: bool | None = None
    """Whether the dataset drifted."""
    job_name: str | None = None
    """The Job that ran it."""
    error: str | None = None
    """Why it failed, when it did."""


class DriftMonitorStatus(KubeModel):
    """The observed state of a DriftMonitor, written only by the operator."""

    observed_generation: int | None = None
    """The metadata.generation the status describes."""
    conditions: list[Condition] | None = Field(
        default=None,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    """Ready (the summary), LastRunSucceeded, DriftDetected, and PerformanceDegraded when
    spec.performance is set."""
    cron_job_name: str | None = None
    """The CronJob that schedules the runs."""
    model_version: str | None = None
    """The served model version the reference was taken for."""
    last_run: DriftResult | None = None
    """The latest finished run."""
    history: list[DriftHistoryEntry] | None = Field(default=None, max_length=10)
    """The last 10 runs, newest first."""
    retraining: RetrainStatus | None = None
    """The latest retraining run."""


class DriftMonitor(KubeModel):
    """Scheduled Evidently drift checks on what a ModelDeployment served."""

    api_version: Literal["modelops.dev/v1alpha1"] = API_VERSION
    kind: Literal["DriftMonitor"] = "DriftMonitor"
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: DriftMonitorSpec
    status: DriftMonitorStatus | None = None


# The CronJob is <name>-drift: a DriftMonitor and a FeatureMaterialization of one name
# must not claim the same one.
CRONJOB_SUFFIX = "drift"

CRD_INFO = CrdInfo(
    kind="DriftMonitor",
    plural="driftmonitors",
    singular="driftmonitor",
    short_names=("dm",),
    columns=(
        *condition_columns(
            PrinterColumn("Target", ".spec.modelDeploymentRef.name"),
            PrinterColumn("Schedule", ".spec.schedule"),
            PrinterColumn("Last Run", ".status.lastRun.completionTime", "date"),
            PrinterColumn("Drift Share", ".status.lastRun.driftShare", "number"),
            PrinterColumn("Drifted", ".status.lastRun.datasetDrift", "boolean"),
            PrinterColumn("Quality", ".status.lastRun.performance.reason", priority=1),
            PrinterColumn("Retraining", ".status.retraining.phase", priority=1),
        ),
        message_column(),
        PrinterColumn("Age", ".metadata.creationTimestamp", "date"),
    ),
    max_name_length=MAX_CRONJOB_NAME - len(CRONJOB_SUFFIX) - 1,
    name_rule="its CronJob is NAME-drift and each run's Job name must fit a label",
)
