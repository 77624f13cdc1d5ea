"""Faults under load, short versions: while a load generator runs through a ModelDeployment's
Service on the real node, one part of the cluster restarts. Every request's outcome is
counted, and afterwards the cluster must still act on a change (the operator reconnected, the
node still starts pods). `make reliability` reports the long versions."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes import client

import devenv

from .conftest import OperatorProcess
from .helpers import register_model, wait_for
from .load import Load, Outcome
from .test_pods import GROUP, PLURAL, ROW, VERSION, deploy, md, service_url, wait_ready

pytestmark = pytest.mark.timeout(480)
RATE = 100


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
) -> Served:
    """A registered model served Ready by two pods on the real node."""
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
    return Served(real_namespace, name, service_url(api_client, real_namespace, name))


def containers(api_client: Any, served: Served) -> dict[str, int]:
    """Each live pod of the deployment and its containers' restarts."""
    pods = client.CoreV1Api(api_client).list_namespaced_pod(
        served.namespace, label_selector=f"app.kubernetes.io/instance={served.name}"
    )
    return {
        p.metadata.name: sum(s.restart_count for s in p.status.container_statuses or [])
        for p in pods.items
        if p.metadata.deletion_timestamp is None
    }


def under_load(served: Served, fault: Callable[[], float]) -> tuple[Outcome, float]:
    """Requests at RATE through the Service from 3 s before `fault` until 10 s after it
    returns (what it was away, in seconds)."""
    with Load(f"{served.url}/predict", json.dumps(ROW).encode(), rate=RATE) as load:
        time.sleep(3)
        away = fault()
        time.sleep(10)
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


def report(component: str, out: Outcome, away: float) -> str:
    return (
        f"{component} restarted under load ({away:.1f}s away): {out.sent} requests at "
        f"{out.rate:.0f}/s, {out.failed} failed ({dict(out.statuses)} {dict(out.errors)})"
    )


@pytest.mark.parametrize("component", ["kubelet", "containerd"])
def test_running_pods_keep_serving_through_a_restart_of_the(
    component: str, api_client: Any, served: Served
) -> None:
    before = containers(api_client, served)
    out, away = under_load(served, lambda: devenv.restart(component))
    print(report(component, out, away))
    assert out.failed == 0, (dict(out.statuses), dict(out.errors))
    assert containers(api_client, served) == before, "the same pods, no container restarted"
    scale_to_three(api_client, served)


@pytest.mark.parametrize("component", ["kube-apiserver", "etcd"])
def test_serving_is_untouched_and_the_operator_converges_after_a_restart_of_the(
    component: str, api_client: Any, served: Served, operator: OperatorProcess
) -> None:
    out, away = under_load(served, lambda: devenv.restart(component))
    print(report(component, out, away))
    assert out.failed == 0, (dict(out.statuses), dict(out.errors))
    assert operator.proc is not None and operator.proc.poll() is None, "the operator still runs"
    scale_to_three(api_client, served)
