"""The operator's own Prometheus metrics."""

from __future__ import annotations

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


def serve(port: int) -> bool:
    """Start /metrics; a taken port degrades metrics, not the operator."""
    if port <= 0:
        return False
    try:
        start_http_server(port)
    except OSError:
        return False
    return True
