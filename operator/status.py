"""Pure status policy: what the operator observed -> conditions and facts, per API conventions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelops.operator.api.base import Condition
from modelops.operator.api.v1alpha1.model_deployment import (
    Failure,
    ModelDeployment,
    ModelDeploymentStatus,
    ResolvedModel,
)

# Condition types.
READY = "Ready"
MODEL_RESOLVED = "ModelResolved"
MODEL_COMPATIBLE = "ModelCompatible"
AVAILABLE = "Available"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"
FEATURES_FRESH = "FeaturesFresh"

# Reasons, CamelCase as the conventions want; one place so tests and Lua health checks agree.
RESOLVED = "Resolved"
REGISTRY_UNAVAILABLE = "RegistryUnavailable"
MODEL_NOT_FOUND = "ModelNotFound"
COMPATIBLE = "Compatible"
INCOMPATIBLE = "Incompatible"
NOT_CHECKED = "NotChecked"
MINIMUM_REPLICAS_AVAILABLE = "MinimumReplicasAvailable"
MINIMUM_REPLICAS_UNAVAILABLE = "MinimumReplicasUnavailable"
DEPLOYMENT_MISSING = "DeploymentMissing"
ROLLING_OUT = "RollingOut"
ROLLOUT_COMPLETE = "RolloutComplete"
ROLLOUT_FAILED = "ProgressDeadlineExceeded"
AS_EXPECTED = "AsExpected"
SUSPENDED = "Suspended"
READY_REASON = "ModelServing"
NOT_READY = "NotReady"


@dataclass(frozen=True)
class Resolution:
    """The outcome of resolving spec.model.uri against the registry."""

    model: ResolvedModel | None
    reason: str = RESOLVED
    message: str = ""


@dataclass(frozen=True)
class Compatibility:
    """The pre-flight check of the model's flavors and requirements against the runtime."""

    compatible: bool | None  # None: not checked (not a registry model, or registry down)
    message: str = ""


@dataclass(frozen=True)
class Observed:
    resolution: Resolution
    compatibility: Compatibility
    deployment: dict[str, Any] | None
    served: ResolvedModel | None
    """The version the Deployment runs: the resolved one, or the last good one."""
    features_fresh: tuple[bool | None, str, str] | None = None
    """FeaturesFresh (status, reason, message) when the spec uses online features."""


def make_condition(
    type_: str, ok: bool | None, reason: str, message: str, generation: int | None, now: datetime
) -> Condition:
    """A metav1.Condition; None means Unknown."""
    status = "Unknown" if ok is None else ("True" if ok else "False")
    return Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=now,
        observed_generation=generation,
    )


_cond = make_condition


def _deployment_facts(dep: dict[str, Any] | None) -> dict[str, Any]:
    if dep is None:
        return {}
    spec, st = dep.get("spec", {}), dep.get("status", {})
    conds = {c["type"]: c for c in st.get("conditions", [])}
    return {
        "desired": spec.get("replicas", 1),
        "ready": st.get("readyReplicas", 0),
        "updated": st.get("updatedReplicas", 0),
        "available": st.get("availableReplicas", 0),
        "total": st.get("replicas", 0),
        "current": st.get("observedGeneration", 0) >= dep["metadata"].get("generation", 0),
        "deadline_exceeded": conds.get("Progressing", {}).get("reason") == ROLLOUT_FAILED,
        "replica_failure": conds.get("ReplicaFailure", {}).get("status") == "True",
        "replica_failure_message": conds.get("ReplicaFailure", {}).get("message", ""),
    }


