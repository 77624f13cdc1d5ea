"""The online lookup with a stand-in store; and no Feast at all without FEATURE_REPO."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import pytest

from modelops.serving_runtime.errors import (
    FeaturesNotFound,
    FeatureStoreNotReady,
    FeatureStoreUnavailable,
    InvalidInput,
)
from modelops.serving_runtime.features.lookup import OnlineFeatures
from modelops.serving_runtime.features.metrics import LOOKUP_ERRORS, LOOKUP_SECONDS
from modelops.serving_runtime.metrics import Metrics
from modelops.serving_runtime.settings import RuntimeSettings

from .conftest import SCHEMA


def test_nothing_of_feast_loads_without_feature_repo() -> None:
    code = (
        "import sys\n"
        "from modelops.serving_runtime.app import create_app\n"
        "from modelops.serving_runtime.settings import RuntimeSettings\n"
        "from modelops.serving_runtime import dataplane\n"
        "from modelops.serving_runtime.features import assembly, lookup, metrics, repo, store\n"
        "create_app(RuntimeSettings(model_uri='models:/m/1'))\n"
        "loaded = [m for m in sys.modules if m == 'feast' or m.startswith('feast.')]\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# --- the lookup, with a stand-in store ------------------------------------------------------


class FakeResponse:
    def __init__(self, values: dict[str, list[Any]]) -> None:
        self.values = values

    def to_dict(self) -> dict[str, list[Any]]:
        return self.values


class FakeStore:
    def __init__(self, table: dict[int, dict[str, Any]], fail: Exception | None = None) -> None:
        self.table = table
        self.fail = fail
        self.calls: list[tuple[list[str], list[dict[str, Any]]]] = []

    def get_online_features(self, features: list[str], entity_rows: list[dict[str, Any]]) -> Any:
        self.calls.append((features, entity_rows))
        if self.fail is not None:
            raise self.fail
        ids = [r["customer_id"] for r in entity_rows]
        out: dict[str, list[Any]] = {"customer_id": ids}
        for ref in features:
            name = ref.split(":")[1]
            out[name] = [self.table.get(i, {}).get(name) for i in ids]
        return FakeResponse(out)


def online(store: FakeStore | None, **kw: Any) -> tuple[OnlineFeatures, Metrics]:
    settings = RuntimeSettings(
        model_uri="models:/m/1",
        feature_repo="/feature-repo",
        feature_entity_key="customer_id",
        feature_refs="customer_stats:avg_amount_30d,customer_stats:txn_count_7d",
        **kw,
    )
    metrics = Metrics("m", "1")

    def opener(features: OnlineFeatures) -> None:
        features.store = store
        features.entity_kind = int
        features.online_store = "redis at 127.0.0.1:1"

    features = OnlineFeatures(settings, metrics, opener=opener)
    return features, metrics


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, {"model": "m", "version": "1", **labels})


async def wait_ready(features: OnlineFeatures) -> None:
    features.start()
    for _ in range(200):
        if features.status()["ready"]:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(features.status())


async def test_one_batched_read_fills_the_rows() -> None:
    store = FakeStore({1: {"avg_amount_30d": 10.5, "txn_count_7d": 3}, 2: {"avg_amount_30d": 20.0,
                       "txn_count_7d": 4}})  # fmt: skip
    features, metrics = online(store)
    assert features.status()["state"] == "loading"
    assert features.status()["reason"] == "WaitingForModel"
    await wait_ready(features)
    try:
        # The warm-up read, before the store is ready: the lazy set-up is not the first
        # request's to pay.
        refs = ["customer_stats:avg_amount_30d", "customer_stats:txn_count_7d"]
        assert store.calls == [(refs, [{"customer_id": 0}])]
        store.calls.clear()
        x = await features.model_input(SCHEMA, [1, 2], [[1.5, "web"], [2.5, "app"]], 100)
        assert x.tolist() == [[10.5, 1.5, 3, "web"], [20.0, 2.5, 4, "app"]]
        assert store.calls == [
            (
                ["customer_stats:avg_amount_30d", "customer_stats:txn_count_7d"],
                [{"customer_id": 1}, {"customer_id": 2}],
            )
        ]
        assert sample(metrics, LOOKUP_SECONDS + "_count") == 1
        with pytest.raises(FeaturesNotFound, match="customer_id 404"):
            await features.model_input(SCHEMA, [1, 404], [[1.0, None], [1.0, None]], 100)
        assert sample(metrics, LOOKUP_ERRORS + "_total", reason="not_found") == 1
        # Wrong raw row count and wrong id types fail before any read.
        with pytest.raises(InvalidInput, match='has 1 rows but "entities" has 2'):
            await features.model_input(SCHEMA, [1, 2], [[1.0, None]], 100)
        with pytest.raises(InvalidInput, match="integers"):
            await features.model_input(SCHEMA, ["1"], None, 100)
        assert len(store.calls) == 2
    finally:
        features.stop()


async def test_a_failing_store_is_a_503_naming_it() -> None:
    features, metrics = online(FakeStore({}, fail=ConnectionError("Connection refused")))
    # A failed warm-up read is not a failed store: the pod serves requests without entities.
    await wait_ready(features)
    try:
        with pytest.raises(FeatureStoreUnavailable) as caught:
            await features.lookup([1])
        assert caught.value.status == 503
        assert caught.value.message == (
            "the feature store's online store (redis at 127.0.0.1:1) is unavailable: "
            "ConnectionError: Connection refused"
        )
        assert sample(metrics, LOOKUP_ERRORS + "_total", reason="unavailable") == 1
    finally:
        features.stop()


async def test_a_slow_store_times_out() -> None:
    class Slow(FakeStore):
        def get_online_features(self, features: Any, entity_rows: Any) -> Any:
            import time

            time.sleep(0.3)
            return super().get_online_features(features, entity_rows)

    features, _ = online(Slow({}), feature_lookup_timeout_ms=50)
    await wait_ready(features)
    try:
        with pytest.raises(FeatureStoreUnavailable, match="did not answer within 50 ms"):
            await features.lookup([1])
    finally:
        features.stop()


async def test_not_ready_until_initialised_and_failures_are_reported() -> None:
    features, metrics = online(None)
    with pytest.raises(FeatureStoreNotReady, match=r"\(/feature-repo\) is not ready"):
        await features.lookup([1])
    assert sample(metrics, LOOKUP_ERRORS + "_total", reason="not_ready") == 1

    settings = RuntimeSettings(
        model_uri="models:/m/1",
        feature_repo="/nowhere",
        feature_entity_key="customer_id",
        feature_refs="v:f",
        load_retry_initial_seconds=30,
    )
    failing = OnlineFeatures(settings, Metrics("m", "1"))  # the real opener
    failing.start()
    try:
        for _ in range(200):
            if failing.status()["state"] == "failed":
                break
            await asyncio.sleep(0.01)
        status = failing.status()
        assert status["ready"] is False and status["state"] == "failed"
        assert status["reason"] == "FeatureRepoInvalid"
        assert "feature_store.yaml" not in str(status)  # the detail is logged, not shown
    finally:
        failing.stop()
