"""ffmpeg command lines for one transcode run, as plain lists of strings.

A *run* is one ffmpeg process producing one rendition (a ladder rung, or an audio-only
AAC rendition) from segment ``k`` of the media file's segment plan onwards, as MPEG-TS
segment files ``<out_dir>/<k>.ts``, ``<k+1>.ts`` ... cut at exactly the plan's boundaries.
The plan is passed in as plain numbers (``boundaries``: the start time of every segment
on the source timeline, and ``k``), so this module doesn't depend on ``ferrite.hls.plan``.

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
- **Bounded argv.** A run covers at most :data:`MAX_RUN_SEGMENTS` segments (input
  ``-to`` ends it at that boundary), so the boundary lists stay far below the kernel's
  128 KiB limit per argument; a longer playback simply starts the next run.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from itertools import pairwise
from pathlib import PurePath
from typing import Final, Literal

from ferrite.media.info import MediaInfo, Stream
from ferrite.media.inputs import ffmpeg_input_args
from ferrite.media.renditions import AudioRendition, Rung
from ferrite.media.subtitles import SubtitleChoice

HwAccel = Literal["none", "nvenc", "qsv", "vaapi"]
HW_ACCELS: Final = ("none", "nvenc", "qsv", "vaapi")

#: The HDR -> SDR chain (zscale + tonemap, Hable curve). zscale reads the input's color
#: properties from the frames ("no path between colorspaces" when they are unset), so a
#: ``setparams`` with the probed tags goes first (see :meth:`VideoJob.color_params`).
TONEMAP_CHAIN: Final = (
    "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,"
    "tonemap=tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv,format=yuv420p"
)
DEINTERLACE: Final = "bwdif=mode=send_frame:parity=auto:deint=all"
MAX_RUN_SEGMENTS: Final = 1500
#: How far before the run's start embedded bitmap subtitles are read (a cue shown longer
#: than this when the run starts is missed until its next display set).
IMAGE_SUB_LOOKBACK_S: Final = 30.0
_FAR_FUTURE: Final = "100000000"  # a cut time no file reaches (one run, one last segment)
_DEFAULT_FPS: Final = 30.0
_X264_PRESETS: Final = frozenset(
    {"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"}
)
_QSV_PRESETS: Final = frozenset(
    {"veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"}
)
# Lowercased stderr fragments of a hardware encoder/device that failed to open.
_HW_FAILURE_MARKERS: Final = (
    "device creation failed",
    "failed to set value",
    "init_hw_device",
    "failed to initialise vaapi",
    "no va display",
    "cannot load libcuda",
    "cannot load libnvidia-encode",
    "no capable devices found",
    "openencodesessionex failed",
    "nvenc",
    "error creating a mfx session",
    "mfx",
    "qsv",
    "vaapi",
    "hwupload",
    "error while opening encoder",
    "could not open encoder",
    "error initializing output stream",
    "function not implemented",
    "libva",
    "libcuda",
    "dlopen",
    "assertion",
)


# --- filter-graph escaping ---------------------------------------------------------------


def escape_filter_value(value: str) -> str:
    """Escape an option value inside one filter's arguments (first level).

    ``\\``, ``'`` and ``:`` get a backslash. Every other character is literal at this level.
    See https://ffmpeg.org/ffmpeg-filters.html#Notes-on-filtergraph-escaping.
    """
    return "".join("\\" + c if c in "\\':" else c for c in value)


def escape_filtergraph(text: str) -> str:
    """Escape a filter's argument string for the filter-graph parser (second level):
    ``\\ ' [ ] , ;`` get a backslash (and so do the first level's backslashes)."""
    return "".join("\\" + c if c in "\\'[],;" else c for c in text)


def filter_path(path: str) -> str:
    """A file path as a filter option value inside a filter graph (both levels)."""
    return escape_filtergraph(escape_filter_value(path))


# --- the job -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BurnIn:
    """A subtitle drawn into the picture.

    ``image`` (PGS, VobSub, DVB): overlaid from an embedded stream (``stream_index``) or a
    sidecar file (``path``, e.g. ``.sup``). ``text`` (SRT, ASS, ...): rendered by libass
    from the media file's ``ordinal``-th subtitle stream (``si=``) or from a sidecar.
    """

    kind: Literal["image", "text"]
    stream_index: int | None = None  # absolute index in the media file (embedded)
    ordinal: int | None = None  # position among the file's subtitle streams (embedded text)
    path: str | None = None  # sidecar file

    @classmethod
    def from_choice(cls, info: MediaInfo, choice: SubtitleChoice) -> BurnIn:
        kind: Literal["image", "text"] = "text" if choice.is_text else "image"
        if choice.stream_index is None:
            return cls(kind=kind, path=choice.path)
        subs = [s.index for s in info.streams if s.type == "subtitle"]
        if choice.stream_index not in subs:
            raise ValueError(f"no subtitle stream {choice.stream_index}")
        return cls(
            kind=kind, stream_index=choice.stream_index, ordinal=subs.index(choice.stream_index)
        )


@dataclass(frozen=True, slots=True)
class VideoJob:
    stream_index: int  # in the media file
    rung: Rung  # a transcoded rung (not copy)
    source_frame_rate: Fraction | None = None
    tone_map: bool = False
    deinterlace: bool = False
    burn: BurnIn | None = None
    # The source's color tags (ffmpeg names), stated to zscale when tone-mapping so a
    # stream whose frames lack them still converts; None = trust the frames.
    color_transfer: str | None = None
    color_primaries: str | None = None
    color_space: str | None = None
    color_range: str | None = None

    @classmethod
    def for_stream(
        cls,
        video: Stream,
        rung: Rung,
        *,
        tone_map: bool = False,
        deinterlace: bool = False,
        burn: BurnIn | None = None,
    ) -> VideoJob:
        """A job for ``video`` (a probed stream): its frame rate and color tags, with the
        tags an HDR kind implies where the probe found none."""
        implied = _HDR_TAGS.get(video.hdr, (None, None, None))
        return cls(
            stream_index=video.index,
            rung=rung,
            source_frame_rate=video.frame_rate,
            tone_map=tone_map,
            deinterlace=deinterlace,
            burn=burn,
            color_transfer=_tag(video.color_transfer) or implied[0],
            color_primaries=_tag(video.color_primaries) or implied[1],
            color_space=_tag(video.color_space) or implied[2],
            color_range=_tag(video.color_range),
        )

    def color_params(self) -> str:
        """``setparams`` arguments stating the source's known color tags ("" if none)."""
        parts = [
            f"{key}={value}"
            for key, value in (
                ("color_primaries", self.color_primaries),
                ("color_trc", self.color_transfer),
                ("colorspace", self.color_space),
                ("range", self.color_range),
            )
            if value and _COLOR_NAME.match(value)
        ]
        return ":".join(parts)


