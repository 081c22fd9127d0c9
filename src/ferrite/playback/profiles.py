"""Device profiles: what a client can decode, display and download, as plain frozen values.

A :class:`DeviceProfile` is either one of the named built-ins
(:data:`ferrite.playback.devices.BUILTIN_PROFILES`) or an explicit capabilities object sent
by a client and validated by :func:`ferrite.playback.capabilities.profile_from_dict`. The
decision engine (:mod:`ferrite.playback.decision`) and the ABR ladder
(:mod:`ferrite.playback.ladder`) only read these values.

Vocabulary: codec names are ffmpeg's (``h264``, ``hevc``, ``vp9``, ``av1``, ``aac``, ``ac3``,
``eac3``, ``opus``, ``subrip``, ``hdmv_pgs_subtitle`` ...); common aliases are normalised
by :mod:`ferrite.media.codecnames`. Levels are ffmpeg's integers (H.264 ``41`` = 4.1, HEVC
``153`` = 5.1 i.e. 30 x level, AV1 ``seq_level_idx``). Profile names are compared case-
and punctuation-insensitively (``"Main 10"`` == ``"main10"``), and a decoder of a profile
also decodes the profiles it contains (an H.264 High decoder plays Main and Constrained
Baseline).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final, Literal

from ferrite.media.codecnames import (
    normalize_audio_codec,
    normalize_profile,
    normalize_video_codec,
)

HdrKind = Literal["hdr10", "hlg", "dolby_vision"]
HDR_KINDS: Final = frozenset({"hdr10", "hlg", "dolby_vision"})

# A decoder of the key also decodes every profile in the value (itself included).
_PROFILE_IMPLIES: Final[dict[str, dict[str, frozenset[str]]]] = {
    "h264": {
        "constrainedbaseline": frozenset({"constrainedbaseline"}),
        "baseline": frozenset({"baseline", "constrainedbaseline"}),
        "main": frozenset({"main", "constrainedbaseline"}),
        "high": frozenset({"high", "main", "constrainedbaseline"}),
        "high10": frozenset({"high10", "high", "main", "constrainedbaseline"}),
        "high422": frozenset({"high422", "high10", "high", "main", "constrainedbaseline"}),
    },
    "hevc": {
        "main": frozenset({"main", "mainstillpicture"}),
        "main10": frozenset({"main10", "main", "mainstillpicture"}),
    },
    "vp9": {"profile2": frozenset({"profile2", "profile0"})},
}


def expand_profiles(codec: str, profiles: Iterable[str]) -> frozenset[str]:
    """Canonical keys of ``profiles`` plus every profile their decoders also decode."""
    out: set[str] = set()
    implied = _PROFILE_IMPLIES.get(codec, {})
    for p in profiles:
        key = normalize_profile(codec, p)
        out |= implied.get(key, frozenset({key}))
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class VideoCaps:
    """What a device decodes of one video codec. ``None`` limits mean "no limit known"."""

    codec: str
    profiles: frozenset[str] | None = None  # canonical keys (see normalize_profile); None = any
    max_level: int | None = None  # ffmpeg integer level
    max_bit_depth: int = 8
    max_width: int | None = None
    max_height: int | None = None
    max_frame_rate: float | None = None
    hdr: frozenset[str] = frozenset()  # HDR kinds shown as HDR (or tone-mapped by the OS)

    def supports_profile(self, profile: str | None) -> bool:
        if self.profiles is None or not profile:
            return True
        return normalize_profile(self.codec, profile) in self.profiles


@dataclass(frozen=True, slots=True)
class AudioCaps:
    codec: str
    max_channels: int = 2


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    """Everything the playback decision needs to know about a client."""

    name: str
    #: Containers the client plays as a progressive file (direct play).
    containers: frozenset[str] = frozenset()
    video: tuple[VideoCaps, ...] = ()
    audio: tuple[AudioCaps, ...] = ()
    #: Subtitle formats the client renders itself (ffmpeg codec names; "webvtt" means it
    #: shows WebVTT text tracks / HLS subtitle renditions).
    subtitles: frozenset[str] = frozenset({"webvtt"})
    max_bitrate: int | None = None  # bits/s the client can take (its network/decoder)
    hls_fmp4: bool = True
    hls_ts: bool = True
    #: Whether the client can play a progressive file at all (HLS-only players can't).
    direct_play: bool = True
    #: Whether interlaced video is shown properly (deinterlaced by the device).
    interlaced: bool = False
    description: str = field(default="", compare=False)

    def video_caps(self, codec: str) -> VideoCaps | None:
        codec = normalize_video_codec(codec)
        return next((c for c in self.video if c.codec == codec), None)

    def audio_caps(self, codec: str) -> AudioCaps | None:
        codec = normalize_audio_codec(codec)
        return next((c for c in self.audio if c.codec == codec), None)

    @property
    def hls(self) -> bool:
        return self.hls_fmp4 or self.hls_ts

    def to_dict(self) -> dict[str, object]:
        """The capabilities-object form
        :func:`~ferrite.playback.capabilities.profile_from_dict` reads back."""
        return {
            "name": self.name,
            "containers": sorted(self.containers),
            "direct_play": self.direct_play,
            "video": [
                {
                    "codec": v.codec,
                    "profiles": None if v.profiles is None else sorted(v.profiles),
                    "max_level": v.max_level,
                    "max_bit_depth": v.max_bit_depth,
                    "max_width": v.max_width,
                    "max_height": v.max_height,
                    "max_frame_rate": v.max_frame_rate,
                    "hdr": sorted(v.hdr),
                }
                for v in self.video
            ],
            "audio": [{"codec": a.codec, "max_channels": a.max_channels} for a in self.audio],
            "subtitles": sorted(self.subtitles),
            "max_bitrate": self.max_bitrate,
            "hls": [m for m, on in (("fmp4", self.hls_fmp4), ("ts", self.hls_ts)) if on],
            "interlaced": self.interlaced,
        }
