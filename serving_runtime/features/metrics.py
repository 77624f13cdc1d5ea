"""The online feature lookup's latency histogram and error counter."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from modelops.serving_runtime.metrics import LATENCY_BUCKETS, PREFIX, Metrics

LOOKUP_SECONDS = f"{PREFIX}_feature_lookup_duration_seconds"
LOOKUP_ERRORS = f"{PREFIX}_feature_lookup_errors"


class FeatureMetrics:
    """The lookup histogram and error counter, in the app's registry."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        labels = ["model", "version"]
        self.seconds = Histogram(
            LOOKUP_SECONDS,
            "Online feature lookups (one batched read per request), in seconds.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=metrics.registry,
        )
        self.errors = Counter(
            LOOKUP_ERRORS,
            "Failed online feature lookups by reason (not_found, unavailable, not_ready).",
            [*labels, "reason"],
            registry=metrics.registry,
        )

    def lookup(self, seconds: float) -> None:
        self.seconds.labels(self.metrics.model, self.metrics.version).observe(seconds)

    def error(self, reason: str) -> None:
        self.errors.labels(self.metrics.model, self.metrics.version, reason).inc()
