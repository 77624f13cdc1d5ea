"""Open Inference Protocol v2 (KServe, Triton and MLServer clients work unchanged)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from modelops.serving_runtime.api.deps import (
    DataPlaneDep,
    error_responses,
    json_body,
    json_response,
    read_body,
    require_json,
)
from modelops.serving_runtime.api.schemas import (
    V2InferenceRequest,
    V2InferenceResponse,
    V2Live,
    V2ModelMetadata,
    V2Ready,
    V2ServerMetadata,
)

router = APIRouter(prefix="/v2", tags=["v2"])


@router.get("", response_model=V2ServerMetadata, summary="Server metadata")
async def server_metadata(dataplane: DataPlaneDep) -> Response:
    return json_response(dataplane.v2_server())


@router.get("/health/live", response_model=V2Live, summary="Server live")
async def live() -> Response:
    return json_response({"live": True})


@router.get(
    "/health/ready",
    response_model=V2Ready,
    responses={503: {"model": V2Ready, "description": "The model is not loaded"}},
    summary="Server ready",
)
async def ready(dataplane: DataPlaneDep) -> Response:
    is_ready, _ = dataplane.ready()
    return json_response({"ready": is_ready}, 200 if is_ready else 503)


@router.get(
    "/models/{name}",
    response_model=V2ModelMetadata,
    responses=error_responses(404, 503),
    summary="Model metadata",
)
async def model_metadata(name: str, dataplane: DataPlaneDep) -> Response:
    return json_response(dataplane.v2_metadata(name))


@router.get(
    "/models/{name}/ready",
    response_model=V2Ready,
    responses={
        503: {"model": V2Ready, "description": "The model is not loaded"},
        **error_responses(404),
    },
    summary="Model ready",
)
async def model_ready(name: str, dataplane: DataPlaneDep) -> Response:
    dataplane.check_model_name(name)
    is_ready, _ = dataplane.ready()
    return json_response({"name": name, "ready": is_ready}, 200 if is_ready else 503)


@router.post(
    "/models/{name}/infer",
    response_model=V2InferenceResponse,
    responses=error_responses(400, 404, 413, 415, 503, 504, scoring=True),
    openapi_extra=json_body(V2InferenceRequest),
    summary="Inference",
)
async def infer(name: str, request: Request, dataplane: DataPlaneDep) -> Response:
    """One [N, F] tensor, or one [N] tensor per column (named as in the signature). Ask for
    `predict_proba` in `outputs` to get class probabilities."""
    require_json(request)
    body = await read_body(request, dataplane.settings.max_body_bytes)
    return json_response(await dataplane.infer_v2(name, body, request.headers))
