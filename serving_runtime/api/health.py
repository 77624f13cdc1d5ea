"""Liveness, readiness and metrics: what the kubelet and Prometheus call."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from modelops.serving_runtime.api.deps import DataPlaneDep, json_response
from modelops.serving_runtime.api.schemas import Health, Readiness

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
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
async def metrics(dataplane: DataPlaneDep) -> Response:
    body, content_type = dataplane.metrics.render()
    return Response(body, media_type=content_type)
