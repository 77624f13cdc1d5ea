"""Faults under load, short versions: while a load generator runs through a ModelDeployment's
Service on the real node, one part of the cluster restarts. Every request's outcome is
counted, and afterwards the cluster must still act on a change (the operator reconnected, the
node still starts pods). `make reliability` reports the long versions."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client

import devenv

from .conftest import OperatorProcess
from .helpers import register_model, wait_for
from .load import Load, Outcome
from .test_pods import GROUP, PLURAL, ROW, VERSION, deploy, md, service_url, wait_ready

# `make reliability` runs these longer and faster, and collects their figures.
RATE = float(os.environ.get("MODELOPS_FAULT_RATE", "100"))
AFTER = float(os.environ.get("MODELOPS_FAULT_AFTER_SECONDS", "10"))
pytestmark = pytest.mark.timeout(480 + 4 * AFTER)


@dataclass(frozen=True)
class Served:
    namespace: str
    name: str
    url: str


@pytest.fixture
def served(
    api_client: Any,
    real_namespace: str,
    real_node: dict[str, str],
    pod_services: dict[str, str],
    mlflow_url: str,
    operator: OperatorProcess,
) -> Iterator[Served]:
    """A registered model served Ready by two pods on the real node. Afterwards the cluster
    must be whole again: a fault test that failed half way says so here, not in a later
    test's timeout."""
    name = f"f-{uuid.uuid4().hex[:6]}"
    register_model(mlflow_url, name)
    deploy(
        api_client,
        real_namespace,
        name,
        real_node["runtime"],
        pod_services["mlflow_ip"],
        replicas=2,
    )
    wait_ready(api_client, real_namespace, name, 240)
    yield Served(real_namespace, name, service_url(api_client, real_namespace, name))
    assert devenv.cluster_running(), "a control plane component is down after the fault"
    assert devenv.node_running(), "a node process is down after the fault"


def containers(api_client: Any, served: Served) -> dict[str, tuple[int, str | None]]:
    """Each live pod of the deployment: its container's restarts and id (a container
    replaced, whether or not the kubelet counted it yet)."""
    pods = client.CoreV1Api(api_client).list_namespaced_pod(
        served.namespace, label_selector=f"app.kubernetes.io/instance={served.name}"
    )
    return {
        p.metadata.name: (
            sum(s.restart_count for s in p.status.container_statuses or []),
            ",".join(s.container_id or "" for s in p.status.container_statuses or []) or None,
        )
        for p in pods.items
        if p.metadata.deletion_timestamp is None
    }


def answered(ip: str) -> float:
    """How many /predict requests a pod answered 200 (its own /metrics)."""
    text = httpx.get(f"http://{ip}:8080/metrics", timeout=3).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("modelops_runtime_requests_total{")
        and 'endpoint="/predict"' in line
        and 'code="200"' in line
    )


@pytest.fixture(scope="module")
def figures() -> Iterator[dict[str, dict[str, Any]]]:
    """Each fault's figures, written to MODELOPS_FAULTS_OUT (for the report) when it is set."""
    found: dict[str, dict[str, Any]] = {}
    yield found
    if os.environ.get("MODELOPS_FAULTS_OUT"):
        Path(os.environ["MODELOPS_FAULTS_OUT"]).write_text(json.dumps(found, indent=2))


def counted(out: Outcome, **more: Any) -> dict[str, Any]:
    return {
        "sent": out.sent,
        "rate": round(out.rate),
        "non_2xx": sum(out.statuses.values()),
        "connection_errors": sum(out.errors.values()),
        **more,
    }


def under_load(served: Served, fault: Callable[[], float]) -> tuple[Outcome, float]:
    """Requests at RATE through the Service from 3 s before `fault` until AFTER seconds after
    it returns (what it was away, in seconds)."""
    with Load(f"{served.url}/predict", json.dumps(ROW).encode(), rate=RATE) as load:
        time.sleep(3)
        away = fault()
        time.sleep(AFTER)
    return load.outcome, away


def scale_to_three(api_client: Any, served: Served) -> None:
    """A change after the fault is acted on: the operator sees it, the node starts the pod."""
    client.CustomObjectsApi(api_client).patch_namespaced_custom_object(
        GROUP, VERSION, served.namespace, PLURAL, served.name, {"spec": {"replicas": 3}}
    )

    def converged() -> bool:
        obj = md(api_client, served.namespace, served.name)
        status = obj.get("status", {})
        return (
            status.get("observedGeneration") == obj["metadata"]["generation"]
            and status.get("readyReplicas") == 3
        )

    wait_for(converged, 180, f"{served.name} scaled to 3 ready replicas", interval=1)


def child_restored(api_client: Any, served: Served) -> None:
    """The operator's watches came back: a settled ModelDeployment's periodic pass does not
    look at its children, so only a watch event restores a deleted one within the minute."""
    policy = client.PolicyV1Api(api_client)
    uid = policy.read_namespaced_pod_disruption_budget(served.name, served.namespace).metadata.uid

    def back() -> bool:
        try:
            pdb = policy.read_namespaced_pod_disruption_budget(served.name, served.namespace)
        except client.ApiException as e:
            if e.status == 404:
                return False
            raise
        return bool(pdb.metadata.uid != uid)

    policy.delete_namespaced_pod_disruption_budget(served.name, served.namespace)
    wait_for(back, 60, f"the deleted PodDisruptionBudget of {served.name} restored", interval=1)


