"""Probe a media file with PyAV: streams, the keyframe index and subtitle cues, once.

:func:`probe` is blocking and CPU/IO bound: call it from worker threads (the scanner's
pool, ``asyncio.to_thread``), never on the event loop. Every failure leaves as
:class:`~ferrite.errors.ProbeError` with a sentence a user can act on.

**Keyframe index** of the primary video stream (the first video stream that is not a
cover picture):

* MP4/MOV: the sample table (``stss``) through PyAV ``index_entries``. Those timestamps
  are *decode* times; we read the first keyframe packet to learn its composition offset
  (``pts - dts``) and assume every keyframe has that same offset -- true of x264/x265 and
  other encoders whose keyframes are IDR/CRA pictures at the head of a GOP. The assumption
  is checked on the last keyframe (we demux the last GOP anyway, to find where the stream
  ends); if it doesn't hold, the index comes from a full demux pass instead. Samples lying
  beyond the end of a truncated file are dropped.
* Matroska/WebM: the Cues (PyAV loads them on the first seek), their times are already
  presentation times. Cues that leave a gap longer than :data:`MAX_CUE_GAP_S` anywhere are
  not trusted (some muxers write one cue per cluster or only a few) and a demux pass is
  done instead.
* Everything else (MPEG-TS, AVI, ...): one demux pass over the video stream reading packet
  headers only -- nothing is decoded. Text subtitle streams ride along in the same pass.

``end_pts`` is the end of the last frame (``pts + duration`` of the last GOP's packets).
Byte positions are the sample offsets (MP4), cluster offsets (Matroska) or packet
positions (demux pass); -1 where unknown.

**Subtitles**: embedded text tracks (subrip, ass/ssa, mov_text, webvtt) are decoded once
here (a demux of only the subtitle streams; in MP4 that skips the other tracks' data) and
converted to WebVTT-safe cues; sidecar files next to the video (``Movie.en.srt``,
``Movie.eng.forced.ass``, ``.vtt``, ``.ssa``) are parsed as text. Image subtitles (PGS,
VobSub, DVB) are listed with ``cues=None``. **Cue times are milliseconds from the start of
the media** (``MediaInfo.start_time_s``), the same clock sidecar files use -- so an MPEG-TS
with a 10-hour timestamp offset still has its first cue near 0.

**Truncated files** probe successfully when their header survives: the keyframe index and
``duration_s`` describe what is really in the file (a truncated Matroska file whose header
claims 4 s but holds 1.2 s reports 1.2 s). A truncated MP4 whose index (``moov``) was at
the end cannot be opened and fails.

**Streamed files** (a torrent still downloading): pass the open file object as ``file``
(a seekable binary reader such as ``TorrentFileReader``); PyAV reads through it and
``path`` only names the file. Only the byte ranges a probe needs are read: the container
header and index (MP4 ``moov`` at either end, Matroska cues), the first and last GOP and,
for MP4, a few sampled keyframes. Errors raised by the reader (a piece that never came,
the torrent removed) leave unchanged, so callers can tell them from a bad file. A file
object with a ``will_need(ranges)`` method is told, as soon as the index is parsed, which
byte ranges the keyframe checks will read next, so a reader whose reads wait on the
network can fetch them in parallel instead of one after the other. :func:`probe_header`
reads only what a player reads before its first frame (header, index, first GOP), for a
provisional answer while the full probe runs behind the player.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error
import av.logging
from av.container import InputContainer
from av.stream import Disposition

from ferrite.errors import ProbeError
from ferrite.library import cues as cue_text
from ferrite.library.naming import MAX_SIDECAR_BYTES, SUBTITLE_EXTENSIONS, parse_sidecar
from ferrite.media.bitstream import h264_open_keyframe, is_annexb, nal_length_size
from ferrite.media.info import (
    TEXT_SUBTITLE_CODECS,
    Hdr,
    KeyframeIndex,
    MediaInfo,
    Stream,
    StreamType,
    SubtitleCue,
    SubtitleTrack,
)
from ferrite.media.inputs import pyav_options
from ferrite.sources import Readable

log = logging.getLogger(__name__)

#: Longest gap between Matroska cues (or after the last one) before we distrust them.
MAX_CUE_GAP_S = 30.0
#: Reads a sidecar subtitle file: its bytes, or ``None`` to skip it. The default reads the
#: disk; a torrent's files are read through the piece-aware reader instead.
SidecarReader = Callable[[Path], "bytes | None"]
#: How many packets we read from the start looking for the first keyframe.
_HEAD_PACKETS = 500

# FFmpeg's enum values (libavutil/pixfmt.h), as the names ffprobe prints.
_PRIMARIES = {
    1: "bt709", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "film",
    9: "bt2020", 10: "smpte428", 11: "smpte431", 12: "smpte432", 22: "ebu3213",
}  # fmt: skip
_TRANSFER = {
    1: "bt709", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 7: "smpte240m", 8: "linear",
    9: "log100", 10: "log316", 11: "iec61966-2-4", 12: "bt1361e", 13: "iec61966-2-1",
    14: "bt2020-10", 15: "bt2020-12", 16: "smpte2084", 17: "smpte428", 18: "arib-std-b67",
}  # fmt: skip
_SPACE = {
    0: "gbr", 1: "bt709", 4: "fcc", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "ycgco",
    9: "bt2020nc", 10: "bt2020c", 11: "smpte2085", 12: "chroma-derived-nc",
    13: "chroma-derived-c", 14: "ictcp", 15: "ipt-c2", 16: "ycgco-re", 17: "ycgco-ro",
}  # fmt: skip
_RANGE = {1: "tv", 2: "pc"}
_FIELD_ORDER = {1: "progressive", 2: "tt", 3: "bb", 4: "tb", 5: "bt"}
_DOLBY_VISION_TAGS = frozenset({"dvh1", "dvhe", "dav1", "dva1", "dvav", "dvas"})


@dataclass(frozen=True, slots=True)
class ProbeTimings:
    """Where a probe spent its time (seconds), for the scan benchmark."""

    open_s: float = 0.0
    streams_s: float = 0.0
    keyframes_s: float = 0.0  # includes embedded subtitles when they shared a demux pass
    subtitles_s: float = 0.0
    keyframe_method: str = "none"  # "index", "cues", "demux" or "none"

    @property
    def total_s(self) -> float:
        return self.open_s + self.streams_s + self.keyframes_s + self.subtitles_s


def probe(
    path: Path | str,
    *,
    sidecars: Sequence[Path] | None = None,
    file: Readable | None = None,
    read_sidecar: SidecarReader | None = None,
) -> MediaInfo:
    """Everything Ferrite needs to know about the file at ``path``.

    ``sidecars``: candidate subtitle files next to it (the scanner passes what it already
    listed); ``None`` lists the folder. ``file``: read the bytes from this file object
    instead of the path (see "Streamed files" above); ``read_sidecar``: likewise for the
    sidecars (``None`` from it skips one). Raises :class:`ProbeError`.
    """
    return probe_timed(path, sidecars=sidecars, file=file, read_sidecar=read_sidecar)[0]


def probe_timed(
    path: Path | str,
    *,
    sidecars: Sequence[Path] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    file: Readable | None = None,
    read_sidecar: SidecarReader | None = None,
) -> tuple[MediaInfo, ProbeTimings]:
    """:func:`probe`, also returning where the time went."""
    path = Path(path)
    t0 = clock()
    container, size = _open(path) if file is None else _open_file(path, file)
    try:
        t1 = clock()
        with _read_errors(path):
            hint = getattr(file, "will_need", None)
            return _probe_open(
                path, container, sidecars, read_sidecar or read_sidecar_file, clock, t0, t1,
                size, hint,
            )  # fmt: skip
    finally:
        container.close()


@contextlib.contextmanager
def _read_errors(path: Path) -> Iterator[None]:
    """FFmpeg's and the OS's read errors as :class:`ProbeError` (ours pass unchanged)."""
    try:
        yield
    except ProbeError:
        raise
    except (av.error.FFmpegError, OSError) as exc:
        raise ProbeError(f"{path.name}: cannot read the file: {_reason(exc)}") from exc


def _probe_open(
    path: Path,
    container: InputContainer,
    sidecars: Sequence[Path] | None,
    read_sidecar: SidecarReader,
    clock: Callable[[], float],
    t0: float,
    t1: float,
    size: int,
    hint: Callable[[list[tuple[int, int]]], None] | None = None,
) -> tuple[MediaInfo, ProbeTimings]:
    start_time_s = container.start_time / 1e6 if container.start_time is not None else 0.0
    streams = tuple(_stream(s) for s in container.streams)
    if not any(s.type in ("video", "audio") for s in streams):
        raise ProbeError(f"{path.name}: no audio or video streams in the file")
    video = _primary_video(container)
    header_duration = container.duration / 1e6 if container.duration else None
    t2 = clock()

    text_subs = [s for s in container.streams.subtitles if _codec_name(s) in TEXT_SUBTITLE_CODECS]
    cues: dict[int, list[SubtitleCue]] = {}
    keyframes: KeyframeIndex | None = None
    method = "none"
    sub_s = 0.0
    fmt = container.format.name
    by_index = fmt.startswith("mov") or fmt.startswith("matroska")
    if video is not None and by_index:
        if text_subs:
            ts = clock()
            cues = _demux_subtitles(container, text_subs, start_time_s)
            sub_s = clock() - ts
        tk = clock()
        keyframes, method = _indexed_keyframes(container, video, size, hint)
        if keyframes is None:
            container.seek(0)
            keyframes, _ = _demux_pass(container, video, [], start_time_s)
            method = "demux"
        kf_s = clock() - tk
    elif video is not None:
        tk = clock()
        keyframes, cues = _demux_pass(container, video, text_subs, start_time_s)
        method = "demux"
        kf_s = clock() - tk
    else:
        kf_s = 0.0
        if text_subs:
            ts = clock()
            cues = _demux_subtitles(container, text_subs, start_time_s)
            sub_s = clock() - ts
    if video is not None and keyframes is None:
        raise ProbeError(f"{path.name}: the video stream has no keyframes; the file is damaged")

    ts = clock()
    tracks = [_embedded_track(s, cues.get(s.index)) for s in container.streams.subtitles]
    tracks += _sidecar_tracks(path, sidecars, read_sidecar)
    sub_s += clock() - ts

    duration_s = header_duration or 0.0
    if keyframes is not None:
        real = keyframes.end_s - start_time_s
        video_claim = next((s.duration_s for s in streams if s.index == video.index), None)

        def short_of(claim: float) -> bool:
            return real < claim - max(1.0, 0.02 * claim)

        # Truncated file: the header promises more video than the stream holds. (Audio
        # that outlasts the picture makes the header longer too; the video stream's own
        # duration tells the two apart.)
        if header_duration is None or (
            short_of(header_duration) and (video_claim is None or short_of(video_claim))
        ):
            duration_s = max(real, 0.0)
    elif header_duration is None:
        duration_s = max((s.duration_s or 0.0) for s in streams)
    info = MediaInfo(
        container=_container_name(fmt, path),
        duration_s=duration_s,
        bitrate=container.bit_rate or None,
        start_time_s=start_time_s,
        streams=streams,
        keyframes=keyframes,
        subtitles=tuple(tracks),
    )
    timings = ProbeTimings(
        open_s=t1 - t0,
        streams_s=t2 - t1,
        keyframes_s=kf_s,
        subtitles_s=sub_s,
        keyframe_method=method,
    )
    return info, timings


# -- the header alone (streamed files: play before the full probe) -------------------------


@dataclass(frozen=True, slots=True)
class HeaderProbe:
    """What :func:`probe_header` learnt: ``info`` (no subtitles; keyframes from the
    container's index, or ``None`` where it has none we can use unread) and the pts of
    the first GOP's video packets in decode order (for the reorder delay), empty when
    there is no video."""

    info: MediaInfo
    first_gop_pts: tuple[int, ...]


def probe_header(path: Path | str, *, file: Readable, first_gop: bool = False) -> HeaderProbe:
    """The facts a playback decision and a stream-copy plan need, from the bytes a player
    reads before its first frame anyway: the container header, its index (MP4 ``moov``
    at either end, Matroska cues) and the first keyframe (with ``first_gop``, the whole
    first GOP, for the reorder delay). Nothing else is read -- no last GOP,
    no sampled keyframes, no subtitles -- so the result is *provisional*: :func:`probe`
    checks the index against the data later (and may replace it by a demux pass).

    MP4 keyframe times assume every keyframe has the first one's composition offset (what
    :func:`probe` verifies); the stream ends one frame after the last sample. Matroska
    cues are presentation times already; the stream ends where the header's duration
    says. Raises :class:`ProbeError`; a reader's own errors leave unchanged.
    """
    path = Path(path)
    container, size = _open_file(path, file)
    try:
        with _read_errors(path):
            hint = getattr(file, "will_need", None)
            return _header_open(path, container, size, hint, first_gop)
    finally:
        container.close()


def _header_open(
    path: Path,
    container: InputContainer,
    size: int,
    hint: Callable[[list[tuple[int, int]]], None] | None,
    first_gop: bool,
) -> HeaderProbe:
    start_time_s = container.start_time / 1e6 if container.start_time is not None else 0.0
    streams = tuple(_stream(s) for s in container.streams)
    if not any(s.type in ("video", "audio") for s in streams):
        raise ProbeError(f"{path.name}: no audio or video streams in the file")
    video = _primary_video(container)
    header_duration = container.duration / 1e6 if container.duration else None
    fmt = container.format.name
    keyframes: KeyframeIndex | None = None
    gop: tuple[int, ...] = ()
    if video is not None and (fmt.startswith("mov") or fmt.startswith("matroska")):
        keyframes, gop = _header_keyframes(
            container, video, size, start_time_s, header_duration, hint, first_gop
        )
    duration_s = header_duration or 0.0
    if not duration_s and keyframes is not None:
        duration_s = max(keyframes.end_s - start_time_s, 0.0)
    elif not duration_s:
        duration_s = max((s.duration_s or 0.0) for s in streams)
    info = MediaInfo(
        container=_container_name(fmt, path),
        duration_s=duration_s,
        bitrate=container.bit_rate or None,
        start_time_s=start_time_s,
        streams=streams,
        keyframes=keyframes,
        subtitles=(),
    )
    return HeaderProbe(info, gop)


def _header_keyframes(
    container: InputContainer,
    video: Any,
    size: int,
    start_time_s: float,
    header_duration: float | None,
    hint: Callable[[list[tuple[int, int]]], None] | None,
    first_gop: bool,
) -> tuple[KeyframeIndex | None, tuple[int, ...]]:
    is_mov = container.format.name.startswith("mov")
    if not is_mov:
        container.seek(0)  # Matroska reads its Cues on the first seek
    every = [(e.timestamp, e.pos, e.size, e.is_keyframe and not e.is_discard)
             for e in video.index_entries]  # fmt: skip
    entries = [(t, pos, n) for t, pos, n, key in every if key]
    if is_mov:
        entries = [e for e in entries if e[1] < 0 or e[1] + e[2] <= size]
    if not entries:
        return None, ()
    if hint is not None and entries[0][1] >= 0:
        # Fetch the first keyframe (or GOP) at once, not packet by packet.
        end = entries[1][1] if first_gop and len(entries) > 1 else entries[0][1] + entries[0][2]
        if end > entries[0][1]:
            hint([(entries[0][1], end)])
    # The first keyframe's pts; with first_gop the GOP's, in decode order (reorder delay).
    container.seek(entries[0][0], stream=video, backward=True)
    gop: list[int] = []
    first: tuple[int, int] | None = None  # (pts, dts) of the first keyframe
    for n, pkt in enumerate(container.demux(video)):
        if n > _HEAD_PACKETS or pkt.pts is None:
            if n > _HEAD_PACKETS:
                break
            continue
        if pkt.is_keyframe:
            if first is not None:
                break
            first = (int(pkt.pts), int(pkt.dts if pkt.dts is not None else pkt.pts))
        if first is not None:
            gop.append(int(pkt.pts))
            if not first_gop:
                break
    if first is None:
        return None, ()
    tb = video.time_base
    frame = _frame_ticks(video)
    stamps = [e[0] for e in entries]
    positions = [e[1] for e in entries]
    if is_mov:
        if first[1] != stamps[0]:
            return None, tuple(gop)
        offset = first[0] - first[1]
        pts = [first[0]] + [d + offset for d in stamps[1:]]
        last_dts = max(t for t, pos, n, _ in every if pos < 0 or pos + n <= size)
        end_pts = last_dts + offset + frame
    else:
        pts = stamps
        if header_duration is None or not tb:
            return None, tuple(gop)
        end_pts = round((start_time_s + header_duration) / tb)
        marks = [*pts, end_pts]
        if max(float((b - a) * tb) for a, b in itertools.pairwise(marks)) > MAX_CUE_GAP_S:
            return None, tuple(gop)
    pts, positions = _strictly_increasing(pts, positions)
    index = KeyframeIndex(
        stream_index=video.index,
        time_base=tb,
        pts=tuple(pts),
        end_pts=max(end_pts, pts[-1] + 1),
        positions=tuple(positions),
    )
    return index, tuple(gop)


# -- opening ------------------------------------------------------------------------------


def _open(path: Path) -> tuple[InputContainer, int]:
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        raise ProbeError(f"{path.name}: the file does not exist (moved or deleted?)") from exc
    except OSError as exc:
        raise ProbeError(f"{path.name}: cannot read the file: {_reason(exc)}") from exc
    if not path.is_file():
        raise ProbeError(f"{path.name}: not a regular file")
    if st.st_size == 0:
        raise ProbeError(f"{path.name}: the file is empty (0 bytes)")
    try:
        return av.open(str(path), "r", options=pyav_options()), st.st_size
    except av.error.FFmpegError as exc:
        raise ProbeError(f"{path.name}: {_open_reason(_head(path), exc)}") from exc
    except OSError as exc:
        raise ProbeError(f"{path.name}: cannot read the file: {_reason(exc)}") from exc


def _open_file(path: Path, file: Readable) -> tuple[InputContainer, int]:
    size = file.seek(0, os.SEEK_END)
    file.seek(0)
    if size == 0:
        raise ProbeError(f"{path.name}: the file is empty (0 bytes)")
    try:
        return av.open(file, "r", options=pyav_options()), size
    except av.error.FFmpegError as exc:
        file.seek(0)
        raise ProbeError(f"{path.name}: {_open_reason(file.read(4096), exc)}") from exc
    except OSError as exc:
        raise ProbeError(f"{path.name}: cannot read the file: {_reason(exc)}") from exc


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(4096)
    except OSError:
        return b""


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return re.sub(r":\s*'[^']*'$", "", str(text)).strip() or exc.__class__.__name__


def _open_reason(head: bytes, exc: BaseException) -> str:
    if _looks_like_text(head):
        return "the file contains text, not audio or video (wrong extension?)"
    if head[4:8] == b"ftyp":
        return (
            "an MP4/MOV file whose index (moov atom) is missing or damaged: the file is "
            "incomplete (still downloading or cut short) or corrupt"
        )
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "a damaged Matroska/WebM file: its header cannot be read"
    if isinstance(exc, av.error.InvalidDataError):
        return (
            "not a media file FFmpeg can read: the container is damaged, truncated or of "
            "an unknown format"
        )
    return f"cannot open as media: {_reason(exc)}"


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    printable = sum(1 for c in text if c.isprintable() or c in "\r\n\t")
    return printable >= 0.95 * len(text)


# -- streams ------------------------------------------------------------------------------


def _codec_name(s: Any) -> str:
    try:
        return str(s.codec_context.codec.canonical_name)
    except Exception:  # no decoder for this codec id: fall back to the context's name
        name = getattr(s.codec_context, "name", None)
        return str(name) if name else "unknown"


def _text_tag(tag: Any) -> str | None:
    if isinstance(tag, str) and len(tag) == 4 and tag.isprintable() and tag.strip():
        return tag
    return None


def _title(s: Any) -> str | None:
    # Matroska: "title"; MP4: the track's udta "name" box.
    return _meta(s, "title") or _meta(s, "name")


def _meta(s: Any, key: str) -> str | None:
    for k, v in (s.metadata or {}).items():
        if k.lower() == key and v:
            return str(v)
    return None


def _tag_duration(value: str | None) -> float | None:
    # Matroska's per-track statistics tag: "00:00:04.000000000"
    if not value:
        return None
    m = re.fullmatch(r"(\d+):(\d{2}):(\d{2}(?:\.\d+)?)", value.strip())
    if not m:
        return None
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))


def _stream(s: Any) -> Stream:
    cc = s.codec_context
    type_: StreamType = s.type if s.type in ("video", "audio", "subtitle", "attachment") else "data"
    tb: Fraction = s.time_base or Fraction(1, 1000)
    codec = _codec_name(s)
    language = s.language or _meta(s, "language")
    if language in ("und", ""):
        language = None
    level = getattr(cc, "level", None)
    common: dict[str, Any] = {
        "index": s.index,
        "type": type_,
        "codec": codec,
        "time_base": tb,
        "profile": s.profile or None,
        "level": level if isinstance(level, int) and level > 0 else None,
        "language": language,
        "title": _title(s),
        "bitrate": (cc.bit_rate or None) if type_ in ("video", "audio") else None,
        "default": bool(s.disposition & Disposition.default),
        "forced": bool(s.disposition & Disposition.forced),
        "extradata": bytes(cc.extradata) if cc.extradata else None,
        "codec_tag": _text_tag(s.codec_tag),
        "start_time_s": float(s.start_time * tb) if s.start_time is not None else None,
        "duration_s": float(s.duration * tb) if s.duration else _tag_duration(_meta(s, "duration")),
        "frame_count": s.frames or None,
    }
    if type_ == "video":
        pix_fmt = cc.pix_fmt
        bit_depth = None
        fmt = cc.format
        if fmt is not None and fmt.components:
            bit_depth = max(c.bits for c in fmt.components)
        transfer = _TRANSFER.get(cc.color_trc)
        common.update(
            width=cc.width or None,
            height=cc.height or None,
            frame_rate=s.average_rate or s.guessed_rate or None,
            bit_depth=bit_depth,
            pix_fmt=pix_fmt,
            color_primaries=_PRIMARIES.get(cc.color_primaries),
            color_transfer=transfer,
            color_space=_SPACE.get(cc.colorspace),
            color_range=_RANGE.get(cc.color_range),
            field_order=_FIELD_ORDER.get(cc.field_order),
            hdr=_hdr(s, codec, transfer, bit_depth),
        )
    elif type_ == "audio":
        common.update(
            channels=cc.channels or None,
            channel_layout=cc.layout.name if cc.layout is not None else None,
            sample_rate=cc.sample_rate or None,
        )
    return Stream(**common)


def _hdr(s: Any, codec: str, transfer: str | None, bit_depth: int | None) -> Hdr:
    if _text_tag(s.codec_tag) in _DOLBY_VISION_TAGS:
        return "dolby_vision"
    if codec in ("hevc", "av1", "h264") and (bit_depth or 8) >= 10 and _has_dovi_config(s):
        return "dolby_vision"
    if transfer == "smpte2084":
        return "hdr10"
    if transfer == "arib-std-b67":
        return "hlg"
    return "none"


_LOG_LOCK = threading.Lock()


def _has_dovi_config(s: Any) -> bool:
    """Whether the stream carries a Dolby Vision configuration record (``dvcC``/``dvvC``
    in MP4, a BlockAdditionMapping in Matroska).

    PyAV doesn't expose a stream's coded side data, but FFmpeg's format dump lists it
    ("DOVI configuration record"); the dump only appears with FFmpeg logging at INFO, so
    the level is raised for the duration of this call, under a lock. Only 10-bit
    HEVC/AV1/H.264 streams get here.
    """
    with _LOG_LOCK:
        previous = av.logging.get_level()
        try:
            av.logging.set_level(av.logging.INFO)
            dump = s.container.dumps_format()
        except Exception:  # the dump is a best-effort hint; never fail a probe on it
            return False
        finally:
            av.logging.set_level(previous)
    return dovi_in_dump(dump, s.index)


def dovi_in_dump(dump: str, stream_index: int) -> bool:
    """Find "DOVI configuration record" among the side data of stream ``stream_index`` in
    the text of ``av_dump_format``."""
    section: int | None = None
    for line in dump.splitlines():
        m = re.match(r"\s*Stream #\d+:(\d+)", line)
        if m:
            section = int(m.group(1))
        elif section == stream_index and "DOVI configuration record" in line:
            return True
    return False


def _primary_video(container: InputContainer) -> Any:
    for s in container.streams.video:
        if not s.disposition & Disposition.attached_pic:
            return s
    return None


def _container_name(fmt: str, path: Path) -> str:
    ext = path.suffix.lower()
    if fmt.startswith("mov"):
        return {".mov": "mov", ".m4v": "m4v", ".3gp": "3gp"}.get(ext, "mp4")
    if fmt.startswith("matroska"):
        return "webm" if ext == ".webm" else "matroska"
    return fmt.split(",")[0]


# -- keyframes ----------------------------------------------------------------------------


def _frame_ticks(video: Any) -> int:
    """One frame's duration in the stream's time base, from the average frame rate."""
    rate = video.average_rate or video.guessed_rate
    tb = video.time_base
    if not rate or not tb:
        return 0
    ticks: int = round(1 / (rate * tb))
    return max(1, ticks)


def _indexed_keyframes(
    container: InputContainer,
    video: Any,
    size: int,
    hint: Callable[[list[tuple[int, int]]], None] | None = None,
) -> tuple[KeyframeIndex | None, str]:
    """From the container's own index; ``None`` when there is none we can trust."""
    is_mov = container.format.name.startswith("mov")
    if not is_mov:
        container.seek(0)  # Matroska reads its Cues on the first seek
    # Copy the entries out at once: they point into FFmpeg's index array, which demuxing
    # may grow (and move) later.
    entries = [
        (e.timestamp, e.pos, e.size)
        for e in video.index_entries
        if e.is_keyframe and not e.is_discard
    ]
    if is_mov:
        # A truncated file still has the full sample table: keep what is really there.
        entries = [e for e in entries if e[1] < 0 or e[1] + e[2] <= size]
    if not entries:
        return None, "none"
    if hint is not None:
        hint(_reads_ahead(entries, size, is_mov))
    stamps = [e[0] for e in entries]
    positions = [e[1] for e in entries]
    tail = _tail(container, video, stamps[-1])
    if tail is None:
        return None, "none"
    tail_keys, end_pts, open_gop = tail
    if is_mov:
        # Seeking in MP4 goes by presentation time, so the tail may start a GOP early.
        later = [k for k in tail_keys if k[1] >= stamps[-1]]
        if [k[1] for k in later] != [stamps[-1]]:
            log.info("sample table of %s misses keyframes; demuxing", container.name)
            return None, "none"
        pts = _mov_keyframe_pts(container, video, stamps, later[0][0])
        if pts is None:
            return None, "none"
    else:
        pts = stamps
        # Cues that miss keyframes (none written, or one per cluster) show up here.
        if [k[0] for k in tail_keys if k[0] >= stamps[-1]] != [stamps[-1]]:
            log.info("cues of %s are incomplete; demuxing", container.name)
            return None, "none"
    pts, positions = _strictly_increasing(pts, positions)
    if not is_mov:
        tb = video.time_base
        marks = [*pts, end_pts]
        gaps = [float((b - a) * tb) for a, b in itertools.pairwise(marks)]
        if gaps and max(gaps) > MAX_CUE_GAP_S:
            return None, "none"
    index = KeyframeIndex(
        stream_index=video.index,
        time_base=video.time_base,
        pts=tuple(pts),
        end_pts=max(end_pts, pts[-1] + 1),
        positions=tuple(positions),
        open_gop=open_gop,
    )
    return index, "index" if is_mov else "cues"


