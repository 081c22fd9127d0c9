"""The header probe: a provisional :class:`~ferrite.media.info.MediaInfo` of a file still
streaming in (a torrent), from only the bytes a player reads before its first frame.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from av.container import InputContainer

from ferrite.errors import ProbeError
from ferrite.library.probe.keyframes import (
    HEAD_PACKETS,
    MAX_CUE_GAP_S,
    Hint,
    frame_ticks,
    strictly_increasing,
)
from ferrite.library.probe.opening import open_file, read_errors
from ferrite.library.probe.streams import container_name, primary_video, stream_facts
from ferrite.media.info import KeyframeIndex, MediaInfo
from ferrite.sources import Readable

__all__ = ["HeaderProbe", "probe_header"]


@dataclass(frozen=True, slots=True)
class HeaderProbe:
    """What :func:`probe_header` learnt: ``info`` (no subtitles; keyframes from the
    container's index, or ``None`` where it has none we can use unread) and the pts of
    the first GOP's video packets in decode order (for the reorder delay), empty when
    there is no video."""

    info: MediaInfo
    first_gop_pts: tuple[int, ...]


def probe_header(
    path: Path | str, *, file: Readable, first_gop: bool = False, index: bool = True
) -> HeaderProbe:
    """The facts a playback decision and a stream-copy plan need, from the bytes a player
    reads before its first frame anyway: the container header, its index (MP4 ``moov``
    at either end, Matroska cues) and the first keyframe (with ``first_gop``, the whole
    first GOP, for the reorder delay). Without ``index``, the header alone (keyframes
    ``None``): a Matroska file's Cues and first keyframe are not read. Nothing else is
    read -- no last GOP, no sampled keyframes, no subtitles -- so the result is
    *provisional*: the full probe (:func:`~ferrite.library.probe.probe`) checks the
    index against the data later (and may replace it by a demux pass).

    MP4 keyframe times assume every keyframe has the first one's composition offset (what
    the full probe verifies); the stream ends one frame after the last sample. Matroska
    cues are presentation times already; the stream ends where the header's duration
    says. Raises :class:`ProbeError`; a reader's own errors leave unchanged.
    """
    path = Path(path)
    container, size = open_file(path, file)
    try:
        with read_errors(path):
            hint = getattr(file, "will_need", None)
            return _header_open(path, container, size, hint, first_gop, index)
    finally:
        container.close()


def _header_open(
    path: Path,
    container: InputContainer,
    size: int,
    hint: Hint | None,
    first_gop: bool,
    index: bool,
) -> HeaderProbe:
    start_time_s = container.start_time / 1e6 if container.start_time is not None else 0.0
    streams = tuple(stream_facts(s) for s in container.streams)
    if not any(s.type in ("video", "audio") for s in streams):
        raise ProbeError(f"{path.name}: no audio or video streams in the file")
    video = primary_video(container)
    header_duration = container.duration / 1e6 if container.duration else None
    fmt = container.format.name
    keyframes: KeyframeIndex | None = None
    gop: tuple[int, ...] = ()
    if index and video is not None and (fmt.startswith("mov") or fmt.startswith("matroska")):
        keyframes, gop = _header_keyframes(
            container, video, size, start_time_s, header_duration, hint, first_gop
        )
    duration_s = header_duration or 0.0
    if not duration_s and keyframes is not None:
        duration_s = max(keyframes.end_s - start_time_s, 0.0)
    elif not duration_s:
        duration_s = max((s.duration_s or 0.0) for s in streams)
    info = MediaInfo(
        container=container_name(fmt, path),
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
    hint: Hint | None,
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
        if n > HEAD_PACKETS or pkt.pts is None:
            if n > HEAD_PACKETS:
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
    frame = frame_ticks(video)
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
    pts, positions = strictly_increasing(pts, positions)
    index = KeyframeIndex(
        stream_index=video.index,
        time_base=tb,
        pts=tuple(pts),
        end_pts=max(end_pts, pts[-1] + 1),
        positions=tuple(positions),
    )
    return index, tuple(gop)
