"""A finished run's termination message as data."""

from __future__ import annotations

from datetime import UTC, datetime

from modelops.operator.status import runs


def test_parse_result_takes_the_last_json_line() -> None:
    assert runs.parse_result('log line\n{"driftShare": 0.1}') == {"driftShare": 0.1}
    assert runs.parse_result("") is None
    crashed = runs.parse_result("Traceback ...\nMemoryError")
    assert crashed is not None and "MemoryError" in crashed["error"]
    assert runs.parse_result("[1, 2]") == {"error": "the job wrote an unexpected result: [1, 2]"}


def test_times_parse_to_aware_utc_and_fall_back_on_garbage() -> None:
    default = datetime(2026, 1, 1, tzinfo=UTC)
    assert runs.parse_time("2026-11-29T09:00:00.123Z", default) == datetime(
        2026, 11, 29, 9, tzinfo=UTC
    )
    assert runs.parse_time("2026-11-29T09:00:00", default).tzinfo is UTC
    assert runs.parse_time("yesterday", default) == default
    assert runs.parse_time(None, default) == default


def owned(kind: str, name: str, uid: str, by: tuple[str, str, str] | None) -> dict:
    refs = [] if by is None else [{"kind": by[0], "name": by[1], "uid": by[2], "controller": True}]
    return {"kind": kind, "metadata": {"name": name, "uid": uid, "ownerReferences": refs}}


CRON = owned("CronJob", "watch", "c-1", ("DriftMonitor", "watch", "dm-1"))
JOB = owned("Job", "watch-1", "j-1", ("CronJob", "watch", "c-1"))
POD = owned("Pod", "watch-1-x", "p-1", ("Job", "watch-1", "j-1"))


def test_a_run_counts_only_through_the_whole_chain_by_uid() -> None:
    assert runs.made_by(POD, JOB, "Job")
    assert runs.run_owner(JOB, CRON, "DriftMonitor") == ("watch", "dm-1")
    assert runs.run_owner(JOB, CRON, "FeatureMaterialization") is None
    bare = owned("Pod", "x", "p-2", None)
    assert not runs.made_by(bare, JOB, "Job")
    by_hand = owned("Job", "watch-1", "j-1", None)  # the right name, no CronJob behind it
    assert runs.run_owner(by_hand, CRON, "DriftMonitor") is None
    other_job = owned("Job", "watch-1", "j-9", ("CronJob", "watch", "c-1"))  # a namesake
    assert not runs.made_by(POD, other_job, "Job")
    assert runs.run_owner(JOB, None, "DriftMonitor") is None


def test_times_come_from_the_kubelet_and_never_from_the_future() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    pod = {"status": {"containerStatuses": [{"state": {"terminated": {
        "startedAt": "2026-12-01T11:59:00Z", "finishedAt": "2100-01-01T00:00:00Z"}}}]}}  # fmt: skip
    doc = runs.kubelet_times(pod, {"completionTime": "2100-01-01T00:00:00Z", "x": 1}, now)
    assert doc == {
        "x": 1,
        "startTime": "2026-12-01T11:59:00Z",
        "completionTime": "2026-12-01T12:00:00Z",
    }
