"""The background loader: loads the model once, retrying, and says why it is not ready."""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

from modelops.serving_runtime.errors import reason_code
from modelops.serving_runtime.loader import load_model
from modelops.serving_runtime.model import LoadedModel
from modelops.serving_runtime.retry import BackgroundRetry
from modelops.serving_runtime.settings import RuntimeSettings

log = logging.getLogger("modelops.serving_runtime.model")

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
        self.next_attempt_at: float | None = None
        self.loaded_at: float | None = None
        self._ready_callbacks: list[Callable[[], None]] = []
        self._retry = BackgroundRetry(
            "model-loader", self._load, self._loaded, self._failed, settings
        )

    @property
    def attempts(self) -> int:
        return self._retry.attempts

    @property
    def _thread(self) -> threading.Thread | None:
        return self._retry.thread

    def start(self) -> None:
        self._retry.start()

    def stop(self) -> None:
        self._retry.stop()

    def on_ready(self, callback: Callable[[], None]) -> None:
        self._ready_callbacks.append(callback)

    def _set_state(self, state: LoadState) -> None:
        self.state = state
        if self._on_change is not None:
            self._on_change(state)

    def _load(self) -> LoadedModel:
        s = self.settings
        log.info("Loading model", extra={"model_uri": s.model_uri, "attempt": self.attempts})
        return self._loader(s)

    def _failed(self, e: Exception, wait: float) -> None:
        self.reason = reason_code(e, "RegistryUnavailable", "LoadFailed")
        self.next_attempt_at = time.time() + wait
        self._set_state("failed")
        log.warning(
            "Could not load model",
            extra={
                "model_uri": self.settings.model_uri,
                "attempt": self.attempts,
                "reason": self.reason,
                "error": f"{type(e).__name__}: {e}"[:2000],
                "retry_in_seconds": round(wait, 2),
            },
        )

    def _loaded(self, model: LoadedModel, started: float) -> None:
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
