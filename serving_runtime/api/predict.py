"""POST /predict and /predict/batch: the runtime's own JSON protocol."""

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
from modelops.serving_runtime.api.schemas import PredictRequest, PredictResponse

router = APIRouter(tags=["predict"])

_DOC = {
    "response_model": PredictResponse,
    "responses": error_responses(400, 413, 415, 503),
    "openapi_extra": json_body(PredictRequest),
}


@router.post("/predict", summary="Predict rows", **_DOC)  # type: ignore[arg-type]
async def predict(request: Request, dataplane: DataPlaneDep) -> Response:
    """Score rows given as lists in signature column order, or as objects keyed by column."""
    require_json(request)
    body = await read_body(request, dataplane.settings.max_body_bytes)
    return json_response(await dataplane.predict_features(body))


@router.post("/predict/batch", summary="Predict many rows", **_DOC)  # type: ignore[arg-type]
async def predict_batch(request: Request, dataplane: DataPlaneDep) -> Response:
    """The same as /predict (kept for clients of the seed service); MAX_ROWS applies."""
    require_json(request)
    body = await read_body(request, dataplane.settings.max_body_bytes)
    return json_response(await dataplane.predict_features(body))
