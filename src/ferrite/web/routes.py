"""Serving the browser UI.

Mount everything with one call, *after* every API router is included::

    app = create_app(settings)
    mount_web(app)

The two small API routes the UI needs that API.md lacks live with the API
(``ferrite.api.auth``): ``GET /api/setup`` (``{"needed": bool}``) and
``GET /api/image-token`` (see :mod:`ferrite.auth.imagetokens`). Routes added here:

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

from fastapi import FastAPI
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ferrite.errors import NotFound
from ferrite.http.ranges import etag_matches
from ferrite.web.assets import Asset, Bundle, load_bundle

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
    """Serve the UI from ``app``: ``/static/...`` and the SPA fallback.

    Call it after including every API router. Returns the loaded :class:`Bundle`.
    """
    bundle = bundle or load_bundle()
    app.state.web_bundle = bundle

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
