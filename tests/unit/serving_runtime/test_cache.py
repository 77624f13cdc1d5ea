"""Canonical input hashing for cache keys, and the circuit breaker in front of Redis."""

from __future__ import annotations

import numpy as np

from modelops.serving_runtime.cache import cache_key, input_digest
from modelops.serving_runtime.columns import Column
from modelops.serving_runtime.redisconn import CircuitBreaker
from modelops.serving_runtime.signature import InputSchema

SCHEMA = InputSchema(columns=(Column("a", "double"), Column("b", "double")), source="columns")


def test_the_same_rows_in_any_wire_shape_hash_alike() -> None:
    digests = {
        input_digest(SCHEMA.from_rows([[1, 2.0], [3, 4]], 10)),
        input_digest(SCHEMA.from_records([{"b": 2, "a": 1}, {"a": 3.0, "b": 4.0}], 10)),
        input_digest(SCHEMA.from_columns({"a": [1, 3], "b": [2, 4]}, 10)),
        input_digest(SCHEMA.from_rows([[2, 1], [4, 3]], 10, names=["b", "a"])),
    }
    assert len(digests) == 1


def test_different_inputs_hash_apart() -> None:
    base = SCHEMA.from_rows([[1.0, 2.0]], 10)
    assert input_digest(base) != input_digest(SCHEMA.from_rows([[1.0, 2.5]], 10))
    assert input_digest(base) != input_digest(SCHEMA.from_rows([[2.0, 1.0]], 10))
    assert input_digest(base) != input_digest(SCHEMA.from_rows([[1.0, 2.0]] * 2, 10))
    # Same bytes, other shape: still different.
    assert input_digest(np.zeros((2, 2))) != input_digest(np.zeros((1, 4)))


def test_object_arrays_hash_by_value() -> None:
    a = np.array([[1, "x", None]], dtype=object)
    b = np.array([[1, "x", None]], dtype=object)
    c = np.array([[1, "y", None]], dtype=object)
    assert input_digest(a) == input_digest(b) != input_digest(c)


def test_keys_separate_models_versions_and_probabilities() -> None:
    x = SCHEMA.from_rows([[1.0, 2.0]], 10)
    keys = {
        cache_key("a", "m:1:u", x, False),
        cache_key("a", "m:1:u", x, True),
        cache_key("a", "m:2:u", x, False),
        cache_key("a", "n:1:u", x, False),
        cache_key("b", "m:1:u", x, False),  # H-6: another namespace, the same model
    }
    assert len(keys) == 5


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_repeated_failures_and_probes_once() -> None:
    clock = Clock()
    errors: list[int] = []
    breaker = CircuitBreaker(
        "t", threshold=3, cooldown_s=1.0, max_cooldown_s=4.0, clock=clock,
        on_error=lambda: errors.append(1),
    )  # fmt: skip
    for _ in range(3):
        assert breaker.allow()
        breaker.failure()
    assert breaker.state == "open" and not breaker.allow()
    clock.now += 1.01
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one
    breaker.failure()
    assert breaker.state == "open" and breaker.cooldown_s == 2.0
    clock.now += 2.01
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed" and breaker.allow() and breaker.cooldown_s == 1.0
    assert len(errors) == 4


def test_breaker_cooldown_is_capped() -> None:
    clock = Clock()
    breaker = CircuitBreaker("t", threshold=1, cooldown_s=1.0, max_cooldown_s=3.0, clock=clock)
    breaker.failure()
    for _ in range(5):
        clock.now += 10
        assert breaker.allow()
        breaker.failure()
    assert breaker.cooldown_s == 3.0


def test_a_probe_that_never_reports_frees_the_slot_after_the_probe_timeout() -> None:
    clock = Clock()
    breaker = CircuitBreaker("t", threshold=1, cooldown_s=1.0, probe_timeout_s=2.0, clock=clock)
    breaker.failure()
    clock.now += 1.01
    assert breaker.allow()  # the probe; its caller is cancelled and never reports
    clock.now += 1.9
    assert not breaker.allow()
    clock.now += 0.2
    assert breaker.allow()  # another probe
    breaker.success()
    assert breaker.state == "closed"


def test_is_open_leaves_the_probe_to_the_caller_who_reports() -> None:
    clock = Clock()
    breaker = CircuitBreaker("t", threshold=1, cooldown_s=1.0, clock=clock)
    assert not breaker.is_open
    breaker.failure()
    assert breaker.is_open
    clock.now += 1.01
    assert not breaker.is_open and not breaker.is_open  # asking twice takes nothing
    assert breaker.allow()
