"""The playback decision's records: what was asked, what was decided, and why.

:func:`ferrite.playback.decision.decide` fills them; the ladder, the stream set, the
session and the API read them. Pure values, apart from the engine so a reader of a
:class:`Decision` needs none of its rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Final, Literal

from ferrite.media.subtitles import SubtitleChoice

Method = Literal["direct", "remux", "transcode"]
Action = Literal["copy", "transcode"]
Protocol = Literal["auto", "hls"]
ProgressiveContainer = Literal["mp4", "matroska"]
SegmentContainer = Literal["fmp4", "ts"]
#: embedded: left in the file (direct play only); external: the sidecar file as it is;
#: webvtt: cues served as WebVTT (text track / HLS subtitle rendition); burn: drawn into
#: the video by the transcode.
SubtitleDelivery = Literal["embedded", "external", "webvtt", "burn"]

#: Every reason code, in the order they are reported.
REASONS: Final = (
    "hls_required",  # the request or the device wants HLS, not a progressive file
    "container_not_supported",
    "no_video",  # audio-only file served over HLS
    "video_codec_not_supported",
    "video_profile_not_supported",
    "video_level_exceeds",
    "bit_depth_exceeds",
    "resolution_exceeds",  # device limit or the request's max_height
    "frame_rate_exceeds",
    "hdr_not_supported",  # tone-mapped to SDR
    "interlaced",  # the device can't deinterlace: the transcode does
    "keyframes_too_far",  # HLS: keyframes too far apart (or unknown) to cut copy segments
    "open_gop",  # HLS: H.264 open GOPs; a copied segment would not decode on its own
    "bitrate_exceeds_limit",  # device or request max_bitrate
    "audio_codec_not_supported",
    "audio_channels_exceed",
    "subtitle_format_not_supported",
    "subtitle_burn_in",
)


@dataclass(frozen=True, slots=True)
class PlaybackRequest:
    audio_stream: int | None = None  # stream index; None = the default audio track
    subtitle: SubtitleChoice | None = None
    max_bitrate: int | None = None  # bits/s
    max_height: int | None = None
    start_s: float = 0.0
    protocol: Protocol = "auto"  # "hls" forces HLS even where direct play would do


@dataclass(frozen=True, slots=True)
class VideoPlan:
    stream_index: int
    action: Action
    codec: str  # delivered codec: the source's when copied, h264 when transcoded
    source_codec: str
    width: int | None
    height: int | None
    frame_rate: Fraction | None
    bitrate: int | None  # estimated bitrate of the source video stream
    tone_map: bool = False  # HDR -> SDR (always when an HDR source is transcoded)
    deinterlace: bool = False  # always when an interlaced source is transcoded


@dataclass(frozen=True, slots=True)
class AudioPlan:
    stream_index: int
    action: Action
    codec: str  # delivered codec: the source's when copied, aac when transcoded
    channels: int  # delivered channels
    bitrate: int | None  # the AAC target, or an estimate of the copied stream
    source_codec: str
    source_channels: int | None


@dataclass(frozen=True, slots=True)
class SubtitlePlan:
    choice: SubtitleChoice
    delivery: SubtitleDelivery


@dataclass(frozen=True, slots=True)
class Decision:
    method: Method
    reasons: tuple[str, ...]
    video: VideoPlan | None
    audio: AudioPlan | None
    subtitle: SubtitlePlan | None
    segment_container: SegmentContainer | None  # None for direct play
    max_bitrate: int | None  # effective limit: min(device, request)
    max_height: int | None  # the request's limit (device limits live in the profile)
    start_s: float = 0.0

    #: For devices without HLS: one remuxed/transcoded stream in this container.
    progressive: ProgressiveContainer | None = None

    @property
    def hls(self) -> bool:
        return self.method != "direct" and self.progressive is None

    @property
    def copy_video(self) -> bool:
        return self.video is not None and self.video.action == "copy"

    @property
    def burn_subtitle(self) -> SubtitleChoice | None:
        if self.subtitle is not None and self.subtitle.delivery == "burn":
            return self.subtitle.choice
        return None

    @property
    def webvtt_subtitle(self) -> SubtitleChoice | None:
        if self.subtitle is not None and self.subtitle.delivery == "webvtt":
            return self.subtitle.choice
        return None
