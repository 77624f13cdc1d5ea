"""One reconcile at a time per object, whatever triggered it."""

from __future__ import annotations

import asyncio

# Timers, spec changes and child events would otherwise race, and a pass working from a
# stale status could undo a newer one (roll a version back, drop a recorded run).
_locks: dict[tuple[str, str, str], asyncio.Lock] = {}


def lock_for(kind: str, namespace: str, name: str) -> asyncio.Lock:
    return _locks.setdefault((kind, namespace, name), asyncio.Lock())


def forget(kind: str, namespace: str, name: str) -> None:
    _locks.pop((kind, namespace, name), None)
