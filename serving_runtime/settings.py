"""RuntimeSettings: the serving runtime's whole configuration, read from the environment."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REGISTRY_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:(?P<sep>[/@])(?P<ref>.+))?$")
"""models:/NAME, models:/NAME/VERSION (or /STAGE), models:/NAME@ALIAS."""


def model_name_from_uri(uri: str) -> str | None:
    """The registered model's name in a models:/ URI, else None."""
    match = REGISTRY_URI.match(uri)
    return match.group("name") if match else None


@dataclass(frozen=True)
class FeatureRef:
    view: str
    name: str

    def __str__(self) -> str:
        return f"{self.view}:{self.name}"


def parse_refs(text: str) -> list[FeatureRef]:
    """FEATURE_REFS: comma-separated `view:feature`, no repeats, no two features of one name
    (the feature name is the model column it fills)."""
    refs: list[FeatureRef] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        view, sep, name = part.partition(":")
        if not sep or not view.strip() or not name.strip() or ":" in name:
            raise ValueError(f"FEATURE_REFS entry {part!r} is not a view:feature reference")
        refs.append(FeatureRef(view.strip(), name.strip()))
    if not refs:
        raise ValueError("FEATURE_REFS names no feature (expected view:feature,...)")
    seen: dict[str, FeatureRef] = {}
    for ref in refs:
        if ref.name in seen:
            raise ValueError(
                f"FEATURE_REFS has two features named {ref.name!r} ({seen[ref.name]} and {ref}); "
                "a feature fills the model column of its name, so names must differ"
            )
        seen[ref.name] = ref
    return refs


