"""OnlineFeatures: the Feast store behind FEATURE_REPO, set up in the background, then read."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import numpy as np

from modelops.serving_runtime.errors import (
    FeaturesNotFound,
    FeatureStoreNotReady,
    FeatureStoreUnavailable,
    InvalidInput,
    JobError,
    reason_code,
)
from modelops.serving_runtime.features.assembly import (
    assemble,
    check_entities,
    check_found,
    needed_features,
)
from modelops.serving_runtime.features.metrics import FeatureMetrics
from modelops.serving_runtime.features.store import open_store
from modelops.serving_runtime.metrics import Metrics
from modelops.serving_runtime.retry import BackgroundRetry
from modelops.serving_runtime.settings import RuntimeSettings, parse_refs
from modelops.serving_runtime.signature import InputSchema

log = logging.getLogger("modelops.serving_runtime.features")

StoreState = Literal["loading", "ready", "failed"]


class OnlineFeatures:
    """The Feast store behind FEATURE_REPO: initialised once in the background (retried with
    backoff), then read by `lookup` for each request with entities, all of a request's
    entities in one batched read, in a thread.

    Only the app's lifespan imports this, and only with FEATURE_REPO set: Feast is slow to
    import and sets PROMETHEUS_MULTIPROC_DIR (see metrics.multiprocess_dir)."""

    def __init__(
        self,
        settings: RuntimeSettings,
        metrics: Metrics,
        opener: Callable[[OnlineFeatures], Any] | None = None,
    ) -> None:
        assert settings.feature_repo
        self.settings = settings
        self.repo = settings.feature_repo
        self.entity_key = settings.feature_entity_key
        self.refs = parse_refs(settings.feature_refs)
        self.ref_names = [str(r) for r in self.refs]
        self.names = [r.name for r in self.refs]
        self.metrics = FeatureMetrics(metrics)
        self.timeout = settings.feature_lookup_timeout_ms / 1000.0
        self._opener = opener or open_store
        self.store: Any = None
        self.entity_kind: type | None = None
        self.online_store = "the online store"
        self.state: StoreState = "loading"
        self.reason: str | None = None
        self.workdir: str | None = None
        self._retry = BackgroundRetry(
            "feature-store-init", self._open, self._opened, self._failed, settings
        )
        # A few threads: a slow read must not hold up the next request's read.
        self.executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="features")

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def attempts(self) -> int:
        return self._retry.attempts

    def start(self) -> None:
        self._retry.start()

    def stop(self) -> None:
        self._retry.stop()
        self.executor.shutdown(wait=False, cancel_futures=True)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _open(self) -> None:
        self._opener(self)
        self._warm_up()

    def _warm_up(self) -> None:
        """One read before the pod is ready, so that the first request does not pay for what
        Feast and the Redis client set up lazily (imports, the provider, the connection): on a
        busy node that took longer than the lookup deadline and the first request got a 503.
        Best effort: a store that does not answer now is the request path's to report."""
        probe = "" if self.entity_kind is str else 0
        started = time.monotonic()
        future = self.executor.submit(self._read, self.store, [{self.entity_key: probe}])
        try:
            future.result(timeout=max(10.0, self.timeout))
        except Exception as e:  # any failure is only worth a warning here
            log.warning(
                "The online store did not answer the warm-up read",
                extra={
                    "online_store": self.online_store,
                    "error": f"{type(e).__name__}: {e}"[:500],
                },
            )
            return
        log.info(
            "Online store warmed up",
            extra={
                "online_store": self.online_store,
                "seconds": round(time.monotonic() - started, 3),
            },
        )

    def _failed(self, e: Exception, wait: float) -> None:
        self.reason = reason_code(e, "OnlineStoreUnavailable", "FeatureStoreFailed")
        self.state = "failed"
        log.warning(
            "Could not initialise the feature store",
            extra={
                "feature_repo": self.repo,
                "attempt": self.attempts,
                "reason": self.reason,
                # A JobError's message is complete; anything else needs its type.
                "error": str(e) if isinstance(e, JobError) else f"{type(e).__name__}: {e}"[:2000],
                "retry_in_seconds": round(wait, 2),
            },
        )

    def _opened(self, _: None, started: float) -> None:
        self.reason = None
        self.state = "ready"
        log.info(
            "Feature store ready",
            extra={
                "feature_repo": self.repo,
                "features": self.ref_names,
                "online_store": self.online_store,
                "seconds": round(time.monotonic() - started, 3),
            },
        )

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ready": self.state == "ready",
            "state": self.state,
            "repo": self.repo,
            "entity_key": self.entity_key,
            "features": self.ref_names,
            "attempts": self.attempts,
        }
        if self.reason is not None:
            body["reason"] = self.reason
        elif self.state == "loading":
            body["reason"] = "WaitingForModel" if not self._retry.started else "Initialising"
        return body

    # --- the request path --------------------------------------------------------------------

    async def lookup(self, ids: list[Any]) -> dict[str, list[Any]]:
        """Every FEATURE_REFS feature for `ids`, one list per feature name, in one batched
        read of the online store."""
        store = self.store
        if self.state != "ready" or store is None:
            self.metrics.error("not_ready")
            why = self.reason or "it is still initialising"
            raise FeatureStoreNotReady(f"the feature store ({self.repo}) is not ready: {why}")
        rows = [{self.entity_key: i} for i in ids]
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            result = await asyncio.wait_for(
                loop.run_in_executor(self.executor, self._read, store, rows), self.timeout
            )
        except TimeoutError:
            self.metrics.error("unavailable")
            raise FeatureStoreUnavailable(
                f"the feature store's online store ({self.online_store}) did not answer within "
                f"{self.timeout * 1000:.0f} ms"
            ) from None
        except Exception as e:
            self.metrics.error("unavailable")
            log.warning(
                "Online feature lookup failed",
                extra={"online_store": self.online_store, "error": f"{type(e).__name__}: {e}"},
            )
            raise FeatureStoreUnavailable(
                f"the feature store's online store ({self.online_store}) is unavailable: "
                f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"
            ) from e
        self.metrics.lookup(time.perf_counter() - started)
        return result

    def _read(self, store: Any, rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
        values = store.get_online_features(features=self.ref_names, entity_rows=rows).to_dict()
        return {name: values[name] for name in self.names}

    async def model_input(
        self, schema: InputSchema | None, entities: Any, raw: Any, max_rows: int
    ) -> np.ndarray:
        """The model input for a request with `entities` (and maybe raw `features`)."""
        ids = check_entities(entities, self.entity_key, max_rows, self.entity_kind)
        if raw is not None and type(raw) is list and len(raw) != len(ids):
            raise InvalidInput(
                f'"features" has {len(raw)} rows but "entities" has {len(ids)}: one row per entity'
            )
        if schema is None or not schema.named or schema.source == "free":
            # Checked before the read: it would be wasted.
            return assemble(schema, {}, raw, len(ids), max_rows)
        values = await self.lookup(ids)
        try:
            check_found(self.entity_key, ids, values, needed_features(schema, self.names))
        except FeaturesNotFound:
            self.metrics.error("not_found")
            raise
        return assemble(
            schema,
            values,
            raw,
            len(ids),
            max_rows,
            entity_key=self.entity_key,
            refs=self.ref_names,
        )
