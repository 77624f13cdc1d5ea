"""ModelDeployment: serve one MLflow model version as an autoscaled prediction Service."""

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
from modelops.operator.api.v1alpha1.pod import PodOptions
from modelops.operator.api.v1alpha1.schedule import DURATION_PATTERN, JobRuntime, duration

# models:/NAME@ALIAS, models:/NAME/VERSION, models:/NAME/STAGE, runs:/RUN/PATH, s3://..., /abs
MODEL_URI_PATTERN = (
    r"^(models:/[^/@\s]+(@[A-Za-z0-9_-]+|/[^/\s]+)|runs:/[0-9a-zA-Z]+/\S+|s3://\S+|/\S*)$"
)


class ModelSource(KubeModel):
    """Where the model comes from."""

    uri: str = matching(
        MODEL_URI_PATTERN,
        "must be models:/NAME@ALIAS, models:/NAME/VERSION, models:/NAME/STAGE, "
        "runs:/RUN_ID/PATH, s3://BUCKET/PATH or an absolute path",
        max_length=1024,
    )
    """The model to serve: models:/NAME@ALIAS (pinned to the version the alias names at
    reconcile time and rolled when the alias moves), models:/NAME/VERSION, models:/NAME/STAGE
    (legacy stages), runs:/RUN_ID/PATH, s3://BUCKET/PATH, or an absolute path inside the image."""
    tracking_uri: str | None = matching(
        r"^(https?|file|databricks)://?\S*$",
        "must be an http://, https://, file:// or databricks:// URI",
        default=None,
        max_length=2048,
    )
    """The MLflow tracking server; defaults to the operator's MODELOPS_MLFLOW_TRACKING_URI."""
    credentials_secret_ref: ObjectRef | None = None
    """A Secret whose keys (e.g. MLFLOW_TRACKING_TOKEN, AWS_ACCESS_KEY_ID) are passed to the
    runtime as environment variables. Credentials never go inline in the spec."""
    allow_pickle: bool = False
    """Serve models that run their own code when loaded: pickle or cloudpickle scikit-learn
    models and python_function models. Off by default (skops models need nothing): with it,
    whoever can register a version and move the alias runs code in these pods. The
    operator's policy may forbid it."""


class Autoscaling(KubeModel):
    """Horizontal autoscaling (autoscaling/v2 HorizontalPodAutoscaler)."""

    model_config = KubeModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "self.minReplicas <= self.maxReplicas",
                    "message": "autoscaling.minReplicas must be <= autoscaling.maxReplicas",
                },
            ]
        }
    }

    min_replicas: int = Field(default=1, ge=1, le=1000)
    """The fewest replicas the autoscaler keeps."""
    max_replicas: int = Field(ge=1, le=1000)
    """The most replicas the autoscaler may run."""
    target_cpu_utilization_percentage: int | None = Field(
        default=None, ge=1, le=100, alias="targetCPUUtilizationPercentage"
    )
    """Average CPU utilization (percent of requests) to hold; 80 when no target is given."""
    target_memory_utilization_percentage: int | None = Field(default=None, ge=1, le=100)
    """Average memory utilization (percent of requests) to hold."""


class Resources(KubeModel):
    """Compute resources for the runtime container, as in a Pod spec."""

    requests: dict[str, str | int] | None = None
    """Minimum resources, e.g. {cpu: 500m, memory: 512Mi}."""
    limits: dict[str, str | int] | None = None
    """Maximum resources, e.g. {memory: 1Gi}."""


# Runtime variables that say whose model and data a pod serves, and what it may load: set by
# the operator only.
RESERVED_ENV = (
    "TENANT",
    "MODEL_URI",
    "REDIS_URL",
    "PREDICTION_LOG_REDIS_URL",
    "PREDICTION_LOG_STREAM",
    "FEATURE_REPO",
    "ALLOW_PICKLE",
    "SKOPS_TRUSTED_TYPES",
    "CANDIDATE_MODEL_URI",
    "ROLLOUT_PUBLIC_KEY",
    "ROLLOUT_TARGET",
    "TRAFFIC_FILE",
    "TRAFFIC_PUSH_FILE",
)


