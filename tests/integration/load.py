"""A paced load generator that counts every outcome: a rollout test must see each failure."""

from __future__ import annotations

import http.client
import itertools
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

VERSION_HEADER = "x-model-version"


@dataclass
class Outcome:
    sent: int = 0
    ok: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list, repr=False)
    """Seconds from sending to the answer (or the error), per request."""
    answers: list[tuple[float, int | None, str | None]] = field(default_factory=list, repr=False)
    """(monotonic time answered, status or None, the version that answered), per request."""
    refusals: Counter[str] = field(default_factory=Counter)
    """The bodies of non-2xx answers (their first 300 bytes): who refused, and why."""

    def by_version(self, since: float = 0.0) -> Counter[str | None]:
        return Counter(v for t, _, v in self.answers if t >= since)

    def failures(self) -> list[tuple[float, int | None]]:
        """(wall-clock time, status or None) of each failed request: to read against events."""
        offset = time.time() - time.monotonic()
        return [(t + offset, s) for t, s, _ in self.answers if s is None or not 200 <= s < 300]

    @property
    def failed(self) -> int:
        return self.sent - self.ok

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


class Load:
    """POSTs `body` to `url` at `rate` requests/s from `threads` threads, each request on a
    fresh connection, so every request goes through the Service's load balancing as a new
    client would (a kept-alive connection would pin one pod). Non-2xx answers and connection
    errors are counted, never retried."""

    def __init__(self, url: str, body: bytes | list[bytes], rate: float, threads: int = 16) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "", parts.port or 80
        self.path = parts.path or "/"
        # Several bodies are sent in turn (a rollout test's mix of inputs).
        self.bodies = itertools.cycle(body if isinstance(body, list) else [body])
        self.interval = threads / rate
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.outcome = Outcome()

    def _one(self) -> tuple[int | None, str | None, str | None, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        with self.lock:
            body = next(self.bodies)
        try:
            conn.request("POST", self.path, body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            text = resp.read()
            return resp.status, None, resp.getheader(VERSION_HEADER), text
        except (OSError, http.client.HTTPException) as e:
            return None, type(e).__name__, None, b""
        finally:
            conn.close()

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self.stopping.is_set():
            started = time.monotonic()
            status, error, version, text = self._one()
            took = time.monotonic() - started
            with self.lock:
                self.outcome.sent += 1
                self.outcome.latencies.append(took)
                self.outcome.answers.append((started + took, status, version))
                if status is not None and 200 <= status < 300:
                    self.outcome.ok += 1
                elif status is not None:
                    self.outcome.statuses[status] += 1
                    self.outcome.refusals[text[:300].decode(errors="replace")] += 1
                else:
                    self.outcome.errors[error or "?"] += 1
            next_at += self.interval
            delay = next_at - time.monotonic()
            if delay > 0:
                self.stopping.wait(delay)
            else:
                next_at = time.monotonic()  # behind: no burst to catch up

    def __enter__(self) -> Load:
        self.t0 = time.monotonic()
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=15)
        self.outcome.seconds = time.monotonic() - self.t0
