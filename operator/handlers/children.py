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

_seen: dict[str, str] = {}


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
    uid = ((body or {}).get("metadata") or {}).get("uid")
    if body is not None and uid:
        _seen[uid] = fingerprint(body)


def observe(event_type: str | None, body: Mapping[str, Any]) -> Change:
    """Classify a watch event of a child: `spec` (created by another, edited or deleted: a full
    pass of the owner), `status` (only its status moved) or `none` (first seen in the watch's
    initial listing: the owners' own resume passes look at it)."""
    uid = (body.get("metadata") or {}).get("uid") or ""
    if event_type == "DELETED":
        _seen.pop(uid, None)
        return "spec"
    before, now = _seen.get(uid), fingerprint(body)
    _seen[uid] = now
    if before == now:
        return "status"
    if event_type is None and before is None:
        return "none"
    return "spec"


def forget_all() -> None:
    _seen.clear()
