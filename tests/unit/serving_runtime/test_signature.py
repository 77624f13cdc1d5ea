"""Validation of client rows against the model's signature."""

from __future__ import annotations

import numpy as np
import pytest

from modelops.serving_runtime.columns import Column
from modelops.serving_runtime.errors import InvalidInput, PayloadTooLarge
from modelops.serving_runtime.signature import InputSchema

DOUBLES = InputSchema(
    columns=(Column("a", "double"), Column("b", "double"), Column("c", "double")),
    source="columns",
)
MIXED = InputSchema(
    columns=(
        Column("age", "long"),
        Column("income", "double", required=False),
        Column("city", "string"),
        Column("member", "boolean", required=False),
    ),
    source="columns",
)
TENSOR = InputSchema(
    columns=tuple(Column(f"x{i}", "double", required=None) for i in range(2)),
    source="tensor",
    named=False,
)


def test_rows_become_a_float_array_in_signature_order() -> None:
    x = DOUBLES.from_rows([[1, 2.5, 3], [4, 5, 6]], 10)
    assert x.dtype == np.float64
    assert x.tolist() == [[1.0, 2.5, 3.0], [4.0, 5.0, 6.0]]


def test_records_and_columns_give_the_same_array_as_rows() -> None:
    rows = DOUBLES.from_rows([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], 10)
    records = DOUBLES.from_records([{"c": 3.0, "a": 1.0, "b": 2.0}, {"b": 5, "a": 4, "c": 6}], 10)
    columns = DOUBLES.from_columns({"b": [2.0, 5.0], "c": [3.0, 6.0], "a": [1.0, 4.0]}, 10)
    assert np.array_equal(rows, records)
    assert np.array_equal(rows, columns)


def test_named_rows_in_another_order_are_reordered() -> None:
    x = DOUBLES.from_rows([[3.0, 1.0, 2.0]], 10, names=["c", "a", "b"])
    assert x.tolist() == [[1.0, 2.0, 3.0]]


