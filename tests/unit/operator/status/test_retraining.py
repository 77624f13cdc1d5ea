"""Retraining policy: what starts a run, what holds one back, how its end reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from modelops.operator.api.v1alpha1.drift_monitor import DriftMonitor
from modelops.operator.status import drift_monitor as ds
from modelops.operator.status import retraining as rt

NOW = datetime(2026, 12, 2, 9, 0, 0, tzinfo=UTC)
RETRAIN = {"command": ["python", "/opt/train.py"], "cooldown": "30m"}
PERF = {"metrics": [{"name": "accuracy", "min": 0.85}]}


def dm(**spec: object) -> DriftMonitor:
    return DriftMonitor.model_validate(
        {
            "metadata": {"name": "fraud-drift", "namespace": "risk", "uid": "u1"},
            "spec": {"modelDeploymentRef": {"name": "fraud"}, "performance": PERF, **spec},
        }
    )


def run(drift: bool, perf_reason: str | None = None, error: str | None = None) -> ds.DriftResult:
    doc: dict[str, object] = {"datasetDrift": drift, "driftShare": 0.5 if drift else 0.0}
    if perf_reason is not None:
        doc["performance"] = {"reason": perf_reason, "labelled": 300, "predictions": 400}
    if error is not None:
        doc = {"error": error}
    return ds.to_drift_result(doc, "fraud-drift-1", NOW)


@pytest.mark.parametrize(
    ("spec", "result", "reason"),
    [
        ({"retrain": RETRAIN, "onDrift": {"retrain": True}}, run(True), "Drift"),
        ({"retrain": RETRAIN, "onDrift": {"retrain": True}}, run(False), None),
        ({"retrain": RETRAIN, "onDrift": {"retrain": False}}, run(True), None),
        (
            {"retrain": RETRAIN, "onPerformanceBreach": {"retrain": True}},
            run(False, "Breached"),
            "PerformanceBreach",
        ),
        (
            {"retrain": RETRAIN, "onPerformanceBreach": {"retrain": True}},
            run(False, "TooFewLabels"),
            None,
        ),
        (
            {"retrain": RETRAIN, "onPerformanceBreach": {"retrain": True}},
            run(False, "WithinThresholds"),
            None,
        ),
        (
            {
                "retrain": RETRAIN,
                "onDrift": {"retrain": True},
                "onPerformanceBreach": {"retrain": True},
            },
            run(True, "Breached"),
            "PerformanceBreach",
        ),
        ({"retrain": RETRAIN, "onDrift": {"retrain": True}}, run(True, error="boom"), None),
        # A template, and nothing asks for it.
        ({"retrain": RETRAIN}, run(True, "Breached"), None),
    ],
)
def test_what_starts_a_run(
    spec: dict[str, object], result: ds.DriftResult, reason: str | None
) -> None:
    assert rt.trigger(dm(**spec), result) == reason


def test_one_run_at_a_time_and_none_in_the_cooldown_after_it() -> None:
    assert rt.held_back(None, "30m", NOW) is None
    running = rt.started("fraud-drift", "0123456789abcdef", "Drift", "fraud-drift-1", NOW)
    assert running.job_name == "fraud-drift-retrain-01234567"
    assert "still running" in (rt.held_back(running, "30m", NOW + timedelta(days=3)) or "")
    done = rt.finished(running, "8", "registered fraud version 8", NOW + timedelta(minutes=5))
    assert done.phase == "Succeeded" and done.version == "8"
    assert "cooling down" in (rt.held_back(done, "30m", NOW + timedelta(minutes=34)) or "")
    assert "2026-12-02T09:35:00Z" in (rt.held_back(done, "30m", NOW + timedelta(minutes=34)) or "")
    assert rt.held_back(done, "30m", NOW + timedelta(minutes=35)) is None
    failed = rt.finished(running, None, "the Job failed: BackoffLimitExceeded", NOW)
    assert failed.phase == "Failed" and failed.version is None
    assert rt.held_back(failed, "1h", NOW + timedelta(minutes=59)) is not None


def test_a_name_of_the_longest_monitor_still_fits_a_label() -> None:
    assert len(rt.job_name("m" * 46, "f" * 16)) == 63


def test_a_jobs_end_is_read_from_its_conditions() -> None:
    assert rt.job_outcome({"status": {}}) is None
    assert (
        rt.job_outcome({"status": {"conditions": [{"type": "Complete", "status": "False"}]}})
        is None
    )
    assert rt.job_outcome({"status": {"conditions": [{"type": "Complete", "status": "True"}]}}) == (
        True,
        "the Job completed",
    )
    failed = {
        "type": "Failed",
        "status": "True",
        "reason": "DeadlineExceeded",
        "message": "too long",
    }
    assert rt.job_outcome({"status": {"conditions": [failed]}}) == (
        False,
        "the Job failed: too long",
    )
