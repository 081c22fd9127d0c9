"""What a client receives: one video rung of the ABR ladder, one audio rendition.

Records only; the ladder (:mod:`ferrite.playback.ladder`) decides which exist, the HLS
layer lists and packages them, the transcoder encodes them. They sit here, below all
three, so the lower layers read them without importing playback's policy. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Final

# profile -> (profile_idc, constraint flags byte as x264 writes them)
_H264_PROFILE_IDC: Final = {"high": (0x64, 0x00), "main": (0x4D, 0x40), "baseline": (0x42, 0xC0)}


@dataclass(frozen=True, slots=True)
class Rung:
    """One video rendition of the ladder."""

    id: str  # "copy", "1080p", "720p", ... (URL-safe, stable)
    codec: str  # ffmpeg codec name of what the client receives
    width: int
    height: int
    bitrate: int  # average target, bits/s (video only)
    maxrate: int  # VBV peak, bits/s
    bufsize: int  # VBV buffer, bits
    frame_rate: Fraction | None  # output frame rate; None = the source's, unknown
    copy: bool = False
    #: H.264 profile ("high", "main", "baseline") and ffmpeg level (41 = 4.1) the rung is
    #: encoded at; None for the copy rung (its codec string comes from the source).
    profile: str | None = None
    level: int | None = None

    @property
    def codec_string(self) -> str | None:
        """RFC 6381 ``avc1.PPCCLL`` for transcoded H.264 rungs, ``None`` for copy."""
        if self.copy or self.codec != "h264" or self.profile is None or self.level is None:
            return None
        idc, flags = _H264_PROFILE_IDC[self.profile]
        return f"avc1.{idc:02x}{flags:02x}{self.level:02x}"


@dataclass(frozen=True, slots=True)
class AudioRendition:
    """The audio the client receives for one audio track."""

    id: str  # "copy", "aac-2ch", "aac-6ch"
    stream_index: int
    codec: str
    channels: int
    bitrate: int
    copy: bool

    @property
    def codec_string(self) -> str | None:
        if self.copy:
            return None  # from the source's extradata (media.codecs)
        return "mp4a.40.2"
