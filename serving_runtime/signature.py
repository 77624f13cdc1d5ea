"""The model's input schema, and validation of client rows against it into a numpy array."""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from typing import Any, Literal, cast

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
_KIND_OF_DTYPE = {
    "float64": "double",
    "float32": "float",
    "int64": "long",
    "int32": "integer",
    "bool": "boolean",
    "object": "string",
    "str": "string",
}
FLOAT_KINDS = frozenset({"double", "float"})
INT_KINDS = frozenset({"long", "integer"})
NUMERIC_KINDS = FLOAT_KINDS | INT_KINDS
_NUMBER = (int, float)
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


@dataclass(frozen=True)
class InputSchema:
    """What a request must carry, derived once from the MLflow signature at load time.

    `source` says where it came from: a column signature, a tensor signature, the estimator
    itself (no signature), or nothing at all (`free`: any consistent width of numbers).
    """

    columns: tuple[Column, ...]
    source: Literal["columns", "tensor", "estimator", "free"]
    named: bool = True
    """Whether clients may address columns by name (records, column maps, CSV headers)."""
    allow_nan: bool = False
    """For tensor and estimator schemas (no `required` flags): whether nulls become NaN."""
    dtype: np.dtype[Any] = field(init=False)
    """The array dtype validation produces: one numeric dtype, or object for mixed kinds."""

    def __post_init__(self) -> None:
        kinds = {c.kind for c in self.columns}
        if not kinds or kinds <= NUMERIC_KINDS:
            dtypes = [NUMPY_DTYPES[k] for k in kinds] or [np.dtype(np.float64)]
            # Mixed numeric kinds end up as pandas/sklearn would convert them: the common type.
            dtype = np.result_type(*dtypes)
        else:
            dtype = np.dtype(object)
        object.__setattr__(self, "dtype", dtype)
        object.__setattr__(self, "names", tuple(c.name for c in self.columns))

    names: tuple[str, ...] = field(init=False, repr=False, compare=False)

    @property
    def width(self) -> int | None:
        return None if self.source == "free" else len(self.columns)

    def describe(self) -> str:
        if self.source == "free":
            return "any number of numeric columns"
        cols = ", ".join(f"{c.name} ({c.kind})" for c in self.columns[:8])
        more = f", ... ({len(self.columns)} in all)" if len(self.columns) > 8 else ""
        return cols + more

    # --- entry points: the three shapes client data comes in -------------------------------

    def from_rows(self, rows: Any, max_rows: int, names: Sequence[str] | None = None) -> np.ndarray:
        """Positional rows (`[[1.0, 2.0], ...]`), in signature order or in `names` order."""
        if type(rows) is not list:
            raise InvalidInput(f"expected a list of rows, got {_json_type(rows)}")
        n = len(rows)
        _check_count(n, max_rows)
        if set(map(type, rows)) != {list}:
            bad = next(i for i, r in enumerate(rows) if type(r) is not list)
            raise InvalidInput(
                f"row {bad} is {_json_type(rows[bad])}, expected a list of values "
                f"({self.describe()})"
            )
        lengths = set(map(len, rows))
        if len(lengths) > 1:
            first = len(rows[0])
            bad = next(i for i, r in enumerate(rows) if len(r) != first)
            raise InvalidInput(
                f"ragged rows: row 0 has {first} values but row {bad} has {len(rows[bad])}"
            )
        (got,) = lengths
        if names is not None:
            names = [str(x) for x in names]
            if got != len(names):
                raise InvalidInput(f"{len(names)} column names but rows have {got} values")
            if len(set(names)) != len(names):
                raise InvalidInput("column names repeat")
            if self.named and names != list(self.names):
                # Columns in another order, or a subset with optional columns left out.
                return self.from_columns(
                    {name: [r[i] for r in rows] for i, name in enumerate(names)}, max_rows
                )
        width = self.width
        if width is not None and got != width:
            raise InvalidInput(
                f"each row must have {width} values ({self.describe()}), got {got}",
                expected=width,
                got=got,
            )
        if got == 0:
            raise InvalidInput("rows are empty: no feature values")
        fast = self._fast_numeric(rows)
        if fast is not None:
            return fast
        return self._build([list(c) for c in zip(*rows, strict=True)], n)

    def from_records(self, records: Any, max_rows: int) -> np.ndarray:
        """Objects keyed by column name (`[{"a": 1.0, "b": 2.0}, ...]`)."""
        if type(records) is not list:
            raise InvalidInput(f"expected a list of objects, got {_json_type(records)}")
        n = len(records)
        _check_count(n, max_rows)
        if set(map(type, records)) != {dict}:
            bad = next(i for i, r in enumerate(records) if type(r) is not dict)
            raise InvalidInput(f"record {bad} is {_json_type(records[bad])}, expected an object")
        seen: set[str] = set().union(*records)
        if not self.named:
            return self._from_unnamed_records(records, seen, n)
        self._check_names(seen)
        missing: Any = _MISSING
        cols = [[r.get(name, missing) for r in records] for name in self.names]
        for col, c in zip(cols, self.columns, strict=True):
            if missing in col:
                row = col.index(missing)
                if c.required:
                    raise InvalidInput(f"record {row} lacks the required column '{c.name}'")
                col[:] = [None if v is missing else v for v in col]
        return self._build(cols, n)

    def from_columns(self, columns: Any, max_rows: int) -> np.ndarray:
        """A map of column name to values (`{"a": [1.0, 3.0], "b": [2.0, 4.0]}`)."""
        if type(columns) is not dict:
            raise InvalidInput(f"expected an object of columns, got {_json_type(columns)}")
        if not columns:
            raise InvalidInput("empty input: no columns")
        listed = [type(v) is list for v in columns.values()]
        if not any(listed) and all(type(v) is not dict for v in columns.values()):
            # One row given as scalars: {"a": 1.0, "b": 2.0}.
            return self.from_records([columns], max_rows)
        if not all(listed):
            bad = next(k for k, v in columns.items() if type(v) is not list)
            raise InvalidInput(f"column '{bad}' must be a list of values")
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise InvalidInput(f"columns have different lengths: {sorted(lengths)}")
        (n,) = lengths
        _check_count(n, max_rows)
        if not self.named:
            if self.width is not None and len(columns) != self.width:
                raise InvalidInput(
                    f"expected {self.width} columns ({self.describe()}), got {len(columns)}"
                )
            return self._build([list(v) for v in columns.values()], n)
        self._check_names(set(columns))
        cols = [list(columns[c.name]) if c.name in columns else [None] * n for c in self.columns]
        return self._build(cols, n)

    # --- helpers ------------------------------------------------------------------------

    def _check_names(self, seen: set[str]) -> None:
        missing = [c.name for c in self.columns if c.required and c.name not in seen]
        if missing:
            unknown = sorted(seen - set(self.names))
            hint = f"; unknown columns {unknown[:10]}" if unknown else ""
            raise InvalidInput(
                f"missing required columns {missing[:10]}{hint} (the model expects "
                f"{self.describe()})",
                missing=missing[:50],
                unknown=unknown[:50],
            )

    def _from_unnamed_records(self, records: list[Any], seen: set[str], n: int) -> np.ndarray:
        # Without names (a tensor signature and a model fitted on arrays) records can only be
        # read in the order of their keys, which must agree across records.
        keys = list(records[0]) if records else []
        if self.width is not None and len(keys) != self.width:
            raise InvalidInput(
                f"this model takes {self.width} unnamed columns; each record must have "
                f"{self.width} keys, got {len(keys)}"
            )
        if seen != set(keys) or any(list(r) != keys for r in records):
            raise InvalidInput("records must all have the same keys in the same order")
        return self._build([[r[k] for r in records] for k in keys], n)

    def _fast_numeric(self, rows: list[list[Any]]) -> np.ndarray | None:
        """The hot path: one float kind for every column and every value a number."""
        kinds = {c.kind for c in self.columns} if self.source != "free" else {"double"}
        if len(kinds) != 1 or not kinds <= FLOAT_KINDS:
            return None
        types = set(map(type, chain.from_iterable(rows)))
        # bool is a subclass of int, but a type() set keeps them apart: true/false are refused.
        if not types <= {float, int}:
            return None
        try:
            with np.errstate(over="raise"):
                out = np.array(rows, dtype=self.dtype)
        except (OverflowError, FloatingPointError):
            return None  # the slow path finds the value and names it
        if float in types and np.isnan(out).any():
            return None  # NaN (from CSV) is a null: the slow path applies `required`
        return out

    def _build(self, cols: list[list[Any]], n: int) -> np.ndarray:
        if n == 0:
            raise InvalidInput("empty input: no rows")
        columns = self.columns
        if self.source == "free":
            columns = tuple(Column(f"x{i}", "double") for i in range(len(cols)))
        if self.dtype == object:
            out = np.empty((n, len(cols)), dtype=object)
            for j, (values, c) in enumerate(zip(cols, columns, strict=True)):
                out[:, j] = _check_column(values, c, self.allow_nan, as_objects=True)
            return out
        out = np.empty((n, len(cols)), dtype=self.dtype)
        for j, (values, c) in enumerate(zip(cols, columns, strict=True)):
            out[:, j] = _check_column(values, c, self.allow_nan, as_objects=False)
        return out


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


