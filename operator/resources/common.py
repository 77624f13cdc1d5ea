"""Names, labels, ownership and pod hardening shared by every child a builder makes."""

from __future__ import annotations

import hashlib
from typing import Any

from modelops.operator.api.v1alpha1.pod import PodOptions

MANAGED_BY = "modelops"
RUNTIME_PORT = 8080
RUNTIME_UID = 10001


def child_name(owner: str, suffix: str = "") -> str:
    """A DNS-1123 name of at most 63 characters, stable for a given owner and suffix."""
    name = f"{owner}-{suffix}" if suffix else owner
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: 63 - 9].rstrip('-')}-{digest}"


def managed_labels(component: str) -> dict[str, str]:
    """The labels that mark one component's children as ours (what watches select on)."""
    return {"app.kubernetes.io/managed-by": MANAGED_BY, "app.kubernetes.io/component": component}


def managed_selector(*components: str) -> str:
    """A label selector for the children of the given components (server-side watches)."""
    labels = managed_labels(components[0])
    if len(components) == 1:
        return ",".join(f"{k}={v}" for k, v in labels.items())
    component = "app.kubernetes.io/component"
    return f"app.kubernetes.io/managed-by={MANAGED_BY},{component} in ({','.join(components)})"


def outside(namespaces: list[str]) -> str:
    """A field selector for every namespace but these ('' for all)."""
    return ",".join(f"metadata.namespace!={ns}" for ns in namespaces)


def owner_label(component: str) -> str:
    """The label a scheduled run's pods carry naming the object that scheduled them."""
    return f"modelops.dev/{component}"


def selector_labels(instance: str, component: str) -> dict[str, str]:
    # Selectors are immutable on Deployments: keep them minimal and never change them.
    return {
        "app.kubernetes.io/name": f"modelops-{component}",
        "app.kubernetes.io/instance": instance,
    }


def common_labels(instance: str, component: str, version: str | None = None) -> dict[str, str]:
    labels = {
        **selector_labels(instance, component),
        **managed_labels(component),
        "app.kubernetes.io/part-of": "modelops",
    }
    if version:
        labels["app.kubernetes.io/version"] = label_value(version)
    return labels


def label_value(value: str) -> str:
    """Label values allow 63 characters of [A-Za-z0-9._-], starting and ending alphanumeric."""
    cleaned = "".join(c if c.isalnum() or c in "._-" else "-" for c in value)[:63]
    return cleaned.strip("._-") or "unknown"


def owner_reference(owner: dict[str, Any]) -> dict[str, Any]:
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def child_metadata(
    owner: dict[str, Any], name: str, labels: dict[str, str], **extra: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": owner["metadata"]["namespace"],
        "labels": labels,
        "ownerReferences": [owner_reference(owner)],
        **extra,
    }


def pod_options(options: PodOptions, selector: dict[str, str]) -> dict[str, Any]:
    """The Pod spec fields a spec passes through (the policy has allowed them): its
    ServiceAccount, pull Secrets, affinity and spread. A spread constraint without a
    labelSelector counts these pods (`selector`), which is what a spread of them means."""
    fields: dict[str, Any] = {}
    if options.service_account_name:
        fields["serviceAccountName"] = options.service_account_name
    if options.image_pull_secrets:
        fields["imagePullSecrets"] = [{"name": r.name} for r in options.image_pull_secrets]
    if options.affinity:
        fields["affinity"] = options.affinity
    if options.topology_spread_constraints:
        fields["topologySpreadConstraints"] = [
            {"labelSelector": {"matchLabels": dict(selector)}, **c}
            for c in options.topology_spread_constraints
        ]
    return fields


def pod_security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUNTIME_UID,
        "runAsGroup": RUNTIME_UID,
        "fsGroup": RUNTIME_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def tmp_volume() -> tuple[dict[str, Any], dict[str, Any]]:
    """A writable /tmp (the root filesystem is read-only): MLflow downloads models there."""
    return (
        {"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}},
        {"name": "tmp", "mountPath": "/tmp"},
    )
