"""devenv.cli, and the package's contract: standard library only, never in the wheel."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import devenv
from devenv import cli

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "devenv"


def test_status_from_the_repo_root(tmp_path: Path) -> None:
    # As the Makefile runs it: `python -m devenv` from the repo root, state dir from the env.
    out = subprocess.run(
        [sys.executable, "-m", "devenv", "status"],
        cwd=ROOT,
        env={**os.environ, "MODELOPS_CLUSTER_DIR": str(tmp_path)},
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    names = [*devenv.CLUSTER_COMPONENTS, "mlflow", "redis", "s3", *devenv.NODE_PROCESSES]
    assert [line.split()[0] for line in out] == names
    assert all(line.split()[1] == "stopped" for line in out)


def test_unknown_command_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["up"])
    assert "cluster-up" in capsys.readouterr().err


def test_only_standard_library_imports() -> None:
    """`make cluster-up` runs the package with the system python3, before the venv exists."""
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                tops = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                tops = [(node.module or "").split(".")[0]]
            else:
                continue
            for top in tops:
                assert top in sys.stdlib_module_names or top == "__future__", (path.name, top)


def test_not_shipped_in_the_wheel() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert not any(p.split(".")[0] == "devenv" for p in config["packages"])
    assert "devenv" not in config["package-dir"].values()