def _check_count(n: int, max_rows: int) -> None:
    if n == 0:
        raise InvalidInput("empty input: no rows")
    if n > max_rows:
        raise PayloadTooLarge(
            f"too many rows: {n} > {max_rows} allowed per request", rows=n, max_rows=max_rows
        )


def _json_type(value: Any) -> str:
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


def _is_null(v: Any) -> bool:
    return v is None or (type(v) is float and math.isnan(v))


def _check_column(values: list[Any], c: Column, allow_nan: bool, *, as_objects: bool) -> Any:
    """Check one column's values against its kind; return them ready for the array."""
    types = set(map(type, values))
    nulls = type(None) in types or (
        float in types and any(type(v) is float and math.isnan(v) for v in values)
    )
    if nulls:
        row = next(i for i, v in enumerate(values) if _is_null(v))
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
            _raise_type(values, c, lambda v: _is_null(v) or type(v) in (int, float))
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
        f"{_json_type(values[row])}",
        column=c.name,
        row=row,
    )


# --- building the schema ---------------------------------------------------------------------


def schema_from_mlflow(
    input_schema: Any, estimator: Any = None, *, allow_nan: bool = False
) -> InputSchema | None:
    """Our schema from an MLflow input schema (`mlflow.types.Schema`), or None when it uses
    types we do not validate ourselves (arrays, objects, maps, named or N-d tensors)."""
    from mlflow.types import DataType, TensorSpec

    if input_schema is None:
        return schema_from_estimator(estimator, allow_nan=allow_nan)
    inputs = input_schema.inputs
    if input_schema.is_tensor_spec():
        if len(inputs) != 1 or input_schema.has_input_names():
            return None
        spec: TensorSpec = inputs[0]
        shape = tuple(spec.shape)
        kind = cast("Kind | None", _KIND_OF_DTYPE.get(np.dtype(spec.type).name))
        if kind is None or len(shape) != 2 or shape[1] < 1:
            return None
        names = _estimator_names(estimator, shape[1])
        return InputSchema(
            columns=tuple(
                Column(n, kind, required=None)
                for n in (names or [f"x{i}" for i in range(shape[1])])
            ),
            source="tensor",
            named=names is not None,
            allow_nan=allow_nan,
        )
    columns = []
    for i, col in enumerate(inputs):
        if not isinstance(col.type, DataType) or col.type.name not in NUMPY_DTYPES:
            return None
        name = col.name if col.name is not None else f"x{i}"
        columns.append(Column(name, cast(Kind, col.type.name), required=bool(col.required)))
    return InputSchema(
        columns=tuple(columns),
        source="columns",
        named=input_schema.has_input_names(),
    )


def _estimator_names(estimator: Any, width: int) -> list[str] | None:
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None and len(names) == width:
        return [str(n) for n in names]
    return None


def schema_from_estimator(estimator: Any, *, allow_nan: bool = False) -> InputSchema:
    """No signature: the fitted estimator still knows its width and maybe its column names."""
    width = getattr(estimator, "n_features_in_", None)
    if not isinstance(width, int | np.integer) or width < 1:
        return InputSchema(columns=(), source="free", named=False, allow_nan=allow_nan)
    names = _estimator_names(estimator, int(width))
    return InputSchema(
        columns=tuple(
            Column(n, "double", required=None)
            for n in (names or [f"x{i}" for i in range(int(width))])
        ),
        source="estimator",
        named=names is not None,
        allow_nan=allow_nan,
    )
