"""gate.Gate: no more holders than slots; urgent waiters served before earlier plain ones;
a cancelled waiter neither takes nor loses a slot."""

from __future__ import annotations

import asyncio

import pytest

from modelops.operator.handlers.gate import Gate


async def hold(
    gate: Gate, name: str, urgent: bool, order: list[str], release: asyncio.Event
) -> None:
    await gate.acquire(urgent)
    order.append(name)
    await release.wait()
    gate.release()


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_waiters_beyond_the_slots_wait_and_urgent_ones_go_first() -> None:
    gate, order, release = Gate(2), [], asyncio.Event()
    tasks = [asyncio.create_task(hold(gate, n, False, order, release)) for n in ("a", "b")]
    await settle()
    tasks += [asyncio.create_task(hold(gate, n, False, order, release)) for n in ("c", "d")]
    await settle()
    tasks.append(asyncio.create_task(hold(gate, "urgent", True, order, release)))
    await settle()
    assert order == ["a", "b"] and gate.waiting == 3
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["a", "b", "urgent", "c", "d"]
    assert gate.waiting == 0


async def test_a_cancelled_waiter_is_skipped_and_the_slot_goes_on() -> None:
    gate = Gate(1)
    await gate.acquire()
    waiter = asyncio.create_task(gate.acquire())
    await settle()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    gate.release()
    # The slot is free again: taken at once, and only once.
    await asyncio.wait_for(gate.acquire(), 1)
    blocked = asyncio.create_task(gate.acquire())
    await settle()
    assert not blocked.done()
    blocked.cancel()


async def test_a_waiter_cancelled_after_its_grant_hands_the_slot_on() -> None:
    gate = Gate(1)
    await gate.acquire()
    first = asyncio.create_task(gate.acquire())
    second = asyncio.create_task(gate.acquire())
    await settle()
    gate.release()  # granted to `first`, which is cancelled before it runs again
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 1)
