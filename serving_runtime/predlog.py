"""Sampled prediction log to a capped Redis stream, and the reader the drift job uses."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from modelops.serving_runtime.feedback import index_key, labels_stream, row_ids
from modelops.serving_runtime.redisconn import CircuitBreaker

log = logging.getLogger("modelops.serving_runtime.predlog")

# Each stream entry has one field, `data`, whose value is JSON, one entry per scored row:
# {"ts": unix seconds, "id": the row's prediction id, "model_version": str,
#  "features": {column: value}, "prediction": value}
FIELD = "data"
MAX_QUEUED_ROWS = 50_000
WRITE_CHUNK = 500


@dataclass(frozen=True)
class LogPolicy:
    """What of a request may be kept, and for how long (docs/security.md, privacy)."""

    include: frozenset[str] | None = None
    """Only these feature columns are logged (None: every column not excluded)."""
    exclude: frozenset[str] = frozenset()
    """Never logged."""
    hashed: frozenset[str] = frozenset()
    """Logged as a keyed hash: equal values stay equal (drift on categories still works),
    the value itself is not kept."""
    hash_key: bytes = b""
    max_age_seconds: float | None = None
    """Entries older than this are trimmed (as well as beyond the count cap)."""
    max_rows_per_second: float | None = None
    """At most this many rows a second are logged, whatever the sample rate: a busy model
    keeps a bounded write load and a bounded store of its inputs."""

    def apply(self, features: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for column, value in features.items():
            name = str(column)
            if name in self.exclude or (self.include is not None and name not in self.include):
                continue
            out[column] = self.digest(value) if name in self.hashed else value
        return out

    def digest(self, value: Any) -> str:
        raw = orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)
        return hashlib.blake2b(raw, key=self.hash_key[:64], digest_size=12).hexdigest()


class RateCap:
    """A token bucket of rows per second (burst: one second's worth)."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second = per_second
        self.clock = clock
        self.tokens = per_second
        self.last = clock()

    def take(self, rows: int) -> bool:
        now = self.clock()
        self.tokens = min(self.per_second, self.tokens + (now - self.last) * self.per_second)
        self.last = now
        if rows > self.tokens:
            return False
        self.tokens -= rows
        return True


@dataclass
class _Pending:
    ts: float
    version: str
    names: Sequence[str]
    features: Any
    predictions: Any
    rows: int
    prediction_id: str | None = None


def _rows(values: Any) -> list[Any]:
    rows: list[Any]
    if isinstance(values, np.ndarray):
        rows = values.tolist()
    elif hasattr(values, "to_dict") and hasattr(values, "columns"):
        rows = values.to_dict(orient="records")
    elif hasattr(values, "tolist"):
        rows = values.tolist()
    else:
        rows = list(values)
    return rows


def entries(p: _Pending, policy: LogPolicy | None = None) -> list[bytes]:
    """The stream entries for one logged request: one JSON document per row."""
    feature_rows = _rows(p.features)
    predictions = _rows(p.predictions)
    ids = row_ids(p.prediction_id, len(feature_rows)) if p.prediction_id else None
    out = []
    for i, row in enumerate(feature_rows):
        features = row if isinstance(row, dict) else dict(zip(p.names, row, strict=False))
        if policy is not None:
            features = policy.apply(features)
        prediction = predictions[i] if i < len(predictions) else None
        out.append(
            orjson.dumps(
                {
                    "ts": p.ts,
                    "id": ids[i] if ids is not None else None,
                    "model_version": p.version,
                    "features": features,
                    "prediction": prediction,
                },
                option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS,
            )
        )
    return out


class PredictionLogger:
    """Fire-and-forget: `log` only samples and queues; a background task writes with XADD
    MAXLEN ~ N in pipelines. A full queue or a failing Redis drops rows and counts them."""

    def __init__(
        self,
        client: Any,
        stream: str,
        max_len: int,
        sample_rate: float,
        breaker: CircuitBreaker,
        on_drop: Callable[[int], None] | None = None,
        on_written: Callable[[int], None] | None = None,
        sample: Callable[[], float] = random.random,
        policy: LogPolicy | None = None,
    ) -> None:
        self.client = client
        self.stream = stream
        self.max_len = max_len
        self.sample_rate = sample_rate
        self.breaker = breaker
        self._on_drop = on_drop
        self._on_written = on_written
        self._sample = sample
        self.policy = policy or LogPolicy()
        per_second = self.policy.max_rows_per_second
        self._cap = RateCap(per_second) if per_second else None
        self._queue: deque[_Pending] = deque()
        self._queued_rows = 0
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="prediction-log")

    def log(
        self,
        names: Sequence[str],
        features: Any,
        predictions: Any,
        version: str,
        rows: int,
        prediction_id: str | None = None,
    ) -> None:
        if self.sample_rate < 1.0 and self._sample() >= self.sample_rate:
            return
        if self._cap is not None and not self._cap.take(rows):
            return  # sampled out by the rate cap, like the sample rate: not a failure
        # Only queue here: the writer takes the breaker's probe and reports how it went.
        if self._queued_rows + rows > MAX_QUEUED_ROWS or self.breaker.is_open:
            self._drop(rows)
            return
        self._queue.append(
            _Pending(time.time(), version, names, features, predictions, rows, prediction_id)
        )
        self._queued_rows += rows
        self._wakeup.set()

    def _drop(self, rows: int) -> None:
        if self._on_drop is not None:
            self._on_drop(rows)

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            try:
                await self._write_some()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the writer must outlive any one batch
                log.warning("The prediction log writer failed a batch", extra={"error": repr(e)})

    async def _write_some(self) -> None:
        docs: list[bytes] = []
        ids: list[str] = []
        while self._queue and len(docs) < WRITE_CHUNK:
            pending = self._queue.popleft()
            self._queued_rows -= pending.rows
            try:
                docs.extend(entries(pending, self.policy))
                if pending.prediction_id:
                    ids.extend(row_ids(pending.prediction_id, pending.rows))
            except Exception as e:
                log.warning("Could not encode a prediction log entry", extra={"error": repr(e)})
                self._drop(pending.rows)
        if not docs:
            return
        if not self.breaker.allow():
            self._drop(len(docs))
            return
        try:
            # MULTI/EXEC: a batch is written whole or not at all (a Redis killed mid-batch
            # keeps none of it), so the drop counter is exactly what the stream lacks.
            pipe = self.client.pipeline(transaction=True)
            for doc in docs:
                pipe.xadd(self.stream, {FIELD: doc}, maxlen=self.max_len, approximate=True)
            # The ids POST /feedback checks labels against: a sorted set by time, trimmed like
            # the stream (by count and by age), so it never outgrows nor outlives the log.
            index = index_key(self.stream)
            now = time.time()
            if ids:
                pipe.zadd(index, dict.fromkeys(ids, now))
                pipe.zremrangebyrank(index, 0, -self.max_len - 1)
            if self.policy.max_age_seconds:
                # Stream ids begin with the arrival time in milliseconds.
                oldest = now - self.policy.max_age_seconds
                pipe.xtrim(self.stream, minid=f"{int(oldest * 1000)}-0", approximate=False)
                pipe.zremrangebyscore(index, "-inf", oldest)
            await pipe.execute()
        except asyncio.CancelledError:
            # Shutting down mid-batch: unconfirmed, so counted dropped (it may have landed).
            self.breaker.failure()
            self._drop(len(docs))
            raise
        except Exception as e:
            self.breaker.failure(e)
            self._drop(len(docs))
        else:
            self.breaker.success()
            if self._on_written is not None:
                self._on_written(len(docs))

    async def close(self, flush_timeout_s: float = 2.0) -> None:
        """Flush what is queued (briefly) and stop."""
        deadline = time.monotonic() + flush_timeout_s
        while self._queue and time.monotonic() < deadline and not self.breaker.is_open:
            await self._write_some()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._queue:
            self._drop(self._queued_rows)
            self._queue.clear()
        await self.client.aclose()


