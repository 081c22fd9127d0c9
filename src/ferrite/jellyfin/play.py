"""Playing: PlaybackInfo, direct play, HLS, and the client's playback reports.

``POST /Items/{id}/PlaybackInfo`` creates a Ferrite playback session (the same
``PlaybackService.create`` as ``POST /api/playback``) from the client's DeviceProfile,
translated by :mod:`ferrite.jellyfin.profile`. Its id is the ``PlaySessionId``. The
answer's single ``MediaSource`` says what Ferrite decided:

- **direct**: ``SupportsDirectPlay``, no ``TranscodingUrl``; the client fetches
  ``/Videos/{id}/stream?static=true&PlaySessionId=...`` (Range requests, the file as is).
- **remux/transcode over HLS**: ``TranscodingUrl`` =
  ``/videos/{id}/master.m3u8?PlaySessionId=..&MediaSourceId=..&StreamToken=..`` with
  ``TranscodingSubProtocol`` hls. That master playlist is Ferrite's, its URIs rewritten to
  absolute ``/api/playback/{sid}/t/{stream token}/...`` paths: the stream token sits in
  every URI a player resolves (players never forward a header or query), and media
  playlists and segments are served by Ferrite's own HLS routes, shared by all viewers.
- **progressive** (a device without HLS): ``TranscodingUrl`` is Ferrite's
  ``/api/playback/{sid}/stream?token=..``, sub-protocol http.

``/Sessions/Playing[/Progress|/Stopped|/Ping]`` feed the session (position, heartbeat,
stop) exactly like Ferrite's own player events, so progress lands in the one per-user
progress table with Ferrite's played threshold. A report for an item played without
PlaybackInfo (no live ``PlaySessionId``) writes the caller's progress directly.

**Stream URLs without a token** (some clients request the direct-play URL bare): allowed
only with the ``PlaySessionId`` of a live session for that same item, requested by the
same ``DeviceId`` that obtained it (the id is 96 random bits handed only to that client);
anything else is 401. Jellyfin itself serves such URLs to anyone; Ferrite does not.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import Response, StreamingResponse

from ferrite.api.files import serve_item_file
from ferrite.api.playback import PLAYLIST_TYPE
from ferrite.errors import BadRequest, NoPlayableMethod, NotFound, TokenInvalid, Unauthorized
from ferrite.jellyfin.browse import _item_id
from ferrite.jellyfin.dispatch import Ctx, Router, json_response
from ferrite.jellyfin.dto import media_source, subtitle_track_for
from ferrite.jellyfin.profile import capabilities
from ferrite.jellyfin.state import Play, acting_user, playback
from ferrite.jellyfin.subtitles import delivery_url
from ferrite.jellyfin.wire import item_guid, parse_bool, parse_int, parse_ticks
from ferrite.library import queries
from ferrite.playback.plays import HlsPlayback
from ferrite.playback.sessions import Session

router = Router()
log = logging.getLogger("ferrite.jellyfin")

#: The device assumed when PlaybackInfo carries no DeviceProfile: a native player
#: (MP4/Matroska, H.264/HEVC/VP9, AAC stereo) — what Kodi, mpv and ExoPlayer all take.
DEFAULT_DEVICE = "android"
#: What a master.m3u8 requested without a PlaybackInfo session streams (any HLS player).
FALLBACK_HLS_DEVICE = "generic-hls"


def _int_field(value: object, name: str, *, lo: int, hi: int) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadRequest(f"{name} must be an integer.")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise BadRequest(f"{name} must be an integer.") from None
    if not lo <= number <= hi:
        raise BadRequest(f"{name} must be between {lo} and {hi}.")
    return number


def _bool_field(value: object, name: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    return parse_bool(str(value), name)


@router.route("GET POST", "/Items/{itemId}/PlaybackInfo")
async def playback_info(ctx: Ctx) -> Response:
    item_id = _item_id(ctx.params["itemId"])
    fields: dict[str, Any] = {k: v[-1] for k, v in ctx.query.items()}
    if ctx.request.method == "POST":
        fields.update(await ctx.body())
    user_guid_text = fields.get("userid")
    user = acting_user(
        ctx.svc, ctx.user, user_guid_text if isinstance(user_guid_text, str) else None
    )
    detail = await ctx.svc.db.read(
        lambda c: queries.get_item(c, item_id, user_id=user.id, libraries=user.libraries)
    )
    if detail["kind"] not in ("movie", "episode"):
        raise BadRequest("Only movies and episodes can be played.")
    files = [f for f in detail["files"] if f["playable"]]
    if not files:
        return json_response({"MediaSources": [], "ErrorCode": "NoCompatibleStream"})
    file = files[0]
    profile = fields.get("deviceprofile")
    device: str | dict[str, Any] = DEFAULT_DEVICE if profile is None else capabilities(profile)
    bitrate = _int_field(fields.get("maxstreamingbitrate"), "MaxStreamingBitrate", lo=0, hi=10**10)
    start_s = parse_ticks(fields.get("starttimeticks"), "StartTimeTicks") or 0.0
    audio = _int_field(fields.get("audiostreamindex"), "AudioStreamIndex", lo=-1, hi=10_000)
    sub_index = _int_field(
        fields.get("subtitlestreamindex"), "SubtitleStreamIndex", lo=-1, hi=10_000
    )
    subtitle = None
    if sub_index is not None and sub_index >= 0:
        subtitle = subtitle_track_for(detail, file, sub_index)
        if subtitle is None:
            raise BadRequest(f"SubtitleStreamIndex {sub_index} is not a subtitle of this item.")
    direct_ok = _bool_field(fields.get("enabledirectplay"), "EnableDirectPlay")
    pb = playback(ctx.svc)
    try:
        session, decision = await pb.create(
            user_id=user.id,
            libraries=user.libraries,
            item_id=item_id,
            device=device,
            start_s=start_s,
            audio_stream=audio if audio is not None and audio >= 0 else None,
            subtitle_stream=subtitle,
            max_bitrate=bitrate if bitrate and bitrate >= 64_000 else None,
            protocol="hls" if direct_ok is False else None,
        )
    except NoPlayableMethod as exc:
        # Jellyfin's answer when nothing fits the device: 200 with an error code.
        log.info("PlaybackInfo for item %s: no compatible stream (%s)", item_id, exc.message)
        return json_response({"MediaSources": [], "ErrorCode": "NoCompatibleStream"})
    st = ctx.state
    st.remember(session.id, Play(user.id, item_id, ctx.client.device_id))
    token = ctx.svc.auth.sign_stream_token(
        session.id,
        item_id,
        user.id,
        session.expires_at,
        user_version=session.user_version,
        library_id=session.library_id,
    )
    direct = decision.method == "direct"
    source = media_source(detail, file, direct=direct, transcoding=True)
    guid = item_guid(item_id)
    text_subs = [
        s for s in source["MediaStreams"] if s["Type"] == "Subtitle" and s["IsTextSubtitleStream"]
    ]
    if direct:
        for s in text_subs:  # fetched whole by the player, with the session's stream token
            s["DeliveryMethod"] = "External"
            s["DeliveryUrl"] = delivery_url(guid, s["Index"], session.id, token)
            s["IsExternalUrl"] = False
    if decision.hls:
        in_hls = {t.track_id for t in pb.hls_of(session).streams.subtitles}
        for s in text_subs:
            if subtitle_track_for(detail, file, s["Index"]) in in_hls:
                s["DeliveryMethod"] = "Hls"
        container = pb.hls_of(session).streams.container
        source["TranscodingUrl"] = (
            f"/videos/{guid}/master.m3u8?PlaySessionId={session.id}"
            f"&MediaSourceId={guid}&StreamToken={token}"
        )
        source["TranscodingSubProtocol"] = "hls"
        source["TranscodingContainer"] = "mp4" if container == "fmp4" else "ts"
    elif not direct:
        source["TranscodingUrl"] = f"/api/playback/{session.id}/stream?token={token}"
        source["TranscodingSubProtocol"] = "http"
        source["TranscodingContainer"] = "mkv" if decision.progressive == "matroska" else "mp4"
    if audio is not None and audio >= 0:
        source["DefaultAudioStreamIndex"] = audio
    if sub_index is not None:
        source["DefaultSubtitleStreamIndex"] = sub_index
    return json_response({"MediaSources": [source], "PlaySessionId": session.id})


async def _live(ctx: Ctx, sid: str | None) -> Session | None:
    """The play session ``sid`` (in a cluster: from any node), or None."""
    if not sid:
        return None
    try:
        return await playback(ctx.svc).find(sid)
    except NotFound:
        return None


@router.route(
    "GET",
    "/Videos/{itemId}/stream",
    "/Videos/{itemId}/stream.{container}",
    "/Items/{itemId}/Download",
)
async def stream(ctx: Ctx) -> Response:
    """The original file with Range (direct play); see the module doc for token-less URLs."""
    item_id = _item_id(ctx.params["itemId"])
    sid = ctx.q("playSessionId")
    session = await _live(ctx, sid)
    if ctx.token:
        user = ctx.user
        if session is not None and session.user_id == user.id:
            playback(ctx.svc).keep_alive(session)
    else:
        play = ctx.state.plays.get(sid) if sid else None
        if session is None or play is None or session.item_id != item_id:
            raise Unauthorized("This stream URL needs a token or a live PlaySessionId.")
        if play.device_id and ctx.client.device_id != play.device_id:
            raise Unauthorized("This PlaySessionId belongs to another device.")
        principal = ctx.svc.auth.table.get(session.user_id)
        if principal is None or principal.disabled:
            raise TokenInvalid("The user of this play session no longer exists or is disabled.")
        user = principal
        playback(ctx.svc).keep_alive(session)
    return await serve_item_file(ctx.request, ctx.svc, user, item_id)


@router.route("GET", "/Videos/{itemId}/master.m3u8", "/Videos/{itemId}/main.m3u8")
async def master(ctx: Ctx) -> Response:
    item_id = _item_id(ctx.params["itemId"])
    pb = playback(ctx.svc)
    sid = ctx.q("playSessionId")
    stream_token = ctx.q("streamToken")
    if sid and stream_token:
        ctx.svc.auth.verify_stream_token(stream_token, sid)
        session = await pb.find(sid)
        token = stream_token
    else:
        user = ctx.user  # 401 without a token
        session_or_none = await _live(ctx, sid)
        if session_or_none is None:
            if sid:
                raise NotFound("No such play session (it ended or the server restarted).")
            session_or_none, _ = await pb.create(
                user_id=user.id,
                libraries=user.libraries,
                item_id=item_id,
                device=FALLBACK_HLS_DEVICE,
                start_s=parse_ticks(ctx.q("startTimeTicks"), "StartTimeTicks") or 0.0,
                protocol="hls",
            )
            ctx.state.remember(session_or_none.id, Play(user.id, item_id, ctx.client.device_id))
        elif session_or_none.user_id != user.id:
            raise NotFound("No such play session.")
        session = session_or_none
        token = ctx.svc.auth.sign_stream_token(
            session.id,
            session.item_id,
            session.user_id,
            session.expires_at,
            user_version=session.user_version,
            library_id=session.library_id,
        )
    if session.item_id != item_id:
        raise BadRequest("This play session is for another item.")
    if not isinstance(session.context, HlsPlayback):
        raise BadRequest("This play session is direct play; fetch /Videos/{id}/stream instead.")
    text = pb.master(session, token).decode()  # touches the session
    text = text.replace(f"t/{token}/", f"/api/playback/{session.id}/t/{token}/")
    return Response(
        text.encode(), media_type=PLAYLIST_TYPE, headers={"cache-control": "private, no-cache"}
    )


@router.route("DELETE", "/Videos/ActiveEncodings")
async def stop_encodings(ctx: Ctx) -> Response:
    user = ctx.user
    session = await _live(ctx, ctx.q("playSessionId"))
    if session is not None and session.user_id == user.id:
        await playback(ctx.svc).stop(session, reason="client")
        ctx.state.forget(session.id)
    return Response(status_code=204)


async def _report(ctx: Ctx, kind: str) -> Response:
    user = ctx.user
    body = await ctx.body() if ctx.request.method == "POST" else {}
    sid = body.get("playsessionid") or ctx.q("playSessionId")
    position = parse_ticks(body.get("positionticks"), "PositionTicks")
    item_text = body.get("itemid")
    item_id = _item_id(item_text) if isinstance(item_text, str) and item_text else None
    pb = playback(ctx.svc)
    session = await _live(ctx, sid if isinstance(sid, str) else None)
    if session is not None and session.user_id == user.id:
        if item_id is not None and item_id != session.item_id:
            raise BadRequest("ItemId is not the item of this PlaySessionId.")
        event: dict[str, Any] = {"type": "heartbeat"}
        if kind == "stopped":
            event = {"type": "stop"}
        elif kind in ("playing", "progress"):
            event = {"type": "position"}
        if position is not None:
            event["position_s"] = position
        await pb.event(session, event)
        if kind == "stopped":
            ctx.state.forget(session.id)
        return Response(status_code=204)
    if item_id is not None and position is not None and kind in ("progress", "stopped"):
        # Played without PlaybackInfo (or after the session was reaped): the caller's
        # own progress, written directly with Ferrite's played threshold.
        settings = ctx.svc.settings
        now = ctx.svc.clock()
        await ctx.svc.db.write(
            lambda c: queries.put_progress(
                c,
                item_id,
                user_id=user.id,
                libraries=user.libraries,
                position_s=position,
                played=None,
                threshold=settings.played_threshold,
                now=now,
            )
        )
    return Response(status_code=204)


@router.route("POST", "/Sessions/Playing")
async def playing(ctx: Ctx) -> Response:
    return await _report(ctx, "playing")


@router.route("POST", "/Sessions/Playing/Progress")
async def progress(ctx: Ctx) -> Response:
    return await _report(ctx, "progress")


@router.route("POST", "/Sessions/Playing/Stopped")
async def stopped(ctx: Ctx) -> Response:
    return await _report(ctx, "stopped")


@router.route("POST", "/Sessions/Playing/Ping")
async def ping(ctx: Ctx) -> Response:
    return await _report(ctx, "ping")


_BITRATE_TEST_MAX = 100_000_000  # bytes: what jellyfin-web asks at most (10 MB) x 10
_ZEROS = bytes(64 * 1024)


@router.route("GET", "/Playback/BitrateTest")
async def bitrate_test(ctx: Ctx) -> Response:
    """``Size`` bytes for the app to time its bandwidth (jellyfin-web, Android TV)."""
    ctx.user  # noqa: B018  (authenticates)
    size = parse_int(ctx.q("size"), "Size", lo=0, hi=_BITRATE_TEST_MAX)
    size = 102_400 if size is None else size

    async def body() -> AsyncIterator[bytes]:
        left = size
        while left > 0:
            chunk = _ZEROS[: min(left, len(_ZEROS))]
            left -= len(chunk)
            yield chunk

    return StreamingResponse(
        body(),
        media_type="application/octet-stream",
        headers={"content-length": str(size), "cache-control": "no-store"},
    )
