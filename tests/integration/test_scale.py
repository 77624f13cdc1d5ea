"""The operator's cost at rest, on a status-only change and across a restart, read from the
apiserver's audit log (the operator runs as its own user, audited in full) and from MLflow's
access log. The short version of `bench/operator_scale.py`, which runs it at a thousand."""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

import devenv

from .conftest import POLL_SECONDS, OperatorProcess
from .helpers import register_model, wait_for

pytestmark = pytest.mark.timeout(300)
COUNT = 20
WRITES = {"create", "update", "patch", "delete", "deletecollection"}
CHILD_RESOURCES = {"deployments", "services", "configmaps", "horizontalpodautoscalers",
                   "poddisruptionbudgets"}  # fmt: skip


def passes(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The operator's own requests, without kopf's watches (reopened every few minutes)."""
    return [
        e
        for e in entries
        if e["verb"] != "watch" and not e.get("userAgent", "").startswith("kopf/")
    ]


def audited(audit_log: Path, namespace: str, since: float) -> list[dict[str, Any]]:
    """The operator's requests about objects in `namespace` received since `since`."""
    return devenv.operator_requests(audit_log, since, namespace=namespace)


def settle(audit_log: Path, namespace: str, quiet: float = 5.0, timeout: float = 60.0) -> None:
    """Wait until the operator has made no request about the namespace for `quiet` seconds
    (the children's last status changes after Ready have been taken in)."""
    start = time.time()
    while time.time() - start < timeout:
        recent = passes(audited(audit_log, namespace, time.time() - quiet))
        if not recent and time.time() - start >= quiet:
            return
        time.sleep(1)
    raise AssertionError(f"the operator was still busy with {namespace} after {timeout} s")


def registry_calls(mlflow_log: Path, model: str, since: float) -> list[str]:
    """MLflow's access-log lines about `model` since `since` (its stamps are whole seconds)."""
    stamp = re.compile(r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d)")
    out = []
    for line in mlflow_log.read_text(errors="replace").splitlines():
        m = stamp.match(line)
        if m is None or f"name={model}&" not in line and not line.rstrip().endswith(model):
            continue
        at = datetime.strptime(m[1], "%Y/%m/%d %H:%M:%S").astimezone().timestamp()
        if at >= since - 1:
            out.append(line)
    return out


def md(name: str, uri: str) -> dict[str, Any]:
    return {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {"model": {"uri": uri}, "replicas": 1},
    }


def all_ready(custom: client.CustomObjectsApi, namespace: str) -> bool:
    items = custom.list_namespaced_custom_object(
        "modelops.dev", "v1alpha1", namespace, "modeldeployments"
    )["items"]
    return len(items) == COUNT and all(
        any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in (i.get("status") or {}).get("conditions", [])
        )
        and (i.get("status") or {}).get("observedGeneration") == i["metadata"]["generation"]
        for i in items
    )


def versions(api_client: Any, namespace: str) -> dict[str, str]:
    """resourceVersion of the ModelDeployments and every child in the namespace."""
    custom, core, apps = (
        client.CustomObjectsApi(api_client),
        client.CoreV1Api(api_client),
        client.AppsV1Api(api_client),
    )
    out = {
        f"md/{i['metadata']['name']}": i["metadata"]["resourceVersion"]
        for i in custom.list_namespaced_custom_object(
            "modelops.dev", "v1alpha1", namespace, "modeldeployments"
        )["items"]
    }
    for kind, items in (
        ("deployment", apps.list_namespaced_deployment(namespace).items),
        ("service", core.list_namespaced_service(namespace).items),
        ("configmap", core.list_namespaced_config_map(namespace).items),
    ):
        out |= {f"{kind}/{i.metadata.name}": i.metadata.resource_version for i in items}
    return out


def test_settled_model_deployments_cost_nothing_at_rest_and_a_restart_rewrites_nothing(
    cluster: dict[str, str],
    api_client: Any,
    namespace: str,
    operator: OperatorProcess,
    mlflow_url: str,
    mlflow_state: Path,
) -> None:
    if "operator_kubeconfig" not in cluster:
        pytest.fail("the control plane predates the operator's own user: `make down` first")
    audit, mlflow_log = Path(cluster["audit_log"]), mlflow_state / "logs" / "mlflow.log"
    pinned, moving = "scale-pinned-" + namespace[-6:], "scale-alias-" + namespace[-6:]
    register_model(mlflow_url, pinned, alias=None)
    register_model(mlflow_url, moving)
    custom = client.CustomObjectsApi(api_client)
    for i in range(COUNT):
        uri = f"models:/{pinned}/1" if i % 2 == 0 else f"models:/{moving}@champion"
        custom.create_namespaced_custom_object(
            "modelops.dev", "v1alpha1", namespace, "modeldeployments", md(f"m-{i:02d}", uri)
        )
    wait_for(lambda: all_ready(custom, namespace), 120, f"{COUNT} Ready")

    # At rest for five poll intervals: the pinned version is never looked up again, the alias
    # is, and nothing in the namespace is read or written.
    settle(audit, namespace)
    t0 = time.time()
    time.sleep(5 * POLL_SECONDS)
    assert passes(audited(audit, namespace, t0)) == []
    assert registry_calls(mlflow_log, pinned, t0) == []
    assert any("alias" in line for line in registry_calls(mlflow_log, moving, t0))

    # Status-only changes of the children (pods replaced: each Deployment unavailable, then
    # available): status follows, and nothing is applied.
    t0 = time.time()
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)

    def deployment_versions() -> dict[str, str]:
        items = apps.list_namespaced_deployment(namespace).items
        return {d.metadata.name: d.metadata.resource_version for d in items}

    before_pods = deployment_versions()
    for pod in core.list_namespaced_pod(namespace).items[:5]:
        core.delete_namespaced_pod(pod.metadata.name, namespace, grace_period_seconds=0)
    time.sleep(2)
    wait_for(lambda: all_ready(custom, namespace), 60, "Ready again")
    settle(audit, namespace)
    done = passes(audited(audit, namespace, t0))
    # The Deployments' status moved (their controller wrote it: status-only events for the
    # operator), and not one child was listed or written: a full pass would list five kinds,
    # even where it applies nothing. A status pass reads nothing (it works from the newest
    # owner it saw) and patches the owner's status only when it changed.
    assert deployment_versions() != before_pods
    touched = [
        (e["verb"], e["objectRef"]["resource"], e["objectRef"].get("subresource"))
        for e in done
        if e["objectRef"]["resource"] in CHILD_RESOURCES
        or (e["verb"] in WRITES and e["objectRef"]["resource"] != "events")
    ]
    assert set(touched) <= {("patch", "modeldeployments", "status")}, touched

    # A restart with everything in place: nothing rewritten, the pinned version not looked up.
    before = versions(api_client, namespace)
    t0 = time.time()
    operator.stop()
    operator.start()
    wait_for(
        lambda: (
            sum(
                f"[{namespace}/" in line and "Resuming is processed" in line
                for line in operator.log().splitlines()
            )
            >= COUNT
        ),
        120,
        "every ModelDeployment resumed",
    )
    time.sleep(2 * POLL_SECONDS)
    assert versions(api_client, namespace) == before
    assert [e["verb"] for e in passes(audited(audit, namespace, t0)) if e["verb"] in WRITES] == []
    assert registry_calls(mlflow_log, pinned, t0) == []
