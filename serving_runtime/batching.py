"""Adaptive micro-batching: concurrent requests share one model call, run off the event loop."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelops.serving_runtime.errors import Overloaded
from modelops.serving_runtime.model import ModelInput, ModelOutput

log = logging.getLogger("modelops.serving_runtime.batching")

ModelCall = Callable[[ModelInput, bool], ModelOutput]
Observer = Callable[[int, float], None]
"""Told (rows, seconds) after each model call."""


@dataclass(eq=False)
class _Job:
    x: ModelInput
    rows: int
    want_proba: bool
    future: asyncio.Future[ModelOutput]
    enqueued: float


def concat_inputs(parts: list[ModelInput]) -> ModelInput:
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts, axis=0)
    import pandas as pd

    return pd.concat(parts, ignore_index=True)


def slice_output(values: Any, start: int, stop: int) -> Any:
    if values is None:
        return None
    if hasattr(values, "iloc"):
        part = values.iloc[start:stop]
        return part.reset_index(drop=True)
    return values[start:stop]


def output_rows(values: Any) -> int | None:
    try:
        return len(values)
    except TypeError:
        return None


def run_call(call: ModelCall, x: ModelInput, want_proba: bool, observe: Observer | None) -> Any:
    started = time.perf_counter()
    try:
        return call(x, want_proba)
    finally:
        if observe is not None:
            observe(len(x), time.perf_counter() - started)


class MicroBatcher:
    """Merges requests queued at the same time into one model call of at most
    `max_batch_size` rows, and routes each slice of the results back to its caller.

    Adaptive: a lone request is dispatched at once. Only when several are already waiting
    (evidence of concurrent load) does the batch wait, at most `max_latency` after its first
    request arrived, for more to fill it. One model call runs at a time, in `executor`, so
    requests that arrive during a call form the next batch without any waiting at all.

    With `linger`, even a lone request waits out the window: for work nobody waits on (a
    shadow's copies), where one call per window instead of one per request is the point.
    """

    def __init__(
        self,
        call: ModelCall,
        *,
        max_batch_size: int,
        max_latency_s: float,
        executor: Executor,
        observe: Observer | None = None,
        max_queued_rows: int | None = None,
        linger: bool = False,
    ) -> None:
        self._call = call
        self.linger = linger
        self.max_queued_rows = max_queued_rows
        self.max_batch_size = max_batch_size
        self.max_latency_s = max_latency_s
        self._executor = executor
        self._observe = observe
        self._queue: deque[_Job] = deque()
        self._queued_rows = 0
        self._wakeup = asyncio.Event()
        self._full = asyncio.Event()
        self._room = max_batch_size  # rows the forming batch can still take
        self._inflight: list[_Job] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="micro-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        for job in [*self._inflight, *self._queue]:
            if not job.future.done():
                job.future.cancel()
        self._queue.clear()
        self._inflight = []

    async def submit(self, x: ModelInput, want_proba: bool) -> ModelOutput:
        """The model's output for x, scored with whatever else is queued. Raises Overloaded
        when max_queued_rows are already waiting (a request is always taken when none are,
        however large)."""
        limit = self.max_queued_rows
        if limit is not None and self._queued_rows and self._queued_rows + len(x) > limit:
            raise Overloaded(
                f"{self._queued_rows} rows are already waiting to be scored (the limit is "
                f"{limit}): retry shortly",
                queued_rows=self._queued_rows,
            )
        loop = asyncio.get_running_loop()
        job = _Job(x, len(x), want_proba, loop.create_future(), loop.time())
        self._queue.append(job)
        self._queued_rows += job.rows
        self._wakeup.set()
        if self._queued_rows >= self._room:
            self._full.set()
        return await job.future

    def _take(self, batch: list[_Job], rows: int) -> int:
        """Move queued jobs into the batch while they fit (a first oversized job runs alone)."""
        queue = self._queue
        while queue and (rows + queue[0].rows <= self.max_batch_size or not batch):
            job = queue.popleft()
            self._queued_rows -= job.rows
            if job.future.done():  # the caller went away while it waited
                continue
            batch.append(job)
            rows += job.rows
        return rows

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            batch: list[_Job] = []
            rows = self._take(batch, 0)
            if (
                (len(batch) > 1 or self.linger)
                and rows < self.max_batch_size
                and self.max_latency_s > 0
            ):
                remaining = batch[0].enqueued + self.max_latency_s - loop.time()
                if remaining > 0:
                    self._room = self.max_batch_size - rows
                    self._full.clear()
                    if self._queued_rows < self._room:
                        try:
                            await asyncio.wait_for(self._full.wait(), remaining)
                        except TimeoutError:
                            pass
                    self._room = self.max_batch_size
                    rows = self._take(batch, rows)
            if batch:
                self._inflight = batch
                await self._dispatch(batch)
                self._inflight = []

    async def _dispatch(self, batch: list[_Job]) -> None:
        loop = asyncio.get_running_loop()
        want_proba = any(j.want_proba for j in batch)
        try:
            x = concat_inputs([j.x for j in batch])
            out = await loop.run_in_executor(
                self._executor, run_call, self._call, x, want_proba, self._observe
            )
        except Exception as e:
            if len(batch) == 1:
                _settle(batch[0], e)
            else:
                await self._halves(batch)
            return
        if output_rows(out.predictions) != len(x):
            # Not one output per row (the model's doing, not one request's): nothing can be
            # sliced, so each request gets a call of its own.
            if len(batch) == 1:
                _settle(batch[0], out)
            else:
                for job in batch:
                    if not job.future.done():
                        await self._dispatch([job])
            return
        start = 0
        for job in batch:
            stop = start + job.rows
            part = ModelOutput(
                slice_output(out.predictions, start, stop),
                slice_output(out.probabilities, start, stop) if job.want_proba else None,
            )
            _settle(job, part)
            start = stop

    async def _halves(self, batch: list[_Job]) -> None:
        """One bad request must not fail its neighbours: each half is scored again, and a half
        that fails is split again, so one bad request among n costs about 2*log2(n) calls, not
        n (re-scoring request by request would let a stream of bad rows multiply the load)."""
        mid = len(batch) // 2
        for half in (batch[:mid], batch[mid:]):
            live = [j for j in half if not j.future.done()]
            if live:
                await self._dispatch(live)


def _settle(job: _Job, outcome: ModelOutput | BaseException) -> None:
    if job.future.done():
        return
    if isinstance(outcome, BaseException):
        job.future.set_exception(outcome)
    else:
        job.future.set_result(outcome)
