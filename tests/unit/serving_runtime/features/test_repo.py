"""The feature repo's pure parts: env references, messages, the repo copy, definition imports."""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path

import pytest

from modelops.serving_runtime.errors import JobError
from modelops.serving_runtime.features import repo


def test_missing_env_refs_lists_unset_variables_once() -> None:
    text = 'a: "${SET}"\nb: "${UNSET_B}"\nc: ${UNSET_A}\nd: ${UNSET_B}\ne: $NOT_BRACED\n'
    assert repo.missing_env_refs(text, {"SET": "x"}) == ["UNSET_A", "UNSET_B"]
    assert repo.missing_env_refs("project: p\n", {}) == []


def test_one_line_collapses_bounds_and_hides_the_copy() -> None:
    exc = ValueError("bad value\n  in /tmp/modelops-feast-x/repo/feature_store.yaml\n")
    text = repo.one_line(exc, {"/tmp/modelops-feast-x/repo": "/feature-repo"})
    assert text == "ValueError: bad value in /feature-repo/feature_store.yaml"
    long = repo.one_line(RuntimeError("x" * 5000))
    assert len(long) < 700 and long.endswith("...")
    assert repo.one_line(KeyError()) == "KeyError: (no message)"


def test_redis_endpoints_drop_options_and_secrets() -> None:
    text = "redis-0:6379,redis-1:6379,db=0,password=s3cret,ssl=true"
    assert repo.redis_endpoints(text) == "redis-0:6379, redis-1:6379"
    assert repo.redis_endpoints("") == "(no host)"


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
        repo.copy_repo(source, target)
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
    repo.copy_repo(source, target)
    assert (target / "defs" / "more.py").read_text() == "Y = 2\n"


def test_definitions_import_fresh_each_time_and_leave_no_trace(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for root, value in ((first, 1), (second, 2)):
        root.mkdir()
        (root / "defs_for_materialize_test.py").write_text(f"X = {value}\n")
    cwd, path = Path.cwd(), list(sys.path)
    for root, value in ((first, 1), (second, 2)):
        with repo.importable(root):
            assert Path.cwd() == root
            assert importlib.import_module("defs_for_materialize_test").X == value
        assert "defs_for_materialize_test" not in sys.modules
    assert Path.cwd() == cwd and sys.path == path


def test_definitions_displace_and_restore_a_module_of_the_same_name(tmp_path: Path) -> None:
    (tmp_path / "defs_for_materialize_test.py").write_text("X = 'repo'\n")
    placeholder = type(sys)("defs_for_materialize_test")
    sys.modules["defs_for_materialize_test"] = placeholder
    try:
        with repo.importable(tmp_path):
            assert importlib.import_module("defs_for_materialize_test").X == "repo"
        assert sys.modules["defs_for_materialize_test"] is placeholder
    finally:
        del sys.modules["defs_for_materialize_test"]


def test_definition_file_shadowing_the_standard_library_is_refused(tmp_path: Path) -> None:
    (tmp_path / "json.py").write_text("")
    with pytest.raises(JobError, match=r"json\.py shadows the Python module 'json'"):
        with repo.importable(tmp_path):
            pass


def test_feasts_prints_become_log_lines_without_colours_or_redraws(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.INFO, logger="modelops.feast"), repo.quiet_feast():
        print("\x1b[1m\x1b[32mMaterializing 1 feature views\x1b[0m to 2025-01-31")
        print("10%|#   | 1/10\r50%|#####  | 5/10", end="")
        print("\r100%|##########| 10/10")
        print()
    assert capsys.readouterr().out == ""
    assert [r.getMessage() for r in caplog.records] == [
        "Materializing 1 feature views to 2025-01-31",
        "10%|#   | 1/10",
        "50%|#####  | 5/10",
        "100%|##########| 10/10",
    ]
