"""The loaded model as the data plane sees it: its input, its output, and how to call it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from modelops.serving_runtime.errors import PredictionFailed, PredictionRejected
from modelops.serving_runtime.signature import InputSchema

log = logging.getLogger("modelops.serving_runtime.model")

# Model input: a validated array, or a DataFrame for models whose schema we pass through.
ModelInput = Any


@dataclass
class ModelOutput:
    """One model call's results, row-aligned with its input."""

    predictions: Any
    """An ndarray for sklearn; for other flavors whatever pyfunc returned (array, list,
    Series or DataFrame)."""
    probabilities: np.ndarray | None = None


@dataclass
class LoadedModel:
    """A model ready to predict, plus what the protocols report about it."""

    name: str
    version: str
    uri: str
    flavor: Literal["sklearn", "pyfunc"]
    schema: InputSchema | None
    """None: a signature with types the runtime does not validate; pyfunc checks input."""
    call: Callable[[ModelInput, bool], ModelOutput]
    """Runs the model (blocking; called off the event loop)."""
    has_proba: bool = False
    classes: list[Any] | None = None
    model_uuid: str = ""
    run_id: str | None = None
    input_mode: Literal["array", "frame", "passthrough"] = "array"

    @property
    def identity(self) -> str:
        """What a cached response belongs to: a new version or a re-logged model never hits."""
        return f"{self.name}:{self.version}:{self.model_uuid}"

    def predict(self, x: ModelInput, want_proba: bool) -> ModelOutput:
        """Run the model, sorting its failures into the client's fault and ours."""
        try:
            return self.call(x, want_proba)
        except (ValueError, TypeError, KeyError, IndexError) as e:
            # The input passed the signature, so what remains is what the model refuses (an
            # unseen category, NaN where the estimator takes none): the client can fix it.
            raise PredictionRejected(f"the model rejected the input: {e}") from e
        except Exception as e:
            if type(e).__name__ == "MlflowException":
                raise PredictionRejected(f"the model rejected the input: {e}") from e
            log.exception("Model call failed")
            raise PredictionFailed(f"the model failed: {type(e).__name__}: {e}") from e
