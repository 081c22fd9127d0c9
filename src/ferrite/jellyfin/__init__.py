"""Jellyfin compatibility: enough of Jellyfin's HTTP API that its apps log in, browse and
play from a Ferrite server, with Ferrite's decisions, HLS and progress behind them.

A layer of thin routes over Ferrite's own services — one user table, one library, one
progress record per (user, item), one playback engine — never a second source of truth.

    wire.py      pure: GUIDs, ticks, dates, the MediaBrowser auth header
    profile.py   pure: a Jellyfin DeviceProfile -> Ferrite capabilities
    dto.py       pure: Ferrite values -> BaseItemDto, UserDto, MediaSourceInfo ...
    queries.py   SQL: item pages with parents, next up, favourites
    dispatch.py  the case-insensitive router and the ASGI middleware (CORS, 404 {})
    system.py    server info, log-in, users
    browse.py    views, items, shows, images, played/favourite marks
    play.py      PlaybackInfo, direct stream, HLS master, playback reports
    subtitles.py subtitle files (WebVTT/SubRip) for direct play
    socket.py    the keep-alive WebSocket

``install(app)`` puts the middleware in front of Ferrite's routers (docs/jellyfin.md).
"""

from __future__ import annotations

from fastapi import FastAPI

from ferrite.jellyfin import browse, play, subtitles, system
from ferrite.jellyfin.dispatch import JellyfinApi, JellyfinMiddleware, Router
from ferrite.jellyfin.socket import socket


def build_api() -> JellyfinApi:
    router = Router()
    for module in (system, browse, play, subtitles):
        router.include(module.router)
    return JellyfinApi(router, websocket=socket)


def install(app: FastAPI) -> None:
    """Answer Jellyfin's API on ``app`` (call before the request-log middleware)."""
    app.add_middleware(JellyfinMiddleware, api=build_api())