def compute_status(
    md: ModelDeployment,
    observed: Observed,
    now: datetime,
    url: str,
    selector: str,
) -> ModelDeploymentStatus:
    """The whole status, with lastTransitionTime kept for conditions whose status is unchanged."""
    gen = md.metadata.get("generation")
    previous = md.status or ModelDeploymentStatus()
    res, compat = observed.resolution, observed.compatibility
    model = observed.served
    facts = _deployment_facts(observed.deployment)
    suspended = md.spec.suspend

    resolved = _cond(
        MODEL_RESOLVED,
        res.model is not None,
        res.reason,
        res.message
        or (f"Resolved {res.model.uri} to {res.model.resolved_uri}" if res.model else ""),
        gen,
        now,
    )
    compatible = _cond(
        MODEL_COMPATIBLE,
        compat.compatible,
        {True: COMPATIBLE, False: INCOMPATIBLE, None: NOT_CHECKED}[compat.compatible],
        compat.message,
        gen,
        now,
    )

    if observed.deployment is None:
        available = _cond(AVAILABLE, False, DEPLOYMENT_MISSING, "No Deployment yet", gen, now)
        progressing = _cond(
            PROGRESSING, res.model is not None, DEPLOYMENT_MISSING, "Creating Deployment", gen, now
        )
    else:
        if suspended:
            available = _cond(AVAILABLE, False, SUSPENDED, "spec.suspend is true", gen, now)
        elif facts["available"] >= 1 and facts["ready"] >= 1:
            available = _cond(
                AVAILABLE,
                True,
                MINIMUM_REPLICAS_AVAILABLE,
                f"{facts['ready']}/{facts['desired']} replicas ready",
                gen,
                now,
            )
        else:
            available = _cond(
                AVAILABLE,
                False,
                MINIMUM_REPLICAS_UNAVAILABLE,
                f"{facts['ready']}/{facts['desired']} replicas ready",
                gen,
                now,
            )
        rolling = not facts["current"] or (
            facts["updated"] < facts["desired"]
            or facts["ready"] < facts["desired"]
            or facts["total"] > facts["desired"]
        )
        if facts["deadline_exceeded"]:
            progressing = _cond(
                PROGRESSING, False, ROLLOUT_FAILED, "The rollout made no progress", gen, now
            )
        elif rolling:
            version = model.version if model else None
            what = f"version {version}" if version else "the model"
            progressing = _cond(
                PROGRESSING,
                True,
                ROLLING_OUT,
                f"Rolling out {what}: {facts['updated']}/{facts['desired']} updated, "
                f"{facts['ready']} ready",
                gen,
                now,
            )
        else:
            progressing = _cond(
                PROGRESSING, False, ROLLOUT_COMPLETE, "All replicas run the pinned model", gen, now
            )

    problems: list[tuple[str, str]] = []
    if res.model is None:
        problems.append((res.reason, res.message))
    if compat.compatible is False:
        problems.append((INCOMPATIBLE, compat.message))
    if facts.get("deadline_exceeded"):
        problems.append((ROLLOUT_FAILED, "The Deployment exceeded its progress deadline"))
    if facts.get("replica_failure"):
        problems.append(("ReplicaFailure", facts["replica_failure_message"]))
    degraded = (
        _cond(DEGRADED, True, problems[0][0], problems[0][1], gen, now)
        if problems
        else _cond(DEGRADED, False, AS_EXPECTED, "", gen, now)
    )

    if suspended and observed.deployment is not None and not problems:
        ready = _cond(READY, False, SUSPENDED, "Suspended: scaled to zero", gen, now)
    else:
        blockers = [
            c
            for c in (resolved, compatible, available, progressing, degraded)
            if (c.type in (MODEL_RESOLVED, AVAILABLE) and c.status != "True")
            or (c.type in (MODEL_COMPATIBLE,) and c.status == "False")
            or (c.type in (PROGRESSING, DEGRADED) and c.status == "True")
        ]
        if blockers:
            first = blockers[0]
            ready = _cond(READY, False, first.reason, first.message, gen, now)
        else:
            ready = _cond(
                READY,
                True,
                READY_REASON,
                f"Serving {model.resolved_uri if model else md.spec.model.uri}",
                gen,
                now,
            )

    listed = [ready, resolved, compatible, available, progressing, degraded]
    if observed.features_fresh is not None:
        # Stale features make predictions worse, not impossible: reported, not blocking Ready.
        listed.append(_cond(FEATURES_FRESH, *observed.features_fresh, gen, now))
    conditions = keep_transition_times(listed, previous.conditions or [])
    last_failure = previous.last_failure
    if problems:
        reason, message = problems[0]
        if last_failure is None or (last_failure.reason, last_failure.message) != (
            reason,
            message,
        ):
            last_failure = Failure(reason=reason, message=message, time=now)
    desired = 0 if suspended else facts.get("desired", 0)
    ready_count = facts.get("ready", 0)
    return ModelDeploymentStatus(
        observed_generation=gen,
        conditions=conditions,
        model=model,
        replicas=desired,
        ready_replicas=ready_count,
        replica_summary=f"{ready_count}/{desired}",
        selector=selector,
        url=url,
        last_failure=last_failure,
    )


def keep_transition_times(new: list[Condition], old: list[Condition]) -> list[Condition]:
    before = {c.type: c for c in old}
    out = []
    for c in new:
        prev = before.get(c.type)
        if prev is not None and prev.status == c.status:
            c = c.model_copy(update={"last_transition_time": prev.last_transition_time})
        out.append(c)
    return out


def condition(status: ModelDeploymentStatus | None, type_: str) -> Condition | None:
    for c in (status.conditions if status else None) or []:
        if c.type == type_:
            return c
    return None
