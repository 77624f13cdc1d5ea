"""Our InputSchema from an MLflow signature, or from a fitted estimator when there is none."""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from modelops.serving_runtime.columns import NUMPY_DTYPES, Column, Kind
from modelops.serving_runtime.signature import InputSchema

_KIND_OF_DTYPE = {
    "float64": "double",
    "float32": "float",
    "int64": "long",
    "int32": "integer",
    "bool": "boolean",
    "object": "string",
    "str": "string",
}


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
