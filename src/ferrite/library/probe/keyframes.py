"""The keyframe index of a file's primary video stream (the first video stream that is
not a cover picture).

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

"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av.error
from av.container import InputContainer

from ferrite.errors import ProbeError
from ferrite.library.probe.opening import reason
from ferrite.library.probe.subtitles import decode_cues
from ferrite.media.bitstream import h264_open_keyframe, is_annexb, nal_length_size
from ferrite.media.info import KeyframeIndex, SubtitleCue

log = logging.getLogger(__name__)

#: Longest gap between Matroska cues (or after the last one) before we distrust them.
MAX_CUE_GAP_S = 30.0
#: How many packets we read from the start looking for the first keyframe.
HEAD_PACKETS = 500
#: ``will_need(ranges)`` of a file object: the byte ranges the probe reads next.
Hint = Callable[[list[tuple[int, int]]], None]


def frame_ticks(video: Any) -> int:
    """One frame's duration in the stream's time base, from the average frame rate."""
    rate = video.average_rate or video.guessed_rate
    tb = video.time_base
    if not rate or not tb:
        return 0
    ticks: int = round(1 / (rate * tb))
    return max(1, ticks)


def indexed_keyframes(
    container: InputContainer,
    video: Any,
    size: int,
    hint: Hint | None = None,
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
    pts, positions = strictly_increasing(pts, positions)
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
        if n > HEAD_PACKETS or (pkt.dts is not None and pkt.dts > dts):
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
    frame = frame_ticks(video)
    opens = OpenGop(video)
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


class OpenGop:
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


def strictly_increasing(pts: list[int], positions: list[int]) -> tuple[list[int], list[int]]:
    pairs = sorted(zip(pts, positions, strict=True))
    out_pts: list[int] = []
    out_pos: list[int] = []
    for p, pos in pairs:
        if out_pts and p <= out_pts[-1]:
            continue
        out_pts.append(p)
        out_pos.append(pos)
    return out_pts, out_pos


def demux_pass(
    container: InputContainer, video: Any, subs: Sequence[Any], start_time_s: float
) -> tuple[KeyframeIndex | None, dict[int, list[SubtitleCue]]]:
    """One pass over the video packets (headers only, nothing decoded), decoding the text
    subtitle streams ``subs`` on the way."""
    pts: list[int] = []
    positions: list[int] = []
    end: int | None = None
    frame = frame_ticks(video)
    collected: dict[int, list[SubtitleCue]] = {s.index: [] for s in subs}
    video_index = video.index
    opens = OpenGop(video)
    try:
        for pkt in container.demux(video, *subs):
            if pkt.stream_index != video_index:
                decode_cues(pkt, collected, start_time_s)
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
            f"{_seconds(end, video.time_base):.1f} s: {reason(exc)}"
        ) from exc
    if not pts or end is None:
        return None, collected
    pts, positions = strictly_increasing(pts, positions)
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