class EnvVar(KubeModel):
    """An extra environment variable for the runtime container."""

    model_config = KubeModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    # The runtime reads its environment case-insensitively.
                    "rule": "!(self.name.upperAscii() in "
                    + "["
                    + ", ".join(f"'{n}'" for n in RESERVED_ENV)
                    + "])",
                    "message": "is set by the operator and cannot be overridden: "
                    + ", ".join(RESERVED_ENV),
                    "fieldPath": ".name",
                }
            ]
        }
    }

    name: str = identifier(
        max_length=253,
    )
    """The variable's name (not one the operator sets to say whose model and data a pod
    serves, what it may load and whose traffic pushes it takes: TENANT, MODEL_URI, REDIS_URL,
    PREDICTION_LOG_REDIS_URL, PREDICTION_LOG_STREAM, FEATURE_REPO, ALLOW_PICKLE,
    SKOPS_TRUSTED_TYPES, CANDIDATE_MODEL_URI, ROLLOUT_PUBLIC_KEY, ROLLOUT_TARGET, TRAFFIC_FILE,
    TRAFFIC_PUSH_FILE)."""
    value: str = ""
    """Its value."""


class Toleration(KubeModel):
    """A Pod toleration."""

    key: str | None = None
    """The taint key; empty matches all keys with operator Exists."""
    operator: Literal["Exists", "Equal"] | None = None
    """Exists or Equal (the default)."""
    value: str | None = None
    """The taint value to match with Equal."""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    """The taint effect to match; empty matches all."""
    toleration_seconds: int | None = None
    """How long a NoExecute taint is tolerated."""


class RuntimeSpec(PodOptions):
    """The serving runtime's container and pods."""

    image: str | None = Field(default=None, max_length=1024)
    """The runtime image; defaults to the operator's MODELOPS_RUNTIME_IMAGE."""
    workers: int = Field(default=1, ge=1, le=64)
    """Server worker processes per pod."""
    resources: Resources | None = None
    """Container resources; defaults to requests cpu 250m, memory 512Mi and a 2Gi memory limit."""
    env: list[EnvVar] | None = Field(default=None, max_length=64)
    """Extra environment variables."""
    node_selector: dict[str, str] | None = None
    """Node labels the pods must match."""
    tolerations: list[Toleration] | None = None
    """Taints the pods tolerate."""


class Batching(KubeModel):
    """Adaptive micro-batching of concurrent requests into one model call."""

    enabled: bool = True
    """Merge concurrent requests into one model call."""
    max_batch_size: int = Field(default=64, ge=1, le=10000)
    """The most rows in one model call."""
    max_latency_ms: float = Field(default=2.0, ge=0, le=1000)
    """The longest a request waits for others to join its batch."""


PlainRedisUrl = Annotated[
    str,
    matching(
        r"^rediss?://\S+$",
        "must be a redis:// or rediss:// URL",
        max_length=1024,
        rules=[
            {
                # A password in a spec is readable by everyone who can read the spec.
                "rule": "!self.contains('@')",
                "message": "must not hold credentials: put the URL in a Secret and use "
                "redisSecretRef",
            }
        ],
    ),
]


class Cache(KubeModel):
    """A Redis response cache keyed by model version and input."""

    model_config = KubeModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "!(has(self.redisUrl) && has(self.redisSecretRef))",
                    "message": "cache: set redisUrl or redisSecretRef, not both",
                },
                {
                    "rule": "has(self.redisUrl) || has(self.redisSecretRef)",
                    "message": "cache: redisUrl or redisSecretRef is required",
                },
            ]
        }
    }

    redis_url: PlainRedisUrl | None = None
    """redis://host:port/db, for a Redis without a password."""
    redis_secret_ref: SecretKeyRef | None = None
    """A Secret key holding the Redis URL (with its user and password: see docs/security.md
    for a per-namespace Redis ACL user)."""
    ttl: Annotated[str, *duration("1s", "7d")] = "5m"
    """How long a cached prediction lives."""


