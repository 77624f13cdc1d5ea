"""The micro-batcher: merging, routing results back, isolation of failures, adaptivity."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from modelops.serving_runtime.batching import MicroBatcher
from modelops.serving_runtime.errors import Overloaded
from modelops.serving_runtime.model import ModelOutput


class FakeModel:
    """Scores a row as 10 * first value + 1; refuses rows whose first value is negative.
    Records every call's size and the thread it ran in."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls: list[int] = []
        self.threads: set[int] = set()

    def __call__(self, x: np.ndarray, want_proba: bool) -> ModelOutput:
        self.calls.append(len(x))
        self.threads.add(threading.get_ident())
        if self.delay:
            time.sleep(self.delay)
        if (x[:, 0] < 0).any():
            raise ValueError("negative input")
        proba = np.column_stack([x[:, 0], -x[:, 0]]) if want_proba else None
        return ModelOutput(x[:, 0] * 10 + 1, proba)


@pytest.fixture
def executor() -> ThreadPoolExecutor:
    pool = ThreadPoolExecutor(max_workers=1)
    yield pool  # type: ignore[misc]
    pool.shutdown(wait=True)


async def test_concurrent_requests_share_calls_and_get_their_own_rows(
    executor: ThreadPoolExecutor,
) -> None:
    model = FakeModel(delay=0.005)
    batcher = MicroBatcher(model, max_batch_size=16, max_latency_s=0.002, executor=executor)
    batcher.start()
    inputs = [np.arange(i, i + (i % 3) + 1, dtype=float).reshape(-1, 1) for i in range(60)]
    try:
        outs = await asyncio.gather(*(batcher.submit(x, i % 2 == 0) for i, x in enumerate(inputs)))
    finally:
        await batcher.stop()
    for i, (x, out) in enumerate(zip(inputs, outs, strict=True)):
        assert out.predictions.tolist() == (x[:, 0] * 10 + 1).tolist()
        if i % 2 == 0:
            assert out.probabilities is not None
            assert out.probabilities[:, 0].tolist() == x[:, 0].tolist()
        else:
            assert out.probabilities is None
    assert sum(model.calls) == sum(len(x) for x in inputs)
    assert len(model.calls) < len(inputs) / 2, model.calls  # requests were merged
    assert max(model.calls) <= 16
    assert threading.get_ident() not in model.threads  # never on the event loop's thread


async def test_a_lone_request_does_not_wait_for_the_window(executor: ThreadPoolExecutor) -> None:
    model = FakeModel()
    batcher = MicroBatcher(model, max_batch_size=64, max_latency_s=1.0, executor=executor)
    batcher.start()
    try:
        started = time.monotonic()
        out = await batcher.submit(np.array([[2.0]]), False)
        elapsed = time.monotonic() - started
    finally:
        await batcher.stop()
    assert out.predictions.tolist() == [21.0]
    assert elapsed < 0.5


async def test_a_bad_request_fails_alone(executor: ThreadPoolExecutor) -> None:
    model = FakeModel(delay=0.01)
    batcher = MicroBatcher(model, max_batch_size=64, max_latency_s=0.005, executor=executor)
    batcher.start()
    values = [1.0, 2.0, -1.0, 3.0, 4.0]
    try:
        results = await asyncio.gather(
            *(batcher.submit(np.array([[v]]), False) for v in values), return_exceptions=True
        )
    finally:
        await batcher.stop()
    for v, result in zip(values, results, strict=True):
        if v < 0:
            assert isinstance(result, ValueError)
        else:
            assert isinstance(result, ModelOutput)
            assert result.predictions.tolist() == [v * 10 + 1]


async def test_a_bad_request_is_found_by_halving_not_by_rescoring_every_request(
    executor: ThreadPoolExecutor,
) -> None:
    """A bad row among 32 queued requests costs about 2*log2(32) extra calls; scoring each
    request alone would cost 32, which a stream of bad rows would turn into 32x the load."""
    gate = threading.Event()

    class Gated(FakeModel):
        def __call__(self, x: np.ndarray, want_proba: bool) -> ModelOutput:
            gate.wait(5)
            return super().__call__(x, want_proba)

    model = Gated()
    batcher = MicroBatcher(model, max_batch_size=64, max_latency_s=0.0, executor=executor)
    batcher.start()
    values = [float(v) for v in range(1, 33)]
    values[13] = -1.0
    try:
        first = asyncio.ensure_future(batcher.submit(np.array([[100.0]]), False))
        await asyncio.sleep(0.02)  # the first call holds the model: the 32 queue up behind it
        rest = [asyncio.ensure_future(batcher.submit(np.array([[v]]), False)) for v in values]
        await asyncio.sleep(0.02)
        gate.set()
        await first
        results = await asyncio.gather(*rest, return_exceptions=True)
    finally:
        await batcher.stop()
    for v, result in zip(values, results, strict=True):
        if v < 0:
            assert isinstance(result, ValueError)
        else:
            assert isinstance(result, ModelOutput) and result.predictions.tolist() == [v * 10 + 1]
    assert model.calls[:2] == [1, 32]  # the 32 were one batch
    # 32 -> 16+16 -> 8+8 -> 4+4 -> 2+2 -> 1+1: ten more calls.
    assert len(model.calls) == 2 + 10, model.calls


