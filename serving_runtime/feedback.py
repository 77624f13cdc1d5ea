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
# Printable ASCII without spaces: a tracing or order id works as it is, and an id is safe in a
# log line and as a sorted-set member.
ID_PATTERN = re.compile(r"^[\x21-\x7e]{1,128}$")
ROW_ID = re.compile(r"^[\x21-\x7e]{1,128}(:[0-9]{1,9})?$")
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
    """The client's own id (X-Request-Id) when it is one (printable ASCII, no spaces, at most
    128), else a new one: an id a proxy made up must not fail the request; the answer's
    X-Prediction-Id says which id the labels go by."""
    if supplied and ID_PATTERN.match(supplied):
        return supplied
    return new_id()


def row_ids(prediction_id: str, rows: int) -> list[str]:
    """The id of each scored row: the request's id for a single row, ID:ROW (from 0) for more."""
    if rows == 1:
        return [prediction_id]
    return [f"{prediction_id}:{i}" for i in range(rows)]


def index_key(stream: str) -> str:
    """The sorted set of logged rows' ids (scored by time): what lets POST /feedback tell a
    known id from an unknown one."""
    return f"{stream}:ids"


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
            raise InvalidInput(
                f"{where}: id must be a prediction id (ID or ID:ROW, printable ASCII)"
            )
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
            found = await self.client.zmscore(
                index_key(self.stream), [labels[i].id for i in pending]
            )
            for i, score in zip(pending, found, strict=True):
                known[i] = score is not None
            pending = [i for i in pending if not known[i]]
            if not pending:
                break
        return known
