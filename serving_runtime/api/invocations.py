"""POST /invocations: MLflow's scoring protocol, a drop-in for `mlflow models serve`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from modelops.serving_runtime.api.deps import (
    DataPlaneDep,
    error_responses,
    json_response,
    read_body,
)
from modelops.serving_runtime.api.schemas import InvocationsResponse

router = APIRouter(tags=["mlflow"])


@router.post(
    "/invocations",
    summary="Score (MLflow protocol)",
    response_model=InvocationsResponse,
    responses=error_responses(400, 413, 415, 503, 504, scoring=True),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            {"$ref": f"#/components/schemas/{name}"}
                            for name in (
                                "InvocationsSplit",
                                "InvocationsRecords",
                                "InvocationsInstances",
                                "InvocationsInputs",
                            )
                        ]
                    }
                },
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
)
async def invocations(request: Request, dataplane: DataPlaneDep) -> Response:
    """`dataframe_split`, `dataframe_records`, `instances` or `inputs` as JSON, or CSV with a
    header row. The response is `{"predictions": [...]}`, as MLflow's server writes it."""
    body = await read_body(request, dataplane.settings.max_body_bytes)
    result = await dataplane.invocations(body, request.headers.get("content-type"), request.headers)
    return json_response(result)
