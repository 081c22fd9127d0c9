"""Subtitle tracks of a media file, embedded and sidecar.

**Subtitles**: embedded text tracks (subrip, ass/ssa, mov_text, webvtt) are decoded once
here (a demux of only the subtitle streams; in MP4 that skips the other tracks' data) and
converted to WebVTT-safe cues; sidecar files next to the video (``Movie.en.srt``,
``Movie.eng.forced.ass``, ``.vtt``, ``.ssa``) are parsed as text. Image subtitles (PGS,
VobSub, DVB) are listed with ``cues=None``. **Cue times are milliseconds from the start of
the media** (``MediaInfo.start_time_s``), the same clock sidecar files use -- so an MPEG-TS
with a 10-hour timestamp offset still has its first cue near 0.

"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import av.error
from av.container import InputContainer
from av.stream import Disposition

from ferrite.errors import ProbeError
from ferrite.library import cues as cue_text
from ferrite.library.naming import MAX_SIDECAR_BYTES, SUBTITLE_EXTENSIONS, parse_sidecar
from ferrite.library.probe.opening import reason
from ferrite.library.probe.streams import codec_name, meta, title
from ferrite.media.info import TEXT_SUBTITLE_CODECS, SubtitleCue, SubtitleTrack

#: Reads a sidecar subtitle file: its bytes, or ``None`` to skip it. The default reads the
#: disk; a torrent's files are read through the piece-aware reader instead.
SidecarReader = Callable[[Path], "bytes | None"]


def demux_subtitles(
    container: InputContainer, subs: Sequence[Any], start_time_s: float
) -> dict[int, list[SubtitleCue]]:
    collected: dict[int, list[SubtitleCue]] = {s.index: [] for s in subs}
    try:
        for pkt in container.demux(*subs):
            decode_cues(pkt, collected, start_time_s)
    except av.error.FFmpegError as exc:
        raise ProbeError(
            f"{Path(container.name).name}: cannot read subtitles: {reason(exc)}"
        ) from exc
    return collected


def decode_cues(pkt: Any, collected: dict[int, list[SubtitleCue]], start_time_s: float) -> None:
    if pkt.pts is None or not pkt.size:
        return
    stream = pkt.stream
    tb = stream.time_base
    try:
        subset = stream.decode2(pkt)
    except av.error.FFmpegError:
        return  # one undecodable cue doesn't make the track useless
    if subset is None:
        return
    texts = []
    for rect in subset:
        ass = getattr(rect, "ass", None)
        if ass:
            texts.append(
                cue_text.ass_to_text(cue_text.ass_dialogue_text(ass.decode("utf-8", "replace")))
            )
    text = "\n".join(t for t in texts if t)
    if not text:
        return
    origin = round(start_time_s * 1000)
    start_ms = round(float(pkt.pts * tb) * 1000) + subset.start_display_time - origin
    if pkt.duration:
        end_ms = round(float((pkt.pts + pkt.duration) * tb) * 1000) - origin
    elif subset.end_display_time and subset.end_display_time != 0xFFFFFFFF:
        end_ms = start_ms + subset.end_display_time - subset.start_display_time
    else:
        end_ms = start_ms  # open-ended: closed by the next cue in _close_cues
    collected[stream.index].append(SubtitleCue(start_ms, end_ms, text))


def _close_cues(cues: Iterable[SubtitleCue]) -> tuple[SubtitleCue, ...]:
    """Sort, and give open-ended cues an end: the next cue's start, at most 5 s later."""
    ordered = sorted(cues, key=lambda c: (c.start_ms, c.end_ms))
    out: list[SubtitleCue] = []
    for i, c in enumerate(ordered):
        end = c.end_ms
        if end <= c.start_ms:
            nxt = ordered[i + 1].start_ms if i + 1 < len(ordered) else c.start_ms + 5000
            end = min(max(nxt, c.start_ms + 1), c.start_ms + 5000)
        out.append(SubtitleCue(c.start_ms, end, c.text))
    return tuple(out)


def embedded_track(s: Any, cues: list[SubtitleCue] | None) -> SubtitleTrack:
    codec = codec_name(s)
    language = s.language or meta(s, "language")
    is_text = codec in TEXT_SUBTITLE_CODECS
    return SubtitleTrack(
        codec=codec,
        stream_index=s.index,
        language=None if language in (None, "", "und") else language,
        title=title(s),
        default=bool(s.disposition & Disposition.default),
        forced=bool(s.disposition & Disposition.forced),
        cues=_close_cues(cues or ()) if is_text else None,
    )


def find_sidecars(video: Path, siblings: Iterable[Path] | None = None) -> list[Path]:
    """Subtitle files that belong to ``video`` among ``siblings`` (default: its folder)."""
    if siblings is None:
        try:
            siblings = [Path(e.path) for e in os.scandir(video.parent) if e.is_file()]
        except OSError:
            return []
    return sorted(
        p
        for p in siblings
        if p.suffix.lower() in SUBTITLE_EXTENSIONS and parse_sidecar(video, p) is not None
    )


def read_sidecar_file(path: Path) -> bytes | None:
    """A sidecar's bytes from disk; ``None`` when too large, not a regular file, vanished
    or unreadable (the next scan sees it again). Opened without blocking and checked on
    the descriptor, so a FIFO or a link to ``/dev/zero`` can neither hang nor flood us."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_SIDECAR_BYTES:
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(MAX_SIDECAR_BYTES + 1)  # it may have grown since the fstat
        return data if len(data) <= MAX_SIDECAR_BYTES else None
    except OSError:
        return None
    finally:
        os.close(fd)


def sidecar_tracks(
    video: Path, sidecars: Sequence[Path] | None, read: SidecarReader
) -> list[SubtitleTrack]:
    tracks = []
    for p in find_sidecars(video, sidecars):
        meta = parse_sidecar(video, p)
        if meta is None:
            continue
        data = read(p)
        if data is None:
            continue
        tracks.append(
            SubtitleTrack(
                codec=meta.codec,
                path=str(p),
                language=meta.language,
                title=meta.title,
                default=meta.default,
                forced=meta.forced,
                cues=cue_text.parse_subtitle_file(meta.codec, data),
            )
        )
    return tracks
