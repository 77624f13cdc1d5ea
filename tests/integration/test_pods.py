"""ModelDeployments whose pods run as containers of the runtime image on the real node: the
rendered pod spec under its securityContext, /predict through the Service, a model from s3://,
a rollout under load with no failed request, and an HPA acting on real CPU."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client

from .conftest import OperatorProcess
from .helpers import pod_report, register_model, wait_for
from .load import Load

GROUP, VERSION, PLURAL = "modelops.dev", "v1alpha1", "modeldeployments"
ROW = {"features": [[0.1, -0.2, 0.3, 0.4]]}
pytestmark = pytest.mark.timeout(420)


def deploy(
    api_client: Any,
    namespace: str,
    name: str,
    image: str,
    tracking_uri: str,
    **spec: Any,
) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {
            "model": {"uri": f"models:/{name}@champion", "trackingUri": tracking_uri},
            "runtime": {"image": image, "resources": {"requests": {"cpu": "100m"}}},
            **spec,
        },
    }
    client.CustomObjectsApi(api_client).create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, body
    )


def md(api_client: Any, namespace: str, name: str) -> dict[str, Any]:
    return client.CustomObjectsApi(api_client).get_namespaced_custom_object(  # type: ignore[no-any-return]
        GROUP, VERSION, namespace, PLURAL, name
    )


def is_ready(api_client: Any, namespace: str, name: str) -> dict[str, Any] | None:
    obj = md(api_client, namespace, name)
    status = obj.get("status") or {}
    ready = [c for c in status.get("conditions", []) if c["type"] == "Ready"]
    fresh = status.get("observedGeneration") == obj["metadata"]["generation"]
    return obj if ready and ready[0]["status"] == "True" and fresh else None


def wait_ready(api_client: Any, namespace: str, name: str, timeout: float) -> dict[str, Any]:
    try:
        return wait_for(lambda: is_ready(api_client, namespace, name), timeout, f"{name} Ready")
    except AssertionError:
        print(pod_report(api_client, namespace))
        raise


def service_url(api_client: Any, namespace: str, name: str) -> str:
    """The Service's URL, once it routes to a pod. A ModelDeployment is Ready when its pods
    are; kube-proxy routes the Service to them about a second later. Until then a connection
    is refused, or (no rule for the address yet) leaves through the default route, where this
    machine's egress proxy answers 404: a pod's own 200 on /ready is the only proof."""
    svc = client.CoreV1Api(api_client).read_namespaced_service(name, namespace)
    url = f"http://{svc.spec.cluster_ip}:{svc.spec.ports[0].port}"

    def routed() -> bool:
        try:
            return httpx.get(f"{url}/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(routed, 30, f"the Service {namespace}/{name} to route to a ready pod", interval=0.1)
    return url


def running_pods(api_client: Any, namespace: str, name: str) -> list[Any]:
    pods = client.CoreV1Api(api_client).list_namespaced_pod(
        namespace, label_selector=f"app.kubernetes.io/instance={name}"
    )
    return [p for p in pods.items if p.metadata.deletion_timestamp is None]


def kubectl(cluster: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(cluster["bin"]) / "kubectl"), "--kubeconfig", cluster["kubeconfig"], *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_pod_serves_under_the_rendered_security_context(
    api_client: Any,
    cluster: dict[str, str],
    real_namespace: str,
    real_node: dict[str, str],
    pod_services: dict[str, str],
    mlflow_url: str,
    operator: OperatorProcess,
) -> None:
    name = f"m-{uuid.uuid4().hex[:6]}"
    register_model(mlflow_url, name)
    # A ServiceAccount the policy allows (as one associated with an IAM role would be).
    client.CoreV1Api(api_client).create_namespaced_service_account(
        real_namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="model-runtime"))
    )
    t0 = time.monotonic()
    runtime = {
        "image": real_node["runtime"],
        "resources": {"requests": {"cpu": "100m"}},
        "serviceAccountName": "model-runtime",
    }
    deploy(
        api_client,
        real_namespace,
        name,
        real_node["runtime"],
        pod_services["mlflow_ip"],
        runtime=runtime,
    )
    wait_ready(api_client, real_namespace, name, 240)
    print(f"ModelDeployment {name}: apply to Ready with a real pod in {time.monotonic() - t0:.1f}s")

    (pod,) = running_pods(api_client, real_namespace, name)
    assert pod.spec.node_name == "modelops-node"
    assert pod.spec.service_account_name == "model-runtime"
    # What the container really runs as, not what the spec asks for.
    probe = kubectl(
        cluster,
        "-n",
        real_namespace,
        "exec",
        pod.metadata.name,
        "--",
        "python",
        "-c",
        "import os, json\n"
        "try:\n    open('/probe', 'w'); ro = False\n"
        "except OSError:\n    ro = True\n"
        "token = os.path.exists('/var/run/secrets/kubernetes.io/serviceaccount/token')\n"
        "print(json.dumps({'uid': os.getuid(), 'gid': os.getgid(), 'ro': ro, 'token': token}))",
    )
    assert probe.returncode == 0, probe.stderr
    # Whatever ServiceAccount it runs as, the pod holds no Kubernetes API token.
    assert json.loads(probe.stdout) == {"uid": 10001, "gid": 10001, "ro": True, "token": False}

    url = service_url(api_client, real_namespace, name)
    answer = httpx.post(f"{url}/predict", json=ROW, timeout=10)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["predictions"]) == 1
    bad = httpx.post(f"{url}/predict", json={"features": [[1.0]]}, timeout=10)
    assert bad.status_code == 400, bad.text
    assert "must have 4 values" in bad.json()["error"]["message"], bad.text


def test_an_alias_move_rolls_out_without_a_failed_request(
    api_client: Any,
    real_namespace: str,
    real_node: dict[str, str],
    pod_services: dict[str, str],
    mlflow_url: str,
    operator: OperatorProcess,
) -> None:
    name = f"r-{uuid.uuid4().hex[:6]}"
    register_model(mlflow_url, name, seed=0)
    deploy(
        api_client,
        real_namespace,
        name,
        real_node["runtime"],
        pod_services["mlflow_ip"],
        replicas=2,
    )
    wait_ready(api_client, real_namespace, name, 240)
    old = {p.metadata.name for p in running_pods(api_client, real_namespace, name)}
    url = service_url(api_client, real_namespace, name)
    version = md(api_client, real_namespace, name)["status"]["model"]["version"]

    with Load(f"{url}/predict", json.dumps(ROW).encode(), rate=250) as load:
        time.sleep(3)
        t0 = time.monotonic()
        register_model(mlflow_url, name, seed=1)  # moves @champion to the new version

        def rolled() -> bool:
            obj = is_ready(api_client, real_namespace, name)
            pods = {p.metadata.name for p in running_pods(api_client, real_namespace, name)}
            all_pods = client.CoreV1Api(api_client).list_namespaced_pod(
                real_namespace, label_selector=f"app.kubernetes.io/instance={name}"
            )
            gone = not old & {p.metadata.name for p in all_pods.items}
            moved = obj is not None and obj["status"]["model"]["version"] != version
            return moved and gone and len(pods) == 2

        wait_for(rolled, 240, "the rollout to finish and the old pods to go", interval=1)
        rollout = time.monotonic() - t0
        time.sleep(2)
    out = load.outcome
    print(
        f"rollout {rollout:.1f}s under load: {out.sent} requests at {out.rate:.0f}/s, "
        f"{out.failed} failed ({dict(out.statuses)} {dict(out.errors)})"
    )
    assert out.rate >= 200, f"the load generator reached only {out.rate:.0f} requests/s"
    assert out.failed == 0, (dict(out.statuses), dict(out.errors))


def test_a_model_loads_from_an_s3_uri(
    api_client: Any,
    real_namespace: str,
    real_node: dict[str, str],
    pod_services: dict[str, str],
    mlflow_url: str,
    s3: dict[str, str],
    operator: OperatorProcess,
) -> None:
    from mlflow import MlflowClient

    name = f"s-{uuid.uuid4().hex[:6]}"
    version = register_model(mlflow_url, name).rsplit("/", 1)[-1]
    mlflow = MlflowClient(tracking_uri=mlflow_url, registry_uri=mlflow_url)
    location = mlflow.get_model_version_download_uri(name, version)
    # mlflow-artifacts:/PATH is the server's --artifacts-destination (s3://BUCKET/mlflow)/PATH.
    path = urllib.parse.urlsplit(location).path.strip("/")
    uri = f"s3://{s3['bucket']}/mlflow/{path}"
    core = client.CoreV1Api(api_client)
    core.create_namespaced_secret(
        real_namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="s3"),
            string_data={
                "AWS_ACCESS_KEY_ID": s3["access_key"],
                "AWS_SECRET_ACCESS_KEY": s3["secret_key"],
                "AWS_DEFAULT_REGION": s3["region"],
                "MLFLOW_S3_ENDPOINT_URL": pod_services["s3"],
            },
        ),
    )
    client.CustomObjectsApi(api_client).create_namespaced_custom_object(
        GROUP,
        VERSION,
        real_namespace,
        PLURAL,
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "ModelDeployment",
            "metadata": {"name": name},
            "spec": {
                "model": {"uri": uri, "credentialsSecretRef": {"name": "s3"}},
                "runtime": {"image": real_node["runtime"]},
            },
        },
    )
    wait_ready(api_client, real_namespace, name, 240)
    answer = httpx.post(f"{service_url(api_client, real_namespace, name)}/predict", json=ROW)
    assert answer.status_code == 200, answer.text
    (pod,) = running_pods(api_client, real_namespace, name)
    env = {e.name: e.value for e in pod.spec.containers[0].env}
    assert env["MODEL_URI"] == uri


def test_an_hpa_scales_on_real_cpu_and_back(
    api_client: Any,
    real_namespace: str,
    real_node: dict[str, str],
    pod_services: dict[str, str],
    mlflow_url: str,
    operator: OperatorProcess,
) -> None:
    name = f"h-{uuid.uuid4().hex[:6]}"
    register_model(mlflow_url, name)
    deploy(
        api_client,
        real_namespace,
        name,
        real_node["runtime"],
        pod_services["mlflow_ip"],
        autoscaling={"minReplicas": 1, "maxReplicas": 2, "targetCpuUtilizationPercentage": 30},
    )
    wait_ready(api_client, real_namespace, name, 240)
    hpa_api = client.AutoscalingV2Api(api_client)

    def hpa() -> Any:
        return hpa_api.read_namespaced_horizontal_pod_autoscaler(name, real_namespace)

    wait_for(
        lambda: (hpa().status.current_metrics or [None])[0] is not None,
        120,
        "the HPA to read the pod's CPU from metrics-server",
        interval=2,
    )
    url = service_url(api_client, real_namespace, name)
    with Load(f"{url}/predict", json.dumps(ROW).encode(), rate=400):
        wait_for(lambda: hpa().status.desired_replicas == 2, 180, "a scale-up", interval=2)
        wait_for(
            lambda: len(running_pods(api_client, real_namespace, name)) == 2,
            120,
            "the second pod",
            interval=2,
        )
    wait_for(lambda: hpa().status.desired_replicas == 1, 180, "the scale-down", interval=2)
