"""Ground truth: prediction ids, and the labels clients send back for them, kept in the
tenant's Redis beside the prediction log so a monitor can join the two later."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from modelops.serving_runtime.errors import InvalidInput, ServingError
from modelops.serving_runtime.redisconn import CircuitBreaker

REQUEST_ID_HEADER = "x-request-id"
# Letters, digits and . _ - only: a row's id is ID:ROW, so the separator stays unambiguous,
# and an id is safe inside a Redis key and a log line.
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
ROW_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}(:[0-9]{1,9})?$")
MAX_LABELS = 10_000
MAX_LABEL_CHARS = 256
FIELD = "data"
UNKNOWN_IDS_SHOWN = 20
# The log is written off the request path, a few milliseconds after the answer: a label sent
# at once (or to another pod) can arrive first. Unknown ids are asked about again this long.
RECHECK_DELAYS_S = (0.05, 0.2, 0.5)


class FeedbackDisabled(ServingError):
    status = 404
    code = "feedback_disabled"


class FeedbackUnavailable(ServingError):
    """Redis failed or its breaker is open: labels cannot be checked or kept right now."""

    status = 503
    code = "feedback_unavailable"


def new_id() -> str:
    return uuid.uuid4().hex


def request_id(supplied: str | None) -> str:
    """The client's own id (X-Request-Id) when it sent one, else a new one."""
    if supplied is None or supplied == "":
        return new_id()
    if not ID_PATTERN.match(supplied):
        raise InvalidInput(
            "X-Request-Id must be 1 to 128 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit"
        )
    return supplied


def row_ids(prediction_id: str, rows: int) -> list[str]:
    """The id of each scored row: the request's id for a single row, ID:ROW (from 0) for more."""
    if rows == 1:
        return [prediction_id]
    return [f"{prediction_id}:{i}" for i in range(rows)]


def index_key(stream: str, row_id: str) -> str:
    """Marks a logged row: what lets POST /feedback tell a known id from an unknown one."""
    return f"{stream}:id:{row_id}"


def labels_stream(stream: str) -> str:
    return f"{stream}:feedback"


@dataclass(frozen=True)
class Label:
    id: str
    label: Any


def parse(doc: Any) -> list[Label]:
    """`{"id", "label"}` or a list of them; every problem names the item it is in, and a
    request with any bad item keeps none (a client retrying the fixed batch stores it once)."""
    items = doc if isinstance(doc, list) else [doc]
    if not items:
        raise InvalidInput('no labels: send {"id": ..., "label": ...} or a list of them')
    if len(items) > MAX_LABELS:
        raise InvalidInput(f"{len(items)} labels in one request; at most {MAX_LABELS}")
    labels = []
    for i, item in enumerate(items):
        where = f"item {i}" if isinstance(doc, list) else "the body"
        if not isinstance(item, dict):
            raise InvalidInput(f"{where} is not an object with id and label")
        extra = sorted(set(item) - {"id", "label"})
        if extra:
            raise InvalidInput(f"{where} has unknown fields: {', '.join(extra)}")
        row_id, label = item.get("id"), item.get("label")
        if not isinstance(row_id, str) or not ROW_ID.match(row_id):
            raise InvalidInput(f"{where}: id must be a prediction id (ID or ID:ROW)")
        if label is None or isinstance(label, (dict, list)):
            raise InvalidInput(f"{where}: label must be a number, a string or a boolean")
        if isinstance(label, str) and len(label) > MAX_LABEL_CHARS:
            raise InvalidInput(f"{where}: label is longer than {MAX_LABEL_CHARS} characters")
        labels.append(Label(row_id, label))
    return labels


class FeedbackStore:
    """Checks each label's id against the log's index, and appends the known ones to a capped
    stream trimmed by age like the log itself: labels that arrive days later still join."""

    def __init__(
        self,
        client: Any,
        stream: str,
        max_len: int,
        max_age_seconds: float | None,
        breaker: CircuitBreaker,
        recheck_delays_s: tuple[float, ...] = RECHECK_DELAYS_S,
    ) -> None:
        self.client = client
        self.stream = stream
        self.recheck_delays_s = recheck_delays_s
        self.labels = labels_stream(stream)
        self.max_len = max_len
        self.max_age_seconds = max_age_seconds
        self.breaker = breaker

    async def record(self, labels: list[Label], now: float | None = None) -> tuple[int, list[str]]:
        """How many labels were kept, and the ids no logged prediction has."""
        if not self.breaker.allow():
            raise FeedbackUnavailable("the prediction log's Redis is unavailable; retry later")
        now = time.time() if now is None else now
        try:
            known = await self._known(labels)
            pipe = self.client.pipeline(transaction=False)
            kept = 0
            for label, found in zip(labels, known, strict=True):
                if not found:
                    continue
                doc = orjson.dumps({"id": label.id, "label": label.label, "ts": now})
                pipe.xadd(self.labels, {FIELD: doc}, maxlen=self.max_len, approximate=True)
                kept += 1
            if kept:
                if self.max_age_seconds:
                    oldest = int((now - self.max_age_seconds) * 1000)
                    pipe.xtrim(self.labels, minid=f"{oldest}-0", approximate=False)
                await pipe.execute()
        except Exception as e:
            self.breaker.failure(e)
            raise FeedbackUnavailable(
                "the prediction log's Redis failed; no label of this request was kept"
            ) from None
        self.breaker.success()
        unknown = [label.id for label, found in zip(labels, known, strict=True) if not found]
        return kept, unknown

    async def _known(self, labels: list[Label]) -> list[bool]:
        """Whether each label's id is in the log's index, asking again about the missing ones
        for a moment (their predictions may still be on their way to the log)."""
        known = [False] * len(labels)
        pending = list(range(len(labels)))
        for delay in (0.0, *self.recheck_delays_s):
            if delay:
                await asyncio.sleep(delay)
            pipe = self.client.pipeline(transaction=False)
            for i in pending:
                pipe.exists(index_key(self.stream, labels[i].id))
            found = await pipe.execute()
            for i, hit in zip(pending, found, strict=True):
                known[i] = bool(hit)
            pending = [i for i in pending if not known[i]]
            if not pending:
                break
        return known


def read_labels(client: Any, stream: str, since_ts: float, page: int = 1000) -> Any:
    """Every label that arrived at or after `since_ts`, as a DataFrame (id, label, ts).

    `client` is a synchronous `redis.Redis`, as for the log's reader."""
    import pandas as pd

    start = f"{int(since_ts * 1000)}-0"
    rows: list[dict[str, Any]] = []
    while True:
        batch = client.xrange(labels_stream(stream), min=start, max="+", count=page)
        if not batch:
            break
        for _id, fields in batch:
            raw = fields.get(FIELD.encode(), fields.get(FIELD))
            if raw is None:
                continue
            try:
                doc = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            rows.append({"id": doc.get("id"), "label": doc.get("label"), "ts": doc.get("ts")})
        last = batch[-1][0]
        start = f"({last.decode() if isinstance(last, bytes) else last}"
        if len(batch) < page:
            break
    return pd.DataFrame.from_records(rows, columns=["id", "label", "ts"])
