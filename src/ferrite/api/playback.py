"""Playback routes: create a session, then HLS (or direct play) under its stream token.

URL layout. ``POST /api/playback`` answers with ``/api/playback/{sid}/master.m3u8?token=T``
(or ``/api/playback/{sid}/file?token=T`` for direct play). The master playlist names its
renditions as ``t/T/c/{fv}/{spec}/v/720p.m3u8`` — the token sits in the *path*, so every
relative URI a player resolves below it (media playlists, init and media segments, WebVTT)
carries it without the playlists having to: media playlists are the same bytes for every
viewer. ``c/{fv}/{spec}/`` is the content key (``ferrite.hls.content_keys``): the file
version and the rendition's production spec, so a front cache (deploy/nginx/ferrite.conf)
keys a segment on what it is and never on who asked. The same routes without ``c/...``
(``t/T/v/720p/3.m4s``) still answer, uncached by the front. ``t/T/auth`` is the front's
token check (``auth_request``): the token's HMAC and its user in the auth table only.

Every route below the session declares one dependency, :data:`PathSession` or
:data:`QuerySession` (the token in the path, or in ``?token=``), which checks the token
with an HMAC bound to the session id and finds the session in memory, then checks the
session's user in the in-memory auth table (still enabled, not logged out since, still
granted the library): no database on the hot path, and a disabled user's leaked URL stops
working at once. The routes only translate HTTP: what a request does to its session is
:class:`~ferrite.playback.service.PlaybackService`'s.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response, StreamingResponse

from ferrite import metrics
from ferrite.api.deps import MAX_ID, CurrentUser, ServicesDep
from ferrite.api.files import serve_item_file
from ferrite.errors import BadRequest, NotFound, TokenInvalid
from ferrite.playback.service import PlaybackService
from ferrite.playback.sessions import Session, allowed, claims_allowed
from ferrite.playback.telemetry import parse_events
from ferrite.services import Services

router = APIRouter(tags=["playback"])

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
_SEGMENT_CACHE = {"cache-control": "private, max-age=86400, immutable"}
_STREAM_AUTH = metrics.AUTH_HOTPATH.labels(kind="stream")


class PlaybackBody(BaseModel):
    item_id: int = Field(ge=1, le=MAX_ID)
    device: str | dict[str, Any] = "generic-hls"
    start_s: float | None = Field(default=None, ge=0, le=10**7)
    audio_stream: int | None = Field(default=None, ge=0, le=10_000)
    subtitle_stream: int | None = Field(default=None, ge=1, le=MAX_ID)
    max_bitrate: int | None = Field(default=None, ge=64_000, le=10**10)
    max_height: int | None = Field(default=None, ge=120, le=10_000)
    protocol: Literal["hls", "auto"] | None = None


def playback(svc: Services) -> PlaybackService:
    if svc.playback is None:
        raise NotFound("playback is not available on this server")
    return svc.playback


@dataclass(frozen=True, slots=True)
class Playing:
    """A request's session, its stream token (checked) and the service that serves it."""

    playback: PlaybackService
    session: Session
    token: str
    services: Services

    def still_allowed(self) -> bool:
        """Whether the session's user may still use it (checked again mid-stream)."""
        return allowed(self.session, self.services.auth.table.get(self.session.user_id))


async def _playing(request: Request, sid: str, token: str | None) -> Playing:
    """The session behind ``sid`` if ``token`` is its valid stream token (HMAC first:
    a bad token never reaches the cluster's registry)."""
    started = time.perf_counter()
    try:
        if not token:
            raise TokenInvalid("This playback URL has no stream token.")
        svc: Services = request.app.state.services
        svc.auth.verify_stream_token(token, sid)
        pb = playback(svc)
        session = await pb.find(sid)  # in a cluster: maybe rebuilt from Redis
        if not allowed(session, svc.auth.table.get(session.user_id)):
            raise TokenInvalid("This playback was revoked (logout, disabled user or access).")
        return Playing(pb, session, token, svc)
    finally:
        _STREAM_AUTH.observe((time.perf_counter() - started) * 1000)


# ``async def``: FastAPI runs a plain ``def`` dependency in a thread pool (see api.deps).
async def _by_path_token(request: Request, sid: str, token: str) -> Playing:
    return await _playing(request, sid, token)


async def _by_query_token(
    request: Request, sid: str, token: Annotated[str | None, Query()] = None
) -> Playing:
    return await _playing(request, sid, token)


