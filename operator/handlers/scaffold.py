"""What every kind's reconcile shares: one pass at a time per object from a fresh read,
nothing for objects being deleted, status written only when it changed, failures in status."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import kopf
from pydantic import BaseModel

from modelops.operator import metrics
from modelops.operator.clients import kube
from modelops.operator.handlers import events, locks, parsing
from modelops.operator.handlers.gate import Gate
from modelops.operator.status import failures
from modelops.operator.status.patch import merge_patch

Pass = Callable[[dict[str, Any]], Awaitable[None]]
M = TypeVar("M", bound=BaseModel)
log = logging.getLogger(__name__)
# Passes at work at once, over every object: a thousand objects created together are worked
# through in turn (each finishing early, memory held for a few), not all held half done.
CONCURRENCY = 16
_gate: Gate | None = None
_holding: contextvars.ContextVar[bool] = contextvars.ContextVar("holding", default=False)
# The body the pass works from when it did not read it (scaffold.reconcile's `known`).
_conditional: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "conditional", default=None
)


def detached() -> contextvars.Context:
    """The caller's context (kopf's own variables kept) for a task that must take a slot of
    its own: a follow-up scheduled from within a pass does not run inside that pass."""
    context = contextvars.copy_context()
    context.run(_holding.set, False)
    return context


@asynccontextmanager
async def _slot(urgent: bool = False) -> AsyncIterator[None]:
    """One of the CONCURRENCY slots, `urgent` ones handed out first; a pass that starts
    another (a result recorded from within a pass) reuses its own."""
    global _gate
    if _holding.get():
        yield
        return
    if _gate is None:
        _gate = Gate(CONCURRENCY)
    await _gate.acquire(urgent)
    token = _holding.set(True)
    try:
        yield
    finally:
        _holding.reset(token)
        _gate.release()


def now() -> datetime:
    # metav1.Time has second precision; finer stamps would rewrite status on every pass.
    return datetime.now(UTC).replace(microsecond=0)


async def reconcile(
    kind: str,
    namespace: str,
    name: str,
    work: Pass,
    urgent: bool = False,
    known: Callable[[], dict[str, Any] | None] | None = None,
) -> None:
    """Run `work` on a fresh read of the object under its lock. Works from what is stored,
    never from the (possibly older) body of the event that triggered the pass. An `urgent`
    pass (a short one that only brings status up to date) is let in before waiting full ones.
    `known` offers the newest body this process has seen instead of a read: the pass's status
    write is then conditional on that body's status and generation (on its version when it
    has no status yet), and the pass runs again on a fresh read if the object has moved on
    since."""
    async with locks.lock_for(kind, namespace, name), _slot(urgent):
        body = known() if known is not None else None
        token = _conditional.set(body)
        try:
            if body is None:
                body = await asyncio.to_thread(kube.get, kind, namespace, name)
            if body is None or body["metadata"].get("deletionTimestamp"):
                locks.forget(kind, namespace, name)
                metrics.forget(kind, namespace, name)
                return
            await _run(kind, body, work)
        finally:
            _conditional.reset(token)


def read_first() -> None:
    """Called before a pass acts on anything but status: one working from a body it did not
    read starts again on a fresh read (a rollout step decided from an older status would undo
    a newer one until the pass's conditional status write found out). A body with no status
    yet is the exception: no pass decided anything from it that this one could undo."""
    body = _conditional.get()
    if body is not None and "status" in body:
        raise kube.Conflict("a pass that acts on children works from a fresh read")


async def _run(kind: str, body: dict[str, Any], work: Pass) -> None:
    try:
        try:
            await work(body)
        except kube.Conflict:  # the body offered was older than the stored one
            _conditional.set(None)
            meta = body["metadata"]
            again = await asyncio.to_thread(kube.get, kind, meta["namespace"], meta["name"])
            if again is None or again["metadata"].get("deletionTimestamp"):
                return
            body = again
            await work(body)
    except kopf.TemporaryError:
        raise  # the pass already put the reason in status (the registry is down)
    except Exception as exc:
        # Reported, not raised: kopf would post an Event for every retry, and each kind's
        # timer retries anyway. The status says why until a pass succeeds.
        await report_failure(kind, body, failures.describe(exc))


@asynccontextmanager
async def fresh(
    kind: str, model: type[M], namespace: str, name: str
) -> AsyncIterator[tuple[dict[str, Any], M] | None]:
    """The stored object, raw and typed (None when gone), read under its lock and held until
    the block ends: a job result is recorded against the newest status, never a stale one."""
    async with locks.lock_for(kind, namespace, name), _slot():
        body = await asyncio.to_thread(kube.get, kind, namespace, name)
        yield None if body is None else (body, parsing.parse(model, body))


async def report_failure(kind: str, body: dict[str, Any], failure: failures.Failure) -> None:
    """Ready=False naming the failure, and one Warning Event per distinct failure."""
    meta = body["metadata"]
    previous = body.get("status")
    # The module logger, not kopf's per-object one, which would post each line as an Event.
    log.warning(
        f"Could not reconcile {kind} {meta['namespace']}/{meta['name']}: "
        f"{failure.reason}: {failure.message}"
    )
    metrics.record_ready(kind, meta["namespace"], meta["name"], None)  # a failed pass: 0
    if failures.is_repeat(previous, failure):
        return
    status = failures.status_after_failure(previous, failure, meta.get("generation"), now())
    try:
        await asyncio.to_thread(kube.patch_status, kind, meta["namespace"], meta["name"], status)
    except Exception as exc:  # the apiserver may be what failed: the log keeps the reason
        log.warning(f"Could not record the failure in status: {exc}")
        return
    events.warn(body, failure.reason, failure.message)


async def write_status(
    kind: str,
    meta: dict[str, Any],
    old: dict[str, Any],
    new: dict[str, Any],
) -> dict[str, Any] | None:
    """Write status when it changed (an unchanged status costs no write, no watch event): a
    merge patch with null for what the new status no longer has, or, for a pass working from a
    body it did not read, a whole replacement conditional on that body's status and generation
    (a merge patch conditional on its version when it had no status; kube.Conflict if they
    moved on). The object as written, if written."""
    # Every pass, changed or not: a restarted operator reports each resource it resumes.
    metrics.record_ready(kind, meta["namespace"], meta["name"], new)
    if new == old:
        return None
    ns, name, known = meta["namespace"], meta["name"], _conditional.get()
    if known is not None and isinstance(known.get("status"), dict):
        generation = known["metadata"].get("generation")
        return await asyncio.to_thread(
            kube.replace_status_if, kind, ns, name, new, generation, known["status"]
        )
    # A body with no status yet (a creation's) bounds the write by its version: a status
    # written since (a failure report) would otherwise keep what this patch does not null.
    version = None if known is None else known["metadata"].get("resourceVersion")
    return await asyncio.to_thread(
        kube.patch_status, kind, ns, name, merge_patch(old, new), version
    )