class LogColumns(KubeModel):
    """Which feature columns the prediction log keeps, and how."""

    include: list[str] | None = Field(default=None, max_length=1000)
    """Only these columns are logged (unset: every column not excluded)."""
    exclude: list[str] = Field(default_factory=list, max_length=1000)
    """Columns never logged (e.g. identifiers a drift check does not need)."""
    hash: list[str] = Field(default_factory=list, max_length=1000)
    """Columns logged as a keyed hash: equal values stay equal, so drift in their categories
    is still found, but the value is not kept."""


class PredictionLog(KubeModel):
    """A sampled log of inputs and predictions in a capped Redis stream, for drift checks."""

    model_config = KubeModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "!(has(self.redisUrl) && has(self.redisSecretRef))",
                    "message": "predictionLog: set redisUrl or redisSecretRef, not both",
                },
            ]
        }
    }

    enabled: bool = False
    """Log a sample of requests."""
    sample_rate: float = Field(default=1.0, gt=0, le=1)
    """The fraction of requests logged."""
    max_len: int = Field(default=100000, ge=100, le=10000000)
    """The stream's approximate cap in entries."""
    redis_url: PlainRedisUrl | None = None
    """The Redis to log to, without a password; defaults to the cache's Redis, then
    MODELOPS_REDIS_URL."""
    redis_secret_ref: SecretKeyRef | None = None
    """A Secret key holding the Redis URL to log to (with its user and password)."""
    columns: LogColumns | None = None
    """Which feature columns are kept; a column a DriftMonitor compares must be logged."""
    hash_key_secret_ref: SecretKeyRef | None = None
    """A Secret key holding the key of columns.hash (without one, a value of few possible
    values can be found by hashing candidates)."""
    max_age: Annotated[str, *duration("1m", "365d")] = "7d"
    """Entries older than this are trimmed (besides maxLen)."""
    max_rows_per_second: int = Field(default=1000, ge=1, le=1000000)
    """At most this many rows a second are logged, after sampleRate: a busy model logs a
    bounded sample (plenty for drift checks) instead of every request."""


class ServiceSpec(KubeModel):
    """The Service in front of the pods."""

    type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = "ClusterIP"
    """The Service type."""
    port: int = Field(default=80, ge=1, le=65535)
    """The Service port (the container always listens on 8080)."""


FeatureReference = Annotated[
    str,
    matching(
        r"^[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+$",
        "must be VIEW:FEATURE, e.g. customer_stats:avg_amount_30d",
        max_length=253,
    ),
]


class OnlineFeatures(KubeModel):
    """Features the runtime reads from the Feast online store for the entity ids a request
    sends, in one batched call, and feeds to the model in its signature's column order."""

    materialization_ref: ObjectRef
    """The FeatureMaterialization whose feature repo (and secret) the runtime uses; its Stale
    condition shows here as FeaturesFresh."""
    entity_key: str = identifier(
        min_length=1,
        max_length=253,
    )
    """The entity's join key, as requests send it (e.g. customer_id)."""
    features: list[FeatureReference] = Field(
        min_length=1,
        max_length=100,
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    # A feature fills the model column of its name, so two views may not
                    # both supply one name.
                    "rule": "self.all(x, self.exists_one(y, "
                    "y.substring(y.indexOf(':')) == x.substring(x.indexOf(':'))))",
                    "message": "two features share a name; each fills the model column of its "
                    "name, so names must differ across views",
                }
            ]
        },
    )
    """Feature references as VIEW:FEATURE (e.g. customer_stats:avg_amount_30d), with distinct
    feature names."""


Duration = Annotated[
    str,
    matching(DURATION_PATTERN, "must be a duration like 30s, 2m, 1h or 1d", max_length=16),
]


class CanaryStep(KubeModel):
    """One canary step: the candidate's share for at least `duration`, then the analysis."""

    weight: int = Field(ge=1, le=100)
    """The candidate's share of requests, in percent."""
    duration: Duration
    """How long the step lasts before its analysis decides (e.g. 2m)."""