#: The session of a route with ``{sid}`` and ``{token}`` in its path (renditions).
PathSession = Annotated[Playing, Depends(_by_path_token)]
#: The session of a route with ``{sid}`` in its path and ``?token=`` (master, file, ...).
QuerySession = Annotated[Playing, Depends(_by_query_token)]


@router.post("/api/playback")
async def create_playback(body: PlaybackBody, user: CurrentUser, svc: ServicesDep) -> JSONResponse:
    pb = playback(svc)
    start_s = body.start_s
    if start_s is None:
        start_s = await pb.resume_position(user.id, body.item_id)
    await pb.make_room(user.id)  # the user's oldest sessions beyond the cap end
    session, decision = await pb.create(
        user_id=user.id,
        libraries=user.libraries,
        item_id=body.item_id,
        device=body.device,
        start_s=start_s,
        audio_stream=body.audio_stream,
        subtitle_stream=body.subtitle_stream,
        max_bitrate=body.max_bitrate,
        max_height=body.max_height,
        protocol=body.protocol,
        user_version=user.version,
    )
    token = svc.auth.sign_stream_token(
        session.id,
        session.item_id,
        user.id,
        session.expires_at,
        user_version=session.user_version,
        library_id=session.library_id,
    )
    base = f"/api/playback/{session.id}"
    out: dict[str, Any] = {
        "session_id": session.id,
        "method": decision.method,
        "reasons": list(decision.reasons),
        "expires_at": session.expires_at,
        "start_s": start_s,
        "duration_s": session.duration_s,
        "token": token,
    }
    if decision.hls:
        hp = pb.hls_of(session)
        out["url"] = f"{base}/master.m3u8?token={token}"
        out["protocol"] = "hls"
        out["container"] = hp.streams.container
        out["renditions"] = {
            "video": [
                {
                    "id": v.id,
                    "width": v.rung.width,
                    "height": v.rung.height,
                    "bitrate": v.rung.bitrate,
                    "copy": v.copy,
                }
                for v in hp.streams.video
            ],
            "audio": [
                {
                    "id": a.id,
                    "stream_index": a.stream.index,
                    "name": a.name,
                    "language": a.stream.language,
                    "channels": a.rendition.channels,
                    "codec": a.rendition.codec,
                    "copy": a.copy,
                    "default": a.default,
                }
                for a in hp.streams.audio
            ],
            "subtitles": [
                {
                    "id": s.id,
                    "track_id": s.track_id,
                    "name": s.name,
                    "language": s.track.language,
                    "forced": s.track.forced,
                }
                for s in hp.streams.subtitles
            ],
        }
    elif decision.progressive is not None:
        out["url"] = f"{base}/stream?token={token}"
        out["protocol"] = "progressive"
        out["container"] = decision.progressive
    else:
        out["url"] = f"{base}/file?token={token}"
        out["protocol"] = "direct"
    return JSONResponse(out, status_code=201)


def _accepts_gzip(request: Request) -> bool:
    return "gzip" in request.headers.get("accept-encoding", "")


def _playlist_response(data: bytes, *, gzipped: bool) -> Response:
    headers = {"cache-control": "private, max-age=60", "vary": "accept-encoding"}
    if gzipped:
        headers["content-encoding"] = "gzip"
    return Response(data, media_type=PLAYLIST_TYPE, headers=headers)


@router.get("/api/playback/{sid}/master.m3u8")
async def master_playlist(playing: QuerySession) -> Response:
    data = playing.playback.master(playing.session, playing.token)
    return _playlist_response(data, gzipped=False)


@router.get("/api/playback/{sid}/t/{token}/master.m3u8")
async def master_playlist_path(playing: PathSession) -> Response:
    data = playing.playback.master(playing.session, playing.token)
    return _playlist_response(data, gzipped=False)


@router.get("/api/playback/{sid}/t/{token}/auth", include_in_schema=False)
async def stream_token_check(request: Request, sid: str, token: str) -> Response:
    """The front's ``auth_request``: 204 if ``token`` is ``sid``'s and its user may still
    use it (enabled, not logged out since, still granted the library), 401/403 if not.
    HMAC and the in-memory auth table only: no session, no database, so any node answers
    for any session, before the front's cache serves a segment."""
    started = time.perf_counter()
    try:
        svc: Services = request.app.state.services
        claims = svc.auth.verify_stream_token(token, sid)  # raises TokenInvalid (401)
        if not claims_allowed(claims, svc.auth.table.get(claims.user_id)):
            raise TokenInvalid("This playback was revoked (logout, disabled user or access).")
        return Response(status_code=204, headers={"cache-control": "no-store"})
    finally:
        _STREAM_AUTH.observe((time.perf_counter() - started) * 1000)


