"""One log line and one metric sample per HTTP request, keyed by the route template.

:class:`RequestLogMiddleware` is a plain ASGI middleware (no ``BaseHTTPMiddleware``: it
must not buffer streamed bodies or add a task per request). For every HTTP request it
observes ``http_request_ms{route, status}`` and logs at info, on the ``ferrite.http``
logger::

    request method=GET route=/api/playback/{sid}/t/{token}/{kind}/{rid}/{name} status=200
        ms=3.1 bytes=812345   (one line)

The same facts are attached to the record as ``extra`` fields (``http_method``,
``route``, ``status``, ``duration_ms``, ``bytes``) for a structured (JSON) formatter.

Secrets: playback URLs carry the stream token in the *path* (``/t/<token>/``) and in the
query (``?token=``), image URLs in the query. So the line names the **route template**
(``{token}`` literally), never the raw path, never the query string and never a header
(``Authorization``, cookies). A request no route matched is logged as ``<unmatched>``:
that also keeps the metric's label set bounded whatever paths clients invent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import MutableMapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ferrite import metrics

log = logging.getLogger("ferrite.http")

UNMATCHED = "<unmatched>"


def route_template(scope: MutableMapping[str, Any]) -> str:
    """The template of the route that handled ``scope`` (``/api/items/{item_id}``), or
    ``<unmatched>``. Starlette's router stores the matched route in ``scope["route"]``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str) and path:
        return path
    return UNMATCHED


class RequestLogMiddleware:
    """Times each HTTP request (until the app has sent the whole response) and records it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        sent = 0

        async def counting_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        failed = False
        try:
            await self.app(scope, receive, counting_send)
        except BaseException:
            failed = True  # e.g. the client went away mid-body; the inner layers logged it
            raise
        finally:
            if not status:
                status = 500 if failed else 0
            _record(scope, status, (time.perf_counter() - started) * 1000, sent, failed)


def _record(scope: Scope, status: int, ms: float, sent: int, failed: bool) -> None:
    route = route_template(scope)
    metrics.HTTP_REQUESTS.labels(route, str(status)).observe(ms)
    if not log.isEnabledFor(logging.INFO):
        return
    method = scope.get("method", "")
    log.info(
        "request method=%s route=%s status=%d ms=%.1f bytes=%d%s",
        method,
        route,
        status,
        ms,
        sent,
        " aborted=1" if failed else "",
        extra={
            "http_method": method,
            "route": route,
            "status": status,
            "duration_ms": round(ms, 3),
            "bytes": sent,
        },
    )
