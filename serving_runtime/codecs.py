"""Wire formats: /predict and MLflow scoring bodies in, JSON responses out."""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
import orjson

from modelops.serving_runtime.errors import (
    InvalidInput,
    MalformedBody,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from modelops.serving_runtime.model import ModelInput
from modelops.serving_runtime.signature import InputSchema

MLFLOW_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
JSON = "application/json"
CSV = "text/csv"


def load_json(body: bytes) -> Any:
    if not body:
        raise MalformedBody("the request body is empty; expected a JSON document")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise MalformedBody(f"malformed JSON: {e}") from e


def media_type(content_type: str | None) -> tuple[str, dict[str, str]]:
    if not content_type:
        return "", {}
    kind, *params = (p.strip() for p in content_type.split(";"))
    parsed = {}
    for p in params:
        key, _, value = p.partition("=")
        parsed[key.strip().lower()] = value.strip().strip('"').lower()
    return kind.lower(), parsed


# --- turning any tabular JSON shape into the validated array ---------------------------------
# No DataFrame for a model that takes arrays: orjson's parse is validated straight into a numpy
# array in signature column order (see signature.py), which is what keeps small requests cheap.


def tabular(data: Any, schema: InputSchema | None, max_rows: int, what: str) -> ModelInput:
    """Rows (lists), records (objects), a column map, or bare scalars (one column)."""
    if schema is None:
        return unchecked_frame(data, max_rows, what)
    if type(data) is dict:
        return schema.from_columns(data, max_rows)
    if type(data) is not list:
        raise InvalidInput(f'"{what}" must be a list of rows or an object of columns')
    if not data:
        raise InvalidInput(f'"{what}" is empty: no rows')
    first = data[0]
    if type(first) is dict:
        return schema.from_records(data, max_rows)
    if type(first) is list:
        return schema.from_rows(data, max_rows)
    if schema.width == 1 or schema.width is None:
        # A list of scalars is one column (pandas reads it so).
        return schema.from_rows([[v] for v in data], max_rows)
    raise InvalidInput(
        f'"{what}" must hold rows (lists) or records (objects); got a list of scalars, '
        f"but the model takes {schema.width} columns ({schema.describe()})"
    )


def unchecked_frame(data: Any, max_rows: int, what: str) -> Any:
    """For models whose signature the runtime does not check: pyfunc enforces it."""
    import pandas as pd

    try:
        frame = pd.DataFrame(data)
    except (ValueError, TypeError) as e:
        raise InvalidInput(f'"{what}" is not a table: {e}') from e
    if frame.empty:
        raise InvalidInput(f'"{what}" is empty: no rows')
    if len(frame) > max_rows:
        raise PayloadTooLarge(f"too many rows: {len(frame)} > {max_rows} allowed per request")
    return frame


# --- /predict ------------------------------------------------------------------------------


def predict_document(body: bytes) -> tuple[dict[str, Any], bool]:
    """A /predict body as an object, and whether it asks for probabilities."""
    doc = load_json(body)
    if type(doc) is not dict:
        raise InvalidInput('expected a JSON object: {"features": [[...], ...]}')
    want = doc.get("return_probabilities", False)
    if type(want) is not bool:
        raise InvalidInput('"return_probabilities" must be true or false')
    return doc, want


def predict_features(doc: dict[str, Any], schema: InputSchema | None, max_rows: int) -> ModelInput:
    """The rows of a /predict body without `entities`."""
    if "features" not in doc:
        raise InvalidInput(
            'missing "features": a list of rows, or of objects keyed by column (or "entities", '
            "on a deployment with online features)"
        )
    return tabular(doc["features"], schema, max_rows, "features")


def parse_predict(
    body: bytes, schema: InputSchema | None, max_rows: int
) -> tuple[ModelInput, bool]:
    doc, want = predict_document(body)
    return predict_features(doc, schema, max_rows), want


# --- /invocations (MLflow scoring protocol) ---------------------------------------------------


def parse_invocations(
    body: bytes, content_type: str | None, schema: InputSchema | None, max_rows: int
) -> ModelInput:
    kind, params = media_type(content_type)
    charset = params.get("charset", "utf-8")
    if charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(f"only UTF-8 is supported, got charset={charset}")
    if kind in (JSON, "") or kind.endswith("+json"):
        return _parse_mlflow_json(load_json(body), schema, max_rows)
    if kind == CSV:
        return _parse_csv(body, schema, max_rows)
    raise UnsupportedMediaType(
        f"unsupported content type {content_type!r}: send application/json or text/csv"
    )


def _parse_mlflow_json(doc: Any, schema: InputSchema | None, max_rows: int) -> ModelInput:
    if type(doc) is not dict:
        raise InvalidInput(f"expected a JSON object with exactly one of {list(MLFLOW_FORMATS)}")
    keys = [k for k in MLFLOW_FORMATS if k in doc]
    if len(keys) != 1:
        raise InvalidInput(
            f"expected exactly one of {list(MLFLOW_FORMATS)}, got keys {sorted(doc)[:10]}"
        )
    (key,) = keys
    data = doc[key]
    if key == "dataframe_split":
        if type(data) is not dict or "data" not in data:
            raise InvalidInput('"dataframe_split" must be an object with "data" (and "columns")')
        extra = set(data) - {"data", "columns", "index"}
        if extra:
            raise InvalidInput(f'"dataframe_split" has unknown keys {sorted(extra)}')
        columns = data.get("columns")
        rows = data["data"]
        if schema is None:
            return _frame_split(rows, columns, max_rows)
        if columns is not None and (
            type(columns) is not list or not all(type(c) is str for c in columns)
        ):
            raise InvalidInput('"dataframe_split.columns" must be a list of strings')
        if type(rows) is list and rows and type(rows[0]) is not list and columns is None:
            return tabular(rows, schema, max_rows, "dataframe_split.data")
        return schema.from_rows(rows, max_rows, names=columns)
    if key == "dataframe_records":
        if type(data) is not list:
            raise InvalidInput('"dataframe_records" must be a list of records')
        return tabular(data, schema, max_rows, key)
    return tabular(data, schema, max_rows, key)


def _frame_split(rows: Any, columns: Any, max_rows: int) -> Any:
    import pandas as pd

    try:
        frame = pd.DataFrame(data=rows, columns=columns)
    except (ValueError, TypeError) as e:
        raise InvalidInput(f'"dataframe_split" is not a table: {e}') from e
    if frame.empty:
        raise InvalidInput('"dataframe_split" is empty: no rows')
    if len(frame) > max_rows:
        raise PayloadTooLarge(f"too many rows: {len(frame)} > {max_rows} allowed per request")
    return frame


def _parse_csv(body: bytes, schema: InputSchema | None, max_rows: int) -> ModelInput:
    import pandas as pd

    if not body.strip():
        raise MalformedBody("the CSV body is empty")
    try:
        text = body.decode("utf-8")
        frame = pd.read_csv(io.StringIO(text))
    except (UnicodeDecodeError, ValueError, pd.errors.ParserError) as e:
        raise MalformedBody(f"malformed CSV (a header row, then one line per row): {e}") from e
    if frame.empty:
        raise InvalidInput("the CSV has a header but no rows")
    if len(frame) > max_rows:
        raise PayloadTooLarge(f"too many rows: {len(frame)} > {max_rows} allowed per request")
    if schema is None:
        return frame
    columns = {str(name): _csv_values(frame[name]) for name in frame.columns}
    if len(columns) != len(frame.columns):
        raise InvalidInput("CSV column names repeat")
    return schema.from_columns(columns, max_rows)


def _csv_values(series: Any) -> list[Any]:
    # Empty CSV cells come back as NaN: turn them into nulls, which the schema judges.
    return [None if (type(v) is float and math.isnan(v)) else v for v in series.tolist()]


def predictions_json(values: Any) -> Any:
    """Predictions as MLflow's scoring server writes them (DataFrames as records)."""
    if isinstance(values, np.ndarray):
        if values.dtype in _ORJSON_NATIVE and values.flags.c_contiguous:
            return values  # orjson writes these directly, much faster than tolist()
        return values.tolist()
    if hasattr(values, "to_dict") and hasattr(values, "columns"):
        return values.to_dict(orient="records")
    if hasattr(values, "tolist"):
        return values.tolist()
    return values


_ORJSON_NATIVE = {np.dtype(t) for t in (np.float64, np.int64, np.int32, np.bool_)}


def dumps(doc: Any) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    raise TypeError(f"cannot serialize {type(value).__name__}")
