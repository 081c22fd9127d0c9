"""Cross-origin access: a web player or cast receiver served from another origin plays.

Ferrite authenticates with bearer headers and tokens in URLs, never cookies, so allowing
any origin exposes nothing a page could not already fetch without a token (the default,
``cors_origins = "*"``). Preflights allow the headers players send (``Range`` for direct
play, ``Authorization`` for the API); responses expose the headers players read to seek
(``Content-Range``, ``Accept-Ranges``, ``Content-Length``).
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

ALLOWED_HEADERS = ("Authorization", "Range", "Content-Type", "If-Range", "Accept-Encoding")
EXPOSED_HEADERS = ("Content-Length", "Content-Range", "Accept-Ranges", "ETag", "Retry-After")
#: How long a browser may cache a preflight answer (seconds).
PREFLIGHT_MAX_AGE = 600


def origins(setting: str) -> list[str]:
    """The ``cors_origins`` setting as a list: ``"*"``, ``"a, b"`` or ``""`` (none)."""
    return [o.strip().rstrip("/") for o in setting.split(",") if o.strip()]


def install_cors(app: FastAPI, setting: str) -> None:
    allowed = origins(setting)
    if not allowed:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=allowed,
        allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=list(ALLOWED_HEADERS),
        expose_headers=list(EXPOSED_HEADERS),
        allow_credentials=False,
        max_age=PREFLIGHT_MAX_AGE,
    )
