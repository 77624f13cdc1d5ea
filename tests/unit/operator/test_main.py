"""`modelops-operator`'s arguments to kopf: scope, peering priority, namespaces."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from modelops.operator.__main__ import kopf_args, main, namespaces_in, seniority


def project_version() -> str:
    pyproject = Path(__file__).resolve().parents[3] / "pyproject.toml"
    return str(tomllib.loads(pyproject.read_text())["project"]["version"])


def test_all_namespaces_unless_told_otherwise() -> None:
    assert kopf_args([])[-1] == "--all-namespaces"
    assert kopf_args([], ["team-a", "team-b"])[3:] == [
        "--namespace",
        "team-a",
        "--namespace",
        "team-b",
    ]
    args = kopf_args(["-n", "x"], ["team-a"])  # arguments win over the settings
    assert "--all-namespaces" not in args and "team-a" not in args and args[-2:] == ["-n", "x"]


def test_the_namespaces_kopf_serves_are_read_back_for_the_resync_loop() -> None:
    assert namespaces_in(["--standalone", "-n", "a", "--namespace=b", "--namespace", "c"]) == [
        "a",
        "b",
        "c",
    ]
    assert namespaces_in(["-A"]) == []


def test_peers_draw_distinct_priorities() -> None:
    drawn = {a for _ in range(20) for a in kopf_args(["--peering", "p"]) if "priority" in a}
    assert len(drawn) > 1
    assert not any("--priority" in a for a in kopf_args(["--standalone"]))
    assert kopf_args(["--peering", "p", "--priority=7"]).count("--priority=7") == 1


def test_an_older_replica_outranks_any_started_after_it() -> None:
    now = 1_796_000_000_000  # ms: December 2026
    for _ in range(50):
        assert seniority(now) > seniority(now + 1) > seniority(now + 60_000) > 0
    assert seniority(now) < 2**63  # kopf's peering status stores it as an int64


def test_version_is_the_projects(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"modelops-operator {project_version()}\n"
