"""The reason a failed load reports on /ready: a registry that cannot be reached is named as
such, however deep the client wrapped the connection error."""

from __future__ import annotations

import socket

import pytest
from mlflow.exceptions import MlflowException

from modelops.serving_runtime.errors import reason_code


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_mlflow_down_is_the_registry_unavailable_not_a_failed_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    down = MlflowClient(f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(MlflowException) as raised:
        down.get_registered_model("m")
    assert type(raised.value) is MlflowException  # the wrapper, not the connection error
    assert reason_code(raised.value, "RegistryUnavailable", "LoadFailed") == "RegistryUnavailable"


def test_a_failure_that_is_no_connection_stays_a_failed_load() -> None:
    try:
        try:
            raise ValueError("bad file")
        except ValueError as e:
            raise MlflowException("could not read the model") from e
    except MlflowException as e:
        assert reason_code(e, "RegistryUnavailable", "LoadFailed") == "LoadFailed"


def test_a_cycle_in_the_chain_ends() -> None:
    a, b = ValueError("a"), ValueError("b")
    a.__context__, b.__context__ = b, a
    assert reason_code(a, "RegistryUnavailable", "LoadFailed") == "LoadFailed"


def test_a_context_hidden_with_from_none_is_not_walked() -> None:
    try:
        try:
            raise ConnectionError("registry down")
        except ConnectionError:
            raise ValueError("a corrupt model file") from None
    except ValueError as e:
        assert reason_code(e, "RegistryUnavailable", "LoadFailed") == "LoadFailed"


def test_a_missing_dependency_is_named_even_while_handling_a_connection_error() -> None:
    try:
        try:
            raise ConnectionError("registry down")
        except ConnectionError:
            raise ImportError("no module named xgboost")  # noqa: B904 - the case under test
    except ImportError as e:
        assert reason_code(e, "RegistryUnavailable", "LoadFailed") == "DependencyMissing"
