"""What one transcode run makes, as plain records: the input, the segment plan as
numbers, the video (rung, frame rate, colour tags, tone mapping, deinterlace, burn-in)
and/or audio (channels, bitrate) to encode, the encoder backend, and where the segments
go. Pure: ffmpeg's command line for a job is :mod:`ferrite.transcode.argv`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise
from typing import Final, Literal

from ferrite.media.info import MediaInfo, Stream
from ferrite.media.renditions import AudioRendition, Rung
from ferrite.media.subtitles import SubtitleChoice

HwAccel = Literal["none", "nvenc", "qsv", "vaapi"]
HW_ACCELS: Final = ("none", "nvenc", "qsv", "vaapi")

MAX_RUN_SEGMENTS: Final = 1500


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


def time_arg(seconds: float) -> str:
    return f"{max(seconds, 0.0):.6f}"


def frame_rate(job: TranscodeJob) -> float | None:
    if job.video is None:
        return None
    fps = job.video.rung.frame_rate or job.video.source_frame_rate
    return float(fps) if fps else None


def validate(job: TranscodeJob) -> None:
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
