"""Open Inference v2: request tensors in, output tensors out."""

from __future__ import annotations

import re

import numpy as np
import pytest

from modelops.serving_runtime import v2_codec
from modelops.serving_runtime.columns import Column
from modelops.serving_runtime.errors import InvalidInput
from modelops.serving_runtime.signature import InputSchema

SCHEMA = InputSchema(columns=(Column("a", "double"), Column("b", "long")), source="columns")
EXPECTED = [[1.0, 2.0], [3.0, 4.0]]


def v2(*inputs: dict[str, object], **extra: object) -> dict[str, object]:
    return {"inputs": list(inputs), **extra}


def test_v2_one_matrix_or_one_tensor_per_column() -> None:
    matrix = v2({"name": "x", "shape": [2, 2], "datatype": "FP64", "data": [1, 2, 3, 4]})
    nested = v2({"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [[1, 2], [3, 4]]})
    columns = v2(
        {"name": "b", "shape": [2], "datatype": "INT64", "data": [2, 4]},
        {"name": "a", "shape": [2, 1], "datatype": "FP64", "data": [1, 3]},
        outputs=[{"name": "predict_proba"}],
        id="req-1",
    )
    for doc in (matrix, nested):
        x, outputs, request_id = v2_codec.parse_v2(doc, SCHEMA, 10)
        assert x.tolist() == EXPECTED and outputs == ["predict"] and request_id is None
    x, outputs, request_id = v2_codec.parse_v2(columns, SCHEMA, 10)
    assert x.tolist() == EXPECTED and outputs == ["predict_proba"] and request_id == "req-1"


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ({"inputs": []}, "non-empty list"),
        (v2({"name": "x", "shape": [2, 2], "datatype": "FP64", "data": [1, 2, 3]}), "needs 4"),
        (v2({"name": "x", "shape": [1, 2], "datatype": "FP99", "data": [1, 2]}), "datatype"),
        (v2({"name": "x", "shape": [1, 2], "datatype": "INT64", "data": [1.5, 2]}), "float"),
        (v2({"name": "x", "shape": [1, 2], "datatype": "BOOL", "data": [1, 0]}), "BOOL"),
        (v2({"name": "x", "shape": [1, 2], "datatype": "UINT8", "data": [1, 300]}), "range"),
        (v2({"name": "x", "shape": [-1, 2], "datatype": "FP64", "data": [1, 2]}), "shape"),
        (v2({"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]},
            outputs=[{"name": "logits"}]), "unknown outputs"),
        (v2({"name": "x", "shape": [1, 2, 1], "datatype": "FP64", "data": [1, 2]},
            {"name": "y", "shape": [1], "datatype": "FP64", "data": [1]}), "shape [1, 2, 1]"),
        (v2({"name": "a", "shape": [1], "datatype": "FP64", "data": [1]}),
         "missing required columns ['b']"),
    ],
)  # fmt: skip
def test_v2_mistakes(doc: object, needle: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(needle)):
        v2_codec.parse_v2(doc, SCHEMA, 10)


def test_v2_output_tensors() -> None:
    t = v2_codec.v2_tensor("predict_proba", np.array([[0.25, 0.75]]))
    assert (t["shape"], t["datatype"], list(t["data"])) == ([1, 2], "FP64", [0.25, 0.75])
    t = v2_codec.v2_tensor("predict", np.array(["cat", "dog"], dtype=object))
    assert (t["shape"], t["datatype"], t["data"]) == ([2], "BYTES", ["cat", "dog"])
    t = v2_codec.v2_tensor("predict", np.array([1, 2]))
    assert t["datatype"] == "INT64"
