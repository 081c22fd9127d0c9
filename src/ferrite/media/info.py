"""What Ferrite knows about a media file, as plain frozen values.

The probe (``ferrite.library.probe``) fills these from PyAV once per file at scan time;
the database stores them; everything downstream (segment plans, codec strings, the
playback decision, ffmpeg arguments) reads them without touching the file again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

StreamType = Literal["video", "audio", "subtitle", "data", "attachment"]
Hdr = Literal["none", "hdr10", "hlg", "dolby_vision"]

#: Subtitle codecs (ffmpeg names) whose cues are text and can become WebVTT.
TEXT_SUBTITLE_CODECS = frozenset({"subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text"})
#: Subtitle codecs that are bitmaps: they can only be burned in by a transcode.
IMAGE_SUBTITLE_CODECS = frozenset({"hdmv_pgs_subtitle", "dvd_subtitle", "dvb_subtitle", "xsub"})


@dataclass(frozen=True, slots=True)
class Stream:
    """One elementary stream of a container, indexed as the demuxer numbers it."""

    index: int
    type: StreamType
    codec: str  # ffmpeg codec name: h264, hevc, vp9, av1, aac, ac3, eac3, opus, subrip, ass, ...
    time_base: Fraction = Fraction(1, 1000)
    profile: str | None = None  # ffmpeg profile name: "High", "Main 10", "LC", ...
    level: int | None = None  # ffmpeg's integer level (h264: 41 = 4.1; hevc: 120 = 4.0)
    width: int | None = None
    height: int | None = None
    frame_rate: Fraction | None = None  # average frame rate
    bit_depth: int | None = None
    pix_fmt: str | None = None
    color_primaries: str | None = None  # bt709, bt2020, ...
    color_transfer: str | None = None  # bt709, smpte2084 (PQ), arib-std-b67 (HLG), ...
    color_space: str | None = None  # bt709, bt2020nc, ...
    color_range: str | None = None  # tv, pc
    field_order: str | None = None  # progressive, tt, bb, tb, bt
    hdr: Hdr = "none"
    language: str | None = None  # ISO 639-2/B as tagged, e.g. "eng"
    title: str | None = None
    channels: int | None = None
    channel_layout: str | None = None
    sample_rate: int | None = None
    bitrate: int | None = None
    default: bool = False
    forced: bool = False
    extradata: bytes | None = None  # avcC/hvcC/AudioSpecificConfig... for codec strings
    codec_tag: str | None = None  # e.g. "avc1", "hvc1", "hev1"
    start_time_s: float | None = None
    duration_s: float | None = None
    frame_count: int | None = None

    @property
    def is_text_subtitle(self) -> bool:
        return self.type == "subtitle" and self.codec in TEXT_SUBTITLE_CODECS

    @property
    def is_image_subtitle(self) -> bool:
        return self.type == "subtitle" and self.codec in IMAGE_SUBTITLE_CODECS

    @property
    def interlaced(self) -> bool:
        return self.field_order not in (None, "progressive", "unknown")


@dataclass(frozen=True, slots=True)
class KeyframeIndex:
    """Presentation times of a video stream's keyframes, in the stream's time base.

    ``pts`` is strictly increasing. ``positions`` holds each keyframe's byte offset in the
    file where the demuxer knows it (-1 where not); the torrent reader uses it to fetch
    pieces ahead of a seek. ``end_pts`` is where the stream's last frame ends.
    """

    stream_index: int
    time_base: Fraction
    pts: tuple[int, ...]
    end_pts: int
    positions: tuple[int, ...] = ()
    #: H.264 keyframes after the first are not IDR (open GOPs, recovery points): pictures
    #: after them in decode order may reference the GOP before, so no segment that starts
    #: on one decodes on its own (browsers fail on it after a seek).
    open_gop: bool = False

    def times(self) -> list[float]:
        tb = self.time_base
        return [float(p * tb) for p in self.pts]

    @property
    def end_s(self) -> float:
        return float(self.end_pts * self.time_base)


@dataclass(frozen=True, slots=True)
class SubtitleCue:
    start_ms: int
    end_ms: int
    text: str  # WebVTT cue payload: plain text with \n line breaks, <i>/<b>/<u> allowed


@dataclass(frozen=True, slots=True)
class SubtitleTrack:
    """An embedded subtitle stream or a sidecar file, with its cues if it is text."""

    codec: str  # ffmpeg codec name (subrip, ass, ssa, mov_text, webvtt, hdmv_pgs_subtitle, ...)
    stream_index: int | None = None  # None for sidecar files
    path: str | None = None  # sidecar file path; None for embedded tracks
    language: str | None = None
    title: str | None = None
    default: bool = False
    forced: bool = False
    cues: tuple[SubtitleCue, ...] | None = None  # None for image subtitles

    @property
    def external(self) -> bool:
        return self.path is not None

    @property
    def is_text(self) -> bool:
        return self.codec in TEXT_SUBTITLE_CODECS


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """Everything the probe learns about one file."""

    container: str  # short name: mp4, matroska, webm, mpegts, avi, ...
    duration_s: float
    bitrate: int | None = None
    start_time_s: float = 0.0
    streams: tuple[Stream, ...] = ()
    keyframes: KeyframeIndex | None = None  # of the primary video stream
    subtitles: tuple[SubtitleTrack, ...] = field(default=())

    def first(self, type_: StreamType) -> Stream | None:
        return next((s for s in self.streams if s.type == type_), None)

    @property
    def video(self) -> Stream | None:
        """The primary video stream (the one the keyframe index describes)."""
        if self.keyframes is not None:
            for s in self.streams:
                if s.index == self.keyframes.stream_index:
                    return s
        return self.first("video")

    @property
    def audio(self) -> tuple[Stream, ...]:
        return tuple(s for s in self.streams if s.type == "audio")
