"""metav1.Condition helpers and the reasons every kind shares."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Literal, TypeVar

from modelops.operator.api.base import Condition

READY = "Ready"
LAST_RUN_SUCCEEDED = "LastRunSucceeded"
# kstatus's conditions (Flux's health checks, cli-utils, kpt): present only while True.
RECONCILING = "Reconciling"
STALLED = "Stalled"

# Reasons, CamelCase as the conventions want; one place so tests and Lua health checks agree.
SCHEDULED = "Scheduled"
SUSPENDED = "Suspended"
NO_RUN_YET = "NoRunYet"
SUCCEEDED = "Succeeded"
RUN_FAILED = "RunFailed"

# A policy looks at its input and names a problem (reason, message), or None when it holds:
# cert-manager's policy chains, where the first problem in order decides.
Problem = tuple[str, str]
T = TypeVar("T")


def first_problem(checks: Sequence[Callable[[T], Problem | None]], subject: T) -> Problem | None:
    for check in checks:
        problem = check(subject)
        if problem is not None:
            return problem
    return None


# One condition's (status, reason, message); a status of None is Unknown.
Verdict = tuple[bool | None, str, str]


def last_run_verdict(finished: bool, error: str | None, success: str) -> Verdict:
    """LastRunSucceeded of the scheduled kinds."""
    if not finished:
        return None, NO_RUN_YET, "No run has finished yet"
    if error:
        return False, RUN_FAILED, error
    return True, SUCCEEDED, success


def scheduled_ready(problems: list[Problem | None], suspended: bool, schedule: str) -> Verdict:
    """Ready of the scheduled kinds: the first problem, else scheduling (or suspended)."""
    first = next((p for p in problems if p is not None), None)
    if first is not None:
        return False, *first
    if suspended:
        return True, SUSPENDED, "Scheduling is suspended"
    return True, SCHEDULED, schedule


def last_run_problem(error: str | None) -> Problem | None:
    return (RUN_FAILED, f"The last run failed: {error}") if error else None


def make_condition(
    type_: str, ok: bool | None, reason: str, message: str, generation: int | None, now: datetime
) -> Condition:
    """A metav1.Condition; None means Unknown."""
    status: Literal["True", "False", "Unknown"] = (
        "Unknown" if ok is None else ("True" if ok else "False")
    )
    return Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=now,
        observed_generation=generation,
    )


# Ready reasons that waiting will not mend: the spec, the registry or the cluster must change
# (kstatus: Failed; the Argo CD checks say Degraded for the same). Every other reason of a
# Ready that is not True is work in progress: a registry or an apiserver that does not answer,
# pods starting, a rollout's steps.
STALLED_REASONS = frozenset(
    {
        "InvalidSpec",
        "PolicyViolation",
        "ApplyFailed",
        "ReconcileFailed",
        "ResourceNotOwned",
        "ModelNotFound",
        "Incompatible",
        "ProgressDeadlineExceeded",
        "RolloutFailed",
        "TargetNotFound",
        RUN_FAILED,
        "MaxStalenessExceeded",
    }
)


def progress(ready_status: str, reason: str) -> str | None:
    """Which of Reconciling and Stalled a Ready of this status and reason implies, if any: none
    while Ready is True or suspended on purpose."""
    if ready_status == "True" or reason == SUSPENDED:
        return None
    return STALLED if reason in STALLED_REASONS else RECONCILING


def with_progress(
    conditions: list[Condition], generation: int | None, now: datetime
) -> list[Condition]:
    """`conditions` (Ready among them) plus Reconciling or Stalled as Ready implies, with Ready's
    reason and message, so kstatus tells a resource still converging from one stuck for good
    (it reads a bare Ready=False as in progress until its timeout)."""
    ready = find(conditions, READY)
    kept = [c for c in conditions if c.type not in (RECONCILING, STALLED)]
    type_ = progress(ready.status, ready.reason) if ready is not None else None
    if ready is None or type_ is None:
        return kept
    return [*kept, make_condition(type_, True, ready.reason, ready.message, generation, now)]


def keep_transition_times(new: list[Condition], old: list[Condition]) -> list[Condition]:
    """lastTransitionTime moves only when a condition's status does."""
    before = {c.type: c for c in old}
    out = []
    for c in new:
        prev = before.get(c.type)
        if prev is not None and prev.status == c.status:
            c = c.model_copy(update={"last_transition_time": prev.last_transition_time})
        out.append(c)
    return out


def find(conditions: list[Condition] | None, type_: str) -> Condition | None:
    for c in conditions or []:
        if c.type == type_:
            return c
    return None
