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