# What read_window adds to the feature columns: names no model input is likely to have (a
# feature called `id` or `version` stays a feature).
PREDICTION_ID = "__prediction_id"
MODEL_VERSION = "__model_version"
LOGGED_AT = "__logged_at"
META_COLUMNS = ("prediction", PREDICTION_ID, MODEL_VERSION, LOGGED_AT)


def stream_docs(client: Any, stream: str, start: str, end: str, page: int) -> Iterator[Any]:
    """The JSON documents of a stream's entries from `start` to `end` (XRANGE ids), a page
    at a time; entries that are not ours are skipped."""
    while True:
        batch = client.xrange(stream, min=start, max=end, count=page)
        if not batch:
            return
        for _id, fields in batch:
            raw = fields.get(FIELD.encode(), fields.get(FIELD))
            if raw is None:
                continue
            try:
                yield orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
        last = batch[-1][0]
        start = f"({last.decode() if isinstance(last, bytes) else last}"
        if len(batch) < page:
            return


def read_window(
    client: Any,
    stream: str,
    since_ts: float,
    until_ts: float | None = None,
    page: int = 1000,
) -> Any:
    """The rows logged at or after `since_ts` (and before `until_ts`), as a DataFrame: one row
    per logged row, the feature columns plus META_COLUMNS.

    `client` is a synchronous `redis.Redis` (the drift job is a batch job). Stream ids start
    with the entry's arrival in milliseconds, so XRANGE starts at the window, not the stream's
    beginning; each entry's own `ts` decides the edges exactly.
    """
    import pandas as pd

    start = f"{int(since_ts * 1000)}-0"
    end = "+" if until_ts is None else f"{int(until_ts * 1000) + 1}"
    rows: list[dict[str, Any]] = []
    for doc in stream_docs(client, stream, start, end, page):
        ts = float(doc.get("ts", 0.0))
        if ts < since_ts or (until_ts is not None and ts >= until_ts):
            continue
        row = dict(doc.get("features") or {})
        row["prediction"] = doc.get("prediction")
        row[PREDICTION_ID] = doc.get("id")
        row[MODEL_VERSION] = doc.get("model_version")
        row[LOGGED_AT] = ts
        rows.append(row)
    if not rows:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in META_COLUMNS})
    return pd.DataFrame.from_records(rows)


def read_labels(client: Any, stream: str, since_ts: float, page: int = 1000) -> Any:
    """Every label sent to POST /feedback at or after `since_ts`, as a DataFrame (id, label,
    ts): they live beside the log, in `<stream>:feedback`."""
    import pandas as pd

    rows = [
        {"id": doc.get("id"), "label": doc.get("label"), "ts": doc.get("ts")}
        for doc in stream_docs(
            client, labels_stream(stream), f"{int(since_ts * 1000)}-0", "+", page
        )
    ]
    return pd.DataFrame.from_records(rows, columns=["id", "label", "ts"])
