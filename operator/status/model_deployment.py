"""Pure status policy for ModelDeployments: the registry's answer, the Deployment's state and
the last status -> what to serve, conditions and facts, per API conventions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from modelops.operator.api.base import Condition
from modelops.operator.api.v1alpha1.model_deployment import (
    Failure,
    ModelDeployment,
    ModelDeploymentStatus,
    ResolvedModel,
    RolloutStatus,
)
from modelops.operator.status.conditions import (
    READY,
    SUSPENDED,
    Problem,
    find,
    keep_transition_times,
    make_condition,
    with_progress,
)
from modelops.operator.status.failures import FAILURE_REASONS
from modelops.operator.status.resolution import Compatibility, Resolution
from modelops.operator.status.rollout import ACTIVE

MODEL_RESOLVED = "ModelResolved"
MODEL_COMPATIBLE = "ModelCompatible"
AVAILABLE = "Available"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"
FEATURES_FRESH = "FeaturesFresh"

COMPATIBLE = "Compatible"
INCOMPATIBLE = "Incompatible"
NOT_CHECKED = "NotChecked"
MINIMUM_REPLICAS_AVAILABLE = "MinimumReplicasAvailable"
MINIMUM_REPLICAS_UNAVAILABLE = "MinimumReplicasUnavailable"
DEPLOYMENT_MISSING = "DeploymentMissing"
ROLLING_OUT = "RollingOut"
ROLLOUT_COMPLETE = "RolloutComplete"
ROLLOUT_FAILED = "ProgressDeadlineExceeded"
REPLICA_FAILURE = "ReplicaFailure"
AS_EXPECTED = "AsExpected"
READY_REASON = "ModelServing"


@dataclass(frozen=True)
class Observed:
    resolution: Resolution
    compatibility: Compatibility
    deployment: dict[str, Any] | None
    served: ResolvedModel | None
    """The version the Deployment runs: the resolved one, or the last good one."""
    features_fresh: tuple[bool | None, str, str] | None = None
    """FeaturesFresh (status, reason, message) when the spec uses online features."""
    rollout: RolloutStatus | None = None
    """The current or last rollout."""


# A registry URI naming one version: what it resolves to never changes once resolved.
_PINNED = re.compile(r"^models:/[^/@]+/[0-9]+$")

Periodic = Literal["full", "poll", "none"]


def immutable(uri: str) -> bool:
    """Whether `uri` resolves to the same files for ever: a numbered version, or a URI that
    does not go through the registry (runs:/, s3://). Aliases, stages and latest move."""
    return not uri.startswith("models:/") or _PINNED.match(uri) is not None


def failing(md: ModelDeployment) -> bool:
    """Whether the last pass failed (an apply refused, the API down): Ready names the failure
    until a full pass succeeds, and no status-only pass may paper over it."""
    ready = find(md.status.conditions if md.status else None, READY)
    return ready is not None and ready.reason in FAILURE_REASONS


def settled(md: ModelDeployment) -> bool:
    """Whether the last pass saw this generation of the spec through to Ready (or to a
    suspension asked for) with no rollout in flight: a periodic pass then needs nothing from
    the apiserver. One that reads online features is never settled: its FeatureMaterialization
    changes without its own generation moving."""
    st = md.status
    if st is None or st.observed_generation != md.metadata.get("generation"):
        return False
    if md.spec.features is not None:
        return False
    if st.rollout is not None and st.rollout.phase in ACTIVE:
        return False
    ready = find(st.conditions, READY)
    return ready is not None and (
        ready.status == "True" or (ready.status == "False" and ready.reason == SUSPENDED)
    )


def waiting(md: ModelDeployment) -> bool:
    """Whether the last pass saw this generation through to everything but its Deployment's
    progress (pods starting, a rolling update), with nothing wrong: only the Deployment's own
    status moves it on from there, and its watch brings each change to a status pass."""
    st = md.status
    if st is None or st.observed_generation != md.metadata.get("generation"):
        return False
    if md.spec.features is not None or (st.rollout is not None and st.rollout.phase in ACTIVE):
        return False
    degraded, ready = find(st.conditions, DEGRADED), find(st.conditions, READY)
    return (
        (degraded is None or degraded.status != "True")
        and ready is not None
        and ready.status == "False"
        and ready.reason in (MINIMUM_REPLICAS_UNAVAILABLE, ROLLING_OUT)
    )


def periodic(
    md: ModelDeployment, since_full: float | None, resync_seconds: float, recent: float = 0.0
) -> Periodic:
    """What the periodic pass owes one ModelDeployment: a full pass while it is neither settled
    nor waiting on its Deployment, and once every `resync_seconds` (children are kept by their
    watches in between); else a look at the registry when its URI or its rollout's candidate
    can move; else nothing. A full pass less than `recent` seconds ago stands for whatever an
    unsettled object would owe: the object as the periodic list read it can be older than that
    pass (a thousand created at once are each passed once, by their create handler)."""
    if since_full is None or since_full >= resync_seconds:
        return "full"
    if not (settled(md) or waiting(md)):
        # The recent pass resolved the URI too: no poll of the registry either.
        return "full" if since_full >= recent else "none"
    return "poll" if movable(md) else "none"


def movable(md: ModelDeployment) -> list[str]:
    """The URIs of the spec the registry may resolve differently tomorrow: the model's and the
    rollout's candidate (an alias a training job moves)."""
    uris = [md.spec.model.uri, md.spec.rollout.candidate]
    return [u for u in uris if u is not None and not immutable(u)]


def still_resolved(md: ModelDeployment) -> Resolution | None:
    """The last resolution, when the registry need not be asked again: an immutable URI this
    generation of the spec already resolved."""
    current = pinned(md)
    st = md.status
    if (
        current is None
        or st is None
        or current.uri != md.spec.model.uri
        or not immutable(current.uri)
        or st.observed_generation != md.metadata.get("generation")
    ):
        return None
    prev = find(st.conditions, MODEL_RESOLVED)
    return Resolution(current) if prev is not None and prev.status == "True" else None


def still_compatible(md: ModelDeployment, resolution: Resolution) -> Compatibility | None:
    """The last pre-flight verdict, when it passed for this version and this generation of the
    spec (allowPickle, the skip annotation): no download again. A failed verdict is checked
    again: it depends on what the runtime image ships, which an upgrade changes."""
    current = pinned(md)
    if (
        resolution.model is None
        or current is None
        or current.resolved_uri != resolution.model.resolved_uri
        or md.status is None
        or md.status.observed_generation != md.metadata.get("generation")
    ):
        return None
    compat = previous_compatibility(md)
    return compat if compat.compatible is True else None


# What to serve, decided from status alone (no registry call on child events).


def pinned(md: ModelDeployment) -> ResolvedModel | None:
    """The version already rolled out, which a failed resolution must leave running."""
    return md.status.model if md.status and md.status.model else None


def previous_resolution(md: ModelDeployment) -> Resolution:
    """Without asking the registry, the last resolution still stands."""
    prev = find(md.status.conditions if md.status else None, MODEL_RESOLVED)
    if prev is not None and prev.status == "False":
        return Resolution(None, prev.reason, prev.message)
    return Resolution(pinned(md))


def previous_compatibility(md: ModelDeployment) -> Compatibility:
    prev = find(md.status.conditions if md.status else None, MODEL_COMPATIBLE)
    if prev is None or prev.status == "Unknown":
        return Compatibility(None, prev.message if prev else "")
    return Compatibility(prev.status == "True", prev.message)


def to_serve(
    resolution: Resolution, compat: Compatibility, current: ResolvedModel | None
) -> ResolvedModel | None:
    """The resolved version, unless it cannot be resolved or loaded: then whatever already
    runs stays untouched."""
    if resolution.model is not None and compat.compatible is not False:
        return resolution.model
    return current


def rollout_event(current: ResolvedModel | None, served: ResolvedModel) -> tuple[str, str] | None:
    """The Event (reason, message) that a pass applying `served` deserves, if any."""
    if current is None:
        return "Deployed", f"Deploying {served.resolved_uri}"
    if current.resolved_uri != served.resolved_uri:
        return "RolledOut", f"Rolling out {served.resolved_uri} (was {current.resolved_uri})"
    return None


# Facts read off the Deployment, then one small policy per condition.


@dataclass(frozen=True)
class DeploymentFacts:
    desired: int = 0
    ready: int = 0
    updated: int = 0
    available: int = 0
    total: int = 0
    current: bool = True
    deadline_exceeded: bool = False
    replica_failure: str | None = None

    @property
    def rolling(self) -> bool:
        return not self.current or (
            self.updated < self.desired or self.ready < self.desired or self.total > self.desired
        )


def deployment_facts(dep: dict[str, Any], floor: int = 0) -> DeploymentFacts:
    """`floor`: the fewest replicas that count as rolled out, whatever the Deployment asks
    (an HPA's minReplicas: the Deployment starts at 1 until the HPA's first sync scales it)."""
    spec, st = dep.get("spec", {}), dep.get("status", {})
    conds = {c["type"]: c for c in st.get("conditions", [])}
    failure = conds.get("ReplicaFailure", {})
    return DeploymentFacts(
        desired=max(spec.get("replicas", 1), floor),
        ready=st.get("readyReplicas", 0),
        updated=st.get("updatedReplicas", 0),
        available=st.get("availableReplicas", 0),
        total=st.get("replicas", 0),
        current=st.get("observedGeneration", 0) >= dep["metadata"].get("generation", 0),
        deadline_exceeded=conds.get("Progressing", {}).get("reason") == ROLLOUT_FAILED,
        replica_failure=failure.get("message", "") if failure.get("status") == "True" else None,
    )


Verdict = tuple[bool | None, str, str]  # status, reason, message of one condition


def resolved_verdict(res: Resolution) -> Verdict:
    if res.model is None:
        return False, res.reason, res.message
    return True, res.reason, res.message or f"Resolved {res.model.uri} to {res.model.resolved_uri}"


def compatible_verdict(compat: Compatibility) -> Verdict:
    reason = {True: COMPATIBLE, False: INCOMPATIBLE, None: NOT_CHECKED}[compat.compatible]
    return compat.compatible, reason, compat.message


def available_verdict(facts: DeploymentFacts | None, suspended: bool) -> Verdict:
    if facts is None:
        return False, DEPLOYMENT_MISSING, "No Deployment yet"
    if suspended:
        return False, SUSPENDED, "spec.suspend is true"
    counts = f"{facts.ready}/{facts.desired} replicas ready"
    if facts.available >= 1 and facts.ready >= 1:
        return True, MINIMUM_REPLICAS_AVAILABLE, counts
    return False, MINIMUM_REPLICAS_UNAVAILABLE, counts


ROLLOUT_IN_PROGRESS = "RolloutInProgress"
ROLLOUT_ENDED = {"RolledBack": "RolloutRolledBack", "Failed": "RolloutFailed"}


def progressing_verdict(
    facts: DeploymentFacts | None,
    res: Resolution,
    served: ResolvedModel | None,
    rollout: RolloutStatus | None = None,
) -> Verdict:
    if rollout is not None and rollout.phase in ("Validating", "Progressing", "Paused"):
        what = f"{rollout.strategy} of version {rollout.candidate_version} ({rollout.summary})"
        return True, ROLLOUT_IN_PROGRESS, f"{what}: {rollout.message}"
    if facts is None:
        return res.model is not None, DEPLOYMENT_MISSING, "Creating Deployment"
    if facts.deadline_exceeded:
        return False, ROLLOUT_FAILED, "The rollout made no progress"
    if facts.rolling:
        what = f"version {served.version}" if served and served.version else "the model"
        return (
            True,
            ROLLING_OUT,
            f"Rolling out {what}: {facts.updated}/{facts.desired} updated, {facts.ready} ready",
        )
    return False, ROLLOUT_COMPLETE, "All replicas run the pinned model"


def problems(
    res: Resolution,
    compat: Compatibility,
    facts: DeploymentFacts | None,
    rollout: RolloutStatus | None = None,
) -> list[Problem]:
    """What is wrong, most fundamental first: Degraded names the first."""
    found: list[Problem] = []
    if rollout is not None and rollout.phase in ROLLOUT_ENDED:
        # The stable version serves, but not the version the registry asked for: Degraded
        # until a new candidate starts a rollout of its own.
        found.append(
            (
                ROLLOUT_ENDED[rollout.phase],
                f"version {rollout.candidate_version} {rollout.phase}: {rollout.message}",
            )
        )
    if res.model is None:
        found.append((res.reason, res.message))
    if compat.compatible is False:
        found.append((INCOMPATIBLE, compat.message))
    if facts is not None and facts.deadline_exceeded:
        found.append((ROLLOUT_FAILED, "The Deployment exceeded its progress deadline"))
    if facts is not None and facts.replica_failure is not None:
        found.append((REPLICA_FAILURE, facts.replica_failure))
    return found


def _blocks_ready(c: Condition) -> bool:
    if c.type in (MODEL_RESOLVED, AVAILABLE):
        return c.status != "True"
    if c.type == MODEL_COMPATIBLE:
        return c.status == "False"
    return c.type in (PROGRESSING, DEGRADED) and c.status == "True"


def ready_verdict(
    md: ModelDeployment,
    others: list[Condition],
    found: list[Problem],
    has_deployment: bool,
    served: ResolvedModel | None,
) -> Verdict:
    if md.spec.suspend and has_deployment and not found:
        return False, SUSPENDED, "Suspended: scaled to zero"
    blocker = next((c for c in others if _blocks_ready(c)), None)
    if blocker is not None:
        return False, blocker.reason, blocker.message
    return True, READY_REASON, f"Serving {served.resolved_uri if served else md.spec.model.uri}"


def last_failure(previous: Failure | None, found: list[Problem], now: datetime) -> Failure | None:
    """The newest distinct problem, stamped when it first appeared."""
    if not found:
        return previous
    reason, message = found[0]
    if previous is not None and (previous.reason, previous.message) == (reason, message):
        return previous
    return Failure(reason=reason, message=message, time=now)


def replica_floor(md: ModelDeployment) -> int:
    """An HPA's minReplicas: not Ready, nor rolled out, below it."""
    scaling = md.spec.autoscaling
    return 0 if scaling is None or md.spec.suspend else scaling.min_replicas


def compute_status(
    md: ModelDeployment, observed: Observed, now: datetime, url: str, selector: str
) -> ModelDeploymentStatus:
    """The whole status, with lastTransitionTime kept for conditions whose status is unchanged."""
    gen = md.metadata.get("generation")
    previous = md.status or ModelDeploymentStatus()
    res, compat, served = observed.resolution, observed.compatibility, observed.served
    facts = (
        deployment_facts(observed.deployment, replica_floor(md))
        if observed.deployment is not None
        else None
    )

    def cond(type_: str, verdict: Verdict) -> Condition:
        return make_condition(type_, *verdict, gen, now)

    found = problems(res, compat, facts, observed.rollout)
    degraded = cond(DEGRADED, (True, *found[0]) if found else (False, AS_EXPECTED, ""))
    others = [
        cond(MODEL_RESOLVED, resolved_verdict(res)),
        cond(MODEL_COMPATIBLE, compatible_verdict(compat)),
        cond(AVAILABLE, available_verdict(facts, md.spec.suspend)),
        cond(PROGRESSING, progressing_verdict(facts, res, served, observed.rollout)),
        degraded,
    ]
    ready = cond(READY, ready_verdict(md, others, found, facts is not None, served))
    listed = [ready, *others]
    if observed.features_fresh is not None:
        # Stale features make predictions worse, not impossible: reported, not blocking Ready.
        listed.append(cond(FEATURES_FRESH, observed.features_fresh))
    desired = 0 if md.spec.suspend or facts is None else facts.desired
    ready_count = facts.ready if facts else 0
    return ModelDeploymentStatus(
        observed_generation=gen,
        conditions=keep_transition_times(
            with_progress(listed, gen, now), previous.conditions or []
        ),
        model=served,
        replicas=desired,
        ready_replicas=ready_count,
        replica_summary=f"{ready_count}/{desired}",
        selector=selector,
        url=url,
        last_failure=last_failure(previous.last_failure, found, now),
        rollout=observed.rollout,
    )


def features_fresh(ref: str, fm: dict[str, Any] | None) -> tuple[bool | None, str, str]:
    """FeaturesFresh from the FeatureMaterialization the spec names (its Stale condition)."""
    if fm is None:
        return False, "MaterializationNotFound", f"FeatureMaterialization {ref} not found"
    stale = next(
        (c for c in (fm.get("status") or {}).get("conditions") or [] if c["type"] == "Stale"),
        None,
    )
    if stale is None or stale["status"] == "Unknown":
        return None, "NotMaterializedYet", f"{ref} has not materialized anything yet"
    if stale["status"] == "True":
        return False, "FeaturesStale", f"{ref}: {stale.get('message', '')}"
    return True, "Fresh", f"{ref}: {stale.get('message', '')}"
