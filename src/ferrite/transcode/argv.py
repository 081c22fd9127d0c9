"""ffmpeg command lines for one transcode run, as plain lists of strings.

A *run* is one ffmpeg process producing one rendition (a ladder rung, or an audio-only
AAC rendition) from segment ``k`` of the media file's segment plan onwards, as MPEG-TS
segment files ``<out_dir>/<k>.ts``, ``<k+1>.ts`` ... cut at exactly the plan's boundaries.
The plan is passed in as plain numbers (``boundaries``: the start time of every segment
on the source timeline, and ``k``), so this module doesn't depend on ``ferrite.hls.plan``.

The job is :mod:`ferrite.transcode.job`; the video filter graph (scale, tone mapping,
burn-in) :mod:`ferrite.transcode.filters`; the encoder options and the hardware fallback
:mod:`ferrite.transcode.encoders`. This module assembles the command: input, maps, audio,
and the segment muxer.

How the pieces fit (each verified against real ffmpeg in ``tests/transcode``):

- **Source timeline.** ``-copyts`` keeps the source's timestamps; the input ``-ss`` seeks
  to boundary ``k`` (ffmpeg adds the file's start time to ``-ss``, so we pass
  ``boundary - start_time``, a quarter frame early like the forced keyframes: a grid
  boundary may fall between two frames) and, since seeking is accurate, the output starts
  exactly at that frame. ``-avoid_negative_ts disabled``, ``-muxdelay 0``/``-muxpreload 0``
  and the TS muxer's ``mpegts_copyts=1``/``avoid_negative_ts=disabled`` stop every layer
  from shifting timestamps, so segment ``n`` has the same PTS whichever run made it.
- **Keyframes at the boundaries.** ``-force_key_frames`` lists the boundaries (absolute,
  a quarter frame early to absorb rounding) as IDR frames (``-forced-idr 1``); scene-cut
  keyframes are off (``-sc_threshold 0``, x264 ``scenecut=0``) and the GOP cap ``-g`` is
  longer than any segment, so the forced keyframes are the only ones.
- **Cutting.** The segment muxer cuts at the first keyframe at or after each
  ``-segment_times`` entry; those times count from the run's first packet (the segment
  muxer adds it), so we pass ``boundary - boundaries[k]``, with a 1.5-frame tolerance
  (``-segment_time_delta``) for video, none for audio.
- **Audio.** An audio-only run starts on the AAC frame grid of a run from segment 0
  (``aresample=...:first_pts=`` pins the first sample), so every run encodes the same
  1024-sample frames at the same timestamps and each audio segment starts with the
  frame that holds its boundary; a run's first segment additionally begins with the
  encoder's priming frame (one frame of overlap with the previous segment).
- **Events.** ``-segment_list pipe:1 -segment_list_type csv`` prints one line
  ``<k>.ts,<start>,<end>`` per *finished* segment to stdout (after the segment's trailer
  is written and flushed); see :func:`parse_segment_line`.
- **Bounded argv.** A run covers at most :data:`~ferrite.transcode.job.MAX_RUN_SEGMENTS`
  segments (input ``-to`` ends it at that boundary), so the boundary lists stay far below
  the kernel's 128 KiB limit per argument; a longer playback simply starts the next run.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Final

from ferrite.media.inputs import ffmpeg_input_args
from ferrite.transcode.encoders import encoder_args, gop, hw_device_args, software_fallback
from ferrite.transcode.filters import video_filter
from ferrite.transcode.job import AudioJob, TranscodeJob, frame_rate, time_arg, validate

_FAR_FUTURE: Final = "100000000"  # a cut time no file reaches (one run, one last segment)


@dataclass(frozen=True, slots=True)
class SegmentLine:
    """One finished segment, as ffmpeg reports it on stdout."""

    index: int
    filename: str
    start_s: float  # NOTE: 0.0 for a run's first segment (ffmpeg doesn't set it)
    end_s: float  # end of the last packet (pts + duration), source timeline


def parse_segment_line(line: str) -> SegmentLine:
    """Parse one ``-segment_list_type csv`` line: ``12.ts,24.024000,26.026000``."""
    row = next(csv.reader([line.strip()]))
    if len(row) != 3:
        raise ValueError(f"not a segment list line: {line!r}")
    name = row[0]
    stem = PurePath(name).stem
    if not stem.isdigit():
        raise ValueError(f"unexpected segment file name: {name!r}")
    return SegmentLine(index=int(stem), filename=name, start_s=float(row[1]), end_s=float(row[2]))


def segment_path(out_dir: str, index: int) -> str:
    return str(PurePath(out_dir) / f"{index}.ts")


def transcode_argv(job: TranscodeJob) -> list[str]:
    """The ffmpeg command for one run: segments ``k .. stop_index-1`` as MPEG-TS files in
    ``job.out_dir``, one csv line per finished segment on stdout."""
    validate(job)
    k = job.start_index
    stop = job.stop_index
    b = job.boundaries
    fps = frame_rate(job)
    audio_rate = _audio_rate(job.audio) if job.audio is not None else 48_000
    # A video boundary's first frame is the first at or after ``boundary - eps``: where
    # the forced keyframe lands (below), so also where a run starting or stopping there
    # must start or stop, or a frame just before an off-frame boundary (a grid point
    # between two frames) would be in a segment from one run and missing from another's.
    eps = 0.25 / fps if fps else 0.002
    if job.video is None:
        eps = 0.0
    # Audio-only runs start on the AAC frame grid of a run from segment 0 (see below).
    start = b[k] if job.video is not None else _aac_grid_start(b, k, audio_rate)

    args = [job.ffmpeg, "-hide_banner", "-loglevel", "error", "-nostats", "-nostdin", "-y"]
    if job.threads:
        args += ["-threads", str(job.threads)]
    args += hw_device_args(job)
    args += ["-copyts", "-ss", time_arg(start - eps - job.source_start_s)]
    if stop < len(b):
        args += ["-to", time_arg(b[stop] - eps - job.source_start_s)]
    args += [*ffmpeg_input_args(job.input), "-i", job.input]

    maps: list[str] = []
    codecs: list[str] = []
    if job.video is not None:
        v = job.video
        graph, extra_inputs = video_filter(job, v)
        args += [*extra_inputs, "-filter_complex", graph]
        maps += ["-map", "[vout]"]
        keyframes = ",".join(time_arg(t - eps) for t in b[k:stop])
        codecs += encoder_args(job, v, gop(job, stop))
        codecs += ["-force_key_frames", keyframes, "-fps_mode:v", "passthrough"]
        # The default encoder time base (1/frame rate, anchored at 0) would round the
        # timestamps of a source whose frames aren't on that grid (a TS starting at
        # 36001.4 s); the filter graph's is the source's own.
        codecs += ["-enc_time_base:v", "filter"]
        if v.tone_map:
            codecs += ["-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709"]
            codecs += ["-color_range", "tv"]
    else:
        codecs += ["-vn"]
    if job.audio is not None:
        a = job.audio
        maps += ["-map", f"0:{a.stream_index}"]
        # Pin the first sample to `start` (padding/trimming what the seek left), so the
        # encoder's 1024-sample frames sit on the same grid in every run.
        first = round(start * audio_rate)
        codecs += ["-af", f"aresample={audio_rate}:async=1:first_pts={first}"]
        codecs += ["-c:a", "aac", "-b:a", str(a.bitrate), "-ac", str(a.channels)]
    else:
        codecs += ["-an"]
    codecs += ["-sn", "-dn", "-map_metadata", "-1", "-map_chapters", "-1"]

    # Cut times count from the run's first packet: video, the keyframe at boundary k;
    # audio-only, the AAC encoder's priming packet one frame before `start`, so each
    # audio segment starts with the packet that holds its boundary.
    cuts = ",".join(time_arg(t - start) for t in b[k + 1 : stop]) or _FAR_FUTURE
    # Video: cut at the forced keyframe even if it is up to a frame off the boundary (the
    # forced ones are the only keyframes). Audio-only: every packet is a keyframe.
    delta = 1.5 / fps if job.video is not None and fps else (0.05 if job.video else 0.0)
    out_dir = job.out_dir.replace("%", "%%")
    return [
        *args,
        *maps,
        *codecs,
        "-avoid_negative_ts", "disabled",
        "-muxdelay", "0",
        "-muxpreload", "0",
        "-f", "segment",
        "-segment_format", "mpegts",
        "-segment_format_options", "mpegts_copyts=1:avoid_negative_ts=disabled",
        "-segment_times", cuts,
        "-segment_time_delta", time_arg(delta),
        "-segment_start_number", str(k),
        "-segment_list", "pipe:1",
        "-segment_list_type", "csv",
        str(PurePath(out_dir) / "%d.ts"),
    ]  # fmt: skip


def _audio_rate(audio: AudioJob) -> int:
    rate = audio.sample_rate
    return rate if rate is not None and 8_000 <= rate <= 48_000 else 48_000


def _aac_grid_start(boundaries: Sequence[float], k: int, rate: int) -> float:
    """The start of the AAC frame (1024 samples, counted from boundary 0) holding
    boundary k: a run from k then encodes the very frames a run from 0 does."""
    frame = 1024 / rate
    origin = boundaries[0]
    return origin + math.floor((boundaries[k] - origin) / frame + 1e-9) * frame


def software_fallback_argv(job: TranscodeJob) -> list[str]:
    return transcode_argv(software_fallback(job))
