"""Online feature rows without Feast: entities checked, values assembled, what is missing named."""

from __future__ import annotations

import numpy as np
import pytest

from modelops.serving_runtime.columns import Column
from modelops.serving_runtime.errors import FeaturesNotFound, InvalidInput, PayloadTooLarge
from modelops.serving_runtime.features.assembly import (
    assemble,
    check_entities,
    check_found,
    needed_features,
)
from modelops.serving_runtime.signature import InputSchema

from .conftest import SCHEMA

FETCHED = {"avg_amount_30d": [10.5, 20.0], "txn_count_7d": [3, 4]}


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
