"""What every router shares: the data plane dependency, bounded body reading, JSON replies."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.responses import Response

from modelops.serving_runtime import codecs
from modelops.serving_runtime.dataplane import DataPlane
from modelops.serving_runtime.errors import (
    MalformedBody,
    PayloadTooLarge,
    UnsupportedMediaType,
)


async def get_dataplane(request: Request) -> DataPlane:
    """The data plane the lifespan put in the request state (Starlette lifespan state).

    `async` on purpose: FastAPI runs a plain `def` dependency in a worker thread, a thread
    handoff per request for a dictionary lookup."""
    dataplane: DataPlane = request.state.dataplane
    return dataplane


DataPlaneDep = Annotated[DataPlane, Depends(get_dataplane)]


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with a 413 as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise MalformedBody("Content-Length is not a number") from None
        if size > limit:
            raise PayloadTooLarge(
                f"request body of {size} bytes exceeds the limit of {limit} bytes",
                max_body_bytes=limit,
            )
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            # Chunked uploads have no Content-Length: stop reading at the limit.
            raise PayloadTooLarge(
                f"request body exceeds the limit of {limit} bytes", max_body_bytes=limit
            )
        chunks.append(chunk)
    return b"".join(chunks)


def require_json(request: Request) -> None:
    kind, _ = codecs.media_type(request.headers.get("content-type"))
    if kind not in ("", codecs.JSON) and not kind.endswith("+json"):
        raise UnsupportedMediaType(
            f"unsupported content type {kind!r}: this endpoint takes application/json"
        )


def json_response(doc: Any, status_code: int = 200) -> Response:
    return Response(codecs.dumps(doc), status_code=status_code, media_type="application/json")


def json_body(model: type[Any] | str, *media: str) -> dict[str, Any]:
    """openapi_extra for a body the route reads itself (no per-request pydantic pass)."""
    name = model if isinstance(model, str) else model.__name__
    schema = {"$ref": f"#/components/schemas/{name}"}
    content = {m: {"schema": schema} for m in (media or (codecs.JSON,))}
    return {"requestBody": {"required": True, "content": content}}


_ERROR_TEXT = {
    400: "Malformed or invalid input (the message names the problem)",
    404: "No such model",
    413: "Too many rows or too large a body",
    415: "Unsupported content type",
    503: "The model is not loaded (yet)",
    504: "`deadline_exceeded`: no answer within REQUEST_TIMEOUT_MS",
}
OVERLOADED_TEXT = (
    "`overloaded`: too many requests in progress or rows queued (retry after the "
    "Retry-After header's seconds)"
)


def error_responses(*statuses: int, scoring: bool = False) -> dict[int | str, dict[str, Any]]:
    """The documented error replies, all `{"error": {"code", "message"}}`; a scoring route's
    503 may also be admission control's."""
    from modelops.serving_runtime.api.schemas import ErrorResponse

    def text(status: int) -> str:
        if scoring and status == 503:
            return f"{_ERROR_TEXT[503]}, or {OVERLOADED_TEXT}"
        return _ERROR_TEXT[status]

    return {s: {"model": ErrorResponse, "description": text(s)} for s in statuses}
