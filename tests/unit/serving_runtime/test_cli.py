"""`modelops-runtime`'s own arguments (the jobs' are tested with each job)."""

from __future__ import annotations

import pytest

from modelops.serving_runtime.cli import main

from ..operator.test_main import project_version


def test_version_is_the_projects(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"modelops-runtime {project_version()}\n"


def test_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["sreve"])
    assert done.value.code == 2
    assert "invalid choice: 'sreve'" in capsys.readouterr().err
