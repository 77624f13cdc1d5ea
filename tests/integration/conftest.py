"""Fixtures for tests against real parts: the local control plane, MLflow and Redis."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_devenv() -> Any:
    if "devenv" in sys.modules:
        return sys.modules["devenv"]
    spec = importlib.util.spec_from_file_location("devenv", ROOT / "scripts" / "devenv.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["devenv"] = module
    spec.loader.exec_module(module)
    return module


devenv = _load_devenv()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def cluster() -> Iterator[dict[str, str]]:
    """The local control plane: reused when `make cluster-up` left one running, else started
    for this session and stopped after it."""
    reused = devenv.cluster_running()
    meta = devenv.cluster_up()
    yield meta
    if not reused:
        devenv.cluster_down()


@pytest.fixture(scope="session")
def kubectl_bin(cluster: dict[str, str]) -> str:
    return str(Path(cluster["bin"]) / "kubectl")


@pytest.fixture(scope="session")
def api_client(cluster: dict[str, str]) -> Iterator[Any]:
    from kubernetes import config

    client = config.new_client_from_config(config_file=cluster["kubeconfig"])
    yield client
    client.close()


@pytest.fixture
def namespace(api_client: Any) -> Iterator[str]:
    """A fresh namespace per test, so tests never see each other's objects."""
    from kubernetes import client

    name = f"t-{uuid.uuid4().hex[:10]}"
    core = client.CoreV1Api(api_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    state = tmp_path_factory.mktemp("redis")
    url = devenv.redis_start(state)
    yield url
    devenv.Proc(state, "redis").stop()


@pytest.fixture(scope="session")
def mlflow_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    state = tmp_path_factory.mktemp("mlflow")
    url = devenv.mlflow_start(state)
    yield url
    devenv.Proc(state, "mlflow").stop()
