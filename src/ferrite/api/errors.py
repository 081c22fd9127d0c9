"""One error envelope for every error the HTTP API can return.

``{"error": {"code": "...", "message": "...", "status": N}}`` for Ferrite's own errors
(``FerriteError`` and its tree), for request validation (malformed JSON is 400
``bad_request``; wrong types, missing fields and out-of-range parameters are 422
``unprocessable`` with ``details``), for unknown routes (404), wrong methods (405) and for
unexpected exceptions (500 ``internal_error``: logged with its traceback here, never sent
to the client). 401s carry ``WWW-Authenticate: Bearer``, 416s ``Content-Range: bytes
*/size``, 429s and 503s ``Retry-After``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ferrite.api.requestlog import route_template
from ferrite.errors import (
    FerriteError,
    InvalidRange,
    Overloaded,
    TooManyRequests,
    Unauthorized,
)

log = logging.getLogger("ferrite.api")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    422: "unprocessable",
    429: "too_many_requests",
    500: "internal_error",
    503: "overloaded",
}


def envelope(
    status: int,
    code: str,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message, "status": status}
    if extra:
        body.update(extra)
    return JSONResponse({"error": body}, status_code=status, headers=dict(headers or {}))


def error_response(exc: FerriteError) -> JSONResponse:
    headers: dict[str, str] = {}
    if isinstance(exc, Unauthorized):
        headers["www-authenticate"] = 'Bearer realm="ferrite"'
    if isinstance(exc, InvalidRange):
        headers["content-range"] = f"bytes */{exc.size}"
    if isinstance(exc, TooManyRequests | Overloaded):
        headers["retry-after"] = str(max(1, math.ceil(exc.retry_after)))
    return envelope(exc.status, exc.code, exc.message, headers=headers)


async def _ferrite_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FerriteError)
    if isinstance(exc, Overloaded):  # expected under load or an outage: no traceback
        log.warning("%s: %s", exc.code, exc.message)
    elif exc.status >= 500:
        detail = f" ({exc.detail})" if exc.detail else ""
        log.error("%s: %s%s", exc.code, exc.message, detail, exc_info=exc)
    return error_response(exc)


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code = _HTTP_CODES.get(status, "error")
    if status == 404:
        message = "No such resource."
    elif status == 405:
        message = "This method is not allowed here."
    else:
        message = str(exc.detail)
    return envelope(status, code, message, headers=exc.headers)


def _describe(error: Mapping[str, Any]) -> dict[str, Any]:
    loc = [str(part) for part in error.get("loc", ())]
    return {"loc": loc, "message": str(error.get("msg", "invalid")), "type": error.get("type")}


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    details = [_describe(e) for e in errors[:20]]
    if any(e.get("type") == "json_invalid" for e in errors):
        return envelope(400, "bad_request", "The request body is not valid JSON.")
    first = details[0] if details else {"loc": [], "message": "invalid request"}
    where = ".".join(p for p in first["loc"] if p not in ("body", "query", "path", "header"))
    message = f"{where}: {first['message']}" if where else str(first["message"])
    return envelope(422, "unprocessable", message, extra={"details": details})


def install(app: FastAPI) -> None:
    """Register the envelope handlers and the catch-all for unexpected exceptions."""
    app.add_exception_handler(FerriteError, _ferrite_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(CatchAllMiddleware)


class CatchAllMiddleware:
    """Turns an exception that escaped every handler into a logged 500 envelope.

    (Starlette's ``ServerErrorMiddleware`` would answer in plain text and re-raise.) If
    the response had already started, the connection can only be cut: re-raise.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                log.warning(  # the route template: the raw path may hold a stream token
                    "%s %s failed mid-response: %r", scope.get("method"), route_template(scope), exc
                )
                raise
            if isinstance(exc, FerriteError):
                response: Response = error_response(exc)
            else:
                log.exception(
                    "unhandled error in %s %s", scope.get("method"), route_template(scope)
                )
                response = envelope(
                    500, "internal_error", "Something went wrong on the server; it was logged."
                )
            await response(scope, receive, send)
