"""What the operator last saw of each child it watches, to tell a change of what it applied (a
hand edit: re-apply) from a change of status alone (a rollout step, a pod becoming ready: the
owner's status follows and nothing is applied)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Literal

Change = Literal["spec", "status", "none"]
# Written by controllers, not by us: a change of them is not a hand edit.
CONTROLLER_ANNOTATIONS = frozenset({"deployment.kubernetes.io/revision"})

# uid -> (digest, resourceVersion) of the last event or apply seen.
_seen: dict[str, tuple[str, str]] = {}
# uid -> digest of what this operator's own last apply returned: under load the watch brings a
# child's creation before the apply that made it returns, and that echo is no hand edit.
_applied: dict[str, str] = {}


def fingerprint(body: Mapping[str, Any]) -> str:
    """A digest of everything of a child but its status and the server's bookkeeping."""
    meta = body.get("metadata") or {}
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k not in CONTROLLER_ANNOTATIONS
    }
    content = {k: v for k, v in body.items() if k not in ("metadata", "status")}
    kept = [content, meta.get("labels"), annotations, meta.get("ownerReferences")]
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:16]


def remember(body: Mapping[str, Any] | None) -> None:
    """Record a child as this operator just applied it: its own echo is then no hand edit."""
    meta = (body or {}).get("metadata") or {}
    if body is not None and meta.get("uid"):
        digest = fingerprint(body)
        _seen[meta["uid"]] = (digest, str(meta.get("resourceVersion", "")))
        _applied[meta["uid"]] = digest


def as_applied(body: Mapping[str, Any]) -> bool:
    """Whether a child is, but for its status and the server's bookkeeping, exactly what this
    operator's last apply of it returned."""
    uid = (body.get("metadata") or {}).get("uid") or ""
    return uid in _applied and _applied[uid] == fingerprint(body)


def observe(event_type: str | None, body: Mapping[str, Any]) -> Change:
    """Classify a watch event of a child: `spec` (created by another, edited or deleted: a full
    pass of the owner), `status` (only its status moved) or `none` (nothing new: first seen in
    the watch's initial listing, where the owners' own resume passes look at it; the same
    version listed again after the watch lost its place; the echo of our own apply)."""
    meta = body.get("metadata") or {}
    uid, version = meta.get("uid") or "", str(meta.get("resourceVersion", ""))
    if event_type == "DELETED":
        forget(uid)
        return "spec"
    before, digest = _seen.get(uid), fingerprint(body)
    _seen[uid] = (digest, version)
    if before is None:
        return "none" if event_type is None else "spec"
    if before[0] != digest:
        return "spec"
    return "none" if before[1] == version else "status"


def forget(uid: str) -> None:
    _seen.pop(uid, None)
    _applied.pop(uid, None)


def forget_all() -> None:
    _seen.clear()
    _applied.clear()
