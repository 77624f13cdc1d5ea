"""Prometheus metrics labelled by model and version, and the ASGI middleware counting requests."""

from __future__ import annotations

import os
import time
from contextvars import ContextVar
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

# With WORKERS > 1 the CLI sets PROMETHEUS_MULTIPROC_DIR before any worker starts, each worker
# writes its values there, and /metrics aggregates all of them (prometheus-client multiprocess
# mode). Metrics live in a registry per app, so tests can build many apps in one process.
PREFIX = "modelops_runtime"
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 10_000)
LOAD_STATES = ("loading", "ready", "failed")
VERSION_HEADER = b"x-model-version"
PREDICTION_ID_HEADER = b"x-prediction-id"

# The version that answered the current request, set by the data plane. A holder, not the
# value: the admission middleware runs the route in a task of its own, whose context is a copy.
ANSWERED: ContextVar[dict[str, str] | None] = ContextVar("answered", default=None)


def answered_by(version: str) -> None:
    holder = ANSWERED.get()
    if holder is not None:
        holder["version"] = version


def identified_as(prediction_id: str) -> None:
    holder = ANSWERED.get()
    if holder is not None:
        holder["prediction_id"] = prediction_id


# The routes, so a path never becomes a label value by itself (unbounded cardinality).
_FIXED = {
    "/predict",
    "/feedback",
    "/predict/batch",
    "/invocations",
    "/health",
    "/ready",
    "/ping",
    "/version",
    "/metrics",
    "/v2",
    "/v2/health/live",
    "/v2/health/ready",
    "/docs",
    "/openapi.json",
}


def endpoint_label(path: str) -> str:
    if path in _FIXED:
        return path
    if path.startswith("/v2/models/"):
        if path.endswith("/infer"):
            return "/v2/models/{name}/infer"
        if path.endswith("/ready"):
            return "/v2/models/{name}/ready"
        return "/v2/models/{name}"
    return "other"