def _reads_ahead(
    entries: list[tuple[int, int, int]], size: int, is_mov: bool
) -> list[tuple[int, int]]:
    """Byte ranges the checks below read: the last GOP (to the end of the file, at most
    :data:`_TAIL_HINT` bytes) and, for MP4, the first and sampled keyframes."""
    n = len(entries)
    picks = {0} | {round(i * (n - 1) / (_MOV_SAMPLES + 1)) for i in range(1, _MOV_SAMPLES + 1)}
    out = []
    if is_mov:
        out = [(entries[i][1], entries[i][1] + entries[i][2]) for i in sorted(picks)]
    last = entries[-1][1]
    out.append((last, min(size, last + _TAIL_HINT)))
    return [(a, b) for a, b in out if 0 <= a < b]


_TAIL_HINT = 16 * 1024 * 1024


def _mov_keyframe_pts(
    container: InputContainer, video: Any, dts: list[int], last_pts: int
) -> list[int] | None:
    """Presentation times of MP4 keyframes from their decode times.

    The composition offset (pts - dts) of the last keyframe is assumed for every keyframe
    but the first (whose offset is measured: an IDR ahead of open-GOP CRA pictures can
    differ). The assumption is checked on up to :data:`_MOV_SAMPLES` keyframes spread
    over the file; ``None`` when it fails.
    """
    delay = last_pts - dts[-1]
    first = _keyframe_at(container, video, dts[0], dts[0])
    if first is None:
        return None
    n = len(dts)
    checks = {round(i * (n - 1) / (_MOV_SAMPLES + 1)) for i in range(1, _MOV_SAMPLES + 1)}
    for i in sorted(checks):
        if (
            0 < i < n - 1
            and _keyframe_at(container, video, dts[i] + delay, dts[i]) != dts[i] + delay
        ):
            log.info("keyframe offsets of %s vary; demuxing", container.name)
            return None
    return [first] + [d + delay for d in dts[1:]]


