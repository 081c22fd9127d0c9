"""Playback routes: create a session, then HLS (or direct play) under its stream token.

URL layout. ``POST /api/playback`` answers with ``/api/playback/{sid}/master.m3u8?token=T``
(or ``/api/playback/{sid}/file?token=T`` for direct play). The master playlist names its
renditions as ``t/T/v/720p.m3u8`` — the token sits in the *path*, so every relative URI
a player resolves below it (media playlists, init and media segments, WebVTT) carries it
without the playlists having to: media playlists are the same bytes for every viewer.

Every route below the session checks the token with an HMAC bound to the session id and
finds the session in memory, then checks the session's user in the in-memory auth table
(still enabled, not logged out since, still granted the library): no database on the hot
path, and a disabled user's leaked URL stops working at once.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import Connection, select
from starlette.responses import JSONResponse, Response, StreamingResponse

from ferrite import metrics
from ferrite.api.deps import MAX_ID, CurrentUser, ServicesDep
from ferrite.api.files import serve_item_file
from ferrite.db.schema import progress
from ferrite.errors import BadRequest, NotFound, TokenInvalid
from ferrite.playback.quota import PerUser
from ferrite.playback.service import PlaybackService, ProgressivePlayback
from ferrite.playback.sessions import Session, allowed
from ferrite.playback.telemetry import parse_events
from ferrite.services import Services
from ferrite.transcode.binary import ffmpeg_path
from ferrite.transcode.progressive import ProgressiveStream

router = APIRouter(tags=["playback"])

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
_SEGMENT_TYPES = {"m4s": "video/mp4", "ts": "video/mp2t", "vtt": "text/vtt; charset=utf-8"}
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
    pb: PlaybackService | None = svc.extras.get("playback")
    if pb is None:
        raise NotFound("playback is not available on this server")
    return pb


def _session(svc: Services, sid: str, token: str | None) -> Session:
    """The session behind ``sid`` if ``token`` is its valid stream token (HMAC only)."""
    started = time.perf_counter()
    try:
        if not token:
            raise TokenInvalid("This playback URL has no stream token.")
        svc.auth.verify_stream_token(token, sid)
        session = playback(svc).get(sid)
        if not allowed(session, svc.auth.table.get(session.user_id)):
            raise TokenInvalid("This playback was revoked (logout, disabled user or access).")
        return session
    finally:
        _STREAM_AUTH.observe((time.perf_counter() - started) * 1000)


@router.post("/api/playback")
async def create_playback(body: PlaybackBody, user: CurrentUser, svc: ServicesDep) -> JSONResponse:
    pb = playback(svc)
    start_s = body.start_s
    if start_s is None:
        start_s = await svc.db.read(_resume_position, user.id, body.item_id)
    # The user's oldest sessions beyond the cap end (sessions hold plans, runs, slots).
    mine = sorted(pb.sessions.of_user(user.id), key=lambda s: s.created_at)
    for oldest in mine[: max(0, len(mine) - svc.settings.max_sessions_per_user + 1)]:
        await pb.stop(oldest, reason="replaced")
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
    )
    session.user_version = user.version
    token = svc.auth.sign_stream_token(session.id, session.item_id, user.id, session.expires_at)
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


def _resume_position(conn: Connection, user_id: int, item_id: int) -> float:
    row = conn.execute(
        select(progress.c.position_s, progress.c.played).where(
            progress.c.user_id == user_id, progress.c.item_id == item_id
        )
    ).first()
    if row is None or row.played:
        return 0.0
    return float(row.position_s)


def _accepts_gzip(request: Request) -> bool:
    return "gzip" in request.headers.get("accept-encoding", "")


def _playlist_response(data: bytes, *, gzipped: bool) -> Response:
    headers = {"cache-control": "private, max-age=60", "vary": "accept-encoding"}
    if gzipped:
        headers["content-encoding"] = "gzip"
    return Response(data, media_type=PLAYLIST_TYPE, headers=headers)


@router.get("/api/playback/{sid}/master.m3u8")
async def master_playlist(
    sid: str, request: Request, svc: ServicesDep, token: Annotated[str | None, Query()] = None
) -> Response:
    session = _session(svc, sid, token)
    session.touch(playback(svc).clock())
    assert token is not None  # _session refused a missing token
    return _playlist_response(playback(svc).master(session, token), gzipped=False)


@router.get("/api/playback/{sid}/t/{token}/master.m3u8")
async def master_playlist_path(
    sid: str, token: str, request: Request, svc: ServicesDep
) -> Response:
    session = _session(svc, sid, token)
    return _playlist_response(playback(svc).master(session, token), gzipped=False)


def _kind(kind: str) -> str:
    if kind not in ("v", "a", "s"):
        raise NotFound(f"no rendition kind {kind!r}")
    return kind


@router.get("/api/playback/{sid}/t/{token}/{kind}/{rid}.m3u8")
async def media_playlist(
    sid: str, token: str, kind: str, rid: str, request: Request, svc: ServicesDep
) -> Response:
    session = _session(svc, sid, token)
    pb = playback(svc)
    hp = pb.hls_of(session)
    session.touch(pb.clock())
    gzipped = _accepts_gzip(request)
    data = await pb.hls.media_playlist(hp.ctx, hp.streams, _kind(kind), rid, gzipped=gzipped)
    return _playlist_response(data, gzipped=gzipped)


@router.get("/api/playback/{sid}/t/{token}/{kind}/{rid}/init.mp4")
async def init_segment(sid: str, token: str, kind: str, rid: str, svc: ServicesDep) -> Response:
    session = _session(svc, sid, token)
    pb = playback(svc)
    hp = pb.hls_of(session)
    session.touch(pb.clock())
    kind = _kind(kind)
    pb.use_rendition(session, kind, rid)
    # A transcoded rendition's init is made with the segment the player will ask for
    # next: where the session starts, or after its last one (an ABR switch loads the new
    # rung's init, then the next segment).
    near = pb.next_index(session, kind, rid)
    data = await pb.hls.init_segment(hp.ctx, hp.streams, kind, rid, session=session.id, near=near)
    media_type = "audio/mp4" if kind == "a" else "video/mp4"
    return Response(data, media_type=media_type, headers=_SEGMENT_CACHE)


@router.get("/api/playback/{sid}/t/{token}/{kind}/{rid}/{name}")
async def media_segment(
    sid: str, token: str, kind: str, rid: str, name: str, svc: ServicesDep
) -> Response:
    session = _session(svc, sid, token)
    pb = playback(svc)
    hp = pb.hls_of(session)
    kind = _kind(kind)
    stem, _, ext = name.partition(".")
    expected = "vtt" if kind == "s" else hp.streams.segment_ext
    if ext != expected:
        raise NotFound(f"no such segment {name!r} (this rendition serves .{expected})")
    # ASCII digits only: "²" and "٣" are str.isdigit() but not int().
    if not (stem.isascii() and stem.isdigit()) or len(stem) > 9:
        raise BadRequest(f"bad segment index {stem!r}")
    index = int(stem)
    if kind == "s":
        data = await pb.hls.subtitle_segment(hp.ctx, hp.streams, rid, index)
    else:
        pb.use_rendition(session, kind, rid)
        first = pb.track_segment(session, kind, rid, index)
        data = await pb.hls.segment(
            hp.ctx, hp.streams, kind, rid, index, session=session.id, first=first
        )
    pb.note_segment(session, kind, index, len(data))
    media_type = _SEGMENT_TYPES[ext]
    if kind == "a" and ext == "m4s":
        media_type = "audio/mp4"
    return Response(data, media_type=media_type, headers=_SEGMENT_CACHE)


# GET and HEAD as two routes: one route with both methods gives both operations one
# OpenAPI operation id (FastAPI warns, and the schema is invalid).
@router.get("/api/playback/{sid}/file")
@router.head("/api/playback/{sid}/file", include_in_schema=False)
async def direct_file(
    sid: str, request: Request, svc: ServicesDep, token: Annotated[str | None, Query()] = None
) -> Response:
    """Direct play for players that can't send headers: the session's original file."""
    session = _session(svc, sid, token)
    session.touch(playback(svc).clock())
    principal = svc.auth.table.get(session.user_id)
    assert principal is not None  # _session checked it
    return await serve_item_file(request, svc, principal, session.item_id)


@router.get("/api/playback/{sid}/stream")
async def progressive_stream(
    sid: str,
    svc: ServicesDep,
    token: Annotated[str | None, Query()] = None,
    start_s: Annotated[float | None, Query(ge=0, le=10**7)] = None,
) -> Response:
    """For devices without HLS: one remuxed/transcoded stream from ``start_s`` (default
    the session's start). A seek is a new request with a new ``start_s``; the ffmpeg
    behind a request dies when its client goes away."""
    session = _session(svc, sid, token)
    pb = playback(svc)
    if not isinstance(session.context, ProgressivePlayback):
        raise NotFound("This playback session has no progressive stream.")
    settings = svc.settings
    job = session.context.job(
        session.position_s if start_s is None else start_s,
        ffmpeg_path(settings.ffmpeg_path),
        settings.x264_preset,
    )
    # A file still arriving (a torrent) reaches ffmpeg through the loopback feed.
    job = dataclasses.replace(job, input=svc.inputs.input_for(job.input))
    runs = svc.extras["runs"]
    stream = ProgressiveStream(
        job, admission=runs.admission, idle_s=svc.settings.progressive_idle_s
    )
    session.touch(pb.clock())
    streams: PerUser[ProgressiveStream] = svc.extras.setdefault(
        "progressive_streams", PerUser(svc.settings.max_streams_per_user)
    )
    for oldest in streams.add(session.user_id, stream):
        await oldest.aclose()  # its response ends at its next chunk

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in stream:
                if not allowed(session, svc.auth.table.get(session.user_id)):
                    break  # revoked mid-stream
                session.touch(pb.clock())
                yield chunk
        finally:
            streams.discard(session.user_id, stream)
            await stream.aclose()

    return StreamingResponse(
        body(), media_type=job.media_type, headers={"cache-control": "no-store"}
    )


@router.post("/api/playback/{sid}/events")
async def playback_events(
    sid: str, request: Request, svc: ServicesDep, token: Annotated[str | None, Query()] = None
) -> Response:
    session = _session(svc, sid, token)
    body = parse_events(await request.body())
    events = body if isinstance(body, list) else [body]
    if not all(isinstance(e, dict) for e in events) or len(events) > 100:
        raise BadRequest("an event is a JSON object with a 'type' (or a list of up to 100)")
    for event in events:
        await playback(svc).event(session, event)
    return Response(status_code=204)


@router.delete("/api/playback/{sid}")
async def stop_playback(
    sid: str, svc: ServicesDep, token: Annotated[str | None, Query()] = None
) -> Response:
    session = _session(svc, sid, token)
    await playback(svc).stop(session, reason="stopped")
    return Response(status_code=204)
