"""Admission control for the scoring routes: a bounded number of requests at once, each within
a deadline, so that overload gets an answer (503 now, or 504 at the deadline) instead of a
queue that grows until the pod is OOM-killed with every request in it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from modelops.serving_runtime.api.errors import error_body
from modelops.serving_runtime.errors import DeadlineExceeded, Overloaded, ServingError

log = logging.getLogger("modelops.serving_runtime")


async def reply(send: Any, exc: ServingError) -> None:
    body = error_body(exc.code, exc.message, **exc.details)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in exc.headers.items()),
    ]
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class AdmissionMiddleware:
    """Pure ASGI, for POSTs (every scoring route; probes and metrics are GETs and always
    answered). Beyond `limit` requests in progress a request is refused at once, before its
    body is read, so memory stays bounded by the limit; a request still unanswered after
    `deadline_s` gets a 504 and its work is cancelled (a queued batch slot is skipped).

    `side` paths (POST /feedback) count against a bound of their own, so labels, which may
    wait a moment for the log, never take scoring's places."""

    def __init__(
        self,
        app: Any,
        *,
        limit: int,
        deadline_s: float,
        on_error: Callable[[str], None] | None = None,
        side: frozenset[str] = frozenset(),
        side_limit: int = 16,
    ) -> None:
        self.app = app
        self.limit = limit
        self.deadline_s = deadline_s
        self.on_error = on_error
        self.side = side
        self.side_limit = side_limit
        self.in_progress = 0
        self.side_in_progress = 0

    def _count(self, code: str) -> None:
        if self.on_error is not None:
            self.on_error(code)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        if scope["path"] in self.side:
            await self._side(scope, receive, send)
            return
        if self.in_progress >= self.limit:
            self._count(Overloaded.code)
            await reply(
                send,
                Overloaded(
                    f"{self.in_progress} requests are in progress (the limit is {self.limit}): "
                    "retry shortly",
                    max_concurrent_requests=self.limit,
                ),
            )
            return
        self.in_progress += 1
        started = False

        async def watch(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        deadline = asyncio.timeout(self.deadline_s)
        try:
            async with deadline:
                await self.app(scope, receive, watch)
        except TimeoutError:
            if not deadline.expired():
                raise
            if started:  # too late for a status: the server closes the connection
                log.warning("Deadline passed while the response was being sent")
                return
            self._count(DeadlineExceeded.code)
            await reply(
                send,
                DeadlineExceeded(
                    f"no answer within the request deadline of {self.deadline_s * 1000:.0f} ms",
                    request_timeout_ms=self.deadline_s * 1000,
                ),
            )
        finally:
            self.in_progress -= 1

    async def _side(self, scope: Any, receive: Any, send: Any) -> None:
        if self.side_in_progress >= self.side_limit:
            self._count(Overloaded.code)
            await reply(
                send,
                Overloaded(
                    f"{self.side_in_progress} {scope['path']} requests are in progress (the "
                    f"limit is {self.side_limit}): retry shortly",
                ),
            )
            return
        self.side_in_progress += 1
        try:
            # No deadline of scoring's: its own waits are bounded (the log's re-checks, Redis's
            # timeouts).
            await self.app(scope, receive, send)
        finally:
            self.side_in_progress -= 1
