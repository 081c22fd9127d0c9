"""Video encoder options per backend (libx264/libx265 on the CPU, NVENC, QSV, VAAPI), the
hardware device arguments, and the fallback to the CPU when a hardware encoder fails to
open. Pure.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Final

from ferrite.transcode.job import TranscodeJob, VideoJob, frame_rate

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


def gop(job: TranscodeJob, stop: int) -> int:
    """Longer than any segment of the run, so the only keyframes are the forced ones."""
    b = job.boundaries
    spans = [b[i + 1] - b[i] for i in range(job.start_index, min(stop, len(b) - 1))]
    longest = max([*spans, 2.0])
    fps = frame_rate(job) or 60.0
    return math.ceil(longest * fps) + 2


def encoder_args(job: TranscodeJob, v: VideoJob, gop: int) -> list[str]:
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


def hw_device_args(job: TranscodeJob) -> list[str]:
    if job.video is None:
        return []
    if job.hwaccel == "vaapi":
        return ["-init_hw_device", f"vaapi=va:{job.vaapi_device}", "-filter_hw_device", "va"]
    if job.hwaccel == "qsv":
        return ["-init_hw_device", "qsv=qs:hw_any", "-filter_hw_device", "qs"]
    return []


def software_fallback(job: TranscodeJob) -> TranscodeJob:
    """The same run on the CPU encoder (after a hardware encoder failed to open)."""
    return replace(job, hwaccel="none")


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
