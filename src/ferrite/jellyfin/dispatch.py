"""The Jellyfin side door: a small case-insensitive router in front of Ferrite's app.

Jellyfin clients spell paths and query keys as they like (``/System/Info/Public``,
``/system/info/public``, ``?ParentId=`` or ``?parentId=``), so the routes here match with
``re.IGNORECASE`` and query keys are lowercased once; path parameters keep their case
(nothing here is case-sensitive but tokens, and tokens never sit in a Jellyfin path).

:class:`JellyfinMiddleware` claims every request whose first path segment is a Jellyfin
one (:data:`CLAIMED`: the first segments of the Jellyfin 10.11 OpenAPI document, plus
``socket``) and leaves everything else (``/api/...``, the web UI) to Ferrite's routers.
A claimed path without a route answers 404 ``{}`` (logged once per path shape), never the
web UI's page. Every answer carries CORS headers for any origin; preflights are answered
here. Errors are Ferrite's (:class:`~ferrite.errors.FerriteError`) rendered as a small
problem-details object (``{"title", "status"}``) — Jellyfin clients look at the status.

The caller is resolved from (first found) ``X-Emby-Token``, ``X-MediaBrowser-Token``, the
``Token`` of an ``Authorization``/``X-Emby-Authorization: MediaBrowser ...`` header, a
``Bearer`` header, or an ``api_key``/``ApiKey`` query parameter, and checked like every
Ferrite access token: a signature, an expiry and the in-memory token-version table.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ferrite import metrics
from ferrite.auth.tokens import Principal
from ferrite.errors import (
    BadRequest,
    FerriteError,
    InvalidRange,
    Overloaded,
    TokenInvalid,
    TooManyRequests,
    Unprocessable,
)
from ferrite.jellyfin.state import JellyfinState
from ferrite.jellyfin.wire import ClientInfo, fold, parse_authorization, prune
from ferrite.services import Services

log = logging.getLogger("ferrite.jellyfin")

#: First path segments that belong to Jellyfin's API (lowercase). ``web`` is left out:
#: that is Ferrite's own UI's business.
CLAIMED: Final = frozenset(
    {
        "albums", "artists", "audio", "auth", "backup", "branding", "channels", "clientlog",
        "collections", "devices", "displaypreferences", "environment", "fallbackfont",
        "genres", "getutctime", "items", "libraries", "library", "livestreams", "livetv",
        "localization", "mediasegments", "movies", "musicgenres", "packages", "persons",
        "playback", "playingitems", "playlists", "plugins", "providers", "quickconnect",
        "repositories", "scheduledtasks", "search", "sessions", "shows", "songs", "startup",
        "studios", "syncplay", "system", "tmdb", "trailers", "userfavoriteitems",
        "userimage", "useritems", "userplayeditems", "users", "userviews", "videos", "years",
        "socket", "embywebsocket", "emby",
    }
)  # fmt: skip

#: Jellyfin segments that are also client routes of Ferrite's web UI (``/library/3``,
#: ``/search``): claimed only from a Jellyfin client (one that sends a ``MediaBrowser``/
#: ``Emby`` authorization, an ``X-Emby-*`` header or an ``api_key``); a browser loading the
#: page gets Ferrite's UI.
SHARED: Final = frozenset({"library", "search"})

_CORS: Final = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-expose-headers", b"Content-Range, Accept-Ranges, Content-Length"),
]
_MAX_BODY: Final = 1 << 20  # a DeviceProfile is a few KiB; a MiB is surely not a profile
_AUTH_SECONDS = metrics.AUTH_HOTPATH.labels(kind="jellyfin")


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(prune(value), separators=(",", ":"), ensure_ascii=False).encode()
    return Response(body, status, headers=headers, media_type="application/json; charset=utf-8")


def _error(status: int, title: str) -> Response:
    return json_response({"title": title, "status": status}, status)


@dataclass
class Ctx:
    """One request as a handler sees it."""

    request: Request
    svc: Services
    params: dict[str, str]
    query: dict[str, list[str]]
    client: ClientInfo
    token: str | None
    state: JellyfinState  # the layer's own state (server id, play sessions' devices)
    _user: Principal | None = field(default=None, repr=False)

    def q(self, name: str) -> str | None:
        """The last value of query key ``name`` (any case), or ``None``."""
        values = self.query.get(name.lower())
        return values[-1] if values else None

    def qall(self, name: str) -> list[str]:
        return self.query.get(name.lower(), [])

    @property
    def user(self) -> Principal:
        """The authenticated caller (401 if the request has no valid token)."""
        if self._user is None:
            started = time.perf_counter()
            try:
                if not self.token:
                    raise TokenInvalid("This needs a Jellyfin access token.")
                self._user = self.svc.auth.tokens.verify(self.token)
            finally:
                _AUTH_SECONDS.observe((time.perf_counter() - started) * 1000)
        return self._user

    async def body(self) -> dict[str, Any]:
        """The JSON body with its top-level keys lowercased (``{}`` when empty)."""
        raw = await self.request.body()
        if not raw.strip():
            return {}
        if len(raw) > _MAX_BODY:
            raise BadRequest("The request body is too large.")
        try:
            value = json.loads(raw)
        except ValueError:
            raise BadRequest("The request body is not valid JSON.") from None
        if not isinstance(value, dict):
            raise BadRequest("The request body must be a JSON object.")
        return fold(value)


Handler = Callable[[Ctx], Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    methods: frozenset[str]
    path: str  # the template, as in Jellyfin's documentation (logs and metrics use it)
    regex: re.Pattern[str]
    handler: Handler
    websocket: bool = False


def _compile(template: str) -> re.Pattern[str]:
    pattern = ""
    for part in re.split(r"(\{[A-Za-z]+\})", template):
        if part.startswith("{"):
            pattern += f"(?P<{part[1:-1]}>[^/]+)"
        else:
            pattern += re.escape(part)
    return re.compile(f"^{pattern}/?$", re.IGNORECASE)


class Router:
    def __init__(self) -> None:
        self._by_first: dict[str, list[Route]] = {}

    def route(self, methods: str, *templates: str) -> Callable[[Handler], Handler]:
        """Register a handler for ``"GET POST"`` on each template (GET implies HEAD)."""
        wanted = set(methods.split())
        if "GET" in wanted:
            wanted.add("HEAD")

        def register(handler: Handler) -> Handler:
            for template in templates:
                first = template.strip("/").split("/")[0].lower()
                route = Route(frozenset(wanted), template, _compile(template), handler)
                self._by_first.setdefault(first, []).append(route)
            return handler

        return register

    def include(self, other: Router) -> None:
        """Append ``other``'s routes (after this router's own: first match wins)."""
        for first, routes in other._by_first.items():
            self._by_first.setdefault(first, []).extend(routes)

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """``(route, params, path_known)``: the route for ``method path``, if any."""
        first = path.strip("/").split("/", 1)[0].lower()
        known = False
        for route in self._by_first.get(first, ()):
            found = route.regex.match(path)
            if found is None:
                continue
            known = True
            if method in route.methods:
                return route, found.groupdict(), True
        return None, {}, known


def client_token(
    headers: dict[str, str], query: dict[str, list[str]]
) -> tuple[ClientInfo, str | None]:
    """The client's self-description and its token, from headers or the query."""
    info = parse_authorization(headers.get("authorization")) or parse_authorization(
        headers.get("x-emby-authorization")
    )
    token = headers.get("x-emby-token") or headers.get("x-mediabrowser-token")
    if not token and info is not None:
        token = info.token
    if not token:
        auth = headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            token = value.strip()
    if not token:
        for key in ("api_key", "apikey"):
            if query.get(key):
                token = query[key][-1]
                break
    if info is None:
        device_id = (query.get("deviceid") or [""])[-1]
        info = ClientInfo(device_id=device_id[:256])
    return info, (token.strip() or None) if token else None


