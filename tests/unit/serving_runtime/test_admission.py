"""Admission control: a bounded number of scoring requests at once, each within a deadline,
and an answer for every request beyond either."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from modelops.serving_runtime.api.admission import AdmissionMiddleware


class SlowApp:
    """Answers 200 after `delay` seconds; counts the bodies it read."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.bodies_read = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["method"] == "POST":
            await receive()
            self.bodies_read += 1
        await asyncio.sleep(self.delay)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_requests_beyond_the_limit_get_a_503_at_once_without_their_body_read() -> None:
    inner = SlowApp(delay=0.3)
    errors: list[str] = []
    app = AdmissionMiddleware(inner, limit=2, deadline_s=5, on_error=errors.append)
    async with client(app) as c:
        held = [asyncio.ensure_future(c.post("/predict", content=b"{}")) for _ in range(2)]
        await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        started = loop.time()
        refused = await c.post("/predict", content=b'{"features": [[1]]}')
        assert loop.time() - started < 0.2  # not queued behind the two
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        error = refused.json()["error"]
        assert error["code"] == "overloaded" and "2 requests are in progress" in error["message"]
        # Probes and metrics are GETs: always answered.
        assert (await c.get("/health")).status_code == 200
        assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200]
        assert inner.bodies_read == 2
        assert (await c.post("/predict", content=b"{}")).status_code == 200  # room again
    assert errors == ["overloaded"]
    assert app.in_progress == 0


async def test_a_request_past_its_deadline_gets_a_504_and_its_work_is_cancelled() -> None:
    cancelled = asyncio.Event()

    async def stuck(scope: Any, receive: Any, send: Any) -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    app = AdmissionMiddleware(stuck, limit=8, deadline_s=0.1)
    async with client(app) as c:
        answer = await c.post("/predict", content=b"{}")
    assert answer.status_code == 504
    assert json.loads(answer.content)["error"]["code"] == "deadline_exceeded"
    assert cancelled.is_set() and app.in_progress == 0


async def test_a_timeout_inside_the_app_is_not_mistaken_for_the_deadline() -> None:
    async def fails(scope: Any, receive: Any, send: Any) -> None:
        raise TimeoutError("the app's own")

    app = AdmissionMiddleware(fails, limit=8, deadline_s=5)
    with pytest.raises(TimeoutError, match="the app's own"):
        async with client(app) as c:
            await c.post("/predict", content=b"{}")
    assert app.in_progress == 0


async def test_labels_have_a_bound_of_their_own_and_never_take_scorings_places() -> None:
    app = AdmissionMiddleware(
        SlowApp(delay=0.3), limit=1, deadline_s=5, side=frozenset({"/feedback"}), side_limit=2
    )
    async with client(app) as c:
        labels = [asyncio.ensure_future(c.post("/feedback", content=b"{}")) for _ in range(2)]
        await asyncio.sleep(0.05)
        third = await c.post("/feedback", content=b"{}")
        scored = await c.post("/predict", content=b"{}")  # scoring's one place is free
        assert third.status_code == 503 and "/feedback requests" in third.json()["error"]["message"]
        assert scored.status_code == 200
        assert [r.status_code for r in await asyncio.gather(*labels)] == [200, 200]
    assert app.side_in_progress == 0 and app.in_progress == 0