_MOV_SAMPLES = 3


def _keyframe_at(container: InputContainer, video: Any, target: int, dts: int) -> int | None:
    """Seek near ``target`` and return the pts of the keyframe packet with decode time
    ``dts``."""
    container.seek(target, stream=video, backward=True)
    for n, pkt in enumerate(container.demux(video)):
        if n > _HEAD_PACKETS or (pkt.dts is not None and pkt.dts > dts):
            break
        if pkt.is_keyframe and pkt.dts == dts and pkt.pts is not None:
            return int(pkt.pts)
    return None


def _tail(
    container: InputContainer, video: Any, timestamp: int
) -> tuple[list[tuple[int, int]], int, bool] | None:
    """Demux from (about) ``timestamp`` to the end: the keyframes seen as (pts, dts),
    where the last frame ends, and whether a keyframe there opens an open GOP."""
    container.seek(timestamp, stream=video, backward=True)
    keys: list[tuple[int, int]] = []
    end = None
    frame = _frame_ticks(video)
    opens = _OpenGop(video)
    for pkt in container.demux(video):
        if pkt.pts is None:
            continue
        if pkt.is_keyframe:
            keys.append((pkt.pts, pkt.dts if pkt.dts is not None else pkt.pts))
            opens.see(pkt)
        stop = pkt.pts + (pkt.duration or frame)
        end = stop if end is None else max(end, stop)
    if not keys or end is None:
        return None
    return keys, end, opens.found