class Analysis(KubeModel):
    """What a candidate must show, read from the pods' per-version metrics (cumulative since
    the rollout began); a failed check rolls back at once, a passed one advances at the end of
    the step."""

    max_error_rate: float = Field(default=0.01, ge=0, le=1)
    """The most server errors (5xx) per request the candidate may return."""
    max_p99_latency_ms: float | None = Field(default=None, gt=0)
    """The candidate's p99 request latency ceiling."""
    min_requests: int = Field(default=100, ge=1, le=10_000_000)
    """Requests the candidate must have answered (or, Shadow, rows compared) before a step can
    pass: a quiet step waits instead of passing on no evidence."""
    min_agreement: float | None = Field(default=None, ge=0, le=1)
    """Shadow: the share of rows where the candidate agrees with the stable version
    (classifiers: equal labels; regressors: 1 - mean |difference| / the stable's std)."""


class Shadow(KubeModel):
    """Shadow: the candidate scores a copy of every request off the response path."""

    duration: Duration = "5m"
    """How long the shadow runs before the analysis decides."""


class ABTest(KubeModel):
    """A/B: each request key always reaches the same variant."""

    key: str = matching(
        r"^(header:[A-Za-z0-9-]+|entity:[A-Za-z_][A-Za-z0-9_]*)$",
        "must be header:NAME (e.g. header:X-User-Id) or entity:JOIN_KEY",
        max_length=253,
    )
    """Where the key is read: header:NAME (e.g. header:X-User-Id) or entity:JOIN_KEY (the
    first entity id of a /predict request). Requests without a key go to the stable version."""
    weight: int = Field(default=50, ge=1, le=99)
    """The share of keys assigned to the candidate, in percent."""
    duration: Duration = "1h"
    """How long the test runs before the analysis."""
    promotion: Literal["Manual", "Auto"] = "Manual"
    """Auto: promote when the analysis passes at the end; Manual: wait (phase Paused) for the
    modelops.dev/rollout: promote annotation."""


class ValidationMetric(KubeModel):
    """One metric the candidate must reach on the holdout data."""

    model_config = KubeModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.min) || has(self.max) || has(self.maxRegression)",
                    "message": "a metric needs min, max or maxRegression",
                },
            ]
        }
    }

    name: Literal["accuracy", "precision", "recall", "f1", "roc_auc", "rmse", "mae", "r2"]
    """The metric (precision, recall and f1 are binary for 0/1 labels, weighted otherwise;
    roc_auc needs a model with class probabilities)."""
    min: float | None = None
    """The lowest value that passes (for metrics where higher is better)."""
    max: float | None = None
    """The highest value that passes (rmse, mae)."""
    max_regression: float | None = Field(default=None, ge=0)
    """How much worse than the stable version on the same data it may be."""


class Validation(KubeModel):
    """A gate before any traffic: a Job scores the candidate and the stable version on
    labelled holdout data."""

    data: str = matching(
        r"^(s3://\S+|runs:/[0-9a-zA-Z]+/\S+)$",
        "must be s3://BUCKET/KEY or runs:/RUN_ID/PATH",
        max_length=1024,
    )
    """The labelled data, CSV or parquet: s3://BUCKET/KEY or runs:/RUN_ID/PATH (e.g. a
    dataset logged with mlflow.log_artifact)."""
    target: str = Field(min_length=1, max_length=253)
    """The label column."""
    metrics: list[ValidationMetric] = Field(min_length=1, max_length=8)
    """What the candidate must reach."""
    job: JobRuntime = Field(default_factory=JobRuntime)
    """The job container and its limits (it runs the runtime image's `validate`)."""


CANDIDATE_URI_PATTERN = r"^models:/[^/@\s]+@[A-Za-z0-9_-]+$"


