"""The Argo CD Lua health checks, run as real Lua, and kstatus (Flux's health checks), run as its
own Go library, against objects the operator produced."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.tools import tool

from .conftest import OperatorProcess
from .helpers import create_quota, register_model, wait_for

ROOT = Path(__file__).resolve().parents[2]
LUA = ROOT / "gitops" / "argocd"
GROUP, VERSION = "modelops.dev", "v1alpha1"
pytestmark = pytest.mark.timeout(180)


def health(script: str, obj: dict[str, Any]) -> tuple[str, str]:
    from lupa import LuaRuntime

    lua = LuaRuntime(unpack_returned_tuples=True)

    def to_lua(value: Any) -> Any:
        if isinstance(value, dict):
            return lua.table_from({k: to_lua(v) for k, v in value.items()})
        if isinstance(value, list):
            return lua.table_from([to_lua(v) for v in value])
        return value

    lua.globals().obj = to_lua(obj)
    result = lua.execute((LUA / script).read_text())
    return str(result["status"]), str(result["message"])


def kstatus(obj: dict[str, Any]) -> str:
    """kstatus's verdict (Current, InProgress, Failed, ...) from sigs.k8s.io/cli-utils itself."""
    done = subprocess.run(
        [tool("kstatus")], input=json.dumps([obj]), capture_output=True, text=True, check=True
    )
    return str(json.loads(done.stdout)[0]["status"])


class Objects:
    def __init__(self, api_client: Any, namespace: str) -> None:
        self.custom = client.CustomObjectsApi(api_client)
        self.ns = namespace

    def create(self, plural: str, kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": name}}
        return self.custom.create_namespaced_custom_object(  # type: ignore[no-any-return]
            GROUP, VERSION, self.ns, plural, {**body, "spec": spec}
        )

    def get(self, plural: str, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(GROUP, VERSION, self.ns, plural, name)  # type: ignore[no-any-return]


def reason(obj: dict[str, Any], type_: str) -> str | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return str(c["reason"])
    return None


def test_model_deployment_health(
    api_client: Any, namespace: str, operator: OperatorProcess, mlflow_url: str
) -> None:
    o = Objects(api_client, namespace)
    name = f"m{uuid.uuid4().hex[:8]}"
    register_model(mlflow_url, name)
    spec = {"model": {"uri": f"models:/{name}@champion"}}

    fresh = o.create("modeldeployments", "ModelDeployment", "healthy", spec)
    assert health("modeldeployment.lua", fresh)[0] == "Progressing"
    healthy = wait_for(
        lambda: (
            (x := o.get("modeldeployments", "healthy"))
            and reason(x, "Ready") == "ModelServing"
            and x
        ),
        60,
        "Ready",
    )
    assert health("modeldeployment.lua", healthy) == ("Healthy", f"Serving models:/{name}/1")
    assert kstatus(healthy) == "Current"

    # Pods that cannot be scheduled: the rollout makes no progress yet, which is not failure.
    o.create(
        "modeldeployments",
        "ModelDeployment",
        "rolling",
        {**spec, "runtime": {"nodeSelector": {"modelops.dev/no-such-node": "x"}}},
    )
    rolling = wait_for(
        lambda: (
            (x := o.get("modeldeployments", "rolling"))
            and reason(x, "Progressing") == "RollingOut"
            and x
        ),
        60,
        "RollingOut",
    )
    status, message = health("modeldeployment.lua", rolling)
    assert status == "Progressing" and "0/1" in message
    # Reconciling carries Ready's reason (the Deployment's: its pods are not available yet).
    assert kstatus(rolling) == "InProgress" and reason(rolling, "Stalled") is None
    assert reason(rolling, "Reconciling") == reason(rolling, "Ready") is not None

    o.create(
        "modeldeployments",
        "ModelDeployment",
        "broken",
        {"model": {"uri": "models:/nope@champion", "trackingUri": "http://127.0.0.1:9"}},
    )
    broken = wait_for(
        lambda: (
            (x := o.get("modeldeployments", "broken"))
            and reason(x, "Degraded") == "RegistryUnavailable"
            and x
        ),
        60,
        "Degraded",
    )
    status, message = health("modeldeployment.lua", broken)
    assert status == "Degraded" and message.startswith("RegistryUnavailable")
    # A registry that does not answer may come back: converging, not failed.
    assert kstatus(broken) == "InProgress" and reason(broken, "Stalled") is None

    o.create("modeldeployments", "ModelDeployment", "paused", {**spec, "suspend": True})
    paused = wait_for(
        lambda: (
            (x := o.get("modeldeployments", "paused")) and reason(x, "Ready") == "Suspended" and x
        ),
        60,
        "Suspended",
    )
    assert health("modeldeployment.lua", paused)[0] == "Suspended"

    # Children the apiserver refuses: a failure that waiting will not heal.
    services = len(client.CoreV1Api(api_client).list_namespaced_service(namespace).items)
    create_quota(api_client, namespace, "no-more-services", {"services": str(services)})
    o.create("modeldeployments", "ModelDeployment", "refused", spec)
    refused = wait_for(
        lambda: (
            (x := o.get("modeldeployments", "refused"))
            and reason(x, "Ready") == "ApplyFailed"
            and x
        ),
        60,
        "ApplyFailed",
    )
    status, message = health("modeldeployment.lua", refused)
    assert status == "Degraded" and message.startswith("ApplyFailed: Could not apply Service")
    # Waiting will not get the Service past the quota: Flux fails at once, not at its timeout.
    assert kstatus(refused) == "Failed" and reason(refused, "Stalled") == "ApplyFailed"


def test_drift_monitor_and_feature_materialization_health(
    api_client: Any, namespace: str, operator: OperatorProcess, mlflow_url: str
) -> None:
    o = Objects(api_client, namespace)
    name = f"m{uuid.uuid4().hex[:8]}"
    register_model(mlflow_url, name)
    o.create(
        "modeldeployments", "ModelDeployment", name, {"model": {"uri": f"models:/{name}@champion"}}
    )

    fresh = o.create(
        "driftmonitors", "DriftMonitor", "watch", {"modelDeploymentRef": {"name": name}}
    )
    assert health("scheduled.lua", fresh)[0] == "Progressing"
    healthy = wait_for(
        lambda: (x := o.get("driftmonitors", "watch")) and reason(x, "Ready") == "Scheduled" and x,
        60,
        "a scheduled DriftMonitor",
    )
    assert health("scheduled.lua", healthy)[0] == "Healthy"
    assert kstatus(healthy) == "Current"
    o.create("driftmonitors", "DriftMonitor", "orphan", {"modelDeploymentRef": {"name": "missing"}})
    orphan = wait_for(
        lambda: (
            (x := o.get("driftmonitors", "orphan")) and reason(x, "Ready") == "TargetNotFound" and x
        ),
        60,
        "TargetNotFound",
    )
    status, message = health("scheduled.lua", orphan)
    assert status == "Degraded" and "missing" in message
    assert kstatus(orphan) == "Failed" and reason(orphan, "Stalled") == "TargetNotFound"

    fm = o.create(
        "featurematerializations",
        "FeatureMaterialization",
        "features",
        {"featureStore": {"configMapRef": {"name": "repo"}}, "suspend": True},
    )
    assert health("scheduled.lua", fm)[0] == "Progressing"
    suspended = wait_for(
        lambda: (
            (x := o.get("featurematerializations", "features"))
            and reason(x, "Ready") == "Suspended"
            and x
        ),
        60,
        "a suspended FeatureMaterialization",
    )
    assert health("scheduled.lua", suspended)[0] == "Suspended"
    assert kstatus(suspended) == "Current"
