"""POST /feedback: ground truth for predictions the runtime logged."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from modelops.serving_runtime.api.deps import (
    DataPlaneDep,
    error_responses,
    json_response,
    read_body,
    require_json,
)
from modelops.serving_runtime.api.schemas import ErrorResponse, FeedbackResponse

router = APIRouter(tags=["feedback"])

_RESPONSES = error_responses(400, 413, 415)
_RESPONSES[404] = {
    "model": ErrorResponse,
    "description": "`feedback_disabled`: this deployment keeps no prediction log",
}
_RESPONSES[503] = {
    "model": ErrorResponse,
    "description": "`feedback_unavailable`: the prediction log's Redis is down; nothing was kept",
}
_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/FeedbackLabel"},
                        {"type": "array", "items": {"$ref": "#/components/schemas/FeedbackLabel"}},
                    ]
                }
            }
        },
    }
}


@router.post(
    "/feedback",
    summary="Send labels",
    response_model=FeedbackResponse,
    responses=dict(sorted(_RESPONSES.items(), key=lambda kv: str(kv[0]))),
    openapi_extra=_BODY,
)
async def post_feedback(request: Request, dataplane: DataPlaneDep) -> Response:
    """`{"id", "label"}` or a list of up to 10,000: the true outcome of logged predictions,
    joinable for as long as the prediction log keeps them. A label for an id no logged
    prediction has is counted and listed, never an error; a malformed item rejects the
    request and keeps nothing."""
    require_json(request)
    body = await read_body(request, dataplane.settings.max_body_bytes)
    return json_response(await dataplane.record_feedback(body))
