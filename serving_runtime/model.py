"""Loading the model through MLflow, predicting with it, and the background loader's state."""

from __future__ import annotations

import base64
import gc
import logging
import os
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from modelops.serving_runtime.errors import PredictionFailed, PredictionRejected
from modelops.serving_runtime.settings import REGISTRY_URI, RuntimeSettings
from modelops.serving_runtime.signature import (
    NUMERIC_KINDS,
    NUMPY_DTYPES,
    InputSchema,
    schema_from_mlflow,
)

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


# --- turning validated arrays into what the estimator expects -------------------------------


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


# --- loading -----------------------------------------------------------------------------


def _prepare_mlflow_env(settings: RuntimeSettings) -> None:
    # The platform chose MODEL_URI (the operator pins it from its registry), so the model is
    # as trusted as the image; MLflow 3 refuses to deserialize any sklearn model, skops
    # included, without this flag. An explicit "false" in the environment still wins.
    os.environ.setdefault("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    # MLflow's HTTP client retries for minutes by default; our loader retries with its own
    # backoff and reports each failure at /ready instead.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if settings.mlflow_tracking_uri:
        os.environ["MLFLOW_TRACKING_URI"] = settings.mlflow_tracking_uri


def resolve_version(uri: str, mlmodel: Any) -> str:
    """The registry version a URI names (resolving an alias or stage), else the model's id."""
    match = REGISTRY_URI.match(uri)
    if match and match.group("ref"):
        name, sep, ref = match.group("name"), match.group("sep"), match.group("ref")
        if sep == "/" and ref.isdigit():
            return ref
        from mlflow import MlflowClient

        client = MlflowClient()
        if sep == "@":
            return str(client.get_model_version_by_alias(name, ref).version)
        if ref.lower() == "latest":
            versions = client.search_model_versions(f"name='{name}'")
            return str(max(int(v.version) for v in versions))
        stage = [
            v
            for v in client.search_model_versions(f"name='{name}'")
            if (v.current_stage or "").lower() == ref.lower()
        ]
        if stage:
            return str(max(int(v.version) for v in stage))
    return (getattr(mlmodel, "model_uuid", None) or "unknown")[:12]


def import_mlflow() -> Any:
    """Import MLflow's pyfunc and sklearn modules, without their import-time warnings.

    MLflow 3.17 warns while importing its own modules (it infers schemas from its pydantic
    types at import); that is noise for a server, and an error where warnings are errors."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mlflow
        import mlflow.pyfunc
        import mlflow.sklearn
    return mlflow


def load_model(settings: RuntimeSettings) -> LoadedModel:
    """Download and load MODEL_URI (blocking). Raises on any failure; the manager retries."""
    _prepare_mlflow_env(settings)
    mlflow = import_mlflow()
    from mlflow.models import Model

    uri = settings.model_uri
    local = uri if os.path.isdir(uri) else None
    workdir = None
    if local is None:
        workdir = tempfile.mkdtemp(prefix="modelops-model-")
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=workdir)
    try:
        mlmodel = Model.load(local)
        version = settings.model_version or resolve_version(uri, mlmodel)
        input_schema = mlmodel.get_input_schema()
        common = {
            "name": settings.model_name,
            "version": version,
            "uri": uri,
            "model_uuid": mlmodel.model_uuid or "",
            "run_id": mlmodel.run_id,
        }
        if "sklearn" in mlmodel.flavors:
            estimator = mlflow.sklearn.load_model(local)
            schema, mode, call = sklearn_model(estimator, input_schema)
            classes = getattr(estimator, "classes_", None)
            return LoadedModel(
                flavor="sklearn",
                schema=schema,
                call=call,
                input_mode=mode,
                has_proba=hasattr(estimator, "predict_proba"),
                classes=np.asarray(classes).tolist() if classes is not None else None,
                **common,
            )
        pyfunc = mlflow.pyfunc.load_model(local)
        schema, mode, call = pyfunc_model(pyfunc, input_schema)
        workdir = None  # other flavors may read their files lazily: keep them
        return LoadedModel(flavor="pyfunc", schema=schema, call=call, input_mode=mode, **common)
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


# --- the background loader ---------------------------------------------------------------

LoadState = Literal["loading", "ready", "failed"]


class ModelManager:
    """Loads the model once in a background thread, retrying failures with exponential
    backoff, so the process stays up (alive, not ready) and reports why at /ready."""

    def __init__(
        self,
        settings: RuntimeSettings,
        loader: Callable[[RuntimeSettings], LoadedModel] = load_model,
        on_change: Callable[[LoadState], None] | None = None,
    ) -> None:
        self.settings = settings
        self._loader = loader
        self._on_change = on_change
        self.model: LoadedModel | None = None
        self.state: LoadState = "loading"
        self.reason: str | None = None
        self.attempts = 0
        self.next_attempt_at: float | None = None
        self.loaded_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready_callbacks: list[Callable[[], None]] = []

    def start(self) -> None:
        # A daemon thread, not the loop's executor: a download stuck in MLflow's HTTP client
        # must not hold up shutdown.
        self._thread = threading.Thread(target=self._run, name="model-loader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def on_ready(self, callback: Callable[[], None]) -> None:
        self._ready_callbacks.append(callback)

    def _set_state(self, state: LoadState) -> None:
        self.state = state
        if self._on_change is not None:
            self._on_change(state)

    def _run(self) -> None:
        s = self.settings
        delay = s.load_retry_initial_seconds
        while not self._stop.is_set():
            self.attempts += 1
            started = time.monotonic()
            log.info("Loading model", extra={"model_uri": s.model_uri, "attempt": self.attempts})
            try:
                model = self._loader(s)
            except Exception as e:
                self.reason = f"{type(e).__name__}: {e}"[:2000]
                # Jitter keeps many replicas from hammering MLflow in step.
                wait = delay * random.uniform(0.8, 1.2)
                self.next_attempt_at = time.time() + wait
                self._set_state("failed")
                log.warning(
                    "Could not load model",
                    extra={
                        "model_uri": s.model_uri,
                        "attempt": self.attempts,
                        "error": self.reason,
                        "retry_in_seconds": round(wait, 2),
                    },
                )
                delay = min(delay * 2, s.load_retry_max_seconds)
                if self._stop.wait(wait):
                    return
                continue
            # Importing MLflow, pandas and sklearn leaves millions of long-lived objects; a full
            # collection walking them all stalls requests for ~100-200 ms. Freezing moves them
            # out of the collector's sight (what is allocated per request is still collected).
            gc.collect()
            gc.freeze()
            self.model = model
            self.reason = None
            self.next_attempt_at = None
            self.loaded_at = time.time()
            self._set_state("ready")
            log.info(
                "Loaded model",
                extra={
                    "model_name": model.name,
                    "model_version": model.version,
                    "flavor": model.flavor,
                    "input_mode": model.input_mode,
                    "seconds": round(time.monotonic() - started, 3),
                },
            )
            for callback in self._ready_callbacks:
                callback()
            return

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ready": self.state == "ready",
            "state": self.state,
            "model_name": self.settings.model_name,
            "model_uri": self.settings.model_uri,
            "attempts": self.attempts,
        }
        if self.model is not None:
            body["model_version"] = self.model.version
        if self.reason is not None:
            body["reason"] = self.reason
        if self.next_attempt_at is not None and self.state == "failed":
            body["next_attempt_in_seconds"] = round(max(0.0, self.next_attempt_at - time.time()), 2)
        return body
