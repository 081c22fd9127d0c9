"""A size limit on every request body, enforced before anything reads it.

FastAPI parses a JSON body whole before a route's dependencies run -- authentication
included -- so without a limit anyone could make the server buffer and parse gigabytes.
:class:`BodyLimitMiddleware` answers 413 ``payload_too_large`` (the one envelope) when
``Content-Length`` says the body is too big, and cuts a chunked body off as soon as it
passes the limit (413 if no response started yet). The limit is ``max_body_bytes`` for
everything except the routes given their own (a ``.torrent`` upload).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ferrite.api.errors import envelope


class _TooLarge(Exception):
    pass


def limit_for(method: str, path: str, default: int, routes: Mapping[tuple[str, str], int]) -> int:
    """The body limit of a request (pure)."""
    return routes.get((method, path.rstrip("/") or "/"), default)


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyLimitMiddleware:
    def __init__(
        self, app: ASGIApp, *, default: int, routes: Mapping[tuple[str, str], int] | None = None
    ) -> None:
        self.app = app
        self.default = default
        self.routes = dict(routes or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope["method"], scope["path"], self.default, self.routes)
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _refuse(limit)(scope, receive, send)
            return
        received = 0
        started = False
        over = False

        async def counting_receive() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    raise _TooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            # Frameworks turn any error while reading a body into their own 400; once the
            # limit is passed, whatever the app answers is replaced by the 413.
            nonlocal started
            if over:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with contextlib.suppress(_TooLarge):
            await self.app(scope, counting_receive, guarded_send)
        if over and not started:
            await _refuse(limit)(scope, receive, send)


def _refuse(limit: int) -> JSONResponse:
    return envelope(
        413,
        "payload_too_large",
        f"The request body is larger than this route accepts ({limit} bytes).",
        headers={"connection": "close"},
    )