def report(component: str, out: Outcome, away: float) -> str:
    return (
        f"{component} restarted under load ({away:.1f}s away): {out.sent} requests at "
        f"{out.rate:.0f}/s, {out.failed} failed ({dict(out.statuses)} {dict(out.errors)})"
    )


@pytest.mark.parametrize("component", ["kubelet", "containerd"])
def test_running_pods_keep_serving_through_a_restart_of_the(
    component: str, api_client: Any, served: Served, figures: dict[str, dict[str, Any]]
) -> None:
    before = containers(api_client, served)
    out, away = under_load(served, lambda: devenv.restart(component))
    print(report(component, out, away))
    figures[component] = counted(out, away_seconds=round(away, 1), held=False)
    assert out.failed == 0, (dict(out.statuses), dict(out.errors))
    assert containers(api_client, served) == before, "the same pods, no container replaced"
    t0 = time.monotonic()
    scale_to_three(api_client, served)
    figures[component] |= {"converged_seconds": round(time.monotonic() - t0, 1), "held": True}


@pytest.mark.parametrize("component", ["kube-apiserver", "etcd"])
def test_serving_is_untouched_and_the_operator_converges_after_a_restart_of_the(
    component: str,
    api_client: Any,
    served: Served,
    operator: OperatorProcess,
    figures: dict[str, dict[str, Any]],
) -> None:
    out, away = under_load(served, lambda: devenv.restart(component))
    print(report(component, out, away))
    figures[component] = counted(out, away_seconds=round(away, 1), held=False)
    assert out.failed == 0, (dict(out.statuses), dict(out.errors))
    assert operator.proc is not None and operator.proc.poll() is None, "the operator still runs"
    t0 = time.monotonic()
    scale_to_three(api_client, served)
    figures[component]["converged_seconds"] = round(time.monotonic() - t0, 1)
    child_restored(api_client, served)
    figures[component]["held"] = True


def readiness(ip: str) -> tuple[int, dict[str, Any]]:
    """A pod's own /ready answer: its status code and body (the reason it is not ready)."""
    try:
        answer = httpx.get(f"http://{ip}:8080/ready", timeout=3)
    except httpx.HTTPError as e:
        return 0, {"error": str(e)}
    return answer.status_code, answer.json()


def test_a_pod_started_while_mlflow_is_down_waits_not_ready_and_joins_when_it_returns(
    api_client: Any,
    served: Served,
    mlflow_state: Path,
    mlflow_url: str,
    figures: dict[str, dict[str, Any]],
) -> None:
    core = client.CoreV1Api(api_client)
    mlflow = devenv.Proc(mlflow_state, "mlflow")
    argv, env = mlflow.command()
    before = containers(api_client, served)
    with Load(f"{served.url}/predict", json.dumps(ROW).encode(), rate=RATE) as load:
        time.sleep(3)
        try:
            mlflow.stop()
            core.delete_namespaced_pod(min(before), served.namespace)

            def replacement() -> Any:
                pods = core.list_namespaced_pod(
                    served.namespace, label_selector=f"app.kubernetes.io/instance={served.name}"
                ).items
                return next(
                    (p for p in pods if p.metadata.name not in before and p.status.pod_ip), None
                )

            pod = wait_for(replacement, 60, "the replacement pod to get an address")
            name, ip = pod.metadata.name, pod.status.pod_ip

            def refused() -> dict[str, Any] | None:
                code, body = readiness(ip)
                return body if code == 503 and body.get("reason") else None

            why = wait_for(refused, 120, f"{name} to say why it is not ready")
            time.sleep(max(20.0, AFTER))  # down a while: still waiting, not crash-looping
            held = core.read_namespaced_pod(name, served.namespace)
        finally:
            mlflow.start(argv, env)
            devenv.wait_http(f"{mlflow_url}/health", 120, proc=mlflow)
        t0 = time.monotonic()
        wait_for(lambda: readiness(ip)[0] == 200, 120, f"{name} ready once MLflow is back")
        recovered = time.monotonic() - t0
        # ...and in the Service: it takes its share of the requests.
        wait_for(lambda: answered(ip) > 0, 60, f"{name} to answer through the Service")
        time.sleep(3)
    out = load.outcome
    print(
        f"MLflow down while a pod started: it said {why.get('reason')!r}, ready "
        f"{recovered:.1f}s after MLflow returned; {out.sent} requests at {out.rate:.0f}/s, "
        f"{out.failed} failed ({dict(out.statuses)} {dict(out.errors)})"
    )
    figures["mlflow"] = counted(
        out, reason=why.get("reason"), recovered_seconds=round(recovered, 1), held=False
    )
    assert why["reason"] == "RegistryUnavailable", why
    assert not any(c.ready for c in held.status.container_statuses), "ready without a model"
    assert containers(api_client, served)[name][0] == 0, "waited for MLflow, never restarted"
    assert out.failed == 0, (dict(out.statuses), dict(out.errors))
    figures["mlflow"]["held"] = True
