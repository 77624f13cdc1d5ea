"""H-5: the operator lists and watches only its own kinds and the children it labels, filtered
by the apiserver (read back from the apiserver's audit log), and never acts in an excluded
namespace (kube-system by default)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from kubernetes import client

from .conftest import EXCLUDED_NAMESPACE, POLL_SECONDS, OperatorProcess
from .helpers import read_or_none, wait_for

pytestmark = pytest.mark.timeout(120)
CHILDREN = {"pods", "services", "deployments", "jobs", "horizontalpodautoscalers",
            "poddisruptionbudgets", "configmaps"}  # fmt: skip
OWN = {"modeldeployments", "driftmonitors", "featurematerializations"}


def operator_reads(audit_log: Path) -> list[dict[str, Any]]:
    """The operator's (kopf's) lists and watches: resource, verb and query."""
    found = []
    for path in (audit_log, *audit_log.parent.glob("audit-*.log")):
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            event = json.loads(line)
            if not event.get("userAgent", "").startswith("kopf/") or "objectRef" not in event:
                continue
            if event["verb"] not in ("list", "watch"):
                continue
            query = parse_qs(urlsplit(event["requestURI"]).query)
            found.append(
                {
                    "resource": event["objectRef"]["resource"],
                    "verb": event["verb"],
                    "labels": query.get("labelSelector", [""])[0],
                    "fields": query.get("fieldSelector", [""])[0],
                }
            )
    return found


def test_the_operator_lists_and_watches_only_what_it_labels(
    cluster: dict[str, str], operator: OperatorProcess
) -> None:
    """Were a tenant to create ten thousand pods, none would reach the operator: every list and
    watch of a child kind carries the operator's label selector, and every one of ours and of
    the children leaves kube-system out."""
    audit = Path(cluster["audit_log"])
    reads = wait_for(
        lambda: (r := operator_reads(audit)) and {x["resource"] for x in r} >= CHILDREN | OWN and r,
        60,
        "the operator's watches in the audit log",
    )
    for read in reads:
        if read["resource"] in CHILDREN:
            assert "app.kubernetes.io/managed-by=modelops" in read["labels"], read
            assert "app.kubernetes.io/component" in read["labels"], read
        if read["resource"] in CHILDREN | OWN:
            assert "metadata.namespace!=kube-system" in read["fields"], read
    pods = [r for r in reads if r["resource"] == "pods"]
    assert pods and all("drift-monitor" in r["labels"] for r in pods)


def test_a_resource_in_an_excluded_namespace_is_left_alone(
    api_client: Any, namespace: str, operator: OperatorProcess
) -> None:
    """A ModelDeployment in an excluded namespace (one the operator's --namespace pattern
    matches) gets no status and no child, while its twin in a tenant namespace does: the
    operator's watches and periodic passes leave the namespace out."""
    custom = client.CustomObjectsApi(api_client)
    core = client.CoreV1Api(api_client)
    name = f"x{uuid.uuid4().hex[:8]}"
    body = {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {"model": {"uri": "models:/absent@champion", "trackingUri": "http://127.0.0.1:9"}},
    }
    excluded = EXCLUDED_NAMESPACE
    if read_or_none(lambda n, _: core.read_namespace(n), excluded, "") is None:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=excluded)))
    custom.create_namespaced_custom_object(
        "modelops.dev", "v1alpha1", excluded, "modeldeployments", body
    )
    custom.create_namespaced_custom_object(
        "modelops.dev", "v1alpha1", namespace, "modeldeployments", body
    )
    try:
        wait_for(
            lambda: (
                "status"
                in custom.get_namespaced_custom_object(
                    "modelops.dev", "v1alpha1", namespace, "modeldeployments", name
                )
            ),
            60,
            "the tenant namespace's twin handled",
        )
        time.sleep(POLL_SECONDS * 2 + 6)  # several periodic passes
        obj = custom.get_namespaced_custom_object(
            "modelops.dev", "v1alpha1", excluded, "modeldeployments", name
        )
        assert "status" not in obj
        assert not any(
            k.startswith("modelops.dev/") for k in obj["metadata"].get("annotations") or {}
        )
        assert read_or_none(core.read_namespaced_service, name, excluded) is None
        assert f"{excluded}/{name}" not in operator.log()
    finally:
        core.delete_namespace(excluded)
