"""PUT /admin/traffic: the operator's push of a rollout's split, taken only when the operator
signed it for this deployment."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from modelops.serving_runtime import codecs
from modelops.serving_runtime.api.deps import DataPlaneDep, json_response, read_body
from modelops.serving_runtime.traffic import verify_push, write_config

router = APIRouter(tags=["admin"])
MAX_BODY = 4096


def _error(status: int, code: str, message: str) -> Response:
    return json_response({"error": {"code": code, "message": message}}, status)


@router.put("/admin/traffic", include_in_schema=False)
async def put_traffic(request: Request, dataplane: DataPlaneDep) -> Response:
    settings = dataplane.settings
    if not settings.rollout_public_key:
        return _error(404, "not_found", "this pod takes no traffic configuration (no rollout)")
    body = await read_body(request, MAX_BODY)
    try:
        config = verify_push(
            codecs.load_json(body), settings.rollout_public_key, settings.rollout_target
        )
    except PermissionError as e:
        return _error(403, "forbidden", str(e))
    except ValueError as e:
        return _error(400, "invalid_input", f"bad traffic configuration: {e}")
    if config.revision >= dataplane.splitter.config.revision:
        # For the pod's other workers, which follow the file.
        write_config(settings.traffic_push_file, config)
    dataplane.set_traffic(config)
    return json_response(dataplane.splitter.config.model_dump())
