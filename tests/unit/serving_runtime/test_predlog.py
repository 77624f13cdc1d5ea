"""What the prediction log keeps: the columns the policy allows, hashed where it says so, at a
bounded rate."""

from __future__ import annotations

import numpy as np
import orjson

from modelops.serving_runtime.predlog import LogPolicy, RateCap, _Pending, entries

NAMES = ["age", "zip", "ssn", "amount"]
ROW = np.array([[42, "75011", "123-45-6789", 9.5]], dtype=object)


def logged(policy: LogPolicy) -> dict[str, object]:
    (doc,) = entries(_Pending(1.0, "3", NAMES, ROW, np.array([1]), 1), policy)
    return orjson.loads(doc)["features"]  # type: ignore[no-any-return]


def test_excluded_columns_are_never_written() -> None:
    features = logged(LogPolicy(exclude=frozenset({"ssn"})))
    assert features == {"age": 42, "zip": "75011", "amount": 9.5}


def test_an_include_list_keeps_only_its_columns() -> None:
    assert logged(LogPolicy(include=frozenset({"age", "amount"}))) == {"age": 42, "amount": 9.5}


def test_hashed_columns_keep_equality_not_the_value() -> None:
    policy = LogPolicy(hashed=frozenset({"zip"}), hash_key=b"k1")
    features = logged(policy)
    assert features["zip"] != "75011" and "75011" not in orjson.dumps(features).decode()
    assert features["zip"] == logged(policy)["zip"]  # the same value, the same digest
    assert features["zip"] != logged(LogPolicy(hashed=frozenset({"zip"}), hash_key=b"k2"))["zip"]


def test_no_policy_logs_every_column() -> None:
    assert logged(LogPolicy())["ssn"] == "123-45-6789"


def test_the_rate_cap_lets_through_a_second_of_rows_then_refills() -> None:
    now = [0.0]
    cap = RateCap(10, clock=lambda: now[0])
    assert [cap.take(4) for _ in range(3)] == [True, True, False]  # 8 of a burst of 10
    now[0] += 0.5  # five rows' worth of tokens
    assert cap.take(5) and not cap.take(3)
