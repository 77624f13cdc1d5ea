"""The background loader: retries with backoff, reports why, becomes ready once."""

from __future__ import annotations

import time

import pytest

from modelops.serving_runtime.model import LoadedModel, ModelOutput
from modelops.serving_runtime.model_manager import ModelManager
from modelops.serving_runtime.settings import RuntimeSettings


def settings() -> RuntimeSettings:
    return RuntimeSettings(
        model_uri="models:/fraud/3",
        load_retry_initial_seconds=0.01,
        load_retry_max_seconds=0.04,
    )


def fake_model(s: RuntimeSettings) -> LoadedModel:
    return LoadedModel(
        name=s.model_name,
        version="3",
        uri=s.model_uri,
        flavor="sklearn",
        schema=None,
        call=lambda x, p: ModelOutput(x),
    )


def wait_for(predicate: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail("timed out")
        time.sleep(0.005)


def test_failures_are_retried_with_backoff_and_reported() -> None:
    attempts: list[float] = []
    states: list[str] = []

    def flaky(s: RuntimeSettings) -> LoadedModel:
        attempts.append(time.monotonic())
        if len(attempts) < 4:
            raise ConnectionError("MLflow is down")
        return fake_model(s)

    manager = ModelManager(settings(), flaky, on_change=states.append)
    assert manager.status()["state"] == "loading" and not manager.status()["ready"]
    manager.start()
    wait_for(lambda: manager.state == "failed")
    status = manager.status()
    assert status["reason"] == "RegistryUnavailable"
    assert "MLflow is down" not in str(status)  # the detail is logged, not shown
    assert status["ready"] is False
    wait_for(lambda: manager.state == "ready")
    manager.stop()
    assert len(attempts) == 4
    gaps = [b - a for a, b in zip(attempts, attempts[1:], strict=False)]
    assert gaps[1] > gaps[0] * 1.2  # the delay grows
    assert manager.status()["ready"] and manager.status()["model_version"] == "3"
    assert "reason" not in manager.status()
    assert states == ["failed", "failed", "failed", "ready"]


def test_stop_ends_the_retry_loop() -> None:
    def broken(s: RuntimeSettings) -> LoadedModel:
        raise RuntimeError("no such model")

    s = settings()
    s.load_retry_initial_seconds = 30
    manager = ModelManager(s, broken)
    manager.start()
    wait_for(lambda: manager.state == "failed")
    assert manager.status()["next_attempt_in_seconds"] > 0
    manager.stop()
    assert manager._thread is not None
    manager._thread.join(timeout=2)
    assert not manager._thread.is_alive()
