"""Pure decision: which children to apply and which to delete (KServe's checkHPAExist, whole)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelops.operator.api.kinds import Key


def key(obj: dict[str, Any]) -> Key:
    """Identity of a child: API group, kind, name."""
    group = obj["apiVersion"].rpartition("/")[0]
    return (group, obj["kind"], obj["metadata"]["name"])


@dataclass(frozen=True)
class Plan:
    apply: list[dict[str, Any]] = field(default_factory=list)
    delete: list[Key] = field(default_factory=list)


def plan(desired: list[dict[str, Any]], observed: list[dict[str, Any]]) -> Plan:
    """Apply every desired child (server-side apply makes an unchanged one a no-op) and delete
    observed children that are no longer desired: removing spec.autoscaling deletes the HPA."""
    wanted = {key(d) for d in desired}
    stale = sorted({key(o) for o in observed} - wanted)
    return Plan(apply=list(desired), delete=stale)
