"""The operator's gauges: readiness per resource, and every series of a deleted resource gone."""

from __future__ import annotations

from prometheus_client import REGISTRY

from modelops.operator import metrics


def value(metric: str, /, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(metric, labels)


def test_ready_is_one_only_while_the_ready_condition_is_true() -> None:
    key = {"kind": "ModelDeployment", "namespace": "t-ready", "name": "fraud"}
    up = {
        "conditions": [
            {"type": "Available", "status": "False"},
            {"type": "Ready", "status": "True"},
        ]
    }
    metrics.record_ready("ModelDeployment", "t-ready", "fraud", up)
    assert value("modelops_resource_ready", **key) == 1.0
    down = {"conditions": [{"type": "Ready", "status": "Unknown"}]}
    metrics.record_ready("ModelDeployment", "t-ready", "fraud", down)
    assert value("modelops_resource_ready", **key) == 0.0
    metrics.record_ready("ModelDeployment", "t-ready", "fraud", None)  # a failed pass
    assert value("modelops_resource_ready", **key) == 0.0
    assert value("modelops_resource_suspended", **key) == 0.0
    paused = {"conditions": [{"type": "Ready", "status": "False", "reason": "Suspended"}]}
    metrics.record_ready("ModelDeployment", "t-ready", "fraud", paused)
    assert value("modelops_resource_ready", **key) == 0.0
    assert value("modelops_resource_suspended", **key) == 1.0


def test_a_deleted_resource_takes_all_its_series_and_no_one_elses() -> None:
    for name in ("gone", "kept"):
        metrics.record_ready("DriftMonitor", "t-forget", name, None)
        metrics.DRIFT_SHARE.labels("t-forget", name).set(0.5)
        metrics.MODEL_PERFORMANCE.labels("t-forget", name, "accuracy").set(0.9)
        metrics.MODEL_PERFORMANCE.labels("t-forget", name, "f1").set(0.8)
    # Same namespace and name, another kind: not the DriftMonitor's.
    metrics.record_ready("ModelDeployment", "t-forget", "gone", None)
    metrics.forget("DriftMonitor", "t-forget", "gone")
    gone = {"namespace": "t-forget", "monitor": "gone"}
    for gauge in ("modelops_resource_ready", "modelops_resource_suspended"):
        assert value(gauge, kind="DriftMonitor", namespace="t-forget", name="gone") is None
    assert value("modelops_drift_share", **gone) is None
    assert value("modelops_model_performance", **gone, metric="accuracy") is None
    assert value("modelops_model_performance", **gone, metric="f1") is None
    kept = {"namespace": "t-forget", "monitor": "kept"}
    assert value("modelops_drift_share", **kept) == 0.5
    assert value("modelops_model_performance", **kept, metric="f1") == 0.8
    assert (
        value("modelops_resource_ready", kind="ModelDeployment", namespace="t-forget", name="gone")
        == 0.0
    )
    metrics.forget("FeatureMaterialization", "t-forget", "never-seen")  # nothing to drop: no error


def test_per_column_drift_follows_the_last_run() -> None:
    metrics.record_columns("t-cols", "watch", {"a": 0.5, "b": 0.001}, ["b"])
    key = {"namespace": "t-cols", "monitor": "watch"}
    assert value("modelops_column_drift_score", **key, column="b") == 0.001
    assert value("modelops_column_drifted", **key, column="b") == 1.0
    assert value("modelops_column_drifted", **key, column="a") == 0.0
    # The next run compares a and c: b's series go, another monitor's stay.
    metrics.record_columns("t-cols", "other", {"b": 0.2}, [])
    metrics.record_columns("t-cols", "watch", {"a": 0.4, "c": 0.9}, [])
    assert value("modelops_column_drift_score", **key, column="b") is None
    assert value("modelops_column_drifted", **key, column="b") is None
    assert value("modelops_column_drift_score", **key, column="c") == 0.9
    assert value("modelops_column_drift_score", namespace="t-cols", monitor="other", column="b")
    metrics.forget("DriftMonitor", "t-cols", "watch")
    assert value("modelops_column_drift_score", **key, column="a") is None
