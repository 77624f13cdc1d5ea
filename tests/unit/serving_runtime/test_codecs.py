"""Wire formats: MLflow scoring bodies, CSV, /predict bodies, JSON responses."""

from __future__ import annotations

import re

import numpy as np
import orjson
import pytest

from modelops.serving_runtime import codecs
from modelops.serving_runtime.columns import Column
from modelops.serving_runtime.errors import (
    InvalidInput,
    MalformedBody,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from modelops.serving_runtime.signature import InputSchema

SCHEMA = InputSchema(columns=(Column("a", "double"), Column("b", "long")), source="columns")
EXPECTED = [[1.0, 2.0], [3.0, 4.0]]


def j(doc: object) -> bytes:
    return orjson.dumps(doc)


@pytest.mark.parametrize(
    "doc",
    [
        {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3, 4]]}},
        {"dataframe_split": {"columns": ["b", "a"], "data": [[2, 1], [4, 3]], "index": [7, 8]}},
        {"dataframe_split": {"data": [[1, 2], [3, 4]]}},
        {"dataframe_records": [{"a": 1, "b": 2}, {"a": 3, "b": 4}]},
        {"instances": [[1, 2], [3, 4]]},
        {"instances": [{"a": 1, "b": 2}, {"a": 3, "b": 4}]},
        {"inputs": {"a": [1, 3], "b": [2, 4]}},
        {"inputs": [[1, 2], [3, 4]], "params": {"ignored": True}},
    ],
)
def test_every_mlflow_json_format(doc: object) -> None:
    x = codecs.parse_invocations(j(doc), "application/json", SCHEMA, 100)
    assert x.tolist() == EXPECTED


def test_csv_with_header() -> None:
    x = codecs.parse_invocations(b"b,a\n2,1\n4,3\n", "text/csv; charset=utf-8", SCHEMA, 100)
    assert x.tolist() == EXPECTED


def test_csv_empty_cell_is_a_null() -> None:
    with pytest.raises(InvalidInput, match="column 'a' .* row 1 is null"):
        codecs.parse_invocations(b"a,b\n1,2\n,4\n", "text/csv", SCHEMA, 100)


@pytest.mark.parametrize(
    ("body", "content_type", "error", "needle"),
    [
        (b"{", "application/json", MalformedBody, "malformed JSON"),
        (b"", "application/json", MalformedBody, "empty"),
        (b"[1]", "application/json", InvalidInput, "exactly one of"),
        (j({"instances": [[1, 2]], "inputs": [[1, 2]]}), "application/json", InvalidInput, "one"),
        (j({"data": [[1, 2]]}), "application/json", InvalidInput, "exactly one of"),
        (j({"dataframe_split": [[1, 2]]}), "application/json", InvalidInput, '"data"'),
        (j({"dataframe_split": {"data": [[1]], "x": 1}}), "application/json", InvalidInput, "x"),
        (j({"instances": [[1, 2]]}), "application/xml", UnsupportedMediaType, "application/xml"),
        (j({"instances": [[1, 2]]}), "application/json; charset=latin-1", UnsupportedMediaType,
         "UTF-8"),
        (b"a,b\n1,2\n", "text/csv; charset=utf-16", UnsupportedMediaType, "UTF-8"),
        (b"a,b\n", "text/csv", InvalidInput, "no rows"),
        (b'a,b\n"1,2\n', "text/csv", MalformedBody, "malformed CSV"),
        (j({"instances": [[1, 2]] * 5}), "application/json", PayloadTooLarge, "5 > 3"),
    ],
)  # fmt: skip
def test_invocation_mistakes(
    body: bytes, content_type: str, error: type[Exception], needle: str
) -> None:
    with pytest.raises(error, match=re.escape(needle)):
        codecs.parse_invocations(body, content_type, SCHEMA, 3)


def test_predict_body() -> None:
    x, want = codecs.parse_predict(
        j({"features": [[1, 2]], "return_probabilities": True}), SCHEMA, 9
    )
    assert x.tolist() == [[1.0, 2.0]] and want
    with pytest.raises(InvalidInput, match='missing "features"'):
        codecs.parse_predict(j({"rows": []}), SCHEMA, 9)
    with pytest.raises(InvalidInput, match="true or false"):
        codecs.parse_predict(j({"features": [[1, 2]], "return_probabilities": "yes"}), SCHEMA, 9)


def test_numeric_predictions_are_written_straight_from_numpy() -> None:
    doc = {"predictions": codecs.predictions_json(np.array([0.5, 1.5]))}
    assert orjson.loads(codecs.dumps(doc)) == {"predictions": [0.5, 1.5]}
    labels = codecs.predictions_json(np.array(["a", "b"], dtype=object))
    assert labels == ["a", "b"]
