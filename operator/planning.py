"""Pure decision: which children to apply and which to delete (KServe's checkHPAExist, whole)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from modelops.operator.api.kinds import Key

# The hash of what the operator last applied, on each child: a field dropped from the desired
# manifest changes it (a subset check alone would keep the dropped field forever).
APPLIED_HASH = "modelops.dev/applied-hash"


def key(obj: dict[str, Any]) -> Key:
    """Identity of a child: API group, kind, name."""
    group = obj["apiVersion"].rpartition("/")[0]
    return (group, obj["kind"], obj["metadata"]["name"])


@dataclass(frozen=True)
class Plan:
    apply: list[dict[str, Any]] = field(default_factory=list)
    delete: list[Key] = field(default_factory=list)


def stamped(desired: dict[str, Any]) -> dict[str, Any]:
    """`desired` carrying the hash of its own content as an annotation."""
    digest = hashlib.sha256(json.dumps(desired, sort_keys=True).encode()).hexdigest()[:16]
    meta = desired["metadata"]
    annotations = {**meta.get("annotations", {}), APPLIED_HASH: digest}
    return {**desired, "metadata": {**meta, "annotations": annotations}}


def contains(observed: Any, desired: Any) -> bool:
    """Whether every field `desired` sets has that value in `observed` (what the server added,
    defaults and status, is ignored). A value the server normalizes ("1000m" read back as "1")
    reads as a difference: that costs one no-op apply, never a missed one."""
    if isinstance(desired, dict):
        return isinstance(observed, dict) and all(
            k in observed and contains(observed[k], v) for k, v in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(observed, list)
            and len(observed) == len(desired)
            and all(contains(o, d) for o, d in zip(observed, desired, strict=True))
        )
    return bool(observed == desired)


def plan(desired: list[dict[str, Any]], observed: list[dict[str, Any]]) -> Plan:
    """Apply each desired child the observed one does not already match (what this operator
    applied last, with no field of it changed by hand), and delete observed children that are
    no longer desired: removing spec.autoscaling deletes the HPA."""
    have = {key(o): o for o in observed}
    wanted = [stamped(d) for d in desired]
    stale = sorted(set(have) - {key(d) for d in wanted})
    return Plan(
        apply=[d for d in wanted if key(d) not in have or not contains(have[key(d)], d)],
        delete=stale,
    )