def _tag(value: str | None) -> str | None:
    return None if value in (None, "", "unknown", "unspecified", "reserved") else value


# (color_trc, color_primaries, colorspace) an HDR kind implies.
_HDR_TAGS: Final = {
    "hdr10": ("smpte2084", "bt2020", "bt2020nc"),
    "hlg": ("arib-std-b67", "bt2020", "bt2020nc"),
    "dolby_vision": ("smpte2084", "bt2020", "bt2020nc"),
}
_COLOR_NAME: Final = re.compile(r"^[a-z0-9_\-]{1,32}$")


@dataclass(frozen=True, slots=True)
class AudioJob:
    stream_index: int  # in the media file
    channels: int  # 1, 2 or 6
    bitrate: int  # bits/s
    sample_rate: int | None = None  # the source's; above 48 kHz is resampled to 48 kHz

    @classmethod
    def for_rendition(cls, rendition: AudioRendition, source: Stream) -> AudioJob:
        if rendition.copy:
            raise ValueError("the copy audio rendition is packaged, not transcoded")
        return cls(
            stream_index=source.index,
            channels=rendition.channels,
            bitrate=rendition.bitrate,
            sample_rate=source.sample_rate,
        )


@dataclass(frozen=True, slots=True)
class TranscodeJob:
    """Everything one run needs. ``video`` and/or ``audio`` (usually exactly one: video
    renditions and audio renditions are separate HLS playlists)."""

    input: str
    boundaries: tuple[float, ...]  # start of every plan segment, source timeline, seconds
    start_index: int  # k: the first segment this run produces
    out_dir: str
    video: VideoJob | None = None
    audio: AudioJob | None = None
    source_start_s: float = 0.0  # the file's start time (MediaInfo.start_time_s)
    end_index: int | None = None  # exclusive; None = to the end (at most MAX_RUN_SEGMENTS)
    ffmpeg: str = "ffmpeg"
    hwaccel: HwAccel = "none"
    vaapi_device: str = "/dev/dri/renderD128"
    preset: str = "veryfast"  # settings.x264_preset
    crf: int = 23
    threads: int | None = None

    @property
    def stop_index(self) -> int:
        """One past the last segment this run produces."""
        cap = self.start_index + MAX_RUN_SEGMENTS
        end = len(self.boundaries) if self.end_index is None else self.end_index
        return min(end, cap, len(self.boundaries))


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


