"""The drift job's onDrift webhook: http(s) only, no redirects, bounded retries, and errors that
never repeat the URL (it may carry a token)."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from modelops.serving_runtime.jobs import actions


class Receiver:
    """A local endpoint answering every POST with `status` (and `location`), recording bodies."""

    def __init__(self, status: int, location: str | None = None) -> None:
        self.bodies: list[dict[str, Any]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the stdlib's name
                length = int(self.headers["Content-Length"])
                outer.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook?token=secret123"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for r in made:
        r.close()


def test_the_payload_is_posted_as_json(receivers: list[Receiver]) -> None:
    hook = Receiver(204)
    receivers.append(hook)
    assert actions.post_webhook(hook.url, {"datasetDrift": True}) == {"ok": True, "status": 204}
    assert hook.bodies == [{"datasetDrift": True}]


def test_a_redirect_is_not_followed(receivers: list[Receiver]) -> None:
    """A receiver cannot bounce the job to another address."""
    elsewhere = Receiver(204)
    hook = Receiver(307, location=elsewhere.url)
    receivers += [elsewhere, hook]
    result = actions.post_webhook(hook.url, {"x": 1})
    assert result == {"ok": False, "status": 307, "error": "the webhook answered 307"}
    assert elsewhere.bodies == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://h/"])
def test_only_http_and_https_are_called(url: str) -> None:
    result = actions.post_webhook(url, {"x": 1})
    assert result["ok"] is False and "must be http or https" in result["error"]


def test_server_errors_are_retried_a_bounded_number_of_times(receivers: list[Receiver]) -> None:
    hook = Receiver(503)
    receivers.append(hook)
    slept: list[float] = []
    result = actions.post_webhook(hook.url, {"x": 1}, attempts=3, sleep=slept.append)
    assert len(hook.bodies) == 3 and slept == [2, 4]
    assert result == {"ok": False, "error": "the webhook answered 503 after 3 attempts"}


def test_errors_do_not_repeat_the_url() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    url = f"http://user:pw@127.0.0.1:{port}/hook?token=secret123"
    result = actions.post_webhook(url, {"x": 1}, attempts=2, sleep=lambda _: None)
    assert result["ok"] is False and "could not be reached" in result["error"]
    assert "secret123" not in result["error"] and str(port) not in result["error"]


def test_a_uri_without_a_registered_version_is_not_tagged() -> None:
    result = actions.tag_model_version("models:/fraud@champion", None, {"a": "b"})
    assert result == {"ok": False, "error": "models:/fraud@champion names no registered version"}
