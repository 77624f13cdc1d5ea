"""Redis for the optional features: a fail-fast client and a circuit breaker around it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("modelops.serving_runtime.redis")


def make_client(url: str, timeout_s: float) -> Any:
    """A redis.asyncio client that fails in `timeout_s` instead of retrying: serving must not
    wait on the cache or the log (redis-py retries three times with backoff by default)."""
    import redis.asyncio as redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )


class CircuitBreaker:
    """Closed until `threshold` failures in a row; then open (calls skipped) for a cooldown
    that doubles on each failed probe up to `max_cooldown_s`; one call probes when it ends.

    Without it a dead Redis costs every request a connect timeout."""

    def __init__(
        self,
        name: str,
        threshold: int = 3,
        cooldown_s: float = 1.0,
        max_cooldown_s: float = 30.0,
        probe_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        on_error: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.threshold = threshold
        self.base_cooldown_s = cooldown_s
        self.max_cooldown_s = max_cooldown_s
        self.probe_timeout_s = probe_timeout_s
        self._clock = clock
        self._on_error = on_error
        self.failures = 0
        self.cooldown_s = cooldown_s
        self.open_until: float | None = None
        self._probe_until: float | None = None

    @property
    def _probing(self) -> bool:
        # A probe that never reported (its caller cancelled, say) frees the slot after
        # `probe_timeout_s`, far beyond any Redis timeout: else the breaker stays open for good.
        return self._probe_until is not None and self._clock() < self._probe_until

    @property
    def state(self) -> str:
        if self.open_until is None:
            return "closed"
        return "half-open" if self._clock() >= self.open_until else "open"

    @property
    def is_open(self) -> bool:
        """Open and cooling down, without taking the probe: for a caller that only queues
        work and leaves the try to someone else."""
        return self.open_until is not None and self._clock() < self.open_until

    def allow(self) -> bool:
        """Whether to try Redis now. In half-open state only one caller probes; whoever is
        allowed must report `success` or `failure`."""
        if self.open_until is None:
            return True
        if self._clock() < self.open_until or self._probing:
            return False
        self._probe_until = self._clock() + self.probe_timeout_s
        return True

    def success(self) -> None:
        if self.open_until is not None:
            log.info("Redis is reachable again", extra={"component": self.name})
        self.failures = 0
        self.cooldown_s = self.base_cooldown_s
        self.open_until = None
        self._probe_until = None

    def failure(self, error: BaseException | None = None) -> None:
        if self._on_error is not None:
            self._on_error()
        self.failures += 1
        if self._probe_until is not None:
            self._probe_until = None
            self.cooldown_s = min(self.cooldown_s * 2, self.max_cooldown_s)
            self.open_until = self._clock() + self.cooldown_s
        elif self.open_until is None and self.failures >= self.threshold:
            self.open_until = self._clock() + self.cooldown_s
            log.warning(
                "Redis is failing: skipping it for a while",
                extra={
                    "component": self.name,
                    "cooldown_seconds": self.cooldown_s,
                    "error": repr(error),
                },
            )
