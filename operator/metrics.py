"""The operator's own Prometheus metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import Gauge, start_http_server

DRIFT_SHARE = Gauge(
    "modelops_drift_share",
    "Share of drifted columns in a DriftMonitor's last successful run",
    ["namespace", "monitor"],
)
DATASET_DRIFT = Gauge(
    "modelops_dataset_drift",
    "1 when a DriftMonitor's last successful run found dataset drift, else 0",
    ["namespace", "monitor"],
)
COLUMN_DRIFT_SCORE = Gauge(
    "modelops_column_drift_score",
    "A column's drift score in a DriftMonitor's last successful run (the method's statistic: a "
    "p-value for ks and chisquare, a distance for wasserstein and jensenshannon)",
    ["namespace", "monitor", "column"],
)
COLUMN_DRIFTED = Gauge(
    "modelops_column_drifted",
    "1 when a column drifted in a DriftMonitor's last successful run, else 0",
    ["namespace", "monitor", "column"],
)
MODEL_PERFORMANCE = Gauge(
    "modelops_model_performance",
    "A quality measure (accuracy, f1, rmse, ...) over a DriftMonitor's last window of labelled "
    "predictions",
    ["namespace", "monitor", "metric"],
)
PERFORMANCE_LABELLED = Gauge(
    "modelops_performance_labelled_ratio",
    "Share of the window's logged predictions that had a label (the feedback join rate)",
    ["namespace", "monitor"],
)
FEATURE_FRESHNESS = Gauge(
    "modelops_feature_freshness_seconds",
    "Seconds since a feature view was last materialized up to",
    ["namespace", "name", "view"],
)


RESOURCE_READY = Gauge(
    "modelops_resource_ready",
    "1 while the resource's Ready condition is True, else 0 (False, Unknown or a failed pass)",
    ["kind", "namespace", "name"],
)
RESOURCE_SUSPENDED = Gauge(
    "modelops_resource_suspended",
    "1 while the resource is suspended (spec.suspend: not Ready on purpose), else 0",
    ["kind", "namespace", "name"],
)


def record_ready(kind: str, namespace: str, name: str, status: dict[str, Any] | None) -> None:
    ready = next(
        (c for c in (status or {}).get("conditions") or [] if c.get("type") == "Ready"), None
    )
    RESOURCE_READY.labels(kind, namespace, name).set(
        1.0 if ready and ready.get("status") == "True" else 0.0
    )
    # Alerts on readiness leave out what a person paused.
    RESOURCE_SUSPENDED.labels(kind, namespace, name).set(
        1.0 if ready and ready.get("reason") == "Suspended" else 0.0
    )


# A resource's own series beyond readiness: (gauge, the label holding its name).
_OWN_SERIES = {
    "DriftMonitor": [
        (g, "monitor")
        for g in (
            DRIFT_SHARE,
            DATASET_DRIFT,
            COLUMN_DRIFT_SCORE,
            COLUMN_DRIFTED,
            MODEL_PERFORMANCE,
            PERFORMANCE_LABELLED,
        )
    ],
    "FeatureMaterialization": [(FEATURE_FRESHNESS, "name")],
}


def _drop(gauge: Gauge, matches: Callable[[dict[str, str]], bool]) -> None:
    """Remove the gauge's series whose labels `matches`."""
    for family in gauge.collect():
        for sample in family.samples:
            if matches(sample.labels):
                try:  # the labels in declaration order, as the gauge keys them
                    gauge.remove(*sample.labels.values())
                except KeyError:
                    pass  # a series shows once per sample suffix: already gone


def forget(kind: str, namespace: str, name: str) -> None:
    """Drop every series of a deleted resource: a gauge would report it for good otherwise."""
    own = [(RESOURCE_READY, "name"), (RESOURCE_SUSPENDED, "name"), *_OWN_SERIES.get(kind, [])]
    for gauge, name_label in own:

        def ours(labels: dict[str, str], name_label: str = name_label) -> bool:
            same_kind = labels.get("kind", kind) == kind
            return same_kind and labels["namespace"] == namespace and labels[name_label] == name

        _drop(gauge, ours)


def serve(port: int) -> bool:
    """Start /metrics; a taken port degrades metrics, not the operator."""
    if port <= 0:
        return False
    try:
        start_http_server(port)
    except OSError:
        return False
    return True


def record_columns(
    namespace: str, monitor: str, scores: dict[str, float], drifted: list[str]
) -> None:
    """A run's per-column figures; a column no longer compared loses its series."""
    for gauge in (COLUMN_DRIFT_SCORE, COLUMN_DRIFTED):
        _drop(
            gauge,
            lambda labels: (
                labels["namespace"] == namespace
                and labels["monitor"] == monitor
                and labels["column"] not in scores
            ),
        )
    for column, score in scores.items():
        COLUMN_DRIFT_SCORE.labels(namespace, monitor, column).set(score)
        COLUMN_DRIFTED.labels(namespace, monitor, column).set(1 if column in drifted else 0)
