"""A set-up step retried in a background thread with exponential backoff and jitter."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from modelops.serving_runtime.settings import RuntimeSettings

T = TypeVar("T")


class BackgroundRetry(Generic[T]):
    """Calls `attempt` in a daemon thread until it returns, then hands its result and the
    successful attempt's `time.monotonic()` start to `on_success`. Each failure goes to
    `on_failure` with the seconds until the next attempt: LOAD_RETRY_INITIAL_SECONDS at first,
    doubling up to LOAD_RETRY_MAX_SECONDS."""

    def __init__(
        self,
        name: str,
        attempt: Callable[[], T],
        on_success: Callable[[T, float], None],
        on_failure: Callable[[Exception, float], None],
        settings: RuntimeSettings,
    ) -> None:
        self.name = name
        self._attempt = attempt
        self._on_success = on_success
        self._on_failure = on_failure
        self.initial_seconds = settings.load_retry_initial_seconds
        self.max_seconds = settings.load_retry_max_seconds
        self.attempts = 0
        self._stop = threading.Event()
        self.thread: threading.Thread | None = None

    @property
    def started(self) -> bool:
        return self.thread is not None

    def start(self) -> None:
        # A daemon thread, not an event loop's executor: a step stuck in a client library
        # (a download, a store that does not answer) must not hold up shutdown.
        if self.thread is None and not self._stop.is_set():
            self.thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self.thread.start()

    def stop(self) -> None:
        """No further attempt; a wait between attempts ends at once."""
        self._stop.set()

    def _run(self) -> None:
        delay = self.initial_seconds
        while not self._stop.is_set():
            self.attempts += 1
            started = time.monotonic()
            try:
                result = self._attempt()
            except Exception as e:
                # Jitter keeps many replicas from hammering a shared server in step.
                wait = delay * random.uniform(0.8, 1.2)
                self._on_failure(e, wait)
                delay = min(delay * 2, self.max_seconds)
                if self._stop.wait(wait):
                    return
                continue
            self._on_success(result, started)
            return
