"""DriftMonitor status policy: results from termination messages into lastRun and history."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from modelops.operator.api.v1alpha1.drift_monitor import DriftMonitor, DriftMonitorStatus
from modelops.operator.status import conditions as shared
from modelops.operator.status import drift_monitor as ds

NOW = datetime(2026, 11, 29, 9, 0, 0, tzinfo=UTC)


def dm(**spec: object) -> DriftMonitor:
    return DriftMonitor.model_validate(
        {
            "metadata": {"name": "d", "namespace": "n", "generation": 2},
            "spec": {"modelDeploymentRef": {"name": "fraud"}, **spec},
        }
    )


def result(job: str, minutes: int, **doc: object) -> ds.DriftResult:
    t = (NOW + timedelta(minutes=minutes)).isoformat()
    return ds.to_drift_result({"completionTime": t, "startTime": t, **doc}, job, NOW)


def test_history_is_newest_first_capped_and_one_entry_per_job() -> None:
    status = DriftMonitorStatus()
    for i in range(12):
        status = ds.record_run(status, result(f"j{i}", i, driftShare=i / 20, datasetDrift=False))
    assert [h.job_name for h in status.history or []] == [f"j{i}" for i in range(11, 1, -1)]
    assert status.last_run is not None and status.last_run.job_name == "j11"
    # The error recorded for a job is replaced when its pod's real result arrives.
    status = ds.record_run(status, result("j12", 13, error="the Job failed (DeadlineExceeded)"))
    assert not ds.already_recorded(status, "j12")
    status = ds.record_run(status, result("j12", 13, driftShare=0.5, datasetDrift=True))
    assert ds.already_recorded(status, "j12")
    assert [h.job_name for h in status.history or []].count("j12") == 1
    assert status.last_run is not None and status.last_run.dataset_drift is True


def test_an_older_run_arriving_late_does_not_replace_last_run() -> None:
    status = ds.record_run(None, result("new", 10, driftShare=0.0, datasetDrift=False))
    status = ds.record_run(status, result("old", 1, driftShare=0.9, datasetDrift=True))
    assert status.last_run is not None and status.last_run.job_name == "new"
    assert [h.job_name for h in status.history or []] == ["new", "old"]


def conds(monitor: DriftMonitor, status: DriftMonitorStatus, problem=None) -> dict:
    return {c.type: (c.status, c.reason) for c in ds.conditions(monitor, status, problem, NOW)}


def test_conditions_table() -> None:
    monitor = dm()
    assert conds(monitor, DriftMonitorStatus()) == {
        "Ready": ("True", shared.SCHEDULED),
        "LastRunSucceeded": ("Unknown", shared.NO_RUN_YET),
        "DriftDetected": ("Unknown", shared.NO_RUN_YET),
    }
    drifted = ds.record_run(None, result("j", 0, driftShare=0.5, datasetDrift=True))
    assert conds(monitor, drifted)["DriftDetected"] == ("True", ds.DRIFT_DETECTED)
    assert conds(monitor, drifted)["Ready"] == ("True", shared.SCHEDULED)
    calm = ds.record_run(None, result("j", 0, driftShare=0.1, datasetDrift=False))
    assert conds(monitor, calm)["DriftDetected"] == ("False", ds.NO_DRIFT)
    failed = ds.record_run(None, result("j", 0, error="too few current rows: 3 < minRows 100"))
    c = conds(monitor, failed)
    assert c["LastRunSucceeded"] == ("False", shared.RUN_FAILED)
    assert c["Ready"] == ("False", shared.RUN_FAILED)
    assert c["DriftDetected"][0] == "Unknown"
    missing = conds(monitor, calm, (ds.TARGET_NOT_FOUND, "no such ModelDeployment"))
    assert missing["Ready"] == ("False", ds.TARGET_NOT_FOUND)
    assert conds(dm(suspend=True), calm)["Ready"] == ("True", shared.SUSPENDED)


def test_condition_messages_name_the_drifted_columns() -> None:
    drifted = ds.record_run(
        None, result("j", 0, driftShare=0.5, datasetDrift=True, driftedColumns=["b", "d"])
    )
    (c,) = [x for x in ds.conditions(dm(), drifted, None, NOW) if x.type == "DriftDetected"]
    assert "b, d" in c.message and "0.500" in c.message
    assert json.loads(json.dumps(drifted.wire()))["lastRun"]["driftedColumns"] == ["b", "d"]


def test_the_jobs_on_drift_actions_become_events() -> None:
    doc = {
        "actions": {
            "tag": {"ok": True, "version": "fraud/7"},
            "webhook": {"ok": False, "error": "the webhook answered 500 after 3 attempts"},
        }
    }
    assert ds.action_events(doc, "fraud-drift-1") == [
        (False, "ModelVersionTagged", "fraud-drift-1: did tag the model version"),
        (
            True,
            "WebhookFailed",
            "fraud-drift-1: could not post the webhook: the webhook answered 500 after 3 attempts",
        ),
    ]
    assert ds.action_events({}, "j") == []
    assert ds.action_events({"actions": "forged"}, "j") == []


PERF = {"metrics": [{"name": "accuracy", "min": 0.85}], "minLabels": 50}


def perf_doc(reason: str, value: float | None, labelled: int, **extra: object) -> dict[str, object]:
    return {
        "window": "1h",
        "predictions": 400,
        "labelled": labelled,
        "joinRate": labelled / 400,
        "reason": reason,
        "message": extra.pop("message", ""),
        "metrics": [{"name": "accuracy", "value": value, "min": 0.85, "passed": None}],
        **extra,
    }


def degraded(run: ds.DriftResult) -> tuple[str, str, str]:
    status = ds.record_run(None, run)
    found = {c.type: c for c in ds.conditions(dm(performance=PERF), status, None, NOW)}
    c = found[ds.PERFORMANCE_DEGRADED]
    return c.status, c.reason, c.message


def test_performance_breach_pass_and_too_few_labels_are_three_different_conditions() -> None:
    breach = result(
        "j1",
        1,
        driftShare=0.0,
        datasetDrift=False,
        performance=perf_doc("Breached", 0.71, 300, message="accuracy 0.71 < min 0.85"),
    )
    ok = result(
        "j2",
        2,
        driftShare=0.0,
        datasetDrift=False,
        performance=perf_doc("WithinThresholds", 0.93, 300),
    )
    few = result(
        "j3",
        3,
        driftShare=0.0,
        datasetDrift=False,
        performance=perf_doc(
            "TooFewLabels", None, 12, message="12 labelled predictions < minLabels 50"
        ),
    )
    assert degraded(breach) == (
        "True",
        "Breached",
        "accuracy 0.71 < min 0.85 (300 of 400 predictions labelled)",
    )
    assert degraded(ok) == (
        "False",
        "WithinThresholds",
        "accuracy 0.93 (300 of 400 predictions labelled)",
    )
    assert degraded(few)[:2] == ("Unknown", "TooFewLabels")
    assert "12 of 400" in degraded(few)[2]
    failed = result("j4", 4, error="could not read the labels")
    assert degraded(failed)[:2] == ("Unknown", shared.RUN_FAILED)


def test_a_monitor_without_performance_has_no_performance_condition() -> None:
    status = ds.record_run(None, result("j1", 1, driftShare=0.0, datasetDrift=False))
    types = {c.type for c in ds.conditions(dm(), status, None, NOW)}
    assert ds.PERFORMANCE_DEGRADED not in types


def test_a_jobs_performance_section_is_kept_to_known_fields_and_sizes() -> None:
    doc = perf_doc("Breached", 0.5, 300, message="x" * 5000)
    doc["metrics"] = [{"name": "accuracy", "value": "high", "passed": "yes"}] * 20
    doc["reason"] = "Whatever"
    perf = ds.to_performance(doc)
    assert perf is not None
    assert perf.reason is None and len(perf.message or "") == 1000
    assert len(perf.metrics or []) == 8
    assert all(m.value is None and m.passed is None for m in perf.metrics or [])
    assert ds.to_performance("not a dict") is None


def test_column_scores_are_read_when_the_message_kept_them() -> None:
    doc = {
        "columnScores": {
            "a": {"method": "ks", "score": 0.5, "threshold": 0.05},
            "b": {"score": 0},
            "bad": {"score": "high"},
            "flag": {"score": True},
        }
    }
    assert ds.column_scores(doc) == {"a": 0.5, "b": 0.0}
    assert ds.column_scores({"driftShare": 0.5}) is None  # dropped to fit the message
