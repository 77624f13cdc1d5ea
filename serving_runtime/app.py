"""create_app(settings): the FastAPI app; its lifespan starts the model loading and Redis."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypedDict

from fastapi import FastAPI

from modelops.serving_runtime.api import admin, feedback, health, invocations, predict, v2
from modelops.serving_runtime.api.admission import AdmissionMiddleware
from modelops.serving_runtime.api.document import build_openapi
from modelops.serving_runtime.api.errors import install_error_handlers
from modelops.serving_runtime.cache import ResponseCache
from modelops.serving_runtime.dataplane import SERVER_VERSION, DataPlane
from modelops.serving_runtime.loader import load_model
from modelops.serving_runtime.metrics import Metrics, MetricsMiddleware, multiprocess_dir
from modelops.serving_runtime.model import LoadedModel
from modelops.serving_runtime.model_manager import LoadState, ModelManager
from modelops.serving_runtime.predlog import LogPolicy, PredictionLogger
from modelops.serving_runtime.redisconn import CircuitBreaker, make_client
from modelops.serving_runtime.settings import RuntimeSettings

log = logging.getLogger("modelops.serving_runtime")

TITLE = "modelops serving runtime"
DESCRIPTION = (
    "Serves one MLflow model over three protocols: the runtime's own `/predict`, MLflow's "
    "`/invocations` and the Open Inference Protocol v2 (`/v2`). Errors are "
    '`{"error": {"code", "message"}}` with a 4xx status for every client mistake.'
)


class RuntimeApp(FastAPI):
    """FastAPI whose OpenAPI document also describes the bodies the routes parse themselves."""

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            self.openapi_schema = build_openapi(self)
        return self.openapi_schema


class State(TypedDict):
    """Lifespan state (Starlette copies it into every request's `request.state`)."""

    dataplane: DataPlane


def _optional_redis(
    settings: RuntimeSettings, metrics: Metrics
) -> tuple[ResponseCache | None, PredictionLogger | None]:
    timeout = settings.redis_timeout_ms / 1000.0
    cache = predlog = None
    if settings.cache_enabled:
        if settings.redis_url:
            breaker = CircuitBreaker("cache", on_error=lambda: metrics.redis_error("cache"))
            cache = ResponseCache(
                make_client(settings.redis_url, timeout),
                settings.cache_ttl_seconds,
                breaker,
                on_result=metrics.cache_result,
            )
        else:
            log.warning("Response cache disabled: CACHE_ENABLED is set but REDIS_URL is not")
    if settings.prediction_log_enabled:
        url = settings.log_redis_url
        if url:
            breaker = CircuitBreaker(
                "prediction_log", on_error=lambda: metrics.redis_error("prediction_log")
            )
            predlog = PredictionLogger(
                # Writes happen off the request path, so they can wait a little longer.
                make_client(url, max(timeout, 0.5)),
                settings.prediction_log_stream,
                settings.prediction_log_max_len,
                settings.prediction_log_sample_rate,
                breaker,
                on_drop=lambda n: metrics.predlog_rows(dropped=n),
                on_written=lambda n: metrics.predlog_rows(written=n),
                policy=LogPolicy(
                    include=(
                        frozenset(settings.prediction_log_include_columns)
                        if settings.prediction_log_include_columns is not None
                        else None
                    ),
                    exclude=frozenset(settings.prediction_log_exclude_columns),
                    hashed=frozenset(settings.prediction_log_hash_columns),
                    hash_key=settings.prediction_log_hash_key.encode(),
                    max_age_seconds=settings.prediction_log_max_age_seconds,
                    max_rows_per_second=settings.prediction_log_max_rows_per_second,
                ),
            )
        else:
            log.warning(
                "Prediction log disabled: PREDICTION_LOG_ENABLED is set but neither "
                "PREDICTION_LOG_REDIS_URL nor REDIS_URL is"
            )
    return cache, predlog


def create_app(
    settings: RuntimeSettings,
    *,
    loader: Callable[[RuntimeSettings], LoadedModel] = load_model,
) -> FastAPI:
    """The app for one model. Nothing happens at construction: the lifespan loads the model
    in the background (readiness says when it is done) and connects to Redis."""
    metrics = Metrics(settings.model_name, settings.model_version)

    def on_load_state(state: LoadState) -> None:
        if state == "ready" and manager.model is not None:
            metrics.set_version(manager.model.version)
        metrics.load_state(state)

    manager = ModelManager(settings, loader, on_change=on_load_state)
    candidate = None
    if settings.candidate_model_uri:
        candidate = ModelManager(
            settings.model_copy(
                update={
                    "model_uri": settings.candidate_model_uri,
                    "model_version": settings.candidate_model_version,
                }
            ),
            loader,
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[State]:
        cache, predlog = _optional_redis(settings, metrics)
        features = None
        if settings.feature_repo:
            # Not imported otherwise: nothing of Feast loads without FEATURE_REPO.
            from modelops.serving_runtime.features.lookup import OnlineFeatures

            features = OnlineFeatures(settings, metrics)
            # After the model: Feast's set-up changes process-wide state (the working folder,
            # warning filters, stdout) that the model loader's thread must not see change.
            manager.on_ready(features.start)
        dataplane = DataPlane(settings, manager, metrics, cache, predlog, features, candidate)
        metrics.load_state("loading")
        if predlog is not None:
            predlog.start()
        manager.start()
        if candidate is not None:
            candidate.start()
        dataplane.start()
        log.info(
            "Started serving runtime",
            extra={
                "model_uri": settings.model_uri,
                "candidate_model_uri": settings.candidate_model_uri or None,
                "model_name": settings.model_name,
                "batching": settings.batching_enabled,
                "cache": cache is not None,
                "prediction_log": predlog is not None,
                "feature_repo": settings.feature_repo,
                "pid": os.getpid(),
            },
        )
        try:
            yield {"dataplane": dataplane}
        finally:
            manager.stop()
            if candidate is not None:
                candidate.stop()
            await dataplane.stop()
            if features is not None:
                features.stop()
            if predlog is not None:
                await predlog.close()
            if cache is not None:
                await cache.close()
            if multiprocess_dir() is not None:
                from prometheus_client import multiprocess

                multiprocess.mark_process_dead(os.getpid())
            log.info("Stopped serving runtime", extra={"pid": os.getpid()})

    app = RuntimeApp(
        title=TITLE,
        description=DESCRIPTION,
        version=SERVER_VERSION,
        lifespan=lifespan,
    )
    install_error_handlers(app, on_error=metrics.error)
    # Added first, so it runs inside the metrics middleware: 503s and 504s are counted too.
    app.add_middleware(
        AdmissionMiddleware,
        limit=settings.max_concurrent_requests,
        deadline_s=settings.request_timeout_ms / 1000.0,
        on_error=metrics.error,
        side=frozenset({"/feedback"}),
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    for router in (
        predict.router,
        invocations.router,
        v2.router,
        feedback.router,
        health.router,
        admin.router,
    ):
        app.include_router(router)
    app.state.metrics = metrics
    app.state.manager = manager
    return app


def app_from_env() -> FastAPI:
    """uvicorn's factory for worker processes (WORKERS > 1 needs an import string)."""
    from modelops.serving_runtime import logs

    settings = RuntimeSettings()  # type: ignore[call-arg]
    logs.configure(settings.log_level)  # a spawned worker starts with Python's defaults
    return create_app(settings)