async def test_rows_beyond_the_queue_limit_are_refused_at_once(
    executor: ThreadPoolExecutor,
) -> None:
    gate = threading.Event()

    class Gated(FakeModel):
        def __call__(self, x: np.ndarray, want_proba: bool) -> ModelOutput:
            gate.wait(5)
            return super().__call__(x, want_proba)

    model = Gated()
    batcher = MicroBatcher(
        model, max_batch_size=64, max_latency_s=0.0, executor=executor, max_queued_rows=4
    )
    batcher.start()
    try:
        running = asyncio.ensure_future(batcher.submit(np.ones((10, 1)), False))  # alone: taken
        await asyncio.sleep(0.02)
        queued = [asyncio.ensure_future(batcher.submit(np.array([[v]]), False)) for v in (1, 2)]
        await asyncio.sleep(0)
        with pytest.raises(Overloaded, match="2 rows are already waiting") as refused:
            await batcher.submit(np.ones((3, 1)), False)
        assert refused.value.status == 503 and refused.value.headers == {"Retry-After": "1"}
        gate.set()
        assert len((await running).predictions) == 10
        assert [(await q).predictions.tolist() for q in queued] == [[11.0], [21.0]]
    finally:
        await batcher.stop()


async def test_an_oversized_request_runs_alone(executor: ThreadPoolExecutor) -> None:
    model = FakeModel(delay=0.01)
    batcher = MicroBatcher(model, max_batch_size=4, max_latency_s=0.002, executor=executor)
    batcher.start()
    big = np.arange(10, dtype=float).reshape(-1, 1)
    try:
        outs = await asyncio.gather(
            batcher.submit(np.array([[1.0]]), False),
            batcher.submit(big, False),
            batcher.submit(np.array([[2.0]]), False),
        )
    finally:
        await batcher.stop()
    assert outs[1].predictions.tolist() == (big[:, 0] * 10 + 1).tolist()
    assert 10 in model.calls
    assert all(n <= 4 for n in model.calls if n != 10)


async def test_a_cancelled_caller_is_skipped(executor: ThreadPoolExecutor) -> None:
    model = FakeModel(delay=0.02)
    batcher = MicroBatcher(model, max_batch_size=64, max_latency_s=0.0, executor=executor)
    batcher.start()
    try:
        first = asyncio.ensure_future(batcher.submit(np.array([[1.0]]), False))
        await asyncio.sleep(0.005)  # the first call is running
        doomed = asyncio.ensure_future(batcher.submit(np.array([[2.0]]), False))
        kept = asyncio.ensure_future(batcher.submit(np.array([[3.0]]), False))
        await asyncio.sleep(0)
        doomed.cancel()
        assert (await first).predictions.tolist() == [11.0]
        assert (await kept).predictions.tolist() == [31.0]
    finally:
        await batcher.stop()
    assert sum(model.calls) == 2


async def test_a_lingering_batcher_scores_requests_spread_over_its_window_in_one_call(
    executor: ThreadPoolExecutor,
) -> None:
    """Requests that never overlap (each arrives after the last) still share a call when the
    batcher lingers: what a shadow's copies need, one call per window instead of per request."""
    model = FakeModel()
    batcher = MicroBatcher(
        model, max_batch_size=8, max_latency_s=0.5, executor=executor, linger=True
    )
    batcher.start()
    try:
        pending = []
        for v in range(8):
            pending.append(asyncio.ensure_future(batcher.submit(np.array([[float(v)]]), False)))
            await asyncio.sleep(0.005)
        outs = await asyncio.gather(*pending)
    finally:
        await batcher.stop()
    assert [o.predictions.tolist() for o in outs] == [[v * 10.0 + 1] for v in range(8)]
    assert model.calls == [8]
