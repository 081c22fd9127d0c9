"""Subtitle files for direct play: ``/Videos/{id}/{mediaSourceId}/Subtitles/{index}/
[{startTicks}/]Stream.{vtt|srt}``.

A direct-playing app shows a text subtitle by fetching it whole. The cues are Ferrite's,
extracted once at scan time (embedded text streams and sidecar files alike) and rendered
here as WebVTT (:func:`ferrite.hls.webvtt.render_track`) or SubRip; the media file is not
touched. ``{index}`` is the ``MediaStream`` index of PlaybackInfo/item detail (embedded
streams by their index in the file, sidecars after the file's last stream).

Players fetch these URLs without headers: PlaybackInfo's ``DeliveryUrl`` carries the play
session's stream token (``PlaySessionId`` + ``StreamToken``, an HMAC bound to the
session), never the user's access token; a token in any Jellyfin form works too.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from ferrite.auth.tokens import Principal
from ferrite.errors import BadRequest, NotFound, TokenInvalid
from ferrite.hls.webvtt import render_track
from ferrite.jellyfin.browse import _item_id
from ferrite.jellyfin.dispatch import Ctx, Router
from ferrite.jellyfin.dto import subtitle_track_for
from ferrite.jellyfin.state import playback
from ferrite.library import media_rows, queries
from ferrite.media.info import SubtitleCue

router = Router()

_TYPES = {"vtt": "text/vtt; charset=utf-8", "srt": "application/x-subrip; charset=utf-8"}


def delivery_url(item_guid: str, index: int, session_id: str, stream_token: str) -> str:
    return (
        f"/Videos/{item_guid}/{item_guid}/Subtitles/{index}/0/Stream.vtt"
        f"?PlaySessionId={session_id}&StreamToken={stream_token}"
    )


def _srt(cues: list[SubtitleCue]) -> str:
    def ts(ms: int) -> str:
        h, ms = divmod(max(ms, 0), 3_600_000)
        m, ms = divmod(ms, 60_000)
        s, ms = divmod(ms, 1000)
        return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"

    return "".join(
        f"{n}\n{ts(c.start_ms)} --> {ts(c.end_ms)}\n{c.text}\n\n" for n, c in enumerate(cues, 1)
    )


async def _caller(ctx: Ctx, item_id: int) -> Principal:
    sid, stream_token = ctx.q("playSessionId"), ctx.q("streamToken")
    if not ctx.token and sid and stream_token:
        claims = ctx.svc.auth.verify_stream_token(stream_token, sid)
        session = await playback(ctx.svc).find(sid)
        if claims.item_id != item_id or session.item_id != item_id:
            raise TokenInvalid("This stream token is for another item.")
        principal = ctx.svc.auth.table.get(session.user_id)
        if principal is None or principal.disabled:
            raise TokenInvalid("The user of this play session no longer exists or is disabled.")
        return principal
    return ctx.user


@router.route(
    "GET",
    "/Videos/{itemId}/{mediaSourceId}/Subtitles/{index}/Stream.{format}",
    "/Videos/{itemId}/{mediaSourceId}/Subtitles/{index}/{startTicks}/Stream.{format}",
)
async def subtitle(ctx: Ctx) -> Response:
    item_id = _item_id(ctx.params["itemId"])
    fmt = ctx.params["format"].lower()
    if fmt not in _TYPES:
        raise NotFound("Subtitles are served as .vtt or .srt.")
    index_text = ctx.params["index"]
    if not index_text.isdigit() or len(index_text) > 6:
        raise BadRequest("The subtitle index must be a non-negative integer.")
    index = int(index_text)
    user = await _caller(ctx, item_id)

    def read(conn: Any) -> list[SubtitleCue] | None:
        detail = queries.get_item(conn, item_id, user_id=user.id, libraries=user.libraries)
        files = [f for f in detail["files"] if f["playable"]]
        if not files:
            raise NotFound("This item has no playable file.")
        track_id = subtitle_track_for(detail, files[0], index)
        if track_id is None:
            raise NotFound("This item has no subtitle stream with that index.")
        for tid, track in media_rows.subtitle_tracks_of(conn, files[0]["id"], with_cues=True):
            if tid == track_id:
                return None if track.cues is None else list(track.cues)
        raise NotFound("This item has no subtitle stream with that index.")

    cues = await ctx.svc.db.read(read)
    if cues is None:
        raise NotFound("This is an image subtitle: it can only be burned in (PlaybackInfo).")
    text = render_track(cues) if fmt == "vtt" else _srt(cues)
    return Response(
        text.encode(), media_type=_TYPES[fmt], headers={"cache-control": "private, max-age=3600"}
    )
