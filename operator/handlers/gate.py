"""A fixed number of slots for passes, handed out urgent first, then in arrival order.

A thousand ModelDeployments created together queue a thousand full passes at once. With a
first-come gate, the pass that only records "Ready" for the first of them (its Deployment
became available) waited behind every full pass still queued, so no object turned Ready
until the last one had been created, and then all of them did in one burst."""

from __future__ import annotations

import asyncio
import heapq
import itertools


class Gate:
    def __init__(self, slots: int) -> None:
        self._free = slots
        self._order = itertools.count()
        # (0 urgent | 1 not, arrival, the waiter's future): the smallest is served first.
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []

    @property
    def waiting(self) -> int:
        return sum(1 for *_, f in self._waiting if not f.done())

    async def acquire(self, urgent: bool = False) -> None:
        # A free slot means no one waits: release hands a slot to a waiter before freeing it.
        if self._free > 0:
            self._free -= 1
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (0 if urgent else 1, next(self._order), granted))
        try:
            await granted
        except asyncio.CancelledError:
            # Cancelled after the slot was handed over: pass it on, or it is lost for good.
            if granted.done() and not granted.cancelled():
                self.release()
            raise

    def release(self) -> None:
        while self._waiting:
            *_, granted = heapq.heappop(self._waiting)
            if not granted.done():  # a cancelled waiter is skipped
                granted.set_result(None)
                return
        self._free += 1
