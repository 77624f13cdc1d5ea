"""PUT /admin/traffic: the operator's push of a rollout's split (a bearer token guards it)."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from modelops.serving_runtime import codecs
from modelops.serving_runtime.api.deps import DataPlaneDep, json_response, read_body
from modelops.serving_runtime.traffic import TrafficConfig, write_config

router = APIRouter(tags=["admin"])
MAX_BODY = 4096


def _error(status: int, code: str, message: str) -> Response:
    return json_response({"error": {"code": code, "message": message}}, status)


@router.put("/admin/traffic", include_in_schema=False)
async def put_traffic(request: Request, dataplane: DataPlaneDep) -> Response:
    token = dataplane.settings.rollout_token
    if not token:
        return _error(404, "not_found", "this pod takes no traffic configuration (no rollout)")
    given = request.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return _error(401, "unauthorized", "a valid bearer token is required")
    body = await read_body(request, MAX_BODY)
    try:
        config = TrafficConfig.model_validate(codecs.load_json(body))
    except ValidationError as e:
        return _error(400, "invalid_input", f"bad traffic configuration: {e.errors()[:3]}")
    if config.revision >= dataplane.splitter.config.revision:
        # For the pod's other workers, which follow the file.
        write_config(dataplane.settings.traffic_push_file, config)
    dataplane.set_traffic(config)
    return json_response(dataplane.splitter.config.model_dump())
