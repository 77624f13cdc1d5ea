"""Pure: a reconcile that failed -> a Ready=False condition that says why, for every kind."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelops.operator.status.allowlists import PolicyViolation
from modelops.operator.status.conditions import READY, RECONCILING, STALLED, progress
from modelops.operator.status.runs import controller

APPLY_FAILED = "ApplyFailed"
RESOURCE_NOT_OWNED = "ResourceNotOwned"
API_ERROR = "KubernetesApiError"
INVALID_SPEC = "InvalidSpec"
RECONCILE_FAILED = "ReconcileFailed"
POLICY_VIOLATION = "PolicyViolation"
FAILURE_REASONS = (
    APPLY_FAILED,
    RESOURCE_NOT_OWNED,
    API_ERROR,
    INVALID_SPEC,
    RECONCILE_FAILED,
    POLICY_VIOLATION,
)
# Status messages are read in `kubectl describe` and Events: long enough for the apiserver's
# own explanation, short enough not to bloat every watch event.
MESSAGE_LIMIT = 1024


class ApplyError(Exception):
    """The apiserver refused a child object; carries which one and the server's own message."""

    def __init__(self, kind: str, name: str, code: int | None, message: str) -> None:
        super().__init__(f"Could not apply {kind} {name}: {message}")
        self.kind, self.name, self.code, self.server_message = kind, name, code, message


class NotOwnedError(Exception):
    """A child's name is taken by an object this owner does not control: it is left alone."""

    def __init__(self, kind: str, name: str, owner_kind: str, holder: str | None) -> None:
        held = f"controlled by {holder}" if holder else "not controlled by any object"
        super().__init__(
            f"{kind} {name} already exists and is {held}, not by this {owner_kind}; it is left "
            f"untouched: delete or rename it, or rename this {owner_kind}"
        )


def check_owned(current: dict[str, Any] | None, desired: dict[str, Any]) -> None:
    """Raises NotOwnedError unless the object is absent or controlled by the desired owner
    (the same UID): a tenant's own object of the same name is never taken over."""
    if current is None:
        return
    want, have = controller(desired), controller(current)
    if want is not None and have is not None and have.get("uid") == want.get("uid"):
        return
    holder = f"{have.get('kind')} {have.get('name')}" if have else None
    raise NotOwnedError(
        str(desired["kind"]),
        str(desired["metadata"]["name"]),
        str((want or {}).get("kind", "owner")),
        holder,
    )


@dataclass(frozen=True)
class Failure:
    reason: str
    message: str


def server_message(body: Any, fallback: str) -> str:
    """The `message` of a metav1.Status response body, else the fallback."""
    try:
        doc = json.loads(body) if isinstance(body, str | bytes) else body
    except ValueError:
        return fallback
    if isinstance(doc, dict) and doc.get("message"):
        return str(doc["message"])
    return fallback


def describe(exc: BaseException) -> Failure:
    """What a failed pass tells the user: the step that failed and the server's words."""
    if isinstance(exc, ApplyError):
        return Failure(APPLY_FAILED, str(exc)[:MESSAGE_LIMIT])
    if isinstance(exc, NotOwnedError):
        return Failure(RESOURCE_NOT_OWNED, str(exc)[:MESSAGE_LIMIT])
    if isinstance(exc, PolicyViolation):
        return Failure(POLICY_VIOLATION, str(exc)[:MESSAGE_LIMIT])
    status = getattr(exc, "status", None)
    if isinstance(status, int) and hasattr(exc, "body"):
        text = server_message(exc.body, getattr(exc, "reason", "") or "")
        return Failure(API_ERROR, f"Kubernetes API answered {status}: {text}"[:MESSAGE_LIMIT])
    if type(exc).__name__ == "PermanentError":
        return Failure(INVALID_SPEC, str(exc)[:MESSAGE_LIMIT])
    return Failure(RECONCILE_FAILED, f"{type(exc).__name__}: {exc}"[:MESSAGE_LIMIT])


def is_repeat(previous: dict[str, Any] | None, failure: Failure) -> bool:
    """Whether status already reports this very failure (so no second Event for it)."""
    ready = _ready(previous)
    return bool(
        ready
        and ready.get("status") == "False"
        and ready.get("reason") == failure.reason
        and ready.get("message") == failure.message
    )


def status_after_failure(
    previous: dict[str, Any] | None, failure: Failure, generation: int | None, now: datetime
) -> dict[str, Any]:
    """The wire status with Ready=False for the failure; every other field and condition kept,
    lastTransitionTime kept when Ready was already False."""
    status = dict(previous or {})
    stamp = now.isoformat().replace("+00:00", "Z")
    old = _ready(previous)
    ready = {
        "type": "Ready",
        "status": "False",
        "reason": failure.reason,
        "message": failure.message,
        "lastTransitionTime": (
            old["lastTransitionTime"]
            if old and old.get("status") == "False" and old.get("lastTransitionTime")
            else stamp
        ),
        "observedGeneration": generation,
    }
    others = [
        c
        for c in status.get("conditions") or []
        if c.get("type") not in (READY, RECONCILING, STALLED)
    ]
    # A failed pass is stuck or still converging, as its reason says (kstatus reads these).
    type_ = progress("False", failure.reason) or RECONCILING
    kept = next((c for c in status.get("conditions") or [] if c.get("type") == type_), None)
    flagged = {
        **ready,
        "type": type_,
        "status": "True",
        "lastTransitionTime": kept["lastTransitionTime"] if kept else stamp,
    }
    status["conditions"] = [ready, *others, flagged]
    status["observedGeneration"] = generation
    return status


def _ready(status: dict[str, Any] | None) -> dict[str, Any] | None:
    for c in (status or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return dict(c)
    return None