# Content-keyed forms (what the master playlist names; a front cache keys on c/...).
@router.get("/api/playback/{sid}/t/{token}/c/{fv}/{spec}/{kind}/{rid}.m3u8")
async def keyed_media_playlist(
    fv: str, spec: str, kind: str, rid: str, request: Request, playing: PathSession
) -> Response:
    playing.playback.check_content_key(playing.session, fv, spec, kind, rid)
    return await media_playlist(kind, rid, request, playing)


@router.get("/api/playback/{sid}/t/{token}/c/{fv}/{spec}/{kind}/{rid}/init.mp4")
async def keyed_init_segment(
    fv: str, spec: str, kind: str, rid: str, playing: PathSession
) -> Response:
    playing.playback.check_content_key(playing.session, fv, spec, kind, rid)
    return await init_segment(kind, rid, playing)


@router.get("/api/playback/{sid}/t/{token}/c/{fv}/{spec}/{kind}/{rid}/{name}")
async def keyed_media_segment(
    fv: str, spec: str, kind: str, rid: str, name: str, playing: PathSession
) -> Response:
    playing.playback.check_content_key(playing.session, fv, spec, kind, rid)
    return await media_segment(kind, rid, name, playing)


@router.get("/api/playback/{sid}/t/{token}/{kind}/{rid}.m3u8")
async def media_playlist(kind: str, rid: str, request: Request, playing: PathSession) -> Response:
    gzipped = _accepts_gzip(request)
    data = await playing.playback.media_playlist(playing.session, kind, rid, gzipped=gzipped)
    return _playlist_response(data, gzipped=gzipped)


@router.get("/api/playback/{sid}/t/{token}/{kind}/{rid}/init.mp4")
async def init_segment(kind: str, rid: str, playing: PathSession) -> Response:
    data, media_type = await playing.playback.init_segment(playing.session, kind, rid)
    return Response(data, media_type=media_type, headers=_SEGMENT_CACHE)


@router.get("/api/playback/{sid}/t/{token}/{kind}/{rid}/{name}")
async def media_segment(kind: str, rid: str, name: str, playing: PathSession) -> Response:
    data, media_type = await playing.playback.segment(playing.session, kind, rid, name)
    return Response(data, media_type=media_type, headers=_SEGMENT_CACHE)


# GET and HEAD as two routes: one route with both methods gives both operations one
# OpenAPI operation id (FastAPI warns, and the schema is invalid).
@router.get("/api/playback/{sid}/file")
@router.head("/api/playback/{sid}/file", include_in_schema=False)
async def direct_file(request: Request, playing: QuerySession) -> Response:
    """Direct play for players that can't send headers: the session's original file."""
    session, svc = playing.session, playing.services
    playing.playback.keep_alive(session)
    principal = svc.auth.table.get(session.user_id)
    assert principal is not None  # the dependency checked it
    return await serve_item_file(request, svc, principal, session.item_id)


@router.get("/api/playback/{sid}/stream")
async def progressive_stream(
    playing: QuerySession, start_s: Annotated[float | None, Query(ge=0, le=10**7)] = None
) -> Response:
    """For devices without HLS: one remuxed/transcoded stream from ``start_s`` (default
    the session's start). A seek is a new request with a new ``start_s``; the ffmpeg
    behind a request dies when its client goes away."""
    body, media_type = await playing.playback.progressive_stream(
        playing.session, start_s, playing.still_allowed
    )
    return StreamingResponse(body, media_type=media_type, headers={"cache-control": "no-store"})


@router.post("/api/playback/{sid}/events")
async def playback_events(request: Request, playing: QuerySession) -> Response:
    body = parse_events(await request.body())
    events = body if isinstance(body, list) else [body]
    if not all(isinstance(e, dict) for e in events) or len(events) > 100:
        raise BadRequest("an event is a JSON object with a 'type' (or a list of up to 100)")
    for event in events:
        await playing.playback.event(playing.session, event)
    return Response(status_code=204)


@router.delete("/api/playback/{sid}")
async def stop_playback(playing: QuerySession) -> Response:
    await playing.playback.stop(playing.session, reason="stopped")
    return Response(status_code=204)
