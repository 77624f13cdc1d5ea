"""The README's install path for an existing cluster (`make install`, scripts/install.sh),
run against the local cluster as if it were one: the images already on its node (LOAD=none),
the chart installed with them, `helm test` passing, and a ModelDeployment served by the
installed operator."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

import devenv

from .helpers import register_model, wait_for
from .test_chart import apply_peering_crds

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(600)


def uninstall(cluster: dict[str, str], api_client: Any, release: str, ns: str) -> None:
    """The release and its namespace gone, whatever the test left."""
    subprocess.run(
        [str(Path(cluster["bin"]) / "helm"), "--kubeconfig", cluster["kubeconfig"],
         "uninstall", release, "-n", ns],
        capture_output=True,
    )  # fmt: skip
    client.CoreV1Api(api_client).delete_namespace(ns)


def test_the_install_script_installs_a_working_operator(
    cluster: dict[str, str],
    crds: None,
    api_client: Any,
    real_node: dict[str, str],
    pod_services: dict[str, str],
    mlflow_url: str,
) -> None:
    ns = f"modelops-install-{uuid.uuid4().hex[:6]}"
    apply_peering_crds(cluster)
    env = {
        **os.environ,
        "KUBECONFIG": cluster["kubeconfig"],
        "PATH": f"{cluster['bin']}:{os.environ['PATH']}",  # its helm and kubectl
        "LOAD": "none",
        "MLFLOW_URI": pod_services["mlflow"],
        "NAMESPACE": ns,
        "RELEASE": "inst",
        # The tests' own operator serves the t-* namespaces and applied the CRDs: this one
        # serves its namespace alone.
        "HELM_ARGS": "--set scope=namespace --set crds.enabled=false",
    }
    try:
        done = subprocess.run(
            ["bash", str(ROOT / "scripts" / "install.sh")],
            env=env,
            capture_output=True,
            text=True,
            timeout=480,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Phase:          Succeeded" in done.stdout, done.stdout  # helm test's hook pod
        deployment = client.AppsV1Api(api_client).read_namespaced_deployment("inst-modelops", ns)
        assert deployment.spec.template.spec.containers[0].image == real_node["operator"]

        # The installed operator serves a model in its namespace, with the runtime image the
        # script set.
        name = f"i-{uuid.uuid4().hex[:6]}"
        register_model(mlflow_url, name)
        custom = client.CustomObjectsApi(api_client)
        custom.create_namespaced_custom_object(
            "modelops.dev",
            "v1alpha1",
            ns,
            "modeldeployments",
            {
                "apiVersion": "modelops.dev/v1alpha1",
                "kind": "ModelDeployment",
                "metadata": {"name": name},
                "spec": {
                    "model": {"uri": f"models:/{name}@champion"},
                    "runtime": {"resources": {"requests": {"cpu": "100m"}}},
                },
            },
        )

        def ready() -> dict[str, Any] | None:
            obj = custom.get_namespaced_custom_object(
                "modelops.dev", "v1alpha1", ns, "modeldeployments", name
            )
            conditions = {c["type"]: c for c in (obj.get("status") or {}).get("conditions", [])}
            ready = conditions.get("Ready")
            return obj if ready and ready["status"] == "True" else None

        served = wait_for(ready, 240, f"{name} Ready under the installed operator", interval=2)
        pods = client.CoreV1Api(api_client).list_namespaced_pod(
            ns, label_selector=f"app.kubernetes.io/instance={name}"
        )
        assert {p.spec.containers[0].image for p in pods.items} == {real_node["runtime"]}
        assert served["status"]["model"]["version"] == "1"
        # A namespace-scoped operator names its namespace to kopf and lists no namespaces (it
        # may not): no minute of refusals at start.
        core = client.CoreV1Api(api_client)
        operators = [
            p.metadata.name
            for p in core.list_namespaced_pod(ns).items
            if any(c.name == "operator" for c in p.spec.containers)
        ]
        assert len(operators) == 2, operators
        for pod in operators:
            log = core.read_namespaced_pod_log(pod, ns, container="operator")
            assert 'cannot list resource "namespaces"' not in log, log[-2000:]
    finally:
        uninstall(cluster, api_client, "inst", ns)


def test_the_install_script_says_what_it_needs(cluster: dict[str, str]) -> None:
    env = {**os.environ, "KUBECONFIG": cluster["kubeconfig"], "LOAD": "", "REGISTRY": ""}
    env.pop("MLFLOW_URI", None)
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install.sh")], env=env, capture_output=True, text=True
    )
    assert done.returncode == 2 and "set MLFLOW_URI" in done.stderr
    env["MLFLOW_URI"] = "http://mlflow:5000"
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install.sh")], env=env, capture_output=True, text=True
    )
    assert done.returncode == 2 and "REGISTRY=<registry/path>" in done.stderr


def test_the_demo_runs_on_the_current_cluster(
    cluster: dict[str, str],
    crds: None,
    api_client: Any,
    real_node: dict[str, str],
    tmp_path: Path,
) -> None:
    """`make demo CLUSTER=current` against the local cluster as if it were a user's: the
    images already on the node (LOAD=none), this machine's services published at the node's
    address, the operator installed by scripts/install.sh, predictions through the apiserver's
    service proxy. Its own state directory keeps its MLflow, Redis and store apart from the
    tests'; it stops after the predictions (the loop itself is the local demo's)."""
    ns = f"modelops-demo-{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        "KUBECONFIG": cluster["kubeconfig"],
        "PATH": f"{cluster['bin']}:{os.environ['PATH']}",
        "LOAD": "none",
        "HOST_ADDRESS": devenv.NODE_IP,
        "DEMO_NAMESPACE": ns,
        "MODELOPS_CLUSTER_DIR": str(tmp_path),
    }
    env.pop("REGISTRY", None)
    try:
        done = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "demo.py"), "--cluster", "current",
             "--until", "predictions"],
            env=env,
            capture_output=True,
            text=True,
            timeout=540,
        )  # fmt: skip
        out = done.stdout + done.stderr
        assert done.returncode == 0, out[-6000:]
        assert "Phase:          Succeeded" in done.stdout, out[-6000:]  # install.sh's helm test
        assert f"POST /api/v1/namespaces/{ns}/services/fraud:" in done.stdout, out[-6000:]
        core = client.CoreV1Api(api_client)
        # This machine's services, published in the demo's namespace at the given address.
        for name in ("mlflow", "redis", "s3"):
            slices = client.DiscoveryV1Api(api_client).list_namespaced_endpoint_slice(
                ns, label_selector=f"kubernetes.io/service-name={name}"
            )
            assert [e.addresses for s in slices.items for e in s.endpoints] == [[devenv.NODE_IP]]
        operator = client.AppsV1Api(api_client).read_namespaced_deployment("modelops", ns)
        assert operator.spec.template.spec.containers[0].image == real_node["operator"]
        custom = client.CustomObjectsApi(api_client)
        served = custom.get_namespaced_custom_object(
            "modelops.dev", "v1alpha1", ns, "modeldeployments", "fraud"
        )
        ready = {c["type"]: c["status"] for c in served["status"]["conditions"]}
        assert ready["Ready"] == "True" and served["status"]["model"]["version"], served["status"]
        pods = core.list_namespaced_pod(ns, label_selector="app.kubernetes.io/instance=fraud")
        assert {p.spec.containers[0].image for p in pods.items} == {real_node["runtime"]}
    finally:
        uninstall(cluster, api_client, "modelops", ns)
        devenv.services_down(tmp_path)
        # The socat hops devenv.publish left under the demo's state directory.
        for hop in (tmp_path / "node" / "pids").glob("publish-*.pid"):
            devenv.Proc(tmp_path / "node", hop.stem).stop()
