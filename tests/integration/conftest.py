"""Fixtures for tests against real parts: the local control plane, MLflow, Redis and S3."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

import devenv

ROOT = Path(__file__).resolve().parents[2]
TEST_NAMESPACE_PREFIX = "t-"
EXCLUDED_NAMESPACE = f"{TEST_NAMESPACE_PREFIX}excluded"


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


def _namespace(api_client: Any, annotations: dict[str, str] | None) -> Iterator[str]:
    from kubernetes import client

    name = f"{TEST_NAMESPACE_PREFIX}{uuid.uuid4().hex[:10]}"
    core = client.CoreV1Api(api_client)
    core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name, annotations=annotations))
    )
    yield name
    core.delete_namespace(name)


@pytest.fixture
def namespace(api_client: Any) -> Iterator[str]:
    """A fresh namespace per test whose pods land on the kwok nodes: for tests of the
    operator's objects and status, where a container would only add minutes of CPU on a 2-core
    machine. Tests of what runs in a pod use `real_namespace`."""
    yield from _namespace(api_client, devenv.SIMULATED_NAMESPACE_ANNOTATIONS)


@pytest.fixture(scope="session")
def real_node(cluster: dict[str, str]) -> dict[str, str]:
    """The real kubelet node, with the project's images imported into its containerd:
    {"runtime": ref, "operator": ref}."""
    if not devenv.node_running():
        pytest.fail(
            "the real node is not running: it needs root (network namespaces, iptables, "
            "cgroups) and MODELOPS_REAL_NODE unset; see docs/real-node.md"
        )
    return devenv.import_images()


@pytest.fixture
def real_namespace(api_client: Any, real_node: dict[str, str]) -> Iterator[str]:
    """A fresh namespace whose pods run as containers on the real node."""
    yield from _namespace(api_client, None)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    state = tmp_path_factory.mktemp("redis")
    url = devenv.redis_start(state)
    yield url
    devenv.Proc(state, "redis").stop()


@pytest.fixture(scope="session")
def s3_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The S3 store's state directory: its data, keys and pid file (a fault test stops it)."""
    return tmp_path_factory.mktemp("s3")


@pytest.fixture(scope="session")
def s3(s3_state: Path) -> Iterator[dict[str, str]]:
    """The S3-compatible store (S3Proxy): endpoint, bucket, region, access_key, secret_key.
    Clients reach it through the standard variables only: see `devenv.s3_env`."""
    store = devenv.s3_start(s3_state)
    yield store
    devenv.Proc(s3_state, "s3").stop()


@pytest.fixture(scope="session")
def mlflow_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MLflow's state directory: its access log is logs/mlflow.log."""
    return tmp_path_factory.mktemp("mlflow")


@pytest.fixture(scope="session")
def mlflow_url(mlflow_state: Path, s3: dict[str, str], cluster: dict[str, str]) -> Iterator[str]:
    """MLflow storing its artifacts in the S3 store (s3://BUCKET/mlflow), served through the
    server (mlflow-artifacts:/) as on EKS: clients of MLflow need no S3 keys. The server
    hands out presigned URLs for downloads, so it names the store by an address pods reach."""
    state = mlflow_state
    shared = {**s3, "endpoint": devenv.node_endpoint(devenv.STATE, "s3", s3["endpoint"])}
    url = devenv.mlflow_start(state, s3=shared)
    yield url
    devenv.Proc(state, "mlflow").stop()


@pytest.fixture(scope="session")
def crds(cluster: dict[str, str], kubectl_bin: str) -> None:
    """The generated CRDs, installed and Established."""
    kc = ["--kubeconfig", cluster["kubeconfig"]]
    subprocess.run([kubectl_bin, *kc, "apply", "-f", str(ROOT / "crds")], check=True)
    names = [f"crd/{p.stem.split('_', 1)[1]}.modelops.dev" for p in (ROOT / "crds").glob("*.yaml")]
    deadline = time.monotonic() + 60
    while True:
        waited = subprocess.run(
            [kubectl_bin, *kc, "wait", "--for=condition=Established", "--timeout=30s", *names],
            capture_output=True,
            text=True,
        )
        if waited.returncode == 0:
            return
        # A CRD created a moment ago has no conditions yet, and kubectl wait refuses that
        # (".status.conditions accessor error: <nil>") instead of waiting for them.
        if time.monotonic() > deadline:
            raise RuntimeError(f"CRDs not Established: {waited.stderr.strip()}")
        time.sleep(1)


