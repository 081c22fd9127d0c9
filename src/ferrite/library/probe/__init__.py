"""Probe a media file with PyAV: streams, the keyframe index and subtitle cues, once.

:func:`probe` is blocking and CPU/IO bound: call it from worker threads (the scanner's
pool, ``asyncio.to_thread``), never on the event loop. Every failure leaves as
:class:`~ferrite.errors.ProbeError` with a sentence a user can act on.

The full probe here puts together: opening the container and naming its failures
(:mod:`.opening`), the facts of each stream (:mod:`.streams`), the keyframe index of the
primary video stream (:mod:`.keyframes`) and the subtitle tracks, embedded and sidecar
(:mod:`.subtitles`). :mod:`.header` is the provisional probe of a file still streaming in.

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
network can fetch them in parallel instead of one after the other.
:func:`~ferrite.library.probe.header.probe_header` reads only what a player reads before
its first frame (header, index, first GOP), for a provisional answer while the full probe
runs behind the player.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from av.container import InputContainer

from ferrite.errors import ProbeError
from ferrite.library.probe.keyframes import Hint, demux_pass, indexed_keyframes
from ferrite.library.probe.opening import open_file, open_path, read_errors
from ferrite.library.probe.streams import codec_name, container_name, primary_video, stream_facts
from ferrite.library.probe.subtitles import (
    SidecarReader,
    demux_subtitles,
    embedded_track,
    read_sidecar_file,
    sidecar_tracks,
)
from ferrite.media.info import TEXT_SUBTITLE_CODECS, KeyframeIndex, MediaInfo, SubtitleCue
from ferrite.sources import Readable

__all__ = ["ProbeTimings", "probe", "probe_timed"]


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
    container, size = open_path(path) if file is None else open_file(path, file)
    try:
        t1 = clock()
        with read_errors(path):
            hint = getattr(file, "will_need", None)
            return _probe_open(
                path, container, sidecars, read_sidecar or read_sidecar_file, clock, t0, t1,
                size, hint,
            )  # fmt: skip
    finally:
        container.close()


def _probe_open(
    path: Path,
    container: InputContainer,
    sidecars: Sequence[Path] | None,
    read_sidecar: SidecarReader,
    clock: Callable[[], float],
    t0: float,
    t1: float,
    size: int,
    hint: Hint | None = None,
) -> tuple[MediaInfo, ProbeTimings]:
    start_time_s = container.start_time / 1e6 if container.start_time is not None else 0.0
    streams = tuple(stream_facts(s) for s in container.streams)
    if not any(s.type in ("video", "audio") for s in streams):
        raise ProbeError(f"{path.name}: no audio or video streams in the file")
    video = primary_video(container)
    header_duration = container.duration / 1e6 if container.duration else None
    t2 = clock()

    text_subs = [s for s in container.streams.subtitles if codec_name(s) in TEXT_SUBTITLE_CODECS]
    cues: dict[int, list[SubtitleCue]] = {}
    keyframes: KeyframeIndex | None = None
    method = "none"
    sub_s = 0.0
    fmt = container.format.name
    by_index = fmt.startswith("mov") or fmt.startswith("matroska")
    if video is not None and by_index:
        if text_subs:
            ts = clock()
            cues = demux_subtitles(container, text_subs, start_time_s)
            sub_s = clock() - ts
        tk = clock()
        keyframes, method = indexed_keyframes(container, video, size, hint)
        if keyframes is None:
            container.seek(0)
            keyframes, _ = demux_pass(container, video, [], start_time_s)
            method = "demux"
        kf_s = clock() - tk
    elif video is not None:
        tk = clock()
        keyframes, cues = demux_pass(container, video, text_subs, start_time_s)
        method = "demux"
        kf_s = clock() - tk
    else:
        kf_s = 0.0
        if text_subs:
            ts = clock()
            cues = demux_subtitles(container, text_subs, start_time_s)
            sub_s = clock() - ts
    if video is not None and keyframes is None:
        raise ProbeError(f"{path.name}: the video stream has no keyframes; the file is damaged")

    ts = clock()
    tracks = [embedded_track(s, cues.get(s.index)) for s in container.streams.subtitles]
    tracks += sidecar_tracks(path, sidecars, read_sidecar)
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
        container=container_name(fmt, path),
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
