"""The schema without a signature: what the fitted estimator knows, or any width at all."""

from __future__ import annotations

import numpy as np
import pytest

from modelops.serving_runtime.errors import InvalidInput
from modelops.serving_runtime.mlflow_schema import schema_from_estimator


class _Fitted:
    n_features_in_ = 2
    feature_names_in_ = np.array(["p", "q"], dtype=object)


class _Unfitted:
    pass


def test_no_signature_uses_the_estimator_or_accepts_any_width() -> None:
    schema = schema_from_estimator(_Fitted())
    assert schema.names == ("p", "q") and schema.named
    assert schema.from_records([{"q": 2, "p": 1}], 10).tolist() == [[1.0, 2.0]]
    free = schema_from_estimator(_Unfitted())
    assert free.width is None
    assert free.from_rows([[1, 2, 3, 4]], 10).shape == (1, 4)
    with pytest.raises(InvalidInput, match="needs a number"):
        free.from_rows([["a"]], 10)
