"""How each MLflow flavor is called: scikit-learn estimators natively, the others via pyfunc."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from modelops.serving_runtime.columns import NUMERIC_KINDS, NUMPY_DTYPES
from modelops.serving_runtime.mlflow_schema import schema_from_mlflow
from modelops.serving_runtime.model import ModelInput, ModelOutput
from modelops.serving_runtime.signature import InputSchema


def to_frame(x: np.ndarray, schema: InputSchema) -> Any:
    """The DataFrame pyfunc would build: signature column order and per-column dtypes."""
    import pandas as pd

    data: dict[str, Any] = {}
    for j, c in enumerate(schema.columns):
        col = x[:, j]
        kind = c.kind
        if kind in NUMERIC_KINDS:
            data[c.name] = (
                col.astype(NUMPY_DTYPES[kind])
                if col.dtype != object
                else np.array(col.tolist(), dtype=NUMPY_DTYPES[kind])
            )
        elif kind == "boolean":
            data[c.name] = col if any(v is None for v in col) else col.astype(bool)
        elif kind == "binary":
            data[c.name] = [None if v is None else base64.b64decode(v) for v in col]
        elif kind == "datetime":
            data[c.name] = pd.to_datetime(pd.Series(col, dtype=object)).astype("datetime64[ns]")
        else:
            data[c.name] = col
    return pd.DataFrame(data)


def _allows_nan(estimator: Any) -> bool:
    try:
        return bool(estimator.__sklearn_tags__().input_tags.allow_nan)
    except Exception:
        return False


def _is_simple_estimator(estimator: Any) -> bool:
    """A scikit-learn estimator that uses column names only to check them at predict time."""
    from sklearn.base import MetaEstimatorMixin
    from sklearn.utils.metaestimators import _BaseComposition

    return type(estimator).__module__.startswith("sklearn.") and not isinstance(
        estimator, _BaseComposition | MetaEstimatorMixin
    )


def sklearn_model(
    estimator: Any, input_schema: Any, **info: Any
) -> tuple[InputSchema | None, Literal["array", "frame", "passthrough"], Callable[..., Any]]:
    """Schema, input mode and call for a native estimator, matching pyfunc's results."""
    schema = schema_from_mlflow(input_schema, estimator, allow_nan=_allows_nan(estimator))
    if schema is None:
        mode: Literal["array", "frame", "passthrough"] = "passthrough"
    elif schema.dtype == object:
        mode = "frame"
    elif hasattr(estimator, "feature_names_in_"):
        names = [str(n) for n in estimator.feature_names_in_]
        if _is_simple_estimator(estimator) and names == list(schema.names):
            # pyfunc hands such an estimator a DataFrame whose columns are exactly these, in
            # this order, and the estimator converts it to this very array; its only other use
            # of the names is a check that costs ~300 us per call. Without the attribute,
            # sklearn skips the check and does not warn about an array without names.
            del estimator.feature_names_in_
            mode = "array"
        else:
            mode = "frame"
    else:
        mode = "array"
    predict = estimator.predict
    proba = getattr(estimator, "predict_proba", None)

    def call(x: ModelInput, want_proba: bool) -> ModelOutput:
        if mode == "frame" and schema is not None:
            x = to_frame(x, schema)
        out = ModelOutput(predict(x))
        if want_proba and proba is not None:
            out.probabilities = proba(x)
        return out

    return schema, mode, call


def pyfunc_model(
    pyfunc: Any, input_schema: Any
) -> tuple[InputSchema | None, Literal["array", "frame", "passthrough"], Callable[..., Any]]:
    """Any other flavor: pyfunc predicts and enforces its own signature."""
    schema = schema_from_mlflow(input_schema, None) if input_schema is not None else None
    if schema is not None and schema.source == "free":
        schema = None
    if schema is None:
        mode: Literal["array", "frame", "passthrough"] = "passthrough"
    elif schema.source == "tensor":
        mode = "array"
    else:
        mode = "frame"

    def call(x: ModelInput, want_proba: bool) -> ModelOutput:
        if mode == "frame" and schema is not None:
            x = to_frame(x, schema)
        return ModelOutput(pyfunc.predict(x))

    return schema, mode, call