class RuntimeSettings(BaseSettings):
    """One model per process. The operator sets these variables on the container (no prefix:
    the names are the contract, see docs/architecture.md "The runtime contract")."""

    # The attribute docstrings are the fields' descriptions: `modelops-runtime serve --help`.
    model_config = SettingsConfigDict(
        env_prefix="", case_sensitive=False, extra="ignore", use_attribute_docstrings=True
    )

    model_uri: str = Field(min_length=1)
    """models:/NAME/VERSION, models:/NAME@ALIAS, runs:/RUN/PATH, s3://..., or a local path."""
    model_name: str = ""
    """The name in responses, metrics and the v2 protocol; defaults to the registry name."""
    tenant: str = Field(default="default", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    """The namespace the deployment belongs to: part of every cache key and of the default
    prediction-log stream, so tenants sharing a Redis never read each other's entries."""
    model_version: str = ""
    """The version in responses and cache keys; resolved from the registry when empty."""
    mlflow_tracking_uri: str | None = None
    """The MLflow tracking/registry server (models:/ and runs:/ URIs need it)."""

    host: str = "0.0.0.0"
    """The address to listen on."""
    port: int = Field(default=8080, ge=1, le=65535)
    """The HTTP port (predictions, health, /metrics)."""
    workers: int = Field(default=1, ge=1, le=64)
    """uvicorn worker processes; each loads its own copy of the model."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "debug", "info", "warning", "error"] = (
        "INFO"
    )
    """The runtime's log level (its logs are JSON lines)."""
    keep_alive_seconds: int = Field(default=120, ge=1)
    """How long an idle kept-alive connection stays open. Longer than the idle timeouts of the
    clients and proxies in front (Go's 90 s, an AWS load balancer's 60 s): a server that closes
    first races the client's next request on that connection, which gets a reset (uvicorn's own
    5 s cost 11 of 600,000 requests in the ten-minute soak)."""
    graceful_shutdown_seconds: float = Field(default=25.0, ge=0)
    """How long SIGTERM waits for in-flight requests (the operator's pods get a 35 s grace
    period: a 5 s preStop delay, this, and a margin)."""

    batching_enabled: bool = True
    """Merge concurrent requests into one model call (micro-batching)."""
    max_batch_size: int = Field(default=64, ge=1, le=100_000)
    """The most rows in one merged model call (a larger request runs alone)."""
    max_latency_ms: float = Field(default=2.0, ge=0, le=10_000)
    """The longest a request waits for others to join its batch when requests queue up."""

    max_rows: int = Field(default=10_000, ge=1)
    """Rows allowed in one request; more gets a 413."""
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    """Request body size allowed; more gets a 413 (8 MiB holds MAX_ROWS rows of about 80
    numeric columns as JSON)."""
    max_concurrent_requests: int = Field(default=128, ge=1)
    """Scoring requests (POSTs) in progress at once; more get a 503 with Retry-After at once,
    before their body is read."""
    max_queued_rows: int = Field(default=20_000, ge=1)
    """Rows waiting for the model (micro-batching); a request that would exceed it gets a
    503 with Retry-After (one is always taken when none wait, however large)."""
    request_timeout_ms: float = Field(default=10_000.0, gt=0)
    """The deadline of a scoring request, body to answer; past it a 504 and its work is
    cancelled."""

    cache_enabled: bool = False
    """Cache responses in Redis (REDIS_URL), keyed by tenant, model, version and input."""
    cache_ttl_seconds: int = Field(default=300, ge=1)
    """How long a cached response is served."""
    redis_url: str | None = None
    """Redis for the response cache (and the prediction log when it names none)."""
    redis_timeout_ms: float = Field(default=50.0, gt=0)
    """Socket timeout on the request path: a slow Redis must not slow predictions down."""

    prediction_log_enabled: bool = False
    """Log inputs and outputs to a Redis stream, for drift checks and feedback."""
    prediction_log_sample_rate: float = Field(default=1.0, ge=0, le=1)
    """The share of requests logged."""
    prediction_log_max_len: int = Field(default=100_000, ge=1)
    """The stream keeps at most about this many entries."""
    prediction_log_stream: str = ""
    """Defaults to modelops:predictions:TENANT:MODEL_NAME."""
    prediction_log_redis_url: str | None = None
    """Redis for the prediction log; defaults to REDIS_URL."""
    prediction_log_include_columns: list[str] | None = None
    """Only these feature columns are logged (JSON list; unset: every column not excluded)."""
    prediction_log_exclude_columns: list[str] = Field(default_factory=list)
    """Feature columns never logged (JSON list)."""
    prediction_log_hash_columns: list[str] = Field(default_factory=list)
    """Feature columns logged as a keyed hash, not as their value (JSON list)."""
    prediction_log_hash_key: str = ""
    """The hash's key (from a Secret): without one, a low-cardinality value can be found by
    hashing candidates."""
    prediction_log_max_age_seconds: float | None = Field(default=7 * 86400, gt=0)
    """Entries older than this are trimmed, besides PREDICTION_LOG_MAX_LEN."""
    prediction_log_max_rows_per_second: float | None = Field(default=1000.0, gt=0)
    """At most this many rows a second are logged (after the sample rate): a busy model logs a
    bounded sample, enough for drift checks, and keeps a bounded store of its inputs."""

    allow_pickle: bool = False
    """Load models that run code of their own when loaded: pickle and cloudpickle
    scikit-learn models and python_function models (a cloudpickled class or a code file).
    Off by default: anyone who can register a version and move an alias would run code in
    the pod. skops models need no opt-in."""
    skops_trusted_types: list[str] = Field(default_factory=lambda: ["sklearn.tree._tree.Tree"])
    """Types a skops model may hold beyond skops' own safe set (JSON list). The model's own
    list in its MLmodel is ignored: whoever logged the model chose it. The default admits
    the trees of forests and gradient boosting."""

    candidate_model_uri: str = ""
    """During a rollout: the candidate version, loaded beside MODEL_URI; TRAFFIC_FILE and pushes
    to /admin/traffic say which requests it answers (none until told)."""
    candidate_model_version: str = ""
    """The candidate's version in responses, metrics and cache keys."""
    traffic_file: str = ""
    """The operator's traffic configuration (a mounted ConfigMap), followed while running."""
    traffic_push_file: str = "/tmp/modelops-traffic.json"
    """Where a push to /admin/traffic is written, for the pod's other workers to follow."""
    rollout_public_key: str = ""
    """The operator's Ed25519 public key (base64 of its 32 bytes): /admin/traffic takes only
    configurations it signed. Unset, the route is absent."""
    rollout_target: str = ""
    """NAMESPACE/NAME of the ModelDeployment: a signed configuration names its target, so one
    meant for another deployment is refused."""

    load_retry_initial_seconds: float = Field(default=1.0, gt=0)
    """The first wait before loading the model again after a failure (it doubles)."""
    load_retry_max_seconds: float = Field(default=60.0, gt=0)
    """The longest wait between load attempts."""

    feature_repo: str | None = None
    """A Feast feature repo (feature_store.yaml and definition files; the operator mounts it
    read-only at /feature-repo). Set, /predict accepts `entities` whose features it reads from
    the repo's online store."""
    feature_entity_key: str = ""
    """The entity join key the request's `entities` are values of, e.g. customer_id."""
    feature_refs: str = ""
    """Comma-separated Feast references view:feature; each fills the model column of its
    feature name."""
    feature_lookup_timeout_ms: float = Field(default=1000.0, gt=0)
    """The longest a request waits for the online store before a 503."""

    @field_validator(
        "mlflow_tracking_uri",
        "redis_url",
        "prediction_log_redis_url",
        "feature_repo",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # The operator may render an unset URL as an empty variable.
        return None if value == "" else value

    @model_validator(mode="after")
    def _defaults_from_uri(self) -> RuntimeSettings:
        if not self.model_name:
            self.model_name = model_name_from_uri(self.model_uri) or "model"
        if not self.prediction_log_stream:
            self.prediction_log_stream = f"modelops:predictions:{self.tenant}:{self.model_name}"
        self.feature_entity_key = self.feature_entity_key.strip()
        if self.feature_repo:
            if not self.feature_entity_key:
                raise ValueError("FEATURE_REPO is set but FEATURE_ENTITY_KEY is not")
            parse_refs(self.feature_refs)  # a ValueError names the bad entry
        return self

    @property
    def log_redis_url(self) -> str | None:
        """The prediction log's Redis: its own, else the cache's."""
        return self.prediction_log_redis_url or self.redis_url
