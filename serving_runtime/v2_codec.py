"""Open Inference Protocol v2: request tensors in; response tensors and model metadata out."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from modelops.serving_runtime.codecs import unchecked_frame
from modelops.serving_runtime.columns import NUMPY_DTYPES
from modelops.serving_runtime.errors import InvalidInput, PayloadTooLarge
from modelops.serving_runtime.model import ModelInput
from modelops.serving_runtime.signature import InputSchema

V2_DTYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(object),
}
_V2_OF_DTYPE = {dt: name for name, dt in V2_DTYPES.items() if name != "BYTES"}
V2_OUTPUTS = ("predict", "predict_proba")


def v2_datatype(array: np.ndarray) -> str:
    return _V2_OF_DTYPE.get(array.dtype, "BYTES")


def _flatten(data: list[Any]) -> list[Any]:
    while data and type(data[0]) is list:
        if not all(type(d) is list for d in data):
            raise InvalidInput("tensor data mixes nested lists and scalars")
        data = [v for d in data for v in d]
    return data


def _v2_values(tensor: dict[str, Any], i: int) -> tuple[str, list[int], np.ndarray]:
    where = f"inputs[{i}]"
    name = tensor.get("name")
    shape = tensor.get("shape")
    datatype = tensor.get("datatype")
    data = tensor.get("data")
    if type(name) is not str or not name:
        raise InvalidInput(f"{where}.name must be a non-empty string")
    if type(shape) is not list or not shape or not all(type(d) is int and d >= 0 for d in shape):
        raise InvalidInput(f"{where} ({name}).shape must be a list of non-negative integers")
    if datatype not in V2_DTYPES:
        raise InvalidInput(
            f"{where} ({name}).datatype {datatype!r} is not one of {sorted(V2_DTYPES)}"
        )
    if type(data) is not list:
        raise InvalidInput(f"{where} ({name}).data must be a list")
    flat = _flatten(data)
    needed = math.prod(shape)
    if len(flat) != needed:
        raise InvalidInput(
            f"{where} ({name}) has {len(flat)} values but shape {shape} needs {needed}"
        )
    types = set(map(type, flat))
    if datatype == "BOOL":
        ok = types <= {bool}
    elif datatype == "BYTES":
        ok = types <= {str}
    elif datatype.startswith("FP"):
        ok = types <= {int, float}
    else:
        ok = types <= {int}
    if not ok:
        raise InvalidInput(
            f"{where} ({name}) is {datatype} but its data holds "
            f"{', '.join(sorted(t.__name__ for t in types))} values"
        )
    try:
        with np.errstate(over="raise"):
            array = np.array(flat, dtype=V2_DTYPES[datatype]).reshape(shape)
    except (OverflowError, FloatingPointError, ValueError) as e:
        raise InvalidInput(f"{where} ({name}) has values out of range for {datatype}: {e}") from e
    return name, shape, array


def parse_v2(
    doc: Any, schema: InputSchema | None, max_rows: int
) -> tuple[ModelInput, list[str], Any]:
    """An inference request: one [N, F] tensor, or one [N] (or [N, 1]) tensor per column.
    Returns the input, the outputs asked for and the request id."""
    if type(doc) is not dict:
        raise InvalidInput('expected a JSON object with "inputs"')
    inputs = doc.get("inputs")
    if type(inputs) is not list or not inputs:
        raise InvalidInput('"inputs" must be a non-empty list of tensors')
    if not all(type(t) is dict for t in inputs):
        raise InvalidInput('each of "inputs" must be an object with name, shape, datatype, data')
    request_id = doc.get("id")
    if request_id is not None and type(request_id) is not str:
        raise InvalidInput('"id" must be a string')
    outputs = ["predict"]
    if "outputs" in doc:
        requested = doc["outputs"]
        if type(requested) is not list or not all(
            type(o) is dict and type(o.get("name")) is str for o in requested
        ):
            raise InvalidInput('"outputs" must be a list of objects with a "name"')
        outputs = [o["name"] for o in requested] or ["predict"]
        unknown = [o for o in outputs if o not in V2_OUTPUTS]
        if unknown:
            raise InvalidInput(f"unknown outputs {unknown}: this model offers {list(V2_OUTPUTS)}")
    tensors = [_v2_values(t, i) for i, t in enumerate(inputs)]
    if len(tensors) == 1 and len(tensors[0][1]) == 2 and tensors[0][1][1] != 1:
        _, shape, array = tensors[0]
        if shape[0] > max_rows:
            raise PayloadTooLarge(f"too many rows: {shape[0]} > {max_rows} allowed per request")
        rows = array.tolist()
        if schema is None:
            return unchecked_frame(rows, max_rows, "inputs"), outputs, request_id
        return schema.from_rows(rows, max_rows), outputs, request_id
    columns: dict[str, list[Any]] = {}
    for name, shape, array in tensors:
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            raise InvalidInput(
                f"input {name} has shape {shape}: send one [N, F] tensor, or one [N] tensor per "
                "column"
            )
        if name in columns:
            raise InvalidInput(f"input {name} appears twice")
        columns[name] = array.reshape(-1).tolist()
    if schema is None:
        return unchecked_frame(columns, max_rows, "inputs"), outputs, request_id
    if not schema.named and len(columns) == 1 and schema.width in (1, None):
        (values,) = columns.values()
        return schema.from_rows([[v] for v in values], max_rows), outputs, request_id
    return schema.from_columns(columns, max_rows), outputs, request_id


def v2_tensor(name: str, values: Any) -> dict[str, Any]:
    if hasattr(values, "to_numpy"):
        values = values.to_numpy()
    array = np.asarray(values)
    if array.dtype.kind in ("U", "S", "O"):
        data: Any = [
            v if isinstance(v, str | int | float | bool) else str(v) for v in array.ravel()
        ]
        datatype = "BYTES"
    else:
        datatype = v2_datatype(array)
        data = np.ascontiguousarray(array.reshape(-1))
        if datatype == "BYTES":  # e.g. datetime outputs
            data = [str(v) for v in array.ravel()]
    return {"name": name, "shape": list(array.shape), "datatype": datatype, "data": data}


def schema_v2_tensors(schema: InputSchema | None) -> list[dict[str, Any]]:
    """The v2 model metadata's inputs: one [-1] tensor per column, or one [-1, F] tensor."""
    if schema is None or schema.source == "free":
        return [{"name": "input-0", "datatype": "FP64", "shape": [-1, -1]}]
    if not schema.named:
        kinds = {c.kind for c in schema.columns}
        dtype = NUMPY_DTYPES[next(iter(kinds))] if len(kinds) == 1 else np.dtype(np.float64)
        return [
            {
                "name": "input-0",
                "datatype": _V2_OF_DTYPE.get(dtype, "BYTES"),
                "shape": [-1, len(schema.columns)],
            }
        ]
    return [
        {
            "name": c.name,
            "datatype": _V2_OF_DTYPE.get(NUMPY_DTYPES[c.kind], "BYTES"),
            "shape": [-1],
        }
        for c in schema.columns
    ]
