"""POST /predict and /predict/batch: the runtime's own JSON protocol."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from modelops.serving_runtime.api.deps import (
    OVERLOADED_TEXT,
    DataPlaneDep,
    error_responses,
    json_body,
    json_response,
    read_body,
    require_json,
)
from modelops.serving_runtime.api.schemas import ErrorResponse, PredictRequest, PredictResponse

router = APIRouter(tags=["predict"])

_RESPONSES = error_responses(400, 413, 415, 503, 504, scoring=True)
_RESPONSES[404] = {
    "model": ErrorResponse,
    "description": "`features_not_found`: the online store has no features for an entity",
}
_RESPONSES[503] = {
    "model": ErrorResponse,
    "description": (
        "The model is not loaded (yet), the feature store is not ready or unavailable "
        "(`feature_store_not_ready`, `feature_store_unavailable`; requests with `entities`), "
        f"or {OVERLOADED_TEXT}"
    ),
}

_DOC: dict[str, Any] = {
    "response_model": PredictResponse,
    "responses": dict(sorted(_RESPONSES.items(), key=lambda kv: str(kv[0]))),
    "openapi_extra": json_body(PredictRequest),
}


@router.post("/predict", summary="Predict rows", **_DOC)
async def predict(request: Request, dataplane: DataPlaneDep) -> Response:
    """Score rows given as lists in signature column order, or as objects keyed by column;
    or entity ids (`entities`) whose features the runtime reads from the online store, with
    the other columns in `features`."""
    require_json(request)
    body = await read_body(request, dataplane.settings.max_body_bytes)
    return json_response(await dataplane.predict_features(body, request.headers))


@router.post("/predict/batch", summary="Predict many rows", **_DOC)
async def predict_batch(request: Request, dataplane: DataPlaneDep) -> Response:
    """The same as /predict (kept for clients of the seed service); MAX_ROWS applies."""
    require_json(request)
    body = await read_body(request, dataplane.settings.max_body_bytes)
    return json_response(await dataplane.predict_features(body, request.headers))
