"""The model's input schema, and validation of client rows against it into a numpy array."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Literal

import numpy as np

from modelops.serving_runtime.columns import (
    FLOAT_KINDS,
    NUMERIC_KINDS,
    NUMPY_DTYPES,
    Column,
    check_column,
    check_count,
    json_type,
)
from modelops.serving_runtime.errors import InvalidInput


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
            raise InvalidInput(f"expected a list of rows, got {json_type(rows)}")
        n = len(rows)
        check_count(n, max_rows)
        if set(map(type, rows)) != {list}:
            bad = next(i for i, r in enumerate(rows) if type(r) is not list)
            raise InvalidInput(
                f"row {bad} is {json_type(rows[bad])}, expected a list of values "
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
            raise InvalidInput(f"expected a list of objects, got {json_type(records)}")
        n = len(records)
        check_count(n, max_rows)
        if set(map(type, records)) != {dict}:
            bad = next(i for i, r in enumerate(records) if type(r) is not dict)
            raise InvalidInput(f"record {bad} is {json_type(records[bad])}, expected an object")
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
            raise InvalidInput(f"expected an object of columns, got {json_type(columns)}")
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
        check_count(n, max_rows)
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
                out[:, j] = check_column(values, c, self.allow_nan, as_objects=True)
            return out
        out = np.empty((n, len(cols)), dtype=self.dtype)
        for j, (values, c) in enumerate(zip(cols, columns, strict=True)):
            out[:, j] = check_column(values, c, self.allow_nan, as_objects=False)
        return out


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()