class _OpenGop:
    """Watches a video stream's keyframe packets for an H.264 open GOP: a keyframe after
    the first that is a recovery-point I picture, not an IDR."""

    def __init__(self, video: Any) -> None:
        cc = video.codec_context
        self.h264 = (cc.name if cc is not None else "") == "h264"
        extradata = cc.extradata if cc is not None else None
        self.length_size = nal_length_size(extradata, "h264")
        self.found = False

    def see(self, pkt: Any) -> None:
        if not self.h264 or self.found or not pkt.size:
            return
        data = bytes(pkt)
        size = None if is_annexb(data) else (self.length_size or 4)
        self.found = h264_open_keyframe(data, size)


def _strictly_increasing(pts: list[int], positions: list[int]) -> tuple[list[int], list[int]]:
    pairs = sorted(zip(pts, positions, strict=True))
    out_pts: list[int] = []
    out_pos: list[int] = []
    for p, pos in pairs:
        if out_pts and p <= out_pts[-1]:
            continue
        out_pts.append(p)
        out_pos.append(pos)
    return out_pts, out_pos


def _demux_pass(
    container: InputContainer, video: Any, subs: Sequence[Any], start_time_s: float
) -> tuple[KeyframeIndex | None, dict[int, list[SubtitleCue]]]:
    """One pass over the video packets (headers only, nothing decoded), decoding the text
    subtitle streams ``subs`` on the way."""
    pts: list[int] = []
    positions: list[int] = []
    end: int | None = None
    frame = _frame_ticks(video)
    collected: dict[int, list[SubtitleCue]] = {s.index: [] for s in subs}
    video_index = video.index
    opens = _OpenGop(video)
    try:
        for pkt in container.demux(video, *subs):
            if pkt.stream_index != video_index:
                _decode_cues(pkt, collected, start_time_s)
                continue
            t = pkt.pts if pkt.pts is not None else pkt.dts
            if t is None:
                continue
            if pkt.is_keyframe:
                pts.append(t)
                positions.append(pkt.pos if pkt.pos is not None else -1)
                opens.see(pkt)
            stop = t + (pkt.duration or frame)
            end = stop if end is None else max(end, stop)
    except av.error.FFmpegError as exc:
        raise ProbeError(
            f"{Path(container.name).name}: the file is damaged after "
            f"{_seconds(end, video.time_base):.1f} s: {_reason(exc)}"
        ) from exc
    if not pts or end is None:
        return None, collected
    pts, positions = _strictly_increasing(pts, positions)
    return (
        KeyframeIndex(
            stream_index=video.index,
            time_base=video.time_base,
            pts=tuple(pts),
            end_pts=max(end, pts[-1] + 1),
            positions=tuple(positions),
            open_gop=opens.found,
        ),
        collected,
    )


def _seconds(pts: int | None, tb: Fraction | None) -> float:
    return float(pts * tb) if pts is not None and tb else 0.0


# -- subtitles ----------------------------------------------------------------------------


def _demux_subtitles(
    container: InputContainer, subs: Sequence[Any], start_time_s: float
) -> dict[int, list[SubtitleCue]]:
    collected: dict[int, list[SubtitleCue]] = {s.index: [] for s in subs}
    try:
        for pkt in container.demux(*subs):
            _decode_cues(pkt, collected, start_time_s)
    except av.error.FFmpegError as exc:
        raise ProbeError(
            f"{Path(container.name).name}: cannot read subtitles: {_reason(exc)}"
        ) from exc
    return collected


def _decode_cues(pkt: Any, collected: dict[int, list[SubtitleCue]], start_time_s: float) -> None:
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


def _embedded_track(s: Any, cues: list[SubtitleCue] | None) -> SubtitleTrack:
    codec = _codec_name(s)
    language = s.language or _meta(s, "language")
    is_text = codec in TEXT_SUBTITLE_CODECS
    return SubtitleTrack(
        codec=codec,
        stream_index=s.index,
        language=None if language in (None, "", "und") else language,
        title=_title(s),
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


def _sidecar_tracks(
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
