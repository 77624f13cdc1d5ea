"""The materialize job's pure parts: arguments, the window, the result, the repo copy."""

from __future__ import annotations

import importlib
import json
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from modelops.serving_runtime.jobs import materialize
from modelops.serving_runtime.jobs.common import JobError

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


def test_missing_env_refs_lists_unset_variables_once() -> None:
    text = 'a: "${SET}"\nb: "${UNSET_B}"\nc: ${UNSET_A}\nd: ${UNSET_B}\ne: $NOT_BRACED\n'
    assert materialize.missing_env_refs(text, {"SET": "x"}) == ["UNSET_A", "UNSET_B"]
    assert materialize.missing_env_refs("project: p\n", {}) == []


def test_one_line_collapses_bounds_and_hides_the_copy() -> None:
    exc = ValueError("bad value\n  in /tmp/modelops-feast-x/repo/feature_store.yaml\n")
    text = materialize.one_line(exc, {"/tmp/modelops-feast-x/repo": "/feature-repo"})
    assert text == "ValueError: bad value in /feature-repo/feature_store.yaml"
    long = materialize.one_line(RuntimeError("x" * 5000))
    assert len(long) < 700 and long.endswith("...")
    assert materialize.one_line(KeyError()) == "KeyError: (no message)"


def test_redis_endpoints_drop_options_and_secrets() -> None:
    text = "redis-0:6379,redis-1:6379,db=0,password=s3cret,ssl=true"
    assert materialize.redis_endpoints(text) == "redis-0:6379, redis-1:6379"
    assert materialize.redis_endpoints("") == "(no host)"


def make_configmap_mount(root: Path) -> Path:
    """A folder laid out as the kubelet mounts a ConfigMap, read-only."""
    root.mkdir()
    data = root / "..2025_01_31_00_00_00.000000000"
    data.mkdir()
    (data / "feature_store.yaml").write_text("project: p\n")
    (data / "features.py").write_text("X = 1\n")
    (root / "..data").symlink_to(data.name)
    for name in ("feature_store.yaml", "features.py"):
        (root / name).symlink_to(Path("..data") / name)
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "features.cpython-311.pyc").write_bytes(b"stale")
    for path in (data, root / "__pycache__", root):
        path.chmod(0o555)
    return root


def test_copy_follows_configmap_links_and_skips_kubelet_folders(tmp_path: Path) -> None:
    source = make_configmap_mount(tmp_path / "mount")
    target = tmp_path / "copy" / "repo"
    try:
        materialize.copy_repo(source, target)
    finally:
        for path in (source / "..2025_01_31_00_00_00.000000000", source / "__pycache__", source):
            path.chmod(0o755)
    assert sorted(p.name for p in target.iterdir()) == ["feature_store.yaml", "features.py"]
    assert not any(p.is_symlink() for p in target.iterdir())
    assert (target / "features.py").read_text() == "X = 1\n"
    # Writable although the source was not: Feast writes data/registry.db beside it.
    (target / "data").mkdir()
    (target / "feature_store.yaml").write_text("project: q\n")


def test_copy_keeps_subfolders_and_survives_a_symlink_loop(tmp_path: Path) -> None:
    source = tmp_path / "repo"
    (source / "defs").mkdir(parents=True)
    (source / "defs" / "more.py").write_text("Y = 2\n")
    (source / "defs" / "loop").symlink_to(source)
    target = tmp_path / "copy"
    materialize.copy_repo(source, target)
    assert (target / "defs" / "more.py").read_text() == "Y = 2\n"


def test_definitions_import_fresh_each_time_and_leave_no_trace(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for root, value in ((first, 1), (second, 2)):
        root.mkdir()
        (root / "defs_for_materialize_test.py").write_text(f"X = {value}\n")
    cwd, path = Path.cwd(), list(sys.path)
    for root, value in ((first, 1), (second, 2)):
        with materialize.importable(root):
            assert Path.cwd() == root
            assert importlib.import_module("defs_for_materialize_test").X == value
        assert "defs_for_materialize_test" not in sys.modules
    assert Path.cwd() == cwd and sys.path == path


def test_definitions_displace_and_restore_a_module_of_the_same_name(tmp_path: Path) -> None:
    (tmp_path / "defs_for_materialize_test.py").write_text("X = 'repo'\n")
    placeholder = type(sys)("defs_for_materialize_test")
    sys.modules["defs_for_materialize_test"] = placeholder
    try:
        with materialize.importable(tmp_path):
            assert importlib.import_module("defs_for_materialize_test").X == "repo"
        assert sys.modules["defs_for_materialize_test"] is placeholder
    finally:
        del sys.modules["defs_for_materialize_test"]


def test_definition_file_shadowing_the_standard_library_is_refused(tmp_path: Path) -> None:
    (tmp_path / "json.py").write_text("")
    with pytest.raises(JobError, match=r"json\.py shadows the Python module 'json'"):
        with materialize.importable(tmp_path):
            pass


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
    assert code == 1 and result["error"].startswith("--repo is required")
    code, result = run_main(["--repo", str(tmp_path)], capsys, monkeypatch)
    assert code == 1 and result["error"] == f"feature repo {tmp_path} has no feature_store.yaml"
    code, result = run_main(
        ["--repo", str(tmp_path), "--start", "2025-01-01T00:00:00Z"], capsys, monkeypatch
    )
    assert code == 1 and result["error"] == "--start needs --end: a backfill window takes both"
    assert set(result) == {"error", "startTime", "completionTime"}


def test_main_names_unset_variables_of_the_config(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("MATERIALIZE_TEST_UNSET", raising=False)
    (tmp_path / "feature_store.yaml").write_text(
        "online_store:\n  connection_string: ${MATERIALIZE_TEST_UNSET}\n"
    )
    code, result = run_main(["--repo", str(tmp_path)], capsys, monkeypatch)
    assert code == 1
    assert "refers to ${MATERIALIZE_TEST_UNSET}, not set in the environment" in result["error"]
