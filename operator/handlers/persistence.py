"""What kopf keeps about each object between events, and where: its diff-base (the object's
essence when its handlers last succeeded) in this process's memory instead of an annotation,
and its progress (only while a handler retries) in annotations without kopf's marker.

kopf's annotation costs one more write of every object per handled change, and one more watch
event back to the operator: a thousand ModelDeployments applied at once cost a thousand
patches nobody reads. In memory it costs nothing, and what memory cannot hold (an operator
restarted, a standby taking the lead, an entry evicted past the bound) is read from the
object's own status: one whose status observed its generation counts as handled as it is
(kopf resumes it), any other is new to kopf (its create handler runs). The one thing lost in
that window is a change of annotations alone, which no generation records: the periodic full
pass (every resync interval) reads annotations again."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

import kopf

# The essences held at most, the oldest first to go (an evicted object falls back to its status).
MEMORY_LIMIT = 10_000


def handled(body: Mapping[str, Any]) -> bool:
    """Whether the object's status observed its current generation: some pass finished it."""
    status = body.get("status")
    generation = (body.get("metadata") or {}).get("generation")
    if not isinstance(status, Mapping) or generation is None:
        return False
    return bool(status.get("observedGeneration") == generation)


class InMemoryDiffBase(kopf.DiffBaseStorage):
    def __init__(self, limit: int = MEMORY_LIMIT) -> None:
        super().__init__()
        self._limit = limit
        # uid -> the essence as compact JSON; "" while kopf's create handlers have not
        # succeeded yet (a retry after a failed first pass is still a creation, although that
        # pass's failure report observed the generation).
        self._essences: dict[str, str] = {}

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        uid = _uid(body)
        held = self._essences.get(uid)
        if held is None:  # first seen by this process: the status says how it was left
            essence = self.build(body=body) if handled(body) else None
            self._keep(uid, "" if essence is None else _encode(essence))
            return essence
        return cast(kopf.BodyEssence, json.loads(held)) if held else None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        self._keep(_uid(body), _encode(essence))

    def forget(self, uid: str) -> None:
        self._essences.pop(uid, None)

    def _keep(self, uid: str, encoded: str) -> None:
        if not uid:
            return
        self._essences.pop(uid, None)  # re-inserted last: the newest
        while len(self._essences) >= self._limit:
            del self._essences[next(iter(self._essences))]
        self._essences[uid] = encoded


def _encode(essence: Mapping[str, Any]) -> str:
    return json.dumps(essence, separators=(",", ":"))


def _uid(body: Mapping[str, Any]) -> str:
    return str((body.get("metadata") or {}).get("uid") or "")


class UnmarkedProgress(kopf.AnnotationsProgressStorage):
    """kopf's progress in annotations (written only while a handler retries), without the
    `<prefix>/kopf-managed` marker kopf adds to every object it first handles: another write
    of each, for other kopf operators to tell our annotations from users' (none share our
    kinds, and this one's own are cleared from its essences by prefix)."""

    def _store_marker(self, prefix: str, patch: kopf.Patch, body: kopf.Body) -> None:
        return


# The one the operator's settings use (handlers forget deleted objects in it).
diffbase = InMemoryDiffBase()
