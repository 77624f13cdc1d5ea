"""The periodic pass holds nothing on the resources: with the operator stopped, deleting the
resources' namespace completes (kopf timers would have put a finalizer on each of them)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

import devenv

from .conftest import POLL_SECONDS, TEST_NAMESPACE_PREFIX, OperatorProcess
from .helpers import wait_for

GROUP, VERSION = "modelops.dev", "v1alpha1"
pytestmark = pytest.mark.timeout(240)

KINDS = [
    (
        "modeldeployments",
        "ModelDeployment",
        {"model": {"uri": "models:/absent@champion", "trackingUri": "http://127.0.0.1:9"}},
    ),
    (
        "driftmonitors",
        "DriftMonitor",
        {"modelDeploymentRef": {"name": "r"}, "reference": {"uri": "s3://b/r.parquet"}},
    ),
    (
        "featurematerializations",
        "FeatureMaterialization",
        {"featureStore": {"configMapRef": {"name": "repo"}}, "featureViews": ["v"]},
    ),
]


def test_a_namespace_is_deleted_while_the_operator_is_down(
    api_client: Any, operator: OperatorProcess
) -> None:
    core = client.CoreV1Api(api_client)
    custom = client.CustomObjectsApi(api_client)
    ns = f"{TEST_NAMESPACE_PREFIX}{uuid.uuid4().hex[:10]}"
    core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(
                name=ns, annotations=devenv.SIMULATED_NAMESPACE_ANNOTATIONS
            )
        )
    )
    for plural, kind, spec in KINDS:
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": "r"}}
        custom.create_namespaced_custom_object(GROUP, VERSION, ns, plural, {**body, "spec": spec})

    def handled(plural: str) -> dict[str, Any] | None:
        obj = custom.get_namespaced_custom_object(GROUP, VERSION, ns, plural, "r")
        return obj if (obj.get("status") or {}).get("conditions") else None

    for plural, _, _ in KINDS:
        wait_for(lambda p=plural: handled(p), 60, f"{plural} status")
    time.sleep(POLL_SECONDS * 2 + 5)  # the periodic passes have run on each of them
    for plural, _, _ in KINDS:
        obj = custom.get_namespaced_custom_object(GROUP, VERSION, ns, plural, "r")
        assert not obj["metadata"].get("finalizers"), (plural, obj["metadata"]["finalizers"])

    operator.stop(kill=True)
    try:
        core.delete_namespace(ns)

        def gone() -> bool:
            try:
                core.read_namespace(ns)
            except ApiException as e:
                return e.status == 404
            return False

        wait_for(gone, 120, f"namespace {ns} deleted with the operator stopped")
    finally:
        operator.start()
        wait_for(lambda: "Started the modelops operator" in operator.log(), 60, "operator start")