def _t(seconds: float) -> str:
    return f"{max(seconds, 0.0):.6f}"


def _frame_rate(job: TranscodeJob) -> float | None:
    if job.video is None:
        return None
    fps = job.video.rung.frame_rate or job.video.source_frame_rate
    return float(fps) if fps else None


def _validate(job: TranscodeJob) -> None:
    b = job.boundaries
    if not b:
        raise ValueError("empty segment plan")
    if any(later <= earlier for earlier, later in pairwise(b)):
        raise ValueError("segment boundaries must increase")
    if not 0 <= job.start_index < len(b):
        raise ValueError(f"start_index {job.start_index} outside the plan (0..{len(b) - 1})")
    if job.stop_index <= job.start_index:
        raise ValueError("end_index must be after start_index")
    if job.video is None and job.audio is None:
        raise ValueError("a run needs video or audio")
    if job.video is not None and job.video.rung.copy:
        raise ValueError("the copy rung is packaged, not transcoded")
    if job.hwaccel not in HW_ACCELS:
        raise ValueError(f"unknown hwaccel {job.hwaccel!r}")
    if job.video is not None and job.video.burn is not None:
        burn = job.video.burn
        if (burn.stream_index is None) == (burn.path is None):
            raise ValueError("burn-in needs exactly one of stream_index and path")
        if burn.kind == "text" and burn.path is None and burn.ordinal is None:
            raise ValueError("embedded text burn-in needs the subtitle ordinal")


def _tonemap(v: VideoJob) -> str:
    params = v.color_params()
    return f"setparams={params},{TONEMAP_CHAIN}" if params else TONEMAP_CHAIN


def _video_filter(job: TranscodeJob, v: VideoJob) -> tuple[str, list[str]]:
    """(filter_complex graph ending in ``[vout]``, extra input args)."""
    rung = v.rung
    chain: list[str] = []
    if v.deinterlace:
        chain.append(DEINTERLACE)
    if (
        rung.frame_rate is not None
        and v.source_frame_rate is not None
        and rung.frame_rate < v.source_frame_rate
    ):
        chain.append(f"fps=fps={rung.frame_rate.numerator}/{rung.frame_rate.denominator}:round=up")
    chain.append(f"scale=w={rung.width}:h={rung.height}")
    if v.tone_map:
        chain.append(_tonemap(v))
    extra_inputs: list[str] = []
    graph: list[str] = []
    burn = v.burn
    if burn is not None and burn.kind == "text":
        if burn.path is not None:
            chain.append(f"subtitles=filename={filter_path(burn.path)}")
        else:
            chain.append(f"subtitles=filename={filter_path(job.input)}:si={burn.ordinal}")
    tail = ["format=yuv420p"]
    if job.hwaccel == "vaapi":
        tail += ["format=nv12", "hwupload"]
    elif job.hwaccel == "qsv":
        tail += ["format=nv12", "hwupload=extra_hw_frames=64"]
    if burn is not None and burn.kind == "image":
        if burn.path is not None:
            # read from its start: a small file
            extra_inputs = [*ffmpeg_input_args(burn.path), "-i", burn.path]
            sub_label = "[1:s:0]"
        else:
            # The same file again, seeked further back: a bitmap cue that began before
            # boundary k (a PGS display set at 0.5 s shown until 2.5 s, run from 1 s) is
            # behind the main input's seek point and would never be drawn. The second
            # demuxer reads the bytes the first just read (page cache), so it's cheap.
            lookback = job.boundaries[job.start_index] - job.source_start_s - IMAGE_SUB_LOOKBACK_S
            extra_inputs = [*ffmpeg_input_args(job.input), "-ss", _t(lookback), "-i", job.input]
            sub_label = f"[1:{burn.stream_index}]"
        graph.append(f"[0:{v.stream_index}]{','.join(chain)}[base]")
        graph.append(f"{sub_label}scale=w={rung.width}:h={rung.height}[sub]")
        graph.append(f"[base][sub]overlay=eof_action=pass,{','.join(tail)}[vout]")
    else:
        graph.append(f"[0:{v.stream_index}]{','.join([*chain, *tail])}[vout]")
    return ";".join(graph), extra_inputs


