"""The transport-agnostic data plane: each protocol's request in, through cache and batcher, out."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from modelops.serving_runtime import codecs, feedback, v2_codec
from modelops.serving_runtime.batching import MicroBatcher, run_call
from modelops.serving_runtime.cache import ResponseCache, cache_key
from modelops.serving_runtime.errors import InvalidInput, ModelNotFound, ModelNotReady
from modelops.serving_runtime.metrics import Metrics, answered_by, identified_as
from modelops.serving_runtime.model import LoadedModel, ModelInput, ModelOutput
from modelops.serving_runtime.model_manager import ModelManager
from modelops.serving_runtime.predlog import PredictionLogger
from modelops.serving_runtime.settings import RuntimeSettings
from modelops.serving_runtime.traffic import Splitter, TrafficConfig, TrafficFiles, agreement

if TYPE_CHECKING:
    from modelops.serving_runtime.features.lookup import OnlineFeatures

SERVER_NAME = "modelops-runtime"
SERVER_VERSION = "0.1.0"
# Shadow calls waiting for the candidate beyond this are skipped (and counted): a slow
# candidate must not hold memory or time on the stable version's path.
MAX_PENDING_SHADOW = 256
# Copies for the candidate are scored together, up to this many rows or this long after the
# first: a model call's fixed cost (the GIL the stable version's next answer waits for) is
# paid once per window instead of once per request.
SHADOW_BATCH_ROWS = 64
SHADOW_WINDOW_SECONDS = 0.05
SHADOW_SWITCH_INTERVAL = 0.0005
TRAFFIC_POLL_SECONDS = 1.0
log = logging.getLogger("modelops.serving_runtime.traffic")


def cached_output(
    value: dict[str, Any] | None, identity: str, rows: int, want_proba: bool
) -> ModelOutput | None:
    """A cached answer, only if it is one this model could have given for these rows: the
    same model identity, one prediction per row, probabilities when asked for. Anything else
    (an entry written by another version or by whoever else can write to this Redis) is a
    miss, never an answer."""
    if not isinstance(value, dict) or value.get("v") != identity:
        return None
    predictions, proba = value.get("p"), value.get("q")
    if not isinstance(predictions, list) or len(predictions) != rows:
        return None
    if want_proba and (not isinstance(proba, list) or len(proba) != rows):
        return None
    return ModelOutput(np.asarray(predictions), np.asarray(proba) if proba is not None else None)


class DataPlane:
    def __init__(
        self,
        settings: RuntimeSettings,
        manager: ModelManager,
        metrics: Metrics,
        cache: ResponseCache | None = None,
        predlog: PredictionLogger | None = None,
        features: OnlineFeatures | None = None,
        candidate: ModelManager | None = None,
    ) -> None:
        self.settings = settings
        self.manager = manager
        self.metrics = metrics
        self.cache = cache
        self.predlog = predlog
        self.feedback = (
            feedback.FeedbackStore(
                predlog.client,
                predlog.stream,
                predlog.max_len,
                predlog.policy.max_age_seconds,
                predlog.breaker,
            )
            if predlog is not None
            else None
        )
        self.features = features
        self.candidate = candidate
        # One model thread per version: the GIL would serialize concurrent calls anyway, and
        # one call at a time is what lets requests pile up into the next micro-batch.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self._candidate_executor = None
        if candidate is not None:
            self._candidate_executor = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="candidate"
            )
            # A shadow call holds the GIL while the event loop waits to answer the next
            # request; by default the loop would wait up to 5 ms for its turn.
            sys.setswitchinterval(SHADOW_SWITCH_INTERVAL)
        self._batchers: dict[str, MicroBatcher] = {}
        self.splitter = Splitter()
        self._traffic_files = TrafficFiles([settings.traffic_file, settings.traffic_push_file])
        self._traffic_task: asyncio.Task[None] | None = None
        self._shadow_tasks: set[asyncio.Task[None]] = set()

    # --- health ----------------------------------------------------------------------------

    def model(self) -> LoadedModel:
        model = self.manager.model
        if model is None:
            status = self.manager.status()
            reason = status.get("reason") or "Loading"
            raise ModelNotReady(f"model not ready ({status['state']}): {reason}")
        return model

    def ready(self) -> tuple[bool, dict[str, Any]]:
        status = self.manager.status()
        if self.candidate is not None:
            # A pod that joins a rollout takes traffic only once both versions are loaded:
            # the split it is told to apply must never fall back to one of them.
            candidate = self.candidate.status()
            status["candidate"] = candidate
            status["traffic"] = self.splitter.config.model_dump()
            if not candidate["ready"]:
                status["ready"] = False
                if status["state"] == "ready":
                    status["reason"] = f"Candidate{candidate.get('reason') or 'Loading'}"
        if self.features is not None:
            store = self.features.status()
            status["feature_store"] = store
            if not store["ready"]:
                status["ready"] = False
                if status["state"] == "ready":
                    status["reason"] = store.get("reason") or "FeatureStoreNotReady"
        return status["ready"], status

    def check_model_name(self, name: str) -> None:
        if name != self.settings.model_name:
            raise ModelNotFound(
                f"no model named {name!r}; this server serves {self.settings.model_name!r}"
            )

    def v2_model(self, name: str) -> LoadedModel:
        self.check_model_name(name)
        return self.model()

    # --- the shared path ----------------------------------------------------------------------

    def start(self) -> None:
        if self.candidate is not None or self.settings.traffic_file:
            self.follow_traffic()
            self._traffic_task = asyncio.get_running_loop().create_task(
                self._poll_traffic(), name="traffic"
            )

    async def stop(self) -> None:
        if self._traffic_task is not None:
            self._traffic_task.cancel()
        for task in list(self._shadow_tasks):
            task.cancel()
        for batcher in self._batchers.values():
            await batcher.stop()
        self.executor.shutdown(wait=False, cancel_futures=True)
        if self._candidate_executor is not None:
            self._candidate_executor.shutdown(wait=False, cancel_futures=True)

    # --- the rollout's split ---------------------------------------------------------------

    def set_traffic(self, config: TrafficConfig) -> bool:
        changed = self.splitter.update(config)
        if changed:
            c = self.splitter.config
            self.metrics.traffic(c.revision, c.mode, c.weight)
            log.info("Traffic configuration", extra=c.model_dump())
        return changed

    def follow_traffic(self) -> None:
        config = self._traffic_files.poll()
        if config is not None:
            self.set_traffic(config)

    async def _poll_traffic(self) -> None:
        while True:
            await asyncio.sleep(TRAFFIC_POLL_SECONDS)
            self.follow_traffic()

    def choose(self, key: str | None = None) -> LoadedModel:
        """The version that answers this request."""
        stable = self.model()
        candidate = self.candidate.model if self.candidate is not None else None
        model = candidate if candidate is not None and self.splitter.to_candidate(key) else stable
        answered_by(model.version)
        return model

    def request_key(self, headers: Mapping[str, str] | None, doc: Any = None) -> str | None:
        """The A/B key of a request: a header, or the first entity's id."""
        source = self.splitter.config.key
        if source is None or self.splitter.config.mode != "abtest":
            return None
        kind, _, name = source.partition(":")
        if kind == "header":
            return headers.get(name) if headers is not None else None
        entities = doc.get("entities") if isinstance(doc, dict) else None
        if isinstance(entities, list) and entities and isinstance(entities[0], dict):
            value = entities[0].get(name)
            return None if value is None else str(value)
        return None

    def _shadow(self, model: LoadedModel, x: ModelInput, out: ModelOutput) -> None:
        candidate = self.candidate.model if self.candidate is not None else None
        if candidate is None or candidate is model or not self.splitter.shadow:
            return
        if len(self._shadow_tasks) >= MAX_PENDING_SHADOW:
            self.metrics.shadow_skipped.labels(self.metrics.model, candidate.version).inc()
            return
        task = asyncio.get_running_loop().create_task(self._compare(candidate, x, out))
        self._shadow_tasks.add(task)
        task.add_done_callback(self._shadow_tasks.discard)

    async def _compare(self, candidate: LoadedModel, x: ModelInput, out: ModelOutput) -> None:
        try:
            theirs = await self._batcher_for(candidate, shadow=True).submit(x, False)
            rows, equal, sums = agreement(
                out.predictions, theirs.predictions, candidate.classes is not None
            )
        except Exception:  # the candidate's failure is a figure, never the client's problem
            self.metrics.shadow_errors.labels(self.metrics.model, candidate.version).inc()
            return
        self.metrics.shadow(candidate.version, rows, equal, sums)

    def _batcher_for(self, model: LoadedModel, shadow: bool = False) -> MicroBatcher:
        key = f"shadow:{model.identity}" if shadow else model.identity
        batcher = self._batchers.get(key)
        if batcher is None:
            s = self.settings
            is_candidate = self.candidate is not None and model is self.candidate.model
            version = model.version

            def observe(rows: int, seconds: float) -> None:
                self.metrics.model_call(rows, seconds, version)

            batcher = MicroBatcher(
                model.predict,
                max_batch_size=SHADOW_BATCH_ROWS if shadow else s.max_batch_size,
                max_latency_s=SHADOW_WINDOW_SECONDS if shadow else s.max_latency_ms / 1000.0,
                executor=(
                    self._candidate_executor
                    if is_candidate and self._candidate_executor is not None
                    else self.executor
                ),
                observe=observe,
                max_queued_rows=None if shadow else s.max_queued_rows,
                linger=shadow,
            )
            batcher.start()
            self._batchers[key] = batcher
        return batcher

    def prediction_id(self, headers: Mapping[str, str] | None, supplied: str | None = None) -> str:
        """The request's prediction id (the client's X-Request-Id, else `supplied`, else a new
        one), also sent back in X-Prediction-Id."""
        header = headers.get(feedback.REQUEST_ID_HEADER) if headers is not None else None
        if header is None and supplied is not None and feedback.ID_PATTERN.match(supplied):
            header = supplied
        prediction_id = feedback.request_id(header)
        identified_as(prediction_id)
        return prediction_id

    async def predict(
        self,
        model: LoadedModel,
        x: ModelInput,
        want_proba: bool,
        prediction_id: str | None = None,
    ) -> ModelOutput:
        """Cache, then micro-batch (or call directly), then log: for every protocol alike."""
        cacheable = self.cache is not None and isinstance(x, np.ndarray)
        key = None
        if cacheable:
            assert self.cache is not None
            key = cache_key(self.settings.tenant, model.identity, x, want_proba)
            cached = await self.cache.get(key)
            hit = cached_output(cached, model.identity, len(x), want_proba)
            if hit is not None:
                # Logged like any answer: the drift check sees what was served, and a label
                # for this prediction id joins.
                self._log(model, x, hit, prediction_id)
                return hit
        if self.settings.batching_enabled:
            out = await self._batcher_for(model).submit(x, want_proba)
        else:
            loop = asyncio.get_running_loop()
            out = await loop.run_in_executor(
                self.executor, run_call, model.predict, x, want_proba, self.metrics.model_call
            )
        self._shadow(model, x, out)
        if key is not None and self.cache is not None and isinstance(out.predictions, np.ndarray):
            self.cache.put(
                key,
                {
                    "v": model.identity,
                    "p": out.predictions.tolist(),
                    "q": None if out.probabilities is None else out.probabilities.tolist(),
                },
            )
        self._log(model, x, out, prediction_id)
        return out

    def _log(
        self, model: LoadedModel, x: ModelInput, out: ModelOutput, prediction_id: str | None
    ) -> None:
        if self.predlog is not None:
            names = model.schema.names if model.schema is not None else ()
            self.predlog.log(names, x, out.predictions, model.version, len(x), prediction_id)

    # --- protocols ------------------------------------------------------------------------

    async def record_feedback(self, body: bytes) -> dict[str, Any]:
        """POST /feedback: labels for logged predictions, by their ids."""
        if self.feedback is None:
            raise feedback.FeedbackDisabled(
                "feedback needs the prediction log, and this deployment has none "
                "(spec.predictionLog.enabled, and Redis)"
            )
        labels = feedback.parse(codecs.load_json(body))
        kept, unknown = await self.feedback.record(labels)
        self.metrics.feedback(kept, len(unknown))
        return {
            "received": len(labels),
            "kept": kept,
            "unknown": len(unknown),
            "unknown_ids": unknown[: feedback.UNKNOWN_IDS_SHOWN],
        }

    async def predict_features(
        self, body: bytes, headers: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """POST /predict: features in; predictions, probabilities, model and latency out."""
        started = time.perf_counter()
        self.model()
        prediction_id = self.prediction_id(headers)
        doc, want_proba = codecs.predict_document(body)
        model = self.choose(self.request_key(headers, doc))
        if "entities" in doc:
            x = await self.online_input(model, doc)
        else:
            x = codecs.predict_features(doc, model.schema, self.settings.max_rows)
        out = await self.predict(model, x, want_proba and model.has_proba, prediction_id)
        return {
            "prediction_id": prediction_id,
            "predictions": codecs.predictions_json(out.predictions),
            "probabilities": (
                codecs.predictions_json(out.probabilities)
                if out.probabilities is not None
                else None
            ),
            "classes": model.classes if want_proba and model.has_proba else None,
            "model_name": model.name,
            "model_version": model.version,
            "latency_ms": round((time.perf_counter() - started) * 1000, 3),
        }

    async def online_input(self, model: LoadedModel, doc: dict[str, Any]) -> ModelInput:
        """`entities` (and maybe `features`): the model input with online features filled in,
        before the cache, so the cache keys on the values read."""
        if self.features is None:
            raise InvalidInput(
                '"entities" needs online features, and this deployment has none: FEATURE_REPO '
                "is not set (spec.features on the ModelDeployment); send every column in "
                '"features" instead'
            )
        return await self.features.model_input(
            model.schema, doc["entities"], doc.get("features"), self.settings.max_rows
        )

    async def invocations(
        self, body: bytes, content_type: str | None, headers: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """POST /invocations: MLflow's scoring protocol, response `{"predictions": [...]}`."""
        prediction_id = self.prediction_id(headers)
        model = self.choose(self.request_key(headers))
        x = codecs.parse_invocations(body, content_type, model.schema, self.settings.max_rows)
        out = await self.predict(model, x, False, prediction_id)
        # The body stays exactly MLflow's; the id travels in X-Prediction-Id only.
        return {"predictions": codecs.predictions_json(out.predictions)}

    async def infer_v2(
        self, name: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """POST /v2/models/{name}/infer."""
        self.v2_model(name)
        model = self.choose(self.request_key(headers))
        doc = codecs.load_json(body)
        x, outputs, request_id = v2_codec.parse_v2(doc, model.schema, self.settings.max_rows)
        # v2's own request id is the prediction id when it is one an id may be.
        prediction_id = self.prediction_id(headers, request_id)
        want_proba = "predict_proba" in outputs
        if want_proba and not model.has_proba:
            raise InvalidInput("this model has no predict_proba output")
        out = await self.predict(model, x, want_proba, prediction_id)
        tensors = []
        for output in outputs:
            if output == "predict":
                predictions = out.predictions
                if hasattr(predictions, "columns") and len(predictions.columns) > 1:
                    tensors += [v2_codec.v2_tensor(str(c), predictions[c]) for c in predictions]
                else:
                    tensors.append(v2_codec.v2_tensor("predict", predictions))
            else:
                tensors.append(v2_codec.v2_tensor("predict_proba", out.probabilities))
        return {
            "model_name": model.name,
            "model_version": model.version,
            "id": request_id or prediction_id,
            "parameters": {"prediction_id": prediction_id},
            "outputs": tensors,
        }

    def v2_metadata(self, name: str) -> dict[str, Any]:
        model = self.v2_model(name)
        kind = v2_codec.v2_datatype(np.asarray(model.classes)) if model.classes else "FP64"
        outputs = [{"name": "predict", "datatype": kind, "shape": [-1]}]
        if model.has_proba:
            n = len(model.classes) if model.classes else -1
            outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, n]})
        return {
            "name": model.name,
            "versions": [model.version],
            "platform": f"mlflow-{model.flavor}",
            "inputs": v2_codec.schema_v2_tensors(model.schema),
            "outputs": outputs,
        }

    def v2_server(self) -> dict[str, Any]:
        return {"name": SERVER_NAME, "version": SERVER_VERSION, "extensions": []}
