"""The HTTP face of every error: `{"error": {"code", "message"}}` with the error's status."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from modelops.serving_runtime.errors import InvalidInput, ServingError

log = logging.getLogger("modelops.serving_runtime")


def error_body(code: str, message: str, **details: Any) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return orjson.dumps({"error": error})


def error_response(status: int, code: str, message: str, **details: Any) -> Response:
    return Response(
        error_body(code, message, **details), status_code=status, media_type="application/json"
    )


_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def install_error_handlers(app: FastAPI, on_error: Callable[[str], None] | None = None) -> None:
    """Every error leaves as `{"error": {"code", "message"}}`, whatever raised it; `on_error`
    is told each error's code (for the errors-by-kind metric)."""

    def count(code: str) -> None:
        if on_error is not None:
            on_error(code)

    async def on_serving_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ServingError)
        count(exc.code)
        if exc.status >= 500:
            log.error("Request failed", extra={"code": exc.code, "error": exc.message})
        response = error_response(exc.status, exc.code, exc.message, **exc.details)
        response.headers.update(exc.headers)
        return response

    async def on_http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        count(code)
        response = error_response(exc.status_code, code, str(exc.detail))
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    async def on_validation_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        )
        count(InvalidInput.code)
        return error_response(400, InvalidInput.code, problems or "invalid request")

    async def on_unexpected(_: Request, exc: Exception) -> Response:
        count("internal")
        log.exception("Request failed unexpectedly")
        return error_response(500, "internal", f"internal error: {type(exc).__name__}")

    app.add_exception_handler(ServingError, on_serving_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(Exception, on_unexpected)