def multiprocess_dir() -> str | None:
    """Where worker processes write their values, when prometheus-client writes them there.

    The client picks its value store once, when first imported; the variable may have been set
    later (importing feast sets it), so ask the store, not the environment."""
    from prometheus_client import values

    if not getattr(values.ValueClass, "_multiprocess", False):
        return None
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    def __init__(self, model: str, version: str = "") -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.model = model
        self.version = version or "unknown"
        r = self.registry
        labels = ["model", "version"]
        self.requests = Counter(
            f"{PREFIX}_requests",
            "HTTP requests by endpoint and status code.",
            [*labels, "endpoint", "code"],
            registry=r,
        )
        self.request_seconds = Histogram(
            f"{PREFIX}_request_duration_seconds",
            "HTTP request latency, from the first byte in to the last byte out.",
            [*labels, "endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            f"{PREFIX}_errors",
            "Error responses by error code (invalid_input, payload_too_large, ...).",
            [*labels, "code"],
            registry=r,
        )
        self.model_seconds = Histogram(
            f"{PREFIX}_model_call_duration_seconds",
            "Time in the model's predict (and predict_proba) per call.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_rows = Histogram(
            f"{PREFIX}_batch_rows",
            "Rows per model call (micro-batches merge concurrent requests).",
            labels,
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.cache_hits = Counter(
            f"{PREFIX}_cache_hits", "Response cache hits.", labels, registry=r
        )
        self.cache_misses = Counter(
            f"{PREFIX}_cache_misses", "Response cache misses.", labels, registry=r
        )
        self.predlog_written = Counter(
            f"{PREFIX}_prediction_log_written_rows",
            "Rows written to the prediction log stream.",
            labels,
            registry=r,
        )
        self.predlog_dropped = Counter(
            f"{PREFIX}_prediction_log_dropped_rows",
            "Sampled rows not logged (queue full or Redis unavailable).",
            labels,
            registry=r,
        )
        self.feedback_labels = Counter(
            f"{PREFIX}_feedback_labels",
            "Labels sent to POST /feedback, by outcome: kept (a logged prediction has the id) "
            "or unknown (none has: never logged, sampled out, expired, or a wrong id).",
            ["model", "outcome"],
            registry=r,
        )
        self.redis_errors = Counter(
            f"{PREFIX}_redis_errors",
            "Failed Redis operations by component (cache, prediction_log).",
            [*labels, "component"],
            registry=r,
        )
        self.model_state = Gauge(
            f"{PREFIX}_model_load_state",
            "1 for the model's current load state (loading, ready, failed), 0 for the others.",
            [*labels, "state"],
            registry=r,
            multiprocess_mode="livemax",
        )
        # Shadow traffic: the candidate's answers on copies of requests, compared with the
        # stable version's. Agreement = equal / rows (classifiers), or 1 - mean |diff| /
        # stable std (regressors, from the sums).
        self.shadow_rows = Counter(
            f"{PREFIX}_shadow_rows", "Rows the candidate scored in shadow.", labels, registry=r
        )
        self.shadow_equal_rows = Counter(
            f"{PREFIX}_shadow_equal_rows",
            "Shadow rows where the candidate's prediction equals the stable version's.",
            labels,
            registry=r,
        )
        self.shadow_abs_diff = Counter(
            f"{PREFIX}_shadow_abs_diff",
            "Sum over shadow rows of |candidate - stable| (numeric predictions).",
            labels,
            registry=r,
        )
        # A Gauge: predictions may be negative, and a Counter only goes up.
        self.shadow_stable_sum = Gauge(
            f"{PREFIX}_shadow_stable_sum",
            "Sum of the stable version's numeric predictions on shadow rows.",
            labels,
            registry=r,
            multiprocess_mode="sum",
        )
        self.shadow_stable_sq_sum = Counter(
            f"{PREFIX}_shadow_stable_sq_sum",
            "Sum of squares of the stable version's numeric predictions on shadow rows.",
            labels,
            registry=r,
        )
        self.shadow_errors = Counter(
            f"{PREFIX}_shadow_errors",
            "Shadow calls where the candidate failed.",
            labels,
            registry=r,
        )
        self.shadow_skipped = Counter(
            f"{PREFIX}_shadow_skipped",
            "Requests not copied to the candidate because too many shadow calls were pending.",
            labels,
            registry=r,
        )
        self.traffic_revision = Gauge(
            f"{PREFIX}_traffic_revision",
            "The traffic configuration in force (the lowest of the pod's workers).",
            ["model"],
            registry=r,
            multiprocess_mode="livemin",
        )
        self.traffic_weight = Gauge(
            f"{PREFIX}_traffic_weight",
            "The candidate's share in percent, by mode (canary, abtest, shadow, none).",
            ["model", "mode"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self._bind()

    def set_version(self, version: str) -> None:
        """Bind the label children once; the hot path then skips label lookups."""
        if self.version != (version or "unknown"):
            # The load state moves to the new version's labels (clear() is not supported in
            # multiprocess mode).
            for state in LOAD_STATES:
                self.model_state.labels(self.model, self.version, state).set(0)
        self.version = version or "unknown"
        self._bind()

    def _bind(self) -> None:
        base = (self.model, self.version)
        self._model_seconds = self.model_seconds.labels(*base)
        self._batch_rows = self.batch_rows.labels(*base)
        self._cache_hits = self.cache_hits.labels(*base)
        self._cache_misses = self.cache_misses.labels(*base)
        self._predlog_written = self.predlog_written.labels(*base)
        self._predlog_dropped = self.predlog_dropped.labels(*base)
        self._request_children: dict[tuple[str, int, str], tuple[Any, Any]] = {}

    def request(self, endpoint: str, code: int, seconds: float, version: str | None = None) -> None:
        version = version or self.version
        children = self._request_children.get((endpoint, code, version))
        if children is None:
            children = (
                self.requests.labels(self.model, version, endpoint, str(code)),
                self.request_seconds.labels(self.model, version, endpoint),
            )
            self._request_children[(endpoint, code, version)] = children
        children[0].inc()
        children[1].observe(seconds)

    def shadow(self, version: str, rows: int, equal: int, diff: tuple[float, float, float]) -> None:
        base = (self.model, version)
        self.shadow_rows.labels(*base).inc(rows)
        self.shadow_equal_rows.labels(*base).inc(equal)
        abs_diff, total, squares = diff
        self.shadow_abs_diff.labels(*base).inc(abs_diff)
        self.shadow_stable_sum.labels(*base).inc(total)
        self.shadow_stable_sq_sum.labels(*base).inc(squares)

    def traffic(self, revision: int, mode: str, weight: int) -> None:
        self.traffic_revision.labels(self.model).set(revision)
        for m in ("none", "canary", "shadow", "abtest"):
            self.traffic_weight.labels(self.model, m).set(weight if m == mode else 0)

    def error(self, code: str) -> None:
        self.errors.labels(self.model, self.version, code).inc()

    def model_call(self, rows: int, seconds: float, version: str | None = None) -> None:
        if version is not None and version != self.version:
            self.model_seconds.labels(self.model, version).observe(seconds)
            self.batch_rows.labels(self.model, version).observe(rows)
            return
        self._model_seconds.observe(seconds)
        self._batch_rows.observe(rows)

    def cache_result(self, hit: bool) -> None:
        (self._cache_hits if hit else self._cache_misses).inc()

    def predlog_rows(self, written: int = 0, dropped: int = 0) -> None:
        if written:
            self._predlog_written.inc(written)
        if dropped:
            self._predlog_dropped.inc(dropped)

    def feedback(self, kept: int, unknown: int) -> None:
        if kept:
            self.feedback_labels.labels(self.model, "kept").inc(kept)
        if unknown:
            self.feedback_labels.labels(self.model, "unknown").inc(unknown)

    def redis_error(self, component: str) -> None:
        self.redis_errors.labels(self.model, self.version, component).inc()

    def load_state(self, state: str) -> None:
        for s in LOAD_STATES:
            self.model_state.labels(self.model, self.version, s).set(1 if s == state else 0)

    def render(self) -> tuple[bytes, str]:
        directory = multiprocess_dir()
        if directory is None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)
        return generate_latest(registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Pure ASGI (BaseHTTPMiddleware would cost a task and a stream per request)."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        holder: dict[str, str] = {}
        token = ANSWERED.set(holder)

        async def send_and_watch(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                version = holder.get("version")
                prediction_id = holder.get("prediction_id")
                if version is not None or prediction_id is not None:
                    headers = list(message.get("headers", []))
                    if version is not None:
                        # Which version answered, errors included: clients and load tests
                        # can tell a candidate's answers from the stable version's.
                        headers.append((VERSION_HEADER, version.encode()))
                    if prediction_id is not None and status < 400:
                        headers.append((PREDICTION_ID_HEADER, prediction_id.encode()))
                    message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            ANSWERED.reset(token)
            self.metrics.request(
                endpoint_label(scope["path"]),
                status,
                time.perf_counter() - started,
                holder.get("version"),
            )
