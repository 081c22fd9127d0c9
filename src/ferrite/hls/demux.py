"""Read exactly one segment's packets out of an open container (PyAV, worker thread).

Carries out the ownership rules of ``hls/timeline.py``: seek to the segment's start
keyframe, demux forward, keep the packets the span owns, stop at the next boundary. A
seek that lands too late (the first keyframe / audio packet after it is already past the
span's start) is retried further back, so no packet is ever lost to an imprecise seek;
packets before the span are read and dropped. Nothing before ``start - a few seconds``
is read unless the container's seek is that coarse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

import av
import av.container
import av.error
import av.stream

from ferrite.errors import MediaError
from ferrite.hls.timeline import Span

__all__ = ["Packet", "SpanPackets", "codec_name", "read_span", "seek_to_start", "time_base"]

#: How far before a span's start successive seek attempts aim (seconds), before giving up
#: and reading from the start of the file.
_SEEK_BACKOFF = (0, 1, 5, 30)
#: Leading pictures of the next GOP examined to find where the next segment's pts start.
_LOOKAHEAD_PACKETS = 32


@dataclass(slots=True)
class Packet:
    """A demuxed packet, copied out of PyAV (timestamps in the stream's time base)."""

    data: bytes
    pts: int
    dts: int | None
    duration: int
    keyframe: bool


@dataclass(slots=True)
class SpanPackets:
    video: list[Packet] = field(default_factory=list)
    #: Earliest pts of the video segment after this one (None at the end of the file).
    video_next: int | None = None
    audio: list[Packet] = field(default_factory=list)
    #: Pts of the first audio packet after the span (None at the end of the file).
    audio_next: int | None = None
    demuxed: int = 0  # packets read from the container, including skipped ones


class _Retry(Exception):
    """The seek landed after the span's start: try again from further back."""


def time_base(stream: av.stream.Stream) -> Fraction:
    """The stream's time base as a Fraction (1/90000 if the container gives none)."""
    tb = stream.time_base
    return Fraction(tb) if tb else Fraction(1, 90000)


def codec_name(stream: av.stream.Stream) -> str:
    """FFmpeg's name of the stream's codec ("av1", "mp3"), not of its decoder ("libdav1d")."""
    return str(stream.codec_context.codec.canonical_name)


def _seconds(pts: int, tb: Fraction) -> Fraction:
    return pts * tb


def read_span(
    container: av.container.InputContainer,
    span: Span,
    *,
    video: av.stream.Stream | None = None,
    audio: av.stream.Stream | None = None,
) -> SpanPackets:
    """The packets of ``video`` and/or ``audio`` that ``span`` owns, in decode order."""
    if video is None and audio is None:
        raise ValueError("read_span needs a stream")
    try:
        if span.start is not None:
            for back in _SEEK_BACKOFF:
                container.seek(math.floor((span.start - back) * 1_000_000), backward=True)
                try:
                    return _scan(container, span, video, audio, check="start")
                except _Retry:
                    continue
        # From the start of the file. Seeking "to the start" is less simple than it sounds:
        # Matroska cues point at the video block, past the audio blocks before it, and a
        # timestamp seek in MPEG-TS is a bisection. Check the first packets, try others.
        if _unindexed(container):
            container.seek(0, backward=True, unsupported_byte_offset=True)
            return _scan(container, span, video, audio, check=None)
        candidates = [s for s in (audio, video) if s is not None]
        for by in candidates:
            _seek_start(container, by)
            try:
                return _scan(container, span, video, audio, check="first")
            except _Retry:
                continue
        _seek_start(container, candidates[0])
        return _scan(container, span, video, audio, check=None)
    except av.error.FFmpegError as exc:
        raise MediaError(f"cannot read the media file: {exc}") from exc


_BEFORE_START_S = 10
#: Formats without an index, where "the start" is best found as byte 0.
_BYTE_SEEK_FORMATS = frozenset(
    {"mpegts", "mpeg", "mpegvideo", "h264", "hevc", "aac", "ac3", "eac3", "mp3"}
)


def _unindexed(container: av.container.InputContainer) -> bool:
    return bool(_BYTE_SEEK_FORMATS.intersection(container.format.name.split(",")))


def _seek_start(container: av.container.InputContainer, stream: av.stream.Stream) -> None:
    # Aim well before the stream's start: a seek *to* its start lands on the packet at that
    # time, after packets with lower pts that the demuxer marks as discarded (AAC priming
    # under an edit list), and a container-level seek follows the video cues, which in
    # Matroska point past the audio blocks before the keyframe.
    tb = time_base(stream)
    target = (stream.start_time or 0) - math.ceil(_BEFORE_START_S / tb)
    container.seek(target, stream=stream, backward=True)


def seek_to_start(container: av.container.InputContainer, stream: av.stream.Stream) -> None:
    """Position the demuxer at the first packets of the file (for ``stream``)."""
    if _unindexed(container):
        # A timestamp seek in an unindexed stream is a bisection that can land a GOP late.
        container.seek(0, backward=True, unsupported_byte_offset=True)
    else:
        _seek_start(container, stream)


def _scan(
    container: av.container.InputContainer,
    span: Span,
    video: av.stream.Stream | None,
    audio: av.stream.Stream | None,
    *,
    check: str | None,
) -> SpanPackets:
    """Demux from the current position. ``check`` validates where the seek landed:
    ``"start"``: the first keyframe / audio packet is not after ``span.start``;
    ``"first"``: the first packet of each stream is that stream's first.
    """
    out = SpanPackets()
    streams = [s for s in (video, audio) if s is not None]
    v_index = video.index if video is not None else -1
    a_index = audio.index if audio is not None else -1
    v_tb = time_base(video) if video is not None else Fraction(1)
    a_tb = time_base(audio) if audio is not None else Fraction(1)
    a_first = audio.start_time if audio is not None else None
    v_first = video.start_time if video is not None else None
    v_seen = False

    # Video: 0 = before the first keyframe, 1 = reading GOPs, 2 = next boundary's leading
    # pictures, 3 = done. Audio: 0 = before the first packet, 1 = reading, 3 = done.
    v_phase = 0 if video is not None else 3
    a_phase = 0 if audio is not None else 3
    gop_in_span = False
    boundary_pts = 0
    lookahead = 0
    a_last_pts: int | None = None
    a_last_dur = 0

    for pkt in container.demux(streams):
        if pkt.size == 0 and pkt.pts is None and pkt.dts is None:
            continue  # end-of-stream marker
        out.demuxed += 1
        if pkt.is_corrupt:
            raise MediaError("the media file is corrupt here (damaged packet)")
        si = pkt.stream_index
        if si == v_index and v_phase < 3:
            pts = pkt.pts
            if pts is None:
                if v_phase in (1, 2) and gop_in_span:
                    raise MediaError("video packet without a timestamp")
                continue
            key = pkt.is_keyframe
            t = _seconds(pts, v_tb)
            if v_phase == 0:
                if check == "first" and not v_seen and v_first is not None and pts > v_first:
                    raise _Retry
                v_seen = True
                if not key:
                    continue
                if check == "start" and span.start is not None and t > span.start:
                    raise _Retry
                v_phase = 1
            if v_phase == 1:
                if key:
                    if span.end is not None and t >= span.end:
                        v_phase = 2
                        boundary_pts = pts
                        out.video_next = pts
                        lookahead = 0
                        continue
                    gop_in_span = span.contains(t)
                if gop_in_span:
                    out.video.append(Packet(bytes(pkt), pts, pkt.dts, pkt.duration or 0, key))
            elif v_phase == 2:
                # Leading (RASL) pictures of the next GOP have pts below its keyframe's and
                # come right after it in decode order; the first later picture ends them.
                lookahead += 1
                if key or pts > boundary_pts or lookahead > _LOOKAHEAD_PACKETS:
                    v_phase = 3
                elif out.video_next is not None:
                    out.video_next = min(out.video_next, pts)
        elif si == a_index and a_phase < 3:
            pts = pkt.pts
            if pts is None:
                # Laced Matroska frames may lack a pts: they follow the previous one.
                if a_last_pts is None:
                    continue
                pts = a_last_pts + a_last_dur
            t = _seconds(pts, a_tb)
            if a_phase == 0:
                is_first = a_first is not None and pts <= a_first
                if check == "first" and not is_first and a_first is not None:
                    raise _Retry
                if check == "start" and span.start is not None and t > span.start and not is_first:
                    raise _Retry
                a_phase = 1
            a_last_pts, a_last_dur = pts, pkt.duration or 0
            if span.end is not None and t >= span.end:
                out.audio_next = pts
                a_phase = 3
            elif span.start is None or t >= span.start:
                out.audio.append(Packet(bytes(pkt), pts, pkt.dts, pkt.duration or 0, True))
        if v_phase == 3 and a_phase == 3:
            break
    if video is not None and not out.video:
        raise MediaError("no video in this segment: the segment plan does not match the file")
    return out