class Rollout(KubeModel):
    """How a new model version reaches traffic."""

    model_config = KubeModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.strategy) || self.strategy != 'Canary' || "
                    "(has(self.steps) && size(self.steps) > 0)",
                    "message": "strategy Canary needs steps",
                    "fieldPath": ".steps",
                },
                {
                    "rule": "!has(self.strategy) || self.strategy != 'ABTest' || has(self.abTest)",
                    "message": "strategy ABTest needs abTest",
                    "fieldPath": ".abTest",
                },
            ]
        }
    }

    strategy: Literal["Direct", "Canary", "Shadow", "ABTest"] = "Direct"
    """Direct: every replica moves to the new version at once (a rolling update); Canary:
    traffic moves in steps, each analysed; Shadow: the candidate scores copies of live requests
    and is gated on agreement; ABTest: sticky assignment by request key."""
    candidate: str | None = matching(
        CANDIDATE_URI_PATTERN, "must be models:/NAME@ALIAS", default=None, max_length=1024
    )
    """models:/NAME@ALIAS of the same registered model as model.uri (e.g. @challenger): a
    version under it that differs from the one served starts a rollout, and promotion moves
    model.uri's alias to it. Without it, a move of model.uri's own alias starts the
    rollout."""
    validation: Validation | None = None
    """A gate before any traffic (phase Validating); a candidate below it never serves."""
    steps: list[CanaryStep] = Field(default_factory=list, max_length=20)
    """Canary steps, in order; after the last, the candidate is promoted."""
    analysis: Analysis = Field(default_factory=Analysis)
    """The checks a candidate must pass."""
    shadow: Shadow = Field(default_factory=Shadow)
    """Shadow settings."""
    ab_test: ABTest | None = None
    """A/B settings (strategy ABTest)."""


class ModelDeploymentSpec(KubeModel):
    """The desired state of a ModelDeployment."""

    model_config = KubeModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "!(has(self.replicas) && has(self.autoscaling))",
                    "message": "set replicas or autoscaling, not both",
                    "fieldPath": ".replicas",
                },
                {
                    # Promotion moves model.uri's alias: both must name one registered model.
                    "rule": "!has(self.rollout) || !has(self.rollout.candidate) || "
                    "(self.model.uri.matches('^models:/[^/@]+@') && "
                    "self.model.uri.substring(0, self.model.uri.indexOf('@')) == "
                    "self.rollout.candidate.substring(0, self.rollout.candidate.indexOf('@')))",
                    "message": "rollout.candidate must be an alias of the registered model that "
                    "model.uri names by alias (models:/NAME@champion, models:/NAME@challenger)",
                    "fieldPath": ".rollout.candidate",
                },
            ]
        }
    }

    model: ModelSource
    """The model to serve."""
    replicas: int | None = Field(default=None, ge=0, le=1000)
    """A fixed replica count (1 when neither replicas nor autoscaling is set)."""
    autoscaling: Autoscaling | None = None
    """Scale between minReplicas and maxReplicas on CPU or memory."""
    runtime: RuntimeSpec = Field(default_factory=RuntimeSpec)
    """The runtime container."""
    batching: Batching = Field(default_factory=Batching)
    """Micro-batching."""
    cache: Cache | None = None
    """An optional Redis response cache."""
    prediction_log: PredictionLog = Field(default_factory=PredictionLog)
    """An optional sampled prediction log, read by DriftMonitors."""
    service: ServiceSpec = Field(default_factory=ServiceSpec)
    """The Service."""
    features: OnlineFeatures | None = None
    """Online features from Feast, looked up per request by entity id."""
    rollout: Rollout = Field(default_factory=Rollout)
    """How new versions reach traffic: at once (Direct), or as a canary, a shadow or an A/B
    test with analysis, promotion and rollback."""
    suspend: bool = False
    """Scale to zero and keep everything else."""


class ResolvedModel(KubeModel):
    """The model version actually served."""

    uri: str | None = None
    """The URI as written in the spec."""
    resolved_uri: str | None = None
    """The pinned URI the pods load (models:/NAME/VERSION)."""
    name: str | None = None
    """The registered model's name."""
    version: str | None = None
    """The registered model version."""
    run_id: str | None = None
    """The MLflow run that produced it."""


class Failure(KubeModel):
    """The last failure the operator saw."""

    reason: str
    """A CamelCase reason."""
    message: str
    """What went wrong."""
    time: datetime
    """When it happened."""


class AnalysisResult(KubeModel):
    """One check of the analysis."""

    metric: str
    """errorRate, p99LatencyMs, requests or agreement."""
    value: float | None = None
    """The candidate's figure (None: no data yet)."""
    stable_value: float | None = None
    """The stable version's figure over the same time, for comparison."""
    threshold: float
    """The bound it is held to."""
    passed: bool
    """Whether it holds."""