class JellyfinApi:
    """The routes and the unknown-route log; :meth:`handle` serves one claimed request."""

    def __init__(self, router: Router, websocket: Callable[..., Awaitable[None]] | None) -> None:
        self.router = router
        self.websocket = websocket
        self._unknown: set[str] = set()
        self._state: tuple[Services, JellyfinState] | None = None

    def state_for(self, svc: Services) -> JellyfinState:
        """The layer's state for the app's running services, made on first use (it reads
        the install secret once); a restarted lifespan (new services) gets a new one."""
        if self._state is None or self._state[0] is not svc:
            self._state = (svc, JellyfinState.for_install(svc.settings))
        return self._state[1]

    def _log_unknown(self, method: str, path: str) -> None:
        shape = re.sub(r"[0-9a-fA-F-]{32,36}|\d+", "{id}", path.lower())[:200]
        if shape in self._unknown or len(self._unknown) >= 1000:
            return
        self._unknown.add(shape)
        log.info("jellyfin: no route for %s %s (answered 404 {}; logged once)", method, shape)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        path = scope["path"]

        async def cors_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = [*message.get("headers", []), *_CORS]
            await send(message)

        if method == "OPTIONS":
            request_headers = dict(scope.get("headers") or [])
            allow = request_headers.get(b"access-control-request-headers", b"*").decode("latin-1")
            response = Response(
                status_code=204,
                headers={
                    "access-control-allow-methods": "GET, POST, DELETE, PUT, HEAD, OPTIONS",
                    "access-control-allow-headers": allow[:1000] or "*",
                    "access-control-max-age": "86400",
                },
            )
            await response(scope, receive, cors_send)
            return
        route, params, known = self.router.match(method, path)
        if route is None:
            if known:
                response = json_response({}, 405)
            else:
                self._log_unknown(method, path)
                response = json_response({}, 404)
            await response(scope, receive, cors_send)
            return
        scope["route"] = route  # the request log names the template, never the raw path
        request = Request(scope, receive)
        query: dict[str, list[str]] = {}
        for key, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"), True):
            query.setdefault(key.lower(), []).append(value)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        svc: Services = scope["app"].state.services
        try:
            info, token = client_token(headers, query)
            ctx = Ctx(request, svc, params, query, info, token, self.state_for(svc))
            response = await route.handler(ctx)
        except Unprocessable as exc:  # Jellyfin says 400 for every bad parameter
            response = _error(400, exc.message)
        except FerriteError as exc:
            if exc.status >= 500:
                log.error("jellyfin %s: %s", route.path, exc.message, exc_info=exc)
            response = _error(exc.status, exc.message)
            if isinstance(exc, InvalidRange):
                response.headers["content-range"] = f"bytes */{exc.size}"
            if isinstance(exc, TooManyRequests | Overloaded):
                response.headers["retry-after"] = str(max(1, math.ceil(exc.retry_after)))
        except Exception:
            log.exception("jellyfin %s %s failed", method, route.path)
            response = _error(500, "Something went wrong on the server; it was logged.")
        await response(scope, receive, cors_send)


class JellyfinMiddleware:
    """Routes Jellyfin's paths to :class:`JellyfinApi`, everything else to Ferrite."""

    def __init__(self, app: ASGIApp, api: JellyfinApi) -> None:
        self.app = app
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind in ("http", "websocket"):
            first = scope["path"].strip("/").split("/", 1)[0].lower()
            if first == "emby" and len(scope["path"]) > 6:
                # Emby-era clients put every path under /emby/: the same API.
                scope["path"] = scope["path"][5:]  # in place: the request log sees the route
                first = scope["path"].strip("/").split("/", 1)[0].lower()
            if first in CLAIMED and (first not in SHARED or _jellyfin_client(scope)):
                if kind == "http":
                    await self.api.handle(scope, receive, send)
                    return
                if first in ("socket", "embywebsocket") and self.api.websocket is not None:
                    await self.api.websocket(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def _jellyfin_client(scope: Scope) -> bool:
    for key, value in scope.get("headers") or ():
        if key.startswith((b"x-emby", b"x-mediabrowser")):
            return True
        if key == b"authorization" and value[:6].lower() in (b"mediab", b"emby t", b"emby c"):
            return True
    query = scope.get("query_string", b"").lower()
    return b"api_key=" in query or b"apikey=" in query