def _gop(job: TranscodeJob, stop: int) -> int:
    """Longer than any segment of the run, so the only keyframes are the forced ones."""
    b = job.boundaries
    spans = [b[i + 1] - b[i] for i in range(job.start_index, min(stop, len(b) - 1))]
    longest = max([*spans, 2.0])
    fps = _frame_rate(job) or 60.0
    return math.ceil(longest * fps) + 2


def _encoder_args(job: TranscodeJob, v: VideoJob, gop: int) -> list[str]:
    rung = v.rung
    profile = rung.profile or "high"
    level = rung.level
    rate = ["-b:v", str(rung.bitrate), "-maxrate", str(rung.maxrate), "-bufsize", str(rung.bufsize)]
    if job.hwaccel == "none":
        if rung.codec == "hevc":
            return [
                "-c:v", "libx265", "-preset", _x264_preset(job.preset), "-crf", str(job.crf),
                "-maxrate", str(rung.maxrate), "-bufsize", str(rung.bufsize),
                "-g", str(gop), "-forced-idr", "1",
                "-x265-params", "scenecut=0:open-gop=0:log-level=error",
            ]  # fmt: skip
        args = [
            "-c:v", "libx264", "-preset", _x264_preset(job.preset), "-crf", str(job.crf),
            "-maxrate", str(rung.maxrate), "-bufsize", str(rung.bufsize),
            "-profile:v", profile,
        ]  # fmt: skip
        if level is not None:
            args += ["-level:v", f"{level // 10}.{level % 10}"]
        return [
            *args,
            "-g", str(gop), "-sc_threshold", "0", "-forced-idr", "1",
            "-x264-params", "scenecut=0:open-gop=0" + _profile_tool(job.preset, profile),
        ]  # fmt: skip
    if job.hwaccel == "nvenc":
        args = [
            "-c:v", "hevc_nvenc" if rung.codec == "hevc" else "h264_nvenc",
            "-preset", "p4", "-tune", "hq", "-rc", "vbr", "-cq", str(job.crf), *rate,
            "-g", str(gop), "-forced-idr", "1", "-no-scenecut", "1",
        ]  # fmt: skip
        if rung.codec != "hevc":
            args += ["-profile:v", profile]
            if level is not None:
                args += ["-level:v", f"{level // 10}.{level % 10}"]
        return args
    if job.hwaccel == "qsv":
        preset = job.preset if job.preset in _QSV_PRESETS else "veryfast"
        args = [
            "-c:v", "hevc_qsv" if rung.codec == "hevc" else "h264_qsv", "-preset", preset, *rate,
            "-g", str(gop), "-forced_idr", "1", "-look_ahead", "0",
            "-adaptive_i", "0", "-adaptive_b", "0",
        ]  # fmt: skip
        if rung.codec != "hevc":
            args += ["-profile:v", profile]
            if level is not None:
                args += ["-level:v", str(level)]
        return args
    # vaapi: no scene detection of its own; forced keyframes become IDR frames.
    if profile == "baseline":
        profile = "constrained_baseline"
    args = [
        "-c:v", "hevc_vaapi" if rung.codec == "hevc" else "h264_vaapi",
        "-rc_mode", "VBR", *rate, "-g", str(gop),
    ]  # fmt: skip
    if rung.codec != "hevc":
        args += ["-profile:v", profile]
        if level is not None:
            args += ["-level:v", str(level)]
    return args