RolloutPhase = Literal["Validating", "Progressing", "Paused", "Promoted", "RolledBack", "Failed"]


class RolloutStatus(KubeModel):
    """Where the last (or current) rollout stands."""

    phase: RolloutPhase
    """Validating (the holdout gate runs), Progressing, Paused (waiting for a promote or
    resume annotation), Promoted, RolledBack (the analysis or an abort sent all traffic back
    to the stable version) or Failed (validation, or a candidate the runtime cannot load)."""
    strategy: str
    """The strategy it runs under."""
    stable_version: str | None = None
    """The version serving before the rollout (and after a rollback)."""
    candidate_version: str
    """The version being rolled out."""
    candidate_uri: str
    """The candidate's pinned URI (models:/NAME/VERSION)."""
    step: int = 0
    """Canary: the current step, from 0."""
    weight: int = 0
    """The candidate's share of requests now, in percent."""
    mode: str = "none"
    """What the pods do with the candidate: canary, shadow, abtest or none."""
    key: str | None = None
    """ABTest: where the pods read a request's key."""
    revision: int = 0
    """The traffic configuration's revision (it grows at every change)."""
    started_at: datetime
    """When the rollout began."""
    step_started_at: datetime
    """When the current step (or the shadow, or the A/B test) began."""
    finished_at: datetime | None = None
    """When it was promoted, rolled back or failed."""
    analysis: list[AnalysisResult] = Field(default_factory=list)
    """The last analysis."""
    validation: list[AnalysisResult] | None = None
    """The validation gate's metrics on the holdout data (candidate and stable values)."""
    message: str = ""
    """What is happening, or why it ended."""
    summary: str = ""
    """Phase and weight, for display (kubectl get mdep)."""


class ModelDeploymentStatus(KubeModel):
    """The observed state of a ModelDeployment, written only by the operator."""

    observed_generation: int | None = None
    """The metadata.generation the status describes."""
    conditions: list[Condition] | None = Field(
        default=None,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    """Ready (the summary), ModelResolved, ModelCompatible, Available, Progressing, Degraded,
    and FeaturesFresh when online features are used."""
    model: ResolvedModel | None = None
    """The model version served."""
    replicas: int | None = None
    """Desired replicas (the scale subresource reads it)."""
    ready_replicas: int | None = None
    """Replicas passing readiness."""
    replica_summary: str | None = None
    """READY/DESIRED replicas, for display."""
    selector: str | None = None
    """The pods' label selector (for the scale subresource and HPAs)."""
    url: str | None = None
    """The in-cluster URL of the prediction Service."""
    last_failure: Failure | None = None
    """The last failure, kept until a later success."""
    rollout: RolloutStatus | None = None
    """The current or last rollout (spec.rollout strategies other than Direct)."""


class ModelDeployment(KubeModel):
    """Serves one MLflow model version as an autoscaled prediction Service."""

    api_version: Literal["modelops.dev/v1alpha1"] = API_VERSION
    kind: Literal["ModelDeployment"] = "ModelDeployment"
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: ModelDeploymentSpec
    status: ModelDeploymentStatus | None = None


CRD_INFO = CrdInfo(
    kind="ModelDeployment",
    plural="modeldeployments",
    singular="modeldeployment",
    # Not `md`: Cluster API's MachineDeployment has it, and management clusters run both.
    short_names=("mdep",),
    columns=(
        *condition_columns(
            PrinterColumn("Model", ".spec.model.uri"),
            PrinterColumn("Version", ".status.model.version"),
            PrinterColumn(
                "Replicas", ".status.replicaSummary", description="Ready/desired replicas"
            ),
            PrinterColumn(
                "Rollout",
                ".status.rollout.summary",
                description="Rollout phase and candidate weight",
            ),
        ),
        PrinterColumn("URL", ".status.url", priority=1),
        message_column(),
        PrinterColumn("Age", ".metadata.creationTimestamp", "date"),
    ),
    scale={
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    },
    max_name_length=63,
    name_rule="it names the Service, Deployment, HPA and PodDisruptionBudget",
    dns_label=True,
)
