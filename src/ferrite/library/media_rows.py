"""A file's :class:`~ferrite.media.info.MediaInfo` as rows and back: streams, the packed
keyframe index and subtitle tracks with their compressed cues.

:func:`insert_media` writes what a probe found (inside the caller's transaction, see
:mod:`ferrite.library.store`); :func:`load_media` rebuilds it for playback -- call it once
per playback session and cache it.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from fractions import Fraction
from pathlib import PurePath
from typing import Any

from sqlalchemy import Connection, insert, select

from ferrite.db.schema import keyframes, media_files, streams, subtitle_tracks
from ferrite.errors import MediaError, NotFound
from ferrite.media.info import KeyframeIndex, MediaInfo, Stream, SubtitleCue, SubtitleTrack
from ferrite.media.keyframes import pack_deltas, unpack_deltas


def _frac(value: Fraction | None) -> str | None:
    return None if value is None else f"{value.numerator}/{value.denominator}"


def _unfrac(text: str | None) -> Fraction | None:
    return None if text is None else Fraction(text)


def pack_cues(cues: Sequence[SubtitleCue]) -> bytes:
    return zlib.compress(
        json.dumps([[c.start_ms, c.end_ms, c.text] for c in cues], ensure_ascii=False).encode(
            "utf-8"
        )
    )


def unpack_cues(blob: bytes) -> tuple[SubtitleCue, ...]:
    return tuple(
        SubtitleCue(int(a), int(b), str(t)) for a, b, t in json.loads(zlib.decompress(blob))
    )


def insert_media(conn: Connection, file_id: int, info: MediaInfo) -> None:
    if info.streams:
        conn.execute(
            insert(streams),
            [
                {
                    "file_id": file_id,
                    "index": s.index,
                    "type": s.type,
                    "codec": s.codec,
                    "time_base": _frac(s.time_base),
                    "profile": s.profile,
                    "level": s.level,
                    "width": s.width,
                    "height": s.height,
                    "frame_rate": _frac(s.frame_rate),
                    "bit_depth": s.bit_depth,
                    "pix_fmt": s.pix_fmt,
                    "color_primaries": s.color_primaries,
                    "color_transfer": s.color_transfer,
                    "color_space": s.color_space,
                    "color_range": s.color_range,
                    "field_order": s.field_order,
                    "hdr": s.hdr,
                    "language": s.language,
                    "title": s.title,
                    "channels": s.channels,
                    "channel_layout": s.channel_layout,
                    "sample_rate": s.sample_rate,
                    "bitrate": s.bitrate,
                    "is_default": s.default,
                    "is_forced": s.forced,
                    "extradata": s.extradata,
                    "codec_tag": s.codec_tag,
                    "start_time_s": s.start_time_s,
                    "duration_s": s.duration_s,
                    "frame_count": s.frame_count,
                }
                for s in info.streams
            ],
        )
    kf = info.keyframes
    if kf is not None:
        conn.execute(
            insert(keyframes).values(
                file_id=file_id,
                stream_index=kf.stream_index,
                time_base=_frac(kf.time_base),
                count=len(kf.pts),
                end_pts=kf.end_pts,
                pts=pack_deltas(kf.pts),
                positions=pack_deltas(kf.positions) if kf.positions else None,
                open_gop=kf.open_gop,
            )
        )
    if info.subtitles:
        conn.execute(
            insert(subtitle_tracks),
            [
                {
                    "file_id": file_id,
                    "stream_index": t.stream_index,
                    "path": t.path,
                    "codec": t.codec,
                    "language": t.language,
                    "title": t.title,
                    "is_default": t.default,
                    "is_forced": t.forced,
                    "cues": pack_cues(t.cues) if t.cues is not None else None,
                    "cue_count": len(t.cues or ()),
                }
                for t in info.subtitles
            ],
        )


# -- reading ---------------------------------------------------------------------------


def load_media(conn: Connection, file_id: int) -> MediaInfo:
    """The :class:`MediaInfo` stored for ``file_id``: streams, keyframe index, subtitles
    with their cues (``MediaInfo.subtitles`` in the order of :func:`subtitle_ids`).

    Raises :class:`NotFound` for an unknown file, :class:`MediaError` for one whose probe
    failed.
    """
    row = conn.execute(select(media_files).where(media_files.c.id == file_id)).first()
    if row is None:
        raise NotFound(f"no media file {file_id}")
    if row.probe_status != "ok":
        raise MediaError(f"{PurePath(row.path).name} cannot be played: {row.probe_error}")
    stream_rows = conn.execute(
        select(streams).where(streams.c.file_id == file_id).order_by(streams.c.index)
    ).all()
    kf_row = conn.execute(select(keyframes).where(keyframes.c.file_id == file_id)).first()
    kf = None
    if kf_row is not None:
        kf = KeyframeIndex(
            stream_index=kf_row.stream_index,
            time_base=Fraction(kf_row.time_base),
            pts=tuple(unpack_deltas(kf_row.pts)),
            end_pts=kf_row.end_pts,
            positions=tuple(unpack_deltas(kf_row.positions)) if kf_row.positions else (),
            open_gop=bool(kf_row.open_gop),
        )
    return MediaInfo(
        container=row.container or "",
        duration_s=row.duration_s or 0.0,
        bitrate=row.bitrate,
        start_time_s=row.start_time_s or 0.0,
        streams=tuple(_stream_from_row(r) for r in stream_rows),
        keyframes=kf,
        subtitles=tuple(t for _, t in subtitle_tracks_of(conn, file_id, with_cues=True)),
    )


def _stream_from_row(r: Any) -> Stream:
    return Stream(
        index=r.index,
        type=r.type,
        codec=r.codec,
        time_base=Fraction(r.time_base),
        profile=r.profile,
        level=r.level,
        width=r.width,
        height=r.height,
        frame_rate=_unfrac(r.frame_rate),
        bit_depth=r.bit_depth,
        pix_fmt=r.pix_fmt,
        color_primaries=r.color_primaries,
        color_transfer=r.color_transfer,
        color_space=r.color_space,
        color_range=r.color_range,
        field_order=r.field_order,
        hdr=r.hdr,
        language=r.language,
        title=r.title,
        channels=r.channels,
        channel_layout=r.channel_layout,
        sample_rate=r.sample_rate,
        bitrate=r.bitrate,
        default=bool(r.is_default),
        forced=bool(r.is_forced),
        extradata=r.extradata,
        codec_tag=r.codec_tag,
        start_time_s=r.start_time_s,
        duration_s=r.duration_s,
        frame_count=r.frame_count,
    )


def subtitle_tracks_of(
    conn: Connection, file_id: int, *, with_cues: bool = False
) -> list[tuple[int, SubtitleTrack]]:
    """``(subtitle_tracks.id, track)`` of a file in id order; cues only if ``with_cues``
    (the item detail doesn't need them; the WebVTT renderer does)."""
    cols = [
        subtitle_tracks.c.id,
        subtitle_tracks.c.codec,
        subtitle_tracks.c.stream_index,
        subtitle_tracks.c.path,
        subtitle_tracks.c.language,
        subtitle_tracks.c.title,
        subtitle_tracks.c.is_default,
        subtitle_tracks.c.is_forced,
    ]
    if with_cues:
        cols.append(subtitle_tracks.c.cues)
    rows = conn.execute(
        select(*cols).where(subtitle_tracks.c.file_id == file_id).order_by(subtitle_tracks.c.id)
    )
    out = []
    for r in rows:
        cues = unpack_cues(r.cues) if with_cues and r.cues is not None else None
        out.append(
            (
                r.id,
                SubtitleTrack(
                    codec=r.codec,
                    stream_index=r.stream_index,
                    path=r.path,
                    language=r.language,
                    title=r.title,
                    default=bool(r.is_default),
                    forced=bool(r.is_forced),
                    cues=cues,
                ),
            )
        )
    return out


def subtitle_ids(conn: Connection, file_id: int) -> list[int]:
    """``subtitle_tracks.id`` of a file, in the order of ``load_media(...).subtitles``."""
    return [
        r[0]
        for r in conn.execute(
            select(subtitle_tracks.c.id)
            .where(subtitle_tracks.c.file_id == file_id)
            .order_by(subtitle_tracks.c.id)
        )
    ]


def load_cues(conn: Connection, track_id: int) -> tuple[SubtitleCue, ...]:
    """The cues of one subtitle track (empty for image subtitles)."""
    blob = conn.execute(
        select(subtitle_tracks.c.cues).where(subtitle_tracks.c.id == track_id)
    ).first()
    if blob is None:
        raise NotFound(f"no subtitle track {track_id}")
    return unpack_cues(blob[0]) if blob[0] is not None else ()