#: The coding tool that makes x264 write each profile. ``-profile:v`` is only a cap: x264
#: signals the lowest profile its tools need, and ``ultrafast`` turns off CABAC and the
#: 8x8 transform, so it would write Constrained Baseline where the master playlist's
#: CODECS (``Rung.codec_string``) announces High or Main.
_PROFILE_TOOLS: Final = {"high": ":8x8dct=1", "main": ":cabac=1"}


def _profile_tool(preset: str, profile: str) -> str:
    """x264-params that make ``preset`` encode ``profile`` itself ("" when it does)."""
    return _PROFILE_TOOLS.get(profile, "") if _x264_preset(preset) == "ultrafast" else ""


def _x264_preset(preset: str) -> str:
    return preset if preset in _X264_PRESETS else "veryfast"


def _hw_device_args(job: TranscodeJob) -> list[str]:
    if job.video is None:
        return []
    if job.hwaccel == "vaapi":
        return ["-init_hw_device", f"vaapi=va:{job.vaapi_device}", "-filter_hw_device", "va"]
    if job.hwaccel == "qsv":
        return ["-init_hw_device", "qsv=qs:hw_any", "-filter_hw_device", "qs"]
    return []


def transcode_argv(job: TranscodeJob) -> list[str]:
    """The ffmpeg command for one run: segments ``k .. stop_index-1`` as MPEG-TS files in
    ``job.out_dir``, one csv line per finished segment on stdout."""
    _validate(job)
    k = job.start_index
    stop = job.stop_index
    b = job.boundaries
    fps = _frame_rate(job)
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
    args += _hw_device_args(job)
    args += ["-copyts", "-ss", _t(start - eps - job.source_start_s)]
    if stop < len(b):
        args += ["-to", _t(b[stop] - eps - job.source_start_s)]
    args += [*ffmpeg_input_args(job.input), "-i", job.input]

    maps: list[str] = []
    codecs: list[str] = []
    if job.video is not None:
        v = job.video
        graph, extra_inputs = _video_filter(job, v)
        args += [*extra_inputs, "-filter_complex", graph]
        maps += ["-map", "[vout]"]
        keyframes = ",".join(_t(t - eps) for t in b[k:stop])
        codecs += _encoder_args(job, v, _gop(job, stop))
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
    cuts = ",".join(_t(t - start) for t in b[k + 1 : stop]) or _FAR_FUTURE
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
        "-segment_time_delta", _t(delta),
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


def software_fallback(job: TranscodeJob) -> TranscodeJob:
    """The same run on the CPU encoder (after a hardware encoder failed to open)."""
    return replace(job, hwaccel="none")


def software_fallback_argv(job: TranscodeJob) -> list[str]:
    return transcode_argv(software_fallback(job))


def should_fall_back(job: TranscodeJob, returncode: int, stderr: str, segments_done: int) -> bool:
    """Whether a finished hardware run should be retried with :func:`software_fallback_argv`:
    it failed before producing any segment, and its stderr blames the device/encoder or it
    died from a signal (a missing driver library can abort ffmpeg outright)."""
    if job.hwaccel == "none" or returncode == 0 or segments_done > 0:
        return False
    return returncode < 0 or hardware_failed(stderr)


def hardware_failed(stderr: str) -> bool:
    """Whether ffmpeg's stderr (``-loglevel error``) says a hardware device or encoder
    couldn't be opened. Policy for the run owner: a hardware run that exits non-zero
    before its first segment line and matches this is retried with
    :func:`software_fallback_argv` (and the server may stop trying hardware)."""
    text = stderr.lower()
    return any(marker in text for marker in _HW_FAILURE_MARKERS)
