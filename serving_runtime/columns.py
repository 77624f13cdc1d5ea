"""Column kinds, their numpy dtypes, and the check of one column's values against its kind."""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np

from modelops.serving_runtime.errors import InvalidInput, PayloadTooLarge

Kind = Literal["double", "float", "long", "integer", "boolean", "string", "binary", "datetime"]

# What each MLflow column type becomes in the model call (pyfunc uses the same mapping).
NUMPY_DTYPES: dict[str, np.dtype[Any]] = {
    "double": np.dtype(np.float64),
    "float": np.dtype(np.float32),
    "long": np.dtype(np.int64),
    "integer": np.dtype(np.int32),
    "boolean": np.dtype(np.bool_),
    "string": np.dtype(object),
    "binary": np.dtype(object),
    "datetime": np.dtype("datetime64[ns]"),
}
FLOAT_KINDS = frozenset({"double", "float"})
INT_KINDS = frozenset({"long", "integer"})
NUMERIC_KINDS = FLOAT_KINDS | INT_KINDS
_WHAT = {
    "double": "a number",
    "float": "a number",
    "long": "an integer",
    "integer": "an integer",
    "boolean": "true or false",
    "string": "a string",
    "binary": "a base64 string",
    "datetime": "an ISO 8601 date-time string",
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool | None = True
    """None: the signature does not say (tensors, no signature); the schema's allow_nan rules."""


def check_count(n: int, max_rows: int) -> None:
    if n == 0:
        raise InvalidInput("empty input: no rows")
    if n > max_rows:
        raise PayloadTooLarge(
            f"too many rows: {n} > {max_rows} allowed per request", rows=n, max_rows=max_rows
        )


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def is_null(v: Any) -> bool:
    return v is None or (type(v) is float and math.isnan(v))


def check_column(values: list[Any], c: Column, allow_nan: bool, *, as_objects: bool) -> Any:
    """Check one column's values against its kind; return them ready for the array."""
    types = set(map(type, values))
    nulls = type(None) in types or (
        float in types and any(type(v) is float and math.isnan(v) for v in values)
    )
    if nulls:
        row = next(i for i, v in enumerate(values) if is_null(v))
        nullable = (not c.required) if c.required is not None else allow_nan
        if not nullable:
            raise InvalidInput(
                f"column '{c.name}' ({c.kind}) is required, but row {row} is null",
                column=c.name,
                row=row,
            )
        if c.kind in INT_KINDS:
            raise InvalidInput(
                f"column '{c.name}' ({c.kind}) cannot hold null (row {row}): integer columns have "
                "no missing value; the model's signature would need a double column",
                column=c.name,
                row=row,
            )
        types.discard(type(None))
    kind = c.kind
    if kind in NUMERIC_KINDS:
        if not types <= {int, float}:
            _raise_type(values, c, lambda v: is_null(v) or type(v) in (int, float))
        if kind in INT_KINDS and float in types:
            for i, v in enumerate(values):
                if type(v) is float and not v.is_integer():
                    raise InvalidInput(
                        f"column '{c.name}' ({kind}) needs whole numbers, row {i} has {v!r}",
                        column=c.name,
                        row=i,
                    )
        dtype = NUMPY_DTYPES[kind]
        try:
            with np.errstate(over="raise", invalid="raise"):
                arr = np.array(values, dtype=dtype)
        except (OverflowError, FloatingPointError, ValueError) as e:
            raise InvalidInput(
                f"column '{c.name}' ({kind}) has a value out of range: {e}", column=c.name
            ) from e
        if as_objects:
            out = np.empty(len(values), dtype=object)
            out[:] = values if nulls else arr.tolist()
            return out
        return arr
    if kind == "boolean":
        if not types <= {bool}:
            _raise_type(values, c, lambda v: v is None or type(v) is bool)
    elif kind == "string":
        if not types <= {str}:
            _raise_type(values, c, lambda v: v is None or type(v) is str)
    elif kind == "binary":
        if not types <= {str}:
            _raise_type(values, c, lambda v: v is None or type(v) is str)
        for i, v in enumerate(values):
            if v is not None:
                try:
                    base64.b64decode(v, validate=True)
                except (binascii.Error, ValueError) as e:
                    raise InvalidInput(
                        f"column '{c.name}' (binary): row {i} is not base64", column=c.name
                    ) from e
    elif kind == "datetime":
        if not types <= {str}:
            _raise_type(values, c, lambda v: v is None or type(v) is str)
        for i, v in enumerate(values):
            if v is not None:
                try:
                    parsed = datetime.fromisoformat(v)
                except ValueError as e:
                    raise InvalidInput(
                        f"column '{c.name}' (datetime): row {i} is not a date-time: {v!r}",
                        column=c.name,
                    ) from e
                if parsed.tzinfo is not None:
                    raise InvalidInput(
                        f"column '{c.name}' (datetime): row {i} has a time zone; the model takes "
                        "naive date-times",
                        column=c.name,
                    )
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _raise_type(values: list[Any], c: Column, ok: Any) -> None:
    row = next(i for i, v in enumerate(values) if not ok(v))
    raise InvalidInput(
        f"column '{c.name}' ({c.kind}) needs {_WHAT[c.kind]}, row {row} has "
        f"{json_type(values[row])}",
        column=c.name,
        row=row,
    )
