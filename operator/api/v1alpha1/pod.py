"""Who a pod runs as and where it may run: shared by the serving pods and the jobs' pods."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from modelops.operator.api.base import KubeModel, ObjectRef, matching

# A DNS subdomain, as Kubernetes names ServiceAccounts.
SERVICE_ACCOUNT_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


class PodOptions(KubeModel):
    """Pod fields passed through as written, each within the operator's policy."""

    service_account_name: str | None = matching(
        SERVICE_ACCOUNT_PATTERN,
        "must be a ServiceAccount name: lowercase letters, digits, '-' and '.'",
        default=None,
        max_length=253,
    )
    """A ServiceAccount of this namespace the pods run as (e.g. one associated with an IAM
    role through EKS Pod Identity or IRSA, to read S3 without keys). Only those the platform
    allows (the chart's policy.allowedServiceAccounts); the namespace's default otherwise. The
    pods get no Kubernetes API token either way."""
    image_pull_secrets: list[ObjectRef] | None = Field(default=None, max_length=16)
    """Secrets of this namespace for pulling the image from a private registry."""
    affinity: dict[str, Any] | None = None
    """Node and pod affinity, as in a Pod spec. Pod (anti-)affinity terms look at this
    namespace only: `namespaces` and `namespaceSelector` are refused."""
    topology_spread_constraints: list[dict[str, Any]] | None = Field(default=None, max_length=8)
    """How the pods spread across zones or nodes, as in a Pod spec."""
