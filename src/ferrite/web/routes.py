"""Serving the browser UI, plus the two small API routes it needs that API.md lacks.

Mount everything with one call, *after* every API router is included::

    app = create_app(settings)
    mount_web(app)

Routes added:

- ``GET /api/setup`` -> ``{"needed": bool}``: whether first-run setup (``POST /api/setup``)
  is still open, i.e. no user exists yet; anyone may ask.
- ``GET /api/image-token`` (bearer) -> ``{"token", "expires_at"}``: a token for ``<img>``
  URLs (see :mod:`ferrite.web.imagetokens`); :data:`ImageUser` is the dependency that
  accepts it (``?token=``) or a bearer header, for image routes such as
  ``GET /api/items/{id}/artwork``.
- ``GET /static/<build>/<path>``: the UI's files, ``Cache-Control: immutable`` for a year
  when ``<build>`` is the current build (see :mod:`ferrite.web.assets`), revalidated
  otherwise; ETag, gzip when accepted.
- every other ``GET``/``HEAD`` path that is not the API (``/api/...``), ``/static/...``,
  ``/healthz``, ``/metrics`` or the OpenAPI pages: ``index.html`` (the single-page app's
  client routes: ``/``, ``/login``, ``/item/12``, ``/play/12`` ...), ``no-cache`` + ETag.
  The fallback never matches API paths, so an unknown ``/api/...`` still gets the JSON
  404 envelope, and routers included after this call still work.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ferrite.api.deps import CurrentUser, ServicesDep
from ferrite.auth import users
from ferrite.auth.tokens import Principal, load_or_create_secret
from ferrite.errors import NotFound, TokenInvalid
from ferrite.http.ranges import etag_matches
from ferrite.services import Services
from ferrite.web.assets import Asset, Bundle, load_bundle
from ferrite.web.imagetokens import ImageTokens

router = APIRouter(tags=["web"])

#: Security headers for the UI's documents. No inline script anywhere; styles set from
#: scripts go through the CSSOM (allowed). ``blob:`` media is hls.js's MediaSource;
#: ``data:`` media is the empty WebVTT hls.js gives the text tracks it creates.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob: data:; worker-src 'self' blob:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_DOCUMENT_HEADERS = {
    "content-security-policy": CSP,
    # Image URLs carry an image token: never hand them to another site in Referer.
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
_EXTRAS_KEY = "web.image_tokens"


# -- first-run setup state ---------------------------------------------------------
@router.get("/api/setup")
async def setup_state(svc: ServicesDep) -> JSONResponse:
    """``{"needed": true}`` while no user exists (``POST /api/setup`` is open)."""
    # The table is loaded at start; a user made by the CLI since then is in the database.
    needed = False if len(svc.auth.table) else await svc.db.read(users.count_users) == 0
    return JSONResponse({"needed": needed}, headers={"cache-control": "no-store"})


# -- image tokens ---------------------------------------------------------------------
async def image_tokens(svc: Services) -> ImageTokens:
    tokens = svc.extras.get(_EXTRAS_KEY)
    if tokens is None:
        secret = await asyncio.to_thread(load_or_create_secret, svc.settings.data_dir)
        tokens = svc.extras.setdefault(
            _EXTRAS_KEY, ImageTokens(secret, svc.auth.table, clock=svc.clock)
        )
    assert isinstance(tokens, ImageTokens)
    return tokens


@router.get("/api/image-token")
async def image_token(user: CurrentUser, svc: ServicesDep) -> JSONResponse:
    """A token for ``?token=`` on image URLs (artwork); valid 1-2 days, revoked on logout."""
    token, expires_at = (await image_tokens(svc)).issue(user)
    return JSONResponse(
        {"token": token, "expires_at": expires_at}, headers={"cache-control": "no-store"}
    )


async def get_image_user(request: Request) -> Principal:
    """The caller of an image route: ``Authorization: Bearer`` or ``?token=<image token>``."""
    svc: Services = request.app.state.services
    header = request.headers.get("authorization")
    if header:
        return svc.auth.authenticate(header)
    token = request.query_params.get("token")
    if not token:
        raise TokenInvalid("Send Authorization: Bearer <token> or ?token=<image token>.")
    return (await image_tokens(svc)).verify(token)


ImageUser = Annotated[Principal, Depends(get_image_user)]


# -- the UI's files --------------------------------------------------------------------
def _accepts_gzip(request: Request) -> bool:
    for part in request.headers.get("accept-encoding", "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            return params.replace(" ", "").lower() not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def asset_response(
    request: Request, asset: Asset, cache_control: str, headers: dict[str, str] | None = None
) -> Response:
    gzipped = asset.gzipped is not None and _accepts_gzip(request)
    # A distinct tag per representation (RFC 9110 §8.8.3): identity and gzip bytes differ.
    etag = asset.etag[:-1] + '-gz"' if gzipped else asset.etag
    out = {"etag": etag, "cache-control": cache_control, **(headers or {})}
    if asset.gzipped is not None:
        out["vary"] = "Accept-Encoding"
    if etag_matches(request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers=out)
    if gzipped:
        out["content-encoding"] = "gzip"
    body = asset.gzipped if gzipped and asset.gzipped is not None else asset.body
    return Response(body, media_type=asset.media_type, headers=out)


class PageConvertor(Convertor[str]):
    """Any path except the server's own namespaces (so the SPA fallback never hides them)."""

    regex = r"(?!(?:api|static|healthz|metrics|docs|redoc|openapi\.json)(?:/|$))[^?#]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("ferrite_page", PageConvertor())


def mount_web(app: FastAPI, *, bundle: Bundle | None = None) -> Bundle:
    """Serve the UI from ``app``: the web API routes, ``/static/...`` and the SPA fallback.

    Call it after including every API router. Returns the loaded :class:`Bundle`.
    """
    bundle = bundle or load_bundle()
    app.state.web_bundle = bundle
    app.include_router(router)

    async def static(request: Request) -> Response:
        build = request.path_params["build"]
        asset = bundle.files.get(request.path_params["path"])
        if asset is None:
            raise NotFound("No such file in the web UI.")
        cache = IMMUTABLE if build == bundle.build else REVALIDATE
        return asset_response(request, asset, cache, {"x-content-type-options": "nosniff"})

    async def page(request: Request) -> Response:
        return asset_response(request, bundle.index, REVALIDATE, _DOCUMENT_HEADERS)

    app.router.routes.append(
        Route("/static/{build}/{path:path}", static, methods=["GET", "HEAD"], name="web-static")
    )
    app.router.routes.append(
        Route("/{page:ferrite_page}", page, methods=["GET", "HEAD"], name="web-page")
    )
    return bundle
