"""Liveness, readiness and metrics: what the kubelet and Prometheus call."""

from __future__ import annotations

import platform

from fastapi import APIRouter
from starlette.responses import Response

from modelops.serving_runtime import package_version
from modelops.serving_runtime.api.deps import DataPlaneDep, json_response
from modelops.serving_runtime.api.schemas import Health, Readiness, VersionInfo

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, summary="Liveness")
async def health() -> Response:
    """Alive as long as the process serves HTTP, loaded or not: a model that fails to load
    must not send the pod into a restart loop."""
    return json_response({"status": "alive"})


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Loading, or the last load failed"}},
    summary="Readiness",
)
async def ready(dataplane: DataPlaneDep) -> Response:
    """Ready once the model is loaded; otherwise 503 with the state and the last failure."""
    is_ready, status = dataplane.ready()
    return json_response(status, 200 if is_ready else 503)


@router.get(
    "/ping",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Loading, or the last load failed"}},
    summary="Readiness, under the name `mlflow models serve` and SageMaker use",
)
async def ping(dataplane: DataPlaneDep) -> Response:
    """`/ready`, for health checks written against `mlflow models serve`."""
    return await ready(dataplane)


@router.get("/version", response_model=VersionInfo, summary="Versions")
async def version(dataplane: DataPlaneDep) -> Response:
    """What is running: this runtime, its MLflow and Python, and the model version served."""
    _, status = dataplane.ready()
    return json_response(
        {
            "modelops": package_version(),
            "mlflow": package_version("mlflow"),
            "python": platform.python_version(),
            "model_name": status["model_name"],
            "model_version": status.get("model_version"),
        }
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
async def metrics(dataplane: DataPlaneDep) -> Response:
    body, content_type = dataplane.metrics.render()
    return Response(body, media_type=content_type)
