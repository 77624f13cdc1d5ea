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
    """

    def __init__(
        self,
        call: ModelCall,
        *,
        max_batch_size: int,
        max_latency_s: float,
        executor: Executor,
        observe: Observer | None = None,
    ) -> None:
        self._call = call
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
            if len(batch) > 1 and rows < self.max_batch_size and self.max_latency_s > 0:
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
                return
            # One bad request must not fail its neighbours: score each alone to find it.
            await self._one_by_one(batch)
            return
        if output_rows(out.predictions) != len(x):
            await self._one_by_one(batch)
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

    async def _one_by_one(self, batch: list[_Job]) -> None:
        loop = asyncio.get_running_loop()
        for job in batch:
            try:
                out = await loop.run_in_executor(
                    self._executor, run_call, self._call, job.x, job.want_proba, self._observe
                )
            except Exception as e:
                _settle(job, e)
            else:
                _settle(job, out)


def _settle(job: _Job, outcome: ModelOutput | BaseException) -> None:
    if job.future.done():
        return
    if isinstance(outcome, BaseException):
        job.future.set_exception(outcome)
    else:
        job.future.set_result(outcome)
