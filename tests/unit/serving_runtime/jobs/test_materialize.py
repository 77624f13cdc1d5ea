"""The materialize job's pure parts: arguments, the window, the result, errors as results."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from modelops.serving_runtime.errors import JobError
from modelops.serving_runtime.jobs import materialize
from modelops.serving_runtime.jobs.common import EXIT_BAD_INPUT

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-31T00:00:00Z", datetime(2025, 1, 31, tzinfo=UTC)),
        ("2025-01-31T02:30:00+02:00", datetime(2025, 1, 31, 0, 30, tzinfo=UTC)),
        ("2025-01-31T00:00:00.250000Z", datetime(2025, 1, 31, 0, 0, 0, 250000, tzinfo=UTC)),
        ("2025-01-31", datetime(2025, 1, 31, tzinfo=UTC)),  # no offset: UTC
        (" 2025-01-31T08:00:00 ", datetime(2025, 1, 31, 8, tzinfo=UTC)),
    ],
)
def test_times_parse_to_aware_utc(text: str, expected: datetime) -> None:
    parsed = materialize.parse_time(text, "--start")
    assert parsed == expected and parsed.tzinfo == UTC


@pytest.mark.parametrize("text", ["yesterday", "", "2025-13-01T00:00:00Z", "1700000000"])
def test_bad_times_are_named(text: str) -> None:
    with pytest.raises(JobError, match=r"^--end .* is not an ISO 8601 time"):
        materialize.parse_time(text, "--end")


def test_no_window_is_incremental() -> None:
    assert materialize.parse_window(None, None, NOW) is None


def test_window_parses_both_ends() -> None:
    window = materialize.parse_window("2025-05-01T00:00:00Z", "2025-05-02T00:00:00+00:00", NOW)
    assert window == materialize.Window(
        datetime(2025, 5, 1, tzinfo=UTC), datetime(2025, 5, 2, tzinfo=UTC)
    )


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2025-05-01T00:00:00Z", None, "--start needs --end"),
        (None, "2025-05-01T00:00:00Z", "--end needs --start"),
        ("2025-05-02T00:00:00Z", "2025-05-01T00:00:00Z", "must be before --end"),
        ("2025-05-01T00:00:00Z", "2025-05-01T00:00:00Z", "must be before --end"),
        ("2025-05-01T00:00:00Z", "2025-07-01T00:00:00Z", "is in the future"),
    ],
)
def test_bad_windows_are_errors(start: str | None, end: str | None, message: str) -> None:
    with pytest.raises(JobError, match=message):
        materialize.parse_window(start, end, NOW)


def test_window_end_with_another_offset_is_compared_in_utc() -> None:
    # 13:30+02:00 is 11:30Z, before NOW (12:00Z): not in the future.
    east = timezone(timedelta(hours=2))
    end = datetime(2025, 6, 1, 13, 30, tzinfo=east).isoformat()
    window = materialize.parse_window("2025-06-01T00:00:00Z", end, NOW)
    assert window is not None and window.end == datetime(2025, 6, 1, 11, 30, tzinfo=UTC)


def test_views_split_trim_and_drop_repeats() -> None:
    assert materialize.parse_views(None) is None
    assert materialize.parse_views(" a, b ,a,,c ") == ["a", "b", "c"]
    with pytest.raises(JobError, match="names no feature view"):
        materialize.parse_views(" , ")


def test_check_views_defaults_to_every_materializable_view() -> None:
    assert materialize.check_views(None, ["a", "b"], ["offline"]) == ["a", "b"]
    assert materialize.check_views(["b"], ["a", "b"], []) == ["b"]
    with pytest.raises(JobError, match="defines no feature view to materialize"):
        materialize.check_views(None, [], ["offline"])


def test_unknown_views_are_named_with_the_known_ones() -> None:
    with pytest.raises(JobError) as err:
        materialize.check_views(["a", "x", "y"], ["a", "b"], [])
    assert str(err.value) == "unknown feature views 'x', 'y'; the repo defines: a, b"
    with pytest.raises(JobError) as err:
        materialize.check_views(["x"], [], [])
    assert str(err.value) == "unknown feature view 'x'; the repo defines: none"


def test_offline_only_views_are_refused() -> None:
    with pytest.raises(JobError, match=r"'offline' is not materialized into the online store"):
        materialize.check_views(["offline"], ["a"], ["offline"])


def test_result_reports_the_oldest_view_end() -> None:
    ends = {
        "a": datetime(2025, 6, 1, 12, tzinfo=UTC),
        "b": datetime(2025, 6, 1, 11, 59, 30, 500000, tzinfo=UTC),
    }
    result = materialize.shape_result(["a", "b"], ends, rows=42, applied=["entity x"])
    assert result == {
        "featureViews": ["a", "b"],
        "materializedUntil": "2025-06-01T11:59:30.500000Z",
        "views": {"a": "2025-06-01T12:00:00Z", "b": "2025-06-01T11:59:30.500000Z"},
        "rows": 42,
        "applied": 1,
        "error": None,
    }
    json.dumps(result)  # plain JSON


def test_result_without_counts_or_intervals() -> None:
    result = materialize.shape_result(["odfv"], {"odfv": None}, rows=None, applied=[])
    assert result["materializedUntil"] is None and result["views"] == {"odfv": None}
    assert "rows" not in result and result["applied"] == 0


def test_iso_converts_to_utc_with_z() -> None:
    east = timezone(timedelta(hours=2))
    assert materialize.iso(datetime(2025, 6, 1, 14, tzinfo=east)) == "2025-06-01T12:00:00Z"


def run_main(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, dict]:
    monkeypatch.setenv("TERMINATION_MESSAGE_PATH", "/nonexistent-dir/termination-log")
    code = materialize.main(args)
    out = capsys.readouterr().out
    return code, json.loads(out.strip().splitlines()[-1])


def test_main_reports_argument_errors_as_results(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code, result = run_main([], capsys, monkeypatch)
    assert code == EXIT_BAD_INPUT and result["error"].startswith("--repo is required")
    code, result = run_main(["--repo", str(tmp_path)], capsys, monkeypatch)
    assert (
        code == EXIT_BAD_INPUT
        and result["error"] == f"feature repo {tmp_path} has no feature_store.yaml"
    )
    code, result = run_main(
        ["--repo", str(tmp_path), "--start", "2025-01-01T00:00:00Z"], capsys, monkeypatch
    )
    assert (
        code == EXIT_BAD_INPUT
        and result["error"] == "--start needs --end: a backfill window takes both"
    )
    assert set(result) == {"error", "startTime", "completionTime"}


def test_main_names_unset_variables_of_the_config(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("MATERIALIZE_TEST_UNSET", raising=False)
    (tmp_path / "feature_store.yaml").write_text(
        "online_store:\n  connection_string: ${MATERIALIZE_TEST_UNSET}\n"
    )
    code, result = run_main(["--repo", str(tmp_path)], capsys, monkeypatch)
    assert code == EXIT_BAD_INPUT
    assert "refers to ${MATERIALIZE_TEST_UNSET}, not set in the environment" in result["error"]
