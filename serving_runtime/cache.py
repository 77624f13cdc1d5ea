"""Optional Redis response cache, keyed by model identity and a canonical hash of the input."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson

from modelops.serving_runtime.redisconn import CircuitBreaker

log = logging.getLogger("modelops.serving_runtime.cache")

MAX_PENDING_WRITES = 1000


def input_digest(x: np.ndarray) -> str:
    """A hash of the validated input array: the same rows sent as split, records, instances,
    v2 tensors or CSV hash alike, because they all validate to the same array."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{x.dtype.str}|{x.shape}|".encode())
    if x.dtype == object:
        h.update(orjson.dumps(x.tolist(), option=orjson.OPT_SERIALIZE_NUMPY))
    else:
        h.update(np.ascontiguousarray(x).tobytes())
    return h.hexdigest()


def cache_key(tenant: str, identity: str, x: np.ndarray, want_proba: bool) -> str:
    """The tenant first: two namespaces serving the same model never share an entry."""
    return f"modelops:cache:{tenant}:{identity}:{'p' if want_proba else 'n'}:{input_digest(x)}"


class ResponseCache:
    """Get on the request path (bounded by the client's socket timeout and skipped while the
    breaker is open); put in the background, never awaited by the request."""

    def __init__(
        self,
        client: Any,
        ttl_seconds: int,
        breaker: CircuitBreaker,
        on_result: Callable[[bool], None] | None = None,
    ) -> None:
        self.client = client
        self.ttl_seconds = ttl_seconds
        self.breaker = breaker
        self._on_result = on_result
        self._pending: set[asyncio.Task[None]] = set()

    async def get(self, key: str) -> dict[str, Any] | None:
        if not self.breaker.allow():
            return None
        try:
            raw = await self.client.get(key)
        except Exception as e:
            self.breaker.failure(e)
            return None
        self.breaker.success()
        hit = raw is not None
        if self._on_result is not None:
            self._on_result(hit)
        if not hit:
            return None
        try:
            value: dict[str, Any] = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        return value

    def put(self, key: str, value: dict[str, Any]) -> None:
        if len(self._pending) >= MAX_PENDING_WRITES or not self.breaker.allow():
            return
        task = asyncio.get_running_loop().create_task(self._put(key, orjson.dumps(value)))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _put(self, key: str, raw: bytes) -> None:
        try:
            await self.client.set(key, raw, ex=self.ttl_seconds)
        except Exception as e:
            self.breaker.failure(e)
        else:
            self.breaker.success()

    async def close(self) -> None:
        if self._pending:
            await asyncio.wait(self._pending, timeout=1.0)
        await self.client.aclose()
