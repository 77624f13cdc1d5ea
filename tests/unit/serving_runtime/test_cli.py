"""`modelops-runtime`'s own arguments (the jobs' are tested with each job)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from modelops.serving_runtime import cli
from modelops.serving_runtime.cli import main
from modelops.serving_runtime.settings import RuntimeSettings

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


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """A clean slate for the settings' variables; what a test (or serve's flags) sets goes
    away after it."""
    saved = dict(os.environ)
    for name in RuntimeSettings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    yield monkeypatch
    os.environ.clear()
    os.environ.update(saved)


def test_serve_has_a_flag_per_setting_with_its_description(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["serve", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for name, field in RuntimeSettings.model_fields.items():
        assert f"--{name.replace('_', '-')}" in text, name
        assert field.description, f"{name} has no description for its flag"
        assert " ".join(field.description.split())[:40] in text, name


def test_flags_win_over_the_environment_and_reach_every_worker(
    environment: pytest.MonkeyPatch,
) -> None:
    environment.setenv("MODEL_URI", "models:/from-env@champion")
    environment.setenv("PORT", "9000")
    environment.setenv("BATCHING_ENABLED", "true")
    cli._flags_into_environment(
        ["--port", "9100", "--no-batching-enabled", "--skops-trusted-types", "a.B,c.D"]
    )
    # Workers build their settings from the environment (uvicorn's factory), so that is where
    # the flags must land.
    settings = RuntimeSettings()  # type: ignore[call-arg]
    assert settings.model_uri == "models:/from-env@champion"
    assert settings.port == 9100
    assert settings.batching_enabled is False
    assert settings.skops_trusted_types == ["a.B", "c.D"]


def test_a_bad_flag_value_is_a_configuration_error_naming_it(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--model-uri", "models:/m/1", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "invalid configuration" in err and "port" in err and "greater than or equal to 1" in err


def test_an_unknown_flag_is_a_usage_error(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["serve", "--max-rowz", "5"])
    assert done.value.code == 2
    assert "--max-rowz" in capsys.readouterr().err