class OperatorProcess:
    """`modelops-operator` as users run it: a separate process, stoppable and restartable."""

    def __init__(self, env: dict[str, str], logdir: Path) -> None:
        self.env = env
        self.logdir = logdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def logfile(self) -> Path:
        return self.logdir / f"operator-{self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        with open(self.logfile, "wb") as out:
            self.proc = subprocess.Popen(
                # Only the tests' namespaces: a demo operator may share a reused cluster.
                [
                    str(Path(sys.executable).parent / "modelops-operator"),
                    "--standalone",
                    f"--namespace={TEST_NAMESPACE_PREFIX}*",
                ],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def metrics(self) -> str:
        """The operator's own /metrics, as Prometheus scrapes it."""
        port = self.env["MODELOPS_METRICS_PORT"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            return str(resp.read().decode())

    def log(self) -> str:
        return self.logfile.read_text(errors="replace")

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


POLL_SECONDS = 3


def _signing_key_pem() -> str:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    key = Ed25519PrivateKey.generate()
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()


@pytest.fixture(scope="session")
def operator(
    cluster: dict[str, str], crds: None, mlflow_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    env = {
        **os.environ,
        # Its own user: the apiserver's audit log records its every request (test_scale).
        "KUBECONFIG": cluster.get("operator_kubeconfig", cluster["kubeconfig"]),
        "MODELOPS_MLFLOW_TRACKING_URI": mlflow_url,
        "MODELOPS_MODEL_POLL_SECONDS": str(POLL_SECONDS),
        # What `make images` tags and the real node imports: job pods (DriftMonitor,
        # FeatureMaterialization) run it.
        "MODELOPS_RUNTIME_IMAGE": "ghcr.io/modelops/runtime:0.1.0",
        "MODELOPS_METRICS_PORT": str(devenv.free_port()),
        # Registries a spec may name: the discard port (registry-down tests) and MLflow as pods
        # reach it (any host, MLflow's port); anything else is refused by policy.
        "MODELOPS_ALLOWED_TRACKING_URIS": json.dumps(
            ["http://127.0.0.1:9", f"http://*:{urlsplit(mlflow_url).port}"]
        ),
        "MODELOPS_PREFLIGHT_MAX_BYTES": "16384",
        # The ServiceAccount test_pods.py runs a model as; any other is refused by policy.
        "MODELOPS_ALLOWED_SERVICE_ACCOUNTS": json.dumps(["model-runtime"]),
        # A namespace the operator's pattern (t-*) matches and its policy keeps it out of.
        "MODELOPS_EXCLUDED_NAMESPACES": json.dumps(["kube-system", EXCLUDED_NAMESPACE]),
        # One key for every start: a restarted operator's pushes must verify in the pods.
        "MODELOPS_ROLLOUT_SIGNING_KEY": _signing_key_pem(),
    }
    op = OperatorProcess(env, tmp_path_factory.mktemp("operator"))
    op.start()
    yield op
    op.stop()
    if os.environ.get("MODELOPS_TEST_SHOW_OPERATOR_LOG"):
        print(op.log())


@pytest.fixture(scope="session")
def pod_services(
    cluster: dict[str, str],
    real_node: dict[str, str],
    mlflow_url: str,
    redis_url: str,
    s3: dict[str, str],
    api_client: Any,
) -> dict[str, str]:
    """MLflow, Redis and the S3 store as pods see them, by name (`mlflow`, `redis`, `s3`), and
    by the Service's cluster IP (`mlflow_ip`...), which the host reaches too: for an operator
    run on the host that hands its tracking URI to pods."""
    from urllib.parse import urlsplit

    from kubernetes import client

    kc = [str(Path(cluster["bin"]) / "kubectl"), "--kubeconfig", cluster["kubeconfig"]]
    core = client.CoreV1Api(api_client)
    out: dict[str, str] = {}
    for name, url in (("mlflow", mlflow_url), ("redis", redis_url), ("s3", s3["endpoint"])):
        parts = urlsplit(url)
        assert parts.port is not None
        host = devenv.publish(devenv.STATE, name, parts.port, kc)
        ip = core.read_namespaced_service(name, devenv.HOST_SERVICES_NAMESPACE).spec.cluster_ip
        out[name] = parts._replace(netloc=f"{host}:{parts.port}").geturl()
        out[f"{name}_ip"] = parts._replace(netloc=f"{ip}:{parts.port}").geturl()
    return out
