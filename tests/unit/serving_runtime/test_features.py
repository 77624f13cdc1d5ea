"""Online features without Feast or servers: parsing FEATURE_REFS and `entities`, assembling
model rows from fetched and raw values, naming what is missing, and the lookup's errors."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from modelops.serving_runtime.errors import InvalidInput, PayloadTooLarge
from modelops.serving_runtime.features import (
    LOOKUP_ERRORS,
    LOOKUP_SECONDS,
    FeatureRef,
    FeaturesNotFound,
    FeatureStoreNotReady,
    FeatureStoreUnavailable,
    OnlineFeatures,
    assemble,
    check_entities,
    check_found,
    missing_ref_problems,
    needed_features,
    parse_refs,
)
from modelops.serving_runtime.metrics import Metrics
from modelops.serving_runtime.settings import RuntimeSettings
from modelops.serving_runtime.signature import Column, InputSchema

SCHEMA = InputSchema(
    columns=(
        Column("avg_amount_30d", "double"),
        Column("amount", "double"),
        Column("txn_count_7d", "long"),
        Column("channel", "string", required=False),
    ),
    source="columns",
)
FETCHED = {"avg_amount_30d": [10.5, 20.0], "txn_count_7d": [3, 4]}


# --- FEATURE_REFS and settings ------------------------------------------------------------------


def test_refs_parse_into_view_and_feature() -> None:
    refs = parse_refs(" customer_stats:avg_amount_30d, customer_stats:txn_count_7d ,")
    assert refs == [
        FeatureRef("customer_stats", "avg_amount_30d"),
        FeatureRef("customer_stats", "txn_count_7d"),
    ]
    assert str(refs[0]) == "customer_stats:avg_amount_30d"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "names no feature"),
        ("avg_amount_30d", "'avg_amount_30d' is not a view:feature"),
        ("v:", "'v:' is not a view:feature"),
        ("a:x,b:x", "two features named 'x' (a:x and b:x)"),
    ],
)
def test_bad_refs_are_named(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_refs(text)


def test_settings_read_the_operators_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_URI", "models:/m/1")
    monkeypatch.setenv("FEATURE_REPO", "/feature-repo")
    monkeypatch.setenv("FEATURE_ENTITY_KEY", "customer_id")
    monkeypatch.setenv("FEATURE_REFS", "customer_stats:avg_amount_30d,customer_stats:txn_count_7d")
    s = RuntimeSettings()  # type: ignore[call-arg]
    assert s.feature_repo == "/feature-repo"
    assert s.feature_entity_key == "customer_id"
    assert s.feature_refs.split(",") == [
        "customer_stats:avg_amount_30d",
        "customer_stats:txn_count_7d",
    ]


def test_settings_without_features_and_with_bad_ones() -> None:
    s = RuntimeSettings(model_uri="models:/m/1", feature_repo="")
    assert s.feature_repo is None
    with pytest.raises(ValidationError, match="FEATURE_ENTITY_KEY is not"):
        RuntimeSettings(model_uri="m", feature_repo="/r", feature_refs="v:f")
    with pytest.raises(ValidationError, match="is not a view:feature"):
        RuntimeSettings(model_uri="m", feature_repo="/r", feature_entity_key="id", feature_refs="f")


def test_nothing_of_feast_loads_without_feature_repo() -> None:
    code = (
        "import sys\n"
        "from modelops.serving_runtime.app import create_app\n"
        "from modelops.serving_runtime.settings import RuntimeSettings\n"
        "from modelops.serving_runtime import dataplane, features\n"
        "create_app(RuntimeSettings(model_uri='models:/m/1'))\n"
        "loaded = [m for m in sys.modules if m == 'feast' or m.startswith('feast.')]\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# --- entities -----------------------------------------------------------------------------------


def test_entities_are_checked() -> None:
    assert check_entities([1, 2], "customer_id", 10) == [1, 2]
    assert check_entities(["a", 2], "customer_id", 10) == ["a", 2]
    with pytest.raises(InvalidInput, match='"entities" must be a list of customer_id values'):
        check_entities(1, "customer_id", 10)
    with pytest.raises(InvalidInput, match="is empty"):
        check_entities([], "customer_id", 10)
    with pytest.raises(PayloadTooLarge, match="3 entities > 2"):
        check_entities([1, 2, 3], "customer_id", 2)
    with pytest.raises(InvalidInput, match=r"\(integers\); entities\[1\] is '2'"):
        check_entities([1, "2"], "customer_id", 10, int)
    with pytest.raises(InvalidInput, match=r"entities\[0\] is True"):
        check_entities([True], "customer_id", 10)


def test_unknown_entities_and_missing_values_are_named() -> None:
    values = {"avg_amount_30d": [1.0, None, None], "txn_count_7d": [None, None, 3]}
    with pytest.raises(FeaturesNotFound) as caught:
        check_found("customer_id", [7, 999, 8], values, ["avg_amount_30d", "txn_count_7d"])
    err = caught.value
    assert err.status == 404 and err.code == "features_not_found"
    assert "no online features for customer_id 999" in err.message
    assert "no value of feature 'txn_count_7d' for customer_id 7" in err.message
    assert "no value of feature 'avg_amount_30d' for customer_id 8" in err.message
    assert err.details["unknown_entities"] == [999]
    assert err.details["missing_features"] == {"avg_amount_30d": [8], "txn_count_7d": [7]}


def test_nulls_are_fine_where_not_needed() -> None:
    values = {"a": [1.0, 2.0], "b": [None, None]}
    check_found("id", [1, 2], values, ["a"])  # b is not needed: no error
    with pytest.raises(FeaturesNotFound, match="id 'x', 'y'"):
        check_found("id", ["x", "y"], {"a": [None, None]}, ["a"])


def test_needed_features_are_those_filling_non_null_columns() -> None:
    names = ["avg_amount_30d", "txn_count_7d", "channel", "unused"]
    assert needed_features(SCHEMA, names) == ["avg_amount_30d", "txn_count_7d"]


# --- assembling rows ------------------------------------------------------------------------


def test_fetched_and_raw_rows_in_signature_order() -> None:
    x = assemble(SCHEMA, FETCHED, [[1.5, "web"], [2.5, None]], 2, 100)
    assert x.tolist() == [[10.5, 1.5, 3, "web"], [20.0, 2.5, 4, None]]


def test_fetched_and_raw_records() -> None:
    raw = [{"amount": 1.5, "customer_id": 1}, {"amount": 2.5, "channel": "app"}]
    x = assemble(SCHEMA, FETCHED, raw, 2, 100)
    assert x.tolist() == [[10.5, 1.5, 3, None], [20.0, 2.5, 4, "app"]]


def test_only_fetched_features_when_the_model_needs_nothing_else() -> None:
    schema = InputSchema(
        columns=(Column("txn_count_7d", "double"), Column("avg_amount_30d", "double")),
        source="columns",
    )
    fetched = {**FETCHED, "unused": [0, 0]}
    x = assemble(schema, fetched, None, 2, 100)
    assert x.dtype == np.float64
    assert x.tolist() == [[3.0, 10.5], [4.0, 20.0]]


def test_a_scalar_list_fills_the_one_remaining_column() -> None:
    schema = InputSchema(
        columns=(Column("avg_amount_30d", "double"), Column("amount", "double")),
        source="columns",
    )
    assert assemble(schema, FETCHED, [1.0, 2.0], 2, 100).tolist() == [[10.5, 1.0], [20.0, 2.0]]


def test_a_column_nobody_supplies_is_named() -> None:
    with pytest.raises(InvalidInput) as caught:
        assemble(SCHEMA, FETCHED, None, 2, 100, refs=["v:avg_amount_30d", "v:txn_count_7d"])
    message = caught.value.message
    assert "model column 'amount' come neither from the feature store" in message
    assert "(FEATURE_REFS: v:avg_amount_30d, v:txn_count_7d)" in message
    assert caught.value.details["missing"] == ["amount"]
    with pytest.raises(InvalidInput, match="model column 'amount'"):
        assemble(SCHEMA, FETCHED, [{"channel": "web"}, {"channel": "web"}], 2, 100)


def test_row_counts_must_match() -> None:
    with pytest.raises(InvalidInput, match='"features" has 1 rows but "entities" has 2'):
        assemble(SCHEMA, FETCHED, [[1.0, "web"]], 2, 100)


def test_positional_rows_must_fit_the_remaining_columns() -> None:
    with pytest.raises(InvalidInput, match=r"row 1 has 3 values .* are 2 \('amount', 'channel'\)"):
        assemble(SCHEMA, FETCHED, [[1.0, "web"], [1.0, "web", 3]], 2, 100)


def test_a_fetched_column_may_not_come_from_the_request_too() -> None:
    raw = [{"amount": 1.0, "txn_count_7d": 9}, {"amount": 1.0}]
    with pytest.raises(InvalidInput, match="column 'txn_count_7d' come from the feature store"):
        assemble(SCHEMA, FETCHED, raw, 2, 100)


def test_raw_values_are_validated_like_any_request() -> None:
    with pytest.raises(InvalidInput, match=r"column 'amount' \(double\) needs a number, row 1"):
        assemble(SCHEMA, FETCHED, [[1.0, "web"], ["x", "web"]], 2, 100)
    with pytest.raises(InvalidInput, match="must be a list of rows"):
        assemble(SCHEMA, FETCHED, {"amount": [1.0, 2.0]}, 2, 100)


def test_entities_need_a_named_signature() -> None:
    with pytest.raises(InvalidInput, match="signature names its columns"):
        assemble(None, FETCHED, None, 2, 100)
    unnamed = InputSchema(columns=(Column("x0", "double"),), source="tensor", named=False)
    with pytest.raises(InvalidInput, match="signature names its columns"):
        assemble(unnamed, FETCHED, None, 2, 100)


def test_refs_are_checked_against_the_registry() -> None:
    views = {"customer_stats": (["avg_amount_30d", "txn_count_7d"], ["customer_id"])}
    refs = parse_refs("customer_stats:avg_amount_30d,customer_stats:nope,other:x")
    problems = missing_ref_problems(refs, views, "customer_id")
    assert problems == [
        "customer_stats:nope: view 'customer_stats' has no feature 'nope' (it has: "
        "avg_amount_30d, txn_count_7d)",
        "other:x: no feature view 'other' (the registry has: customer_stats)",
    ]
    wrong_key = missing_ref_problems(refs[:1], views, "account_id")
    assert wrong_key == [
        "customer_stats:avg_amount_30d: view 'customer_stats' is keyed by customer_id, not "
        "FEATURE_ENTITY_KEY 'account_id'"
    ]


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
    assert features.status()["reason"] == "waiting for the model to load"
    await wait_ready(features)
    try:
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
        assert status["reason"] == "FEATURE_REPO /nowhere has no feature_store.yaml"
    finally:
        failing.stop()