@pytest.mark.parametrize(
    ("rows", "needle"),
    [
        ([[1.0, 2.0]], "each row must have 3 values"),
        ([[1.0, 2.0, 3.0], [1.0, 2.0]], "ragged rows: row 0 has 3 values but row 1 has 2"),
        ([[1.0, "x", 3.0]], "column 'b' (double) needs a number, row 0 has a string"),
        ([[1.0, 2.0, True]], "column 'c' (double) needs a number, row 0 has a boolean"),
        ([[1.0, None, 3.0]], "column 'b' (double) is required, but row 0 is null"),
        ([[1.0, 2.0, [3.0]]], "column 'c' (double) needs a number, row 0 has a list"),
        ([[1.0, 2.0, 10**400]], "column 'c' (double) has a value out of range"),
        ([1.0, 2.0, 3.0], "row 0 is a number, expected a list"),
        ("abc", "expected a list of rows, got a string"),
        ([[]], "each row must have 3 values"),
    ],
)
def test_bad_rows_are_refused_with_a_message_naming_the_problem(rows: object, needle: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        DOUBLES.from_rows(rows, 10)
    assert needle in caught.value.message


def test_empty_input_is_refused() -> None:
    with pytest.raises(InvalidInput, match="empty input"):
        DOUBLES.from_rows([], 10)
    with pytest.raises(InvalidInput, match="empty"):
        DOUBLES.from_columns({}, 10)


def test_too_many_rows_is_payload_too_large() -> None:
    with pytest.raises(PayloadTooLarge, match="too many rows: 3 > 2"):
        DOUBLES.from_rows([[1.0, 2.0, 3.0]] * 3, 2)


def test_missing_columns_are_named_with_the_unknown_ones() -> None:
    with pytest.raises(InvalidInput) as caught:
        DOUBLES.from_records([{"a": 1.0, "bb": 2.0, "c": 3.0}], 10)
    assert "missing required columns ['b']" in caught.value.message
    assert "unknown columns ['bb']" in caught.value.message


def test_mixed_kinds_validate_per_column() -> None:
    x = MIXED.from_records(
        [
            {"age": 30, "income": 1.5, "city": "Oslo", "member": True},
            {"age": 41.0, "city": "Rome"},  # optional columns left out; 41.0 is whole
        ],
        10,
    )
    assert x.dtype == object
    assert x.tolist() == [[30, 1.5, "Oslo", True], [41, None, "Rome", None]]


@pytest.mark.parametrize(
    ("record", "needle"),
    [
        ({"age": 30.5, "city": "Oslo"}, "column 'age' (long) needs whole numbers, row 0 has 30.5"),
        ({"age": "30", "city": "Oslo"}, "column 'age' (long) needs an integer, row 0 has a string"),
        ({"age": 30, "city": 7}, "column 'city' (string) needs a string, row 0 has a number"),
        ({"age": 30, "city": "x", "member": 1}, "column 'member' (boolean) needs true or false"),
        ({"age": None, "city": "x"}, "column 'age' (long) is required, but row 0 is null"),
        ({"age": 2**70, "city": "x"}, "column 'age' (long) has a value out of range"),
        ({"city": "x"}, "missing required columns ['age']"),
    ],
)
def test_mixed_kind_mistakes(record: dict[str, object], needle: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        MIXED.from_records([record], 10)
    assert needle in caught.value.message


def test_integer_columns_refuse_null_even_when_optional() -> None:
    schema = InputSchema(columns=(Column("n", "integer", required=False),), source="columns")
    with pytest.raises(InvalidInput, match="cannot hold null"):
        schema.from_rows([[None]], 10)
    with pytest.raises(InvalidInput, match="out of range"):
        schema.from_rows([[2**40]], 10)


def test_float_columns_round_like_float32() -> None:
    schema = InputSchema(columns=(Column("f", "float"), Column("g", "float")), source="columns")
    x = schema.from_rows([[0.1, 1e30]], 10)
    assert x.dtype == np.float32
    assert x[0, 0] == np.float32(0.1)
    with pytest.raises(InvalidInput, match="out of range"):
        schema.from_rows([[0.1, 1e300]], 10)


def test_optional_double_null_becomes_nan() -> None:
    schema = InputSchema(
        columns=(Column("a", "double"), Column("b", "double", required=False)), source="columns"
    )
    x = schema.from_rows([[1.0, None]], 10)
    assert x.dtype == np.float64 and np.isnan(x[0, 1])


def test_tensor_nulls_follow_the_estimator() -> None:
    with pytest.raises(InvalidInput, match="is required, but row 0 is null"):
        TENSOR.from_rows([[1.0, None]], 10)
    tolerant = InputSchema(columns=TENSOR.columns, source="tensor", named=False, allow_nan=True)
    assert np.isnan(tolerant.from_rows([[1.0, None]], 10)[0, 1])


def test_unnamed_schema_reads_records_in_key_order() -> None:
    assert TENSOR.from_records([{"p": 1.0, "q": 2.0}], 10).tolist() == [[1.0, 2.0]]
    with pytest.raises(InvalidInput, match="same keys in the same order"):
        TENSOR.from_records([{"p": 1.0, "q": 2.0}, {"q": 1.0, "p": 2.0}], 10)


def test_datetime_and_binary_columns() -> None:
    schema = InputSchema(columns=(Column("t", "datetime"), Column("b", "binary")), source="columns")
    assert schema.from_rows([["2024-01-02T03:04:05", "aGVsbG8="]], 10).shape == (1, 2)
    with pytest.raises(InvalidInput, match="time zone"):
        schema.from_rows([["2024-01-02T03:04:05+02:00", "aGVsbG8="]], 10)
    with pytest.raises(InvalidInput, match="not a date-time"):
        schema.from_rows([["yesterday", "aGVsbG8="]], 10)
    with pytest.raises(InvalidInput, match="not base64"):
        schema.from_rows([["2024-01-02", "***"]], 10)
