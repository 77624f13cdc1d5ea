"""The periodic pass over every resource of a kind: re-resolve aliases, restore drifted children,
re-evaluate staleness. Our own loop, not kopf timers: a kopf timer puts a finalizer on each
object, and a finalizer outlives the operator (deleting a resource or its namespace would hang
while the operator is down). The loop holds nothing on the objects, and pauses like kopf's own
handlers while a peer of higher priority works."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kopf

from modelops.operator.clients import kube
from modelops.operator.handlers import scaffold
from modelops.operator.resources.common import outside
from modelops.operator.settings import get_settings

# pass(namespace, name, logger, the object as the periodic list read it (None: not listed))
Pass = Callable[[str, str, logging.Logger, dict[str, Any] | None], Awaitable[None]]
log = logging.getLogger(__name__)
# At most this many passes of one kind at once: a thousand resources do not take a thousand
# registry calls in the same second, nor one after another for minutes.
CONCURRENCY = 8
# Each object's pass comes at its own offset into the interval (a stable hash of its name, up to
# this share of the interval): a thousand passes spread over the minute, not all at its start.
SPREAD = 0.8
SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass(frozen=True)
class Resync:
    kind: str
    interval: float
    run: Pass


_registered: list[Resync] = []


def every(kind: str, interval: float) -> Callable[[Pass], Pass]:
    """Register `run` to be called for every object of `kind` each `interval` seconds."""

    def register(run: Pass) -> Pass:
        _registered.append(Resync(kind, interval, run))
        return run

    return register


def peering_paths(name: str, clusterwide: bool, namespaces: list[str]) -> list[str]:
    """Where kopf's peering objects live: one cluster-wide, or one in each served namespace
    (the pod's own when none is named)."""
    if clusterwide:
        return [f"/apis/kopf.dev/v1/clusterkopfpeerings/{name}"]
    if not namespaces or any(is_pattern(ns) for ns in namespaces):
        namespaces = [SA_NAMESPACE.read_text().strip() if SA_NAMESPACE.exists() else "default"]
    return [f"/apis/kopf.dev/v1/namespaces/{ns}/kopfpeerings/{name}" for ns in namespaces]


def outranked(peering: dict[str, Any] | None, priority: int, now: datetime) -> bool:
    """Whether a live peer has a higher priority: kopf pauses this replica's handlers then, and
    the loop pauses with them."""
    for peer in ((peering or {}).get("status") or {}).values():
        if not isinstance(peer, dict) or "lastseen" not in peer:
            continue
        try:
            seen = datetime.fromisoformat(str(peer["lastseen"]))
            alive = (now - seen).total_seconds() < float(peer.get("lifetime", 60))
            if alive and int(peer.get("priority", 0)) > priority:
                return True
        except (ValueError, TypeError):
            continue
    return False


def is_pattern(namespace: str) -> bool:
    return any(c in namespace for c in "*?!,")


def lists(namespaces: list[str], excluded: list[str]) -> list[str | None]:
    """The namespaces to list (None: all of them) for what kopf serves: the named ones, or all
    when kopf serves all or a pattern."""
    if not namespaces or any(is_pattern(ns) for ns in namespaces):
        return [None]
    return [ns for ns in namespaces if ns not in excluded]


def served(namespace: str, namespaces: list[str]) -> bool:
    """Whether kopf serves the namespace, by kopf's own reading of its `--namespace` globs."""
    # kopf's matcher, so that the periodic pass covers exactly what its watches do.
    from kopf._cogs.structs.references import NamespaceName, match_namespace

    return not namespaces or any(match_namespace(NamespaceName(namespace), p) for p in namespaces)


@dataclass
class _Passes:
    """One kind's passes in flight: an object whose pass outlasts the interval (a registry
    timing out) is skipped at the next tick and holds back no other object's pass."""

    gate: asyncio.Semaphore
    running: dict[tuple[str, str], asyncio.Task[None]]


def offset(namespace: str, name: str, interval: float) -> float:
    """Where in the interval an object's pass comes: the same place every tick."""
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 * interval * SPREAD


async def _tick(job: Resync, passes: _Passes, namespaces: list[str], excluded: list[str]) -> None:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for ns in lists(namespaces, excluded):
        listed = await asyncio.to_thread(kube.list_all, job.kind, ns, outside(excluded))
        for item in listed:
            meta = item["metadata"]
            if served(meta["namespace"], namespaces):
                found[(meta["namespace"], meta["name"])] = item

    async def one(namespace: str, name: str, item: dict[str, Any]) -> None:
        await asyncio.sleep(offset(namespace, name, job.interval))
        async with passes.gate:
            try:
                await job.run(namespace, name, log, item)
            except Exception:  # one object's failure must not stop the others' passes
                log.exception(f"Resync of {job.kind} {namespace}/{name} failed")

    def done(key: tuple[str, str]) -> Callable[[asyncio.Task[None]], None]:
        def forget(_: asyncio.Task[None]) -> None:
            passes.running.pop(key, None)

        return forget

    for key, item in found.items():
        if key not in passes.running:
            task = asyncio.create_task(one(*key, item))
            passes.running[key] = task
            task.add_done_callback(done(key))
    log.debug(f"Resync of {len(found)} {job.kind}(s), {len(passes.running)} in flight")


# With peering: the peering object this replica's keep-alives go to, and its priority.
_peering: tuple[str, int] | None = None


async def standing_by() -> bool:
    """Whether a live peer outranks this replica now. kopf pauses its handlers then; the tasks
    of our own (the periodic passes, a rollout's follow-ups) must pause with them, or a replica
    that lost the lead would go on driving objects beside the one that has it."""
    if _peering is None:
        return False
    path, priority = _peering
    body = await asyncio.to_thread(kube.get_raw, path)
    return outranked(body, priority, datetime.now(UTC))


async def _loop(job: Resync) -> None:
    passes = _Passes(asyncio.Semaphore(CONCURRENCY), {})
    await asyncio.sleep(min(5.0, job.interval))
    try:
        while True:
            try:
                if not await standing_by():
                    ours = get_settings()
                    await _tick(job, passes, ours.namespaces, ours.excluded_namespaces)
            except Exception:  # the API is down: the next tick tries again
                log.exception(f"Resync of {job.kind} failed")
            await asyncio.sleep(job.interval)
    finally:
        for task in list(passes.running.values()):
            task.cancel()


_tasks: list[asyncio.Task[None]] = []


@kopf.on.startup()
async def start_resync(settings: kopf.OperatorSettings, **_: Any) -> None:
    global _peering
    if not settings.peering.standalone:
        # Every replica runs with one priority in every namespace: the first object tells.
        paths = peering_paths(
            settings.peering.name, settings.peering.clusterwide, get_settings().namespaces
        )
        _peering = (paths[0], settings.peering.priority)
    _tasks.extend(asyncio.create_task(_loop(job)) for job in _registered)


@kopf.on.cleanup()
async def stop_resync(**_: Any) -> None:
    everything = [*_tasks, *_soon.values()]
    for task in everything:
        task.cancel()
    for task in everything:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    _tasks.clear()
    _soon.clear()


_soon: dict[tuple[str, str, str], asyncio.Task[None]] = {}


def soon(kind: str, namespace: str, name: str, delay: float, run: Pass) -> None:
    """One more pass of one object after `delay` (a rollout's next look), unless one is due."""
    key = (kind, namespace, name)
    pending = _soon.get(key)
    if pending is not None and not pending.done():
        return

    async def later() -> None:
        await asyncio.sleep(delay)
        _soon.pop(key, None)
        try:
            if await standing_by():
                return  # the replica that leads now drives the object
            await run(namespace, name, log, None)
        except Exception:
            log.exception(f"Follow-up pass of {kind} {namespace}/{name} failed")

    # The caller may be a pass holding one of scaffold's slots: the follow-up takes its own.
    _soon[key] = asyncio.get_running_loop().create_task(later(), context=scaffold.detached())
