"""Device profiles: what a client can decode, display and download, as plain frozen values.

A :class:`DeviceProfile` is either one of the named built-ins (:data:`BUILTIN_PROFILES`,
looked up with :func:`get_profile`) or an explicit capabilities object sent by a client
(``POST /api/playback {"device": {...}}``) and validated by :func:`profile_from_dict`.
The decision engine (:mod:`ferrite.playback.decision`) and the ABR ladder
(:mod:`ferrite.transcode.ladder`) only read these values.

Vocabulary: codec names are ffmpeg's (``h264``, ``hevc``, ``vp9``, ``av1``, ``aac``, ``ac3``,
``eac3``, ``opus``, ``subrip``, ``hdmv_pgs_subtitle`` ...); common aliases (``avc``,
``h265``, ``e-ac-3``, ``srt``, ``pgs`` ...) are accepted on input and normalised. Levels
are ffmpeg's integers (H.264 ``41`` = 4.1, HEVC ``153`` = 5.1 i.e. 30 x level, AV1
``seq_level_idx``); on input a human level (``"5.1"`` or a number below 10) is converted.
Profile names are compared case- and punctuation-insensitively (``"Main 10"`` ==
``"main10"``), and a decoder of a profile also decodes the profiles it contains (an H.264
High decoder plays Main and Constrained Baseline).

The built-ins are deliberately conservative: a wrong "yes" means a black screen or no
sound, a wrong "no" only costs a remux or a transcode. Where a capability depends on the
hardware (HEVC in Chrome, HDR on an SDR monitor), it is left out and the client can send
an explicit capabilities object instead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from ferrite.errors import BadRequest, Unprocessable

HdrKind = Literal["hdr10", "hlg", "dolby_vision"]
HDR_KINDS: Final = frozenset({"hdr10", "hlg", "dolby_vision"})

_VIDEO_ALIASES: Final = {
    "avc": "h264", "avc1": "h264", "h.264": "h264", "x264": "h264",
    "h265": "hevc", "h.265": "hevc", "hvc1": "hevc", "hev1": "hevc", "x265": "hevc",
    "av01": "av1", "vp09": "vp9", "vp08": "vp8",
    "mpeg2": "mpeg2video", "mpeg-2": "mpeg2video", "mp2v": "mpeg2video",
    "mpeg4": "mpeg4", "xvid": "mpeg4", "divx": "mpeg4",
}  # fmt: skip
_AUDIO_ALIASES: Final = {
    "mp4a": "aac", "aac-lc": "aac", "he-aac": "aac",
    "ac-3": "ac3", "e-ac-3": "eac3", "ec-3": "eac3", "ec3": "eac3", "dd": "ac3", "ddp": "eac3",
    "dca": "dts", "mp3float": "mp3", "mpeg3": "mp3", "ogg": "vorbis",
}  # fmt: skip
_SUBTITLE_ALIASES: Final = {
    "vtt": "webvtt", "srt": "subrip", "ssa": "ass", "tx3g": "mov_text",
    "pgs": "hdmv_pgs_subtitle", "pgssub": "hdmv_pgs_subtitle", "sup": "hdmv_pgs_subtitle",
    "vobsub": "dvd_subtitle", "dvdsub": "dvd_subtitle", "dvbsub": "dvb_subtitle",
}  # fmt: skip
_CONTAINER_ALIASES: Final = {
    "mov": "mp4", "m4v": "mp4", "m4a": "mp4", "3gp": "mp4", "3g2": "mp4", "mj2": "mp4",
    "mkv": "matroska", "mka": "matroska", "ts": "mpegts", "m2ts": "mpegts", "mts": "mpegts",
    "ogv": "ogg", "oga": "ogg",
}  # fmt: skip

_NAME_RE: Final = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,63}$")


def normalize_video_codec(name: str) -> str:
    n = name.strip().lower()
    return _VIDEO_ALIASES.get(n, n)


def normalize_audio_codec(name: str) -> str:
    n = name.strip().lower()
    if n.startswith("pcm_"):
        return n
    return _AUDIO_ALIASES.get(n, n)


def normalize_subtitle_format(name: str) -> str:
    n = name.strip().lower()
    return _SUBTITLE_ALIASES.get(n, n)


def normalize_container(name: str) -> str:
    """ffmpeg's demuxer names list aliases (``"mov,mp4,m4a,3gp,3g2,mj2"``,
    ``"matroska,webm"``): take the first one, so a Matroska file is never mistaken for
    WebM just because the demuxer is shared."""
    first = name.strip().lower().split(",")[0].strip()
    return _CONTAINER_ALIASES.get(first, first)


def normalize_profile(codec: str, profile: str) -> str:
    """Canonical profile key: lowercase letters and digits only (``"Main 10"`` ->
    ``"main10"``). Bare numbers mean VP9's ``"Profile N"`` and AV1's seq_profile."""
    key = re.sub(r"[^a-z0-9]", "", profile.lower())
    if key.isdigit():
        if codec == "vp9":
            return "profile" + key
        if codec == "av1":
            return {"0": "main", "1": "high", "2": "professional"}.get(key, key)
    return key


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


def _expand_profiles(codec: str, profiles: Iterable[str]) -> frozenset[str]:
    out: set[str] = set()
    implied = _PROFILE_IMPLIES.get(codec, {})
    for p in profiles:
        key = normalize_profile(codec, p)
        out |= implied.get(key, frozenset({key}))
    return frozenset(out)


def level_from_human(codec: str, level: float) -> int:
    """``("h264", 4.1) -> 41``, ``("hevc", 5.1) -> 153``, ``("av1", 5.1) -> 13``."""
    if codec == "hevc":
        return round(level * 30)
    if codec == "av1":
        major = math.floor(level + 1e-9)
        minor = round((level - major) * 10)
        return (major - 2) * 4 + minor
    return round(level * 10)


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
        """The capabilities-object form :func:`profile_from_dict` reads back."""
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


# --- built-ins ---------------------------------------------------------------------------

_H264_ALL: Final = ("high", "main", "constrainedbaseline", "baseline")
_HDR_ALL: Final = frozenset({"hdr10", "hlg", "dolby_vision"})


def _v(
    codec: str,
    profiles: Iterable[str] | None = None,
    level: float | None = None,
    *,
    bit_depth: int = 8,
    max_width: int | None = 3840,
    max_height: int | None = 2160,
    fps: float | None = 60.0,
    hdr: Iterable[str] = (),
) -> VideoCaps:
    return VideoCaps(
        codec=codec,
        profiles=None if profiles is None else _expand_profiles(codec, profiles),
        max_level=None if level is None else level_from_human(codec, level),
        max_bit_depth=bit_depth,
        max_width=max_width,
        max_height=max_height,
        max_frame_rate=fps,
        hdr=frozenset(hdr),
    )


def _a(**channels: int) -> tuple[AudioCaps, ...]:
    return tuple(AudioCaps(codec, n) for codec, n in channels.items())


# Browsers (hls.js on MSE; https://developer.mozilla.org/en-US/docs/Web/Media/Formats):
# H.264 8-bit only (no High 10 in any browser), VP9 profiles 0 and 2, AV1 Main. HEVC only
# with hardware support (Chrome 107+, Edge) so it is not assumed; no AC-3/E-AC-3 decoder
# ships in Chrome or Firefox. Audio is limited to stereo: browsers downmix multichannel
# badly (no centre-channel boost) and most web players are on stereo outputs, so the
# server's downmix is the better one. HDR depends on the monitor: not assumed (tone-map).
_BROWSER_AUDIO: Final = _a(aac=2, mp3=2, opus=2, flac=2, vorbis=2)

CHROME = DeviceProfile(
    name="chrome",
    description="Chrome/Chromium/Edge desktop with hls.js (MSE)",
    containers=frozenset({"mp4", "webm"}),
    video=(
        _v("h264", _H264_ALL, 5.2, max_width=4096, max_height=2304),
        _v("vp9", ("profile0", "profile2"), bit_depth=10),
        _v("av1", ("main",), bit_depth=10),
        _v("vp8", max_width=1920, max_height=1080),
    ),
    audio=_BROWSER_AUDIO,
    subtitles=frozenset({"webvtt"}),
    hls_fmp4=True,
    hls_ts=True,  # hls.js transmuxes TS (H.264/AAC/MP3) to fMP4
)

FIREFOX = DeviceProfile(
    name="firefox",
    description="Firefox desktop with hls.js (MSE)",
    containers=frozenset({"mp4", "webm", "ogg"}),
    video=(
        _v("h264", _H264_ALL, 5.2, max_width=4096, max_height=2304),
        _v("vp9", ("profile0", "profile2"), bit_depth=10),
        _v("av1", ("main",), bit_depth=10),
        _v("vp8", max_width=1920, max_height=1080),
    ),
    audio=_BROWSER_AUDIO,
    subtitles=frozenset({"webvtt"}),
)

# Apple (https://developer.apple.com/documentation/http-live-streaming/hls-authoring-specification-for-apple-devices):
# native HLS with fMP4 and TS, H.264 High up to 5.2, HEVC Main/Main 10 (all current
# hardware), HDR10/HLG/Dolby Vision (the OS tone-maps on SDR screens), AC-3/E-AC-3 5.1
# and 7.1 E-AC-3 passthrough, FLAC/ALAC. VP9/AV1 only on recent hardware: not assumed.
_APPLE_AUDIO: Final = _a(aac=6, mp3=2, ac3=6, eac3=8, flac=8, alac=8)

SAFARI = DeviceProfile(
    name="safari",
    description="Safari on macOS (native HLS)",
    containers=frozenset({"mp4"}),
    video=(
        _v("h264", _H264_ALL, 5.2, max_width=4096, max_height=2304),
        _v("hevc", ("main", "main10"), 5.1, bit_depth=10, hdr=("hdr10", "hlg")),
    ),
    audio=_a(aac=6, mp3=2, ac3=6, eac3=6, flac=2, alac=2),
    subtitles=frozenset({"webvtt"}),
)

IOS = DeviceProfile(
    name="ios",
    description="iPhone/iPad (AVPlayer, native HLS)",
    containers=frozenset({"mp4"}),
    video=(
        _v("h264", _H264_ALL, 5.2, max_width=4096, max_height=2304),
        _v("hevc", ("main", "main10"), 5.1, bit_depth=10, hdr=_HDR_ALL),
    ),
    audio=_a(aac=6, mp3=2, ac3=6, eac3=6, flac=2, alac=2),
    subtitles=frozenset({"webvtt"}),
)

TVOS = DeviceProfile(
    name="tvos",
    description="Apple TV 4K (AVPlayer, native HLS)",
    containers=frozenset({"mp4"}),
    video=(
        _v("h264", _H264_ALL, 5.2, max_width=4096, max_height=2304),
        _v("hevc", ("main", "main10"), 5.2, bit_depth=10, hdr=_HDR_ALL),
    ),
    audio=_APPLE_AUDIO,
    subtitles=frozenset({"webvtt"}),
    max_bitrate=None,
)

# Android phones (Media3/ExoPlayer, https://developer.android.com/media/media3/exoplayer/supported-formats):
# MP4/Matroska/WebM/TS progressive, H.264 High (level 5.1 is what mid-range SoCs
# guarantee), HEVC Main 10 and VP9 profile 2 on nearly every device since 2017, AV1 only
# on recent SoCs. HDR display varies: not assumed. AC-3 decoding is device-specific: no.
# ExoPlayer renders SubRip, SSA/ASS (basic), WebVTT, PGS and DVB itself.
_EXO_SUBTITLES: Final = frozenset(
    {"webvtt", "subrip", "ass", "mov_text", "hdmv_pgs_subtitle", "dvb_subtitle"}
)

ANDROID = DeviceProfile(
    name="android",
    description="Android phone/tablet (Media3/ExoPlayer)",
    containers=frozenset({"mp4", "matroska", "webm", "mpegts"}),
    video=(
        _v("h264", _H264_ALL, 5.1),
        _v("hevc", ("main", "main10"), 5.1, bit_depth=10),
        _v("vp9", ("profile0", "profile2"), bit_depth=10),
    ),
    audio=_a(aac=6, mp3=2, opus=2, vorbis=2, flac=2),
    subtitles=_EXO_SUBTITLES,
)

# Android TV / Google TV boxes (Shield, Chromecast with Google TV 4K): HDR10/HLG out to the
# TV, AC-3/E-AC-3 passthrough over HDMI, hardware deinterlacing. Dolby Vision and DTS are
# device-specific: not assumed.
ANDROIDTV = DeviceProfile(
    name="androidtv",
    description="Android TV / Google TV (Media3/ExoPlayer)",
    containers=frozenset({"mp4", "matroska", "webm", "mpegts"}),
    video=(
        _v("h264", _H264_ALL, 5.1),
        _v("hevc", ("main", "main10"), 5.1, bit_depth=10, hdr=("hdr10", "hlg")),
        _v("vp9", ("profile0", "profile2"), bit_depth=10, hdr=("hdr10",)),
    ),
    audio=_a(aac=6, mp3=2, opus=2, vorbis=2, flac=6, ac3=6, eac3=8),
    subtitles=_EXO_SUBTITLES,
    interlaced=True,
)

# Roku (https://developer.roku.com/docs/specs/media/streaming-specifications.md): H.264
# High 5.1 and HEVC Main/Main 10 5.1 on 4K models, MP4/MKV/MOV/TS, AC-3/E-AC-3
# passthrough, AAC decoded to stereo. HLS is served as TS: fMP4 works only on recent
# Roku OS builds and only for some codecs.
ROKU = DeviceProfile(
    name="roku",
    description="Roku 4K players and TVs",
    containers=frozenset({"mp4", "matroska", "mpegts"}),
    video=(
        _v("h264", _H264_ALL, 5.1),
        _v("hevc", ("main", "main10"), 5.1, bit_depth=10, hdr=("hdr10", "hlg")),
    ),
    audio=_a(aac=2, mp3=2, flac=2, ac3=6, eac3=6),
    subtitles=frozenset({"webvtt", "subrip"}),
    hls_fmp4=False,
    hls_ts=True,
    interlaced=True,
)

# LG webOS 5+ (https://webostv.developer.lge.com/develop/specifications/video-audio-250):
# H.264 5.1, HEVC Main 10 5.1, VP9 profile 2 (2019+), HDR10/HLG/Dolby Vision panels,
# AC-3/E-AC-3, TS/MP4/MKV/WebM progressive, HLS fMP4 and TS.
WEBOS = DeviceProfile(
    name="webos",
    description="LG webOS TV",
    containers=frozenset({"mp4", "matroska", "webm", "mpegts"}),
    video=(
        _v("h264", _H264_ALL, 5.1),
        _v("hevc", ("main", "main10"), 5.1, bit_depth=10, hdr=_HDR_ALL),
        _v("vp9", ("profile0", "profile2"), bit_depth=10, hdr=("hdr10", "hlg")),
    ),
    audio=_a(aac=6, mp3=2, ac3=6, eac3=6, opus=2, vorbis=2, flac=2),
    subtitles=frozenset({"webvtt", "subrip"}),
    interlaced=True,
)

# Samsung Tizen 2019+ (https://developer.samsung.com/smarttv/develop/specifications/media-specifications.html):
# H.264 5.1, HEVC Main 10 5.1, VP9 profile 2, AV1 on 2020+ models (not assumed), HDR10
# and HLG (HDR10+ rides on HDR10; Samsung has no Dolby Vision), AC-3/E-AC-3.
TIZEN = DeviceProfile(
    name="tizen",
    description="Samsung Tizen TV",
    containers=frozenset({"mp4", "matroska", "webm", "mpegts"}),
    video=(
        _v("h264", _H264_ALL, 5.1),
        _v("hevc", ("main", "main10"), 5.1, bit_depth=10, hdr=("hdr10", "hlg")),
        _v("vp9", ("profile0", "profile2"), bit_depth=10, hdr=("hdr10",)),
    ),
    audio=_a(aac=6, mp3=2, ac3=6, eac3=6, opus=2, vorbis=2, flac=2),
    subtitles=frozenset({"webvtt", "subrip"}),
    interlaced=True,
)

# The lowest common denominator of HLS players (old set-top boxes, casting receivers,
# players that only take an m3u8): H.264 High 4.1 1080p, AAC stereo, MPEG-TS segments.
GENERIC_HLS = DeviceProfile(
    name="generic-hls",
    description="Any HLS player: H.264 High 4.1 / AAC stereo in MPEG-TS",
    containers=frozenset(),
    video=(_v("h264", _H264_ALL, 4.1, max_width=1920, max_height=1080),),
    audio=_a(aac=2, mp3=2),
    subtitles=frozenset({"webvtt"}),
    hls_fmp4=False,
    hls_ts=True,
    direct_play=False,
)

BUILTIN_PROFILES: Final[Mapping[str, DeviceProfile]] = {
    p.name: p
    for p in (
        CHROME,
        FIREFOX,
        SAFARI,
        IOS,
        ANDROID,
        ANDROIDTV,
        TVOS,
        ROKU,
        WEBOS,
        TIZEN,
        GENERIC_HLS,
    )
}


def get_profile(name: str) -> DeviceProfile:
    """A built-in profile by name; ``Unprocessable`` names the known ones."""
    try:
        return BUILTIN_PROFILES[name.strip().lower()]
    except KeyError:
        known = ", ".join(BUILTIN_PROFILES)
        raise Unprocessable(f"device: unknown profile {name[:40]!r}; known: {known}") from None


def resolve_device(device: object) -> DeviceProfile:
    """The API's ``device`` field: a built-in profile name or a capabilities object."""
    if isinstance(device, str):
        return get_profile(device)
    if isinstance(device, Mapping):
        return profile_from_dict(device)
    raise BadRequest("device: expected a profile name or a capabilities object")


# --- explicit capabilities objects -------------------------------------------------------

_TOP_KEYS: Final = frozenset(
    {
        "name",
        "containers",
        "direct_play",
        "video",
        "audio",
        "subtitles",
        "max_bitrate",
        "hls",
        "interlaced",
    }
)
_VIDEO_KEYS: Final = frozenset(
    {
        "codec",
        "profiles",
        "max_level",
        "max_bit_depth",
        "max_width",
        "max_height",
        "max_frame_rate",
        "hdr",
    }
)
_AUDIO_KEYS: Final = frozenset({"codec", "max_channels"})
_MAX_ITEMS: Final = 64
_HDR_ALIASES: Final = {
    "dv": "dolby_vision",
    "dolbyvision": "dolby_vision",
    "pq": "hdr10",
    "hdr10+": "hdr10",
    "hdr10plus": "hdr10",
}


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _str(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"{where}: expected a string, got {_type_name(value)}")
    if not value.strip():
        raise Unprocessable(f"{where}: must not be empty")
    return value


def _name(value: object, where: str) -> str:
    text = _str(value, where).strip().lower()
    if not _NAME_RE.match(text):
        raise Unprocessable(f"{where}: {text[:40]!r} is not a valid name")
    return text


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise BadRequest(f"{where}: expected true or false, got {_type_name(value)}")
    return value


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(f"{where}: expected a number, got {_type_name(value)}")
    if not math.isfinite(value):
        raise Unprocessable(f"{where}: must be a finite number")
    return float(value)


def _positive_int(value: object, where: str, *, optional: bool = True) -> int | None:
    if value is None and optional:
        return None
    number = _number(value, where)
    if number != int(number) or number <= 0:
        raise Unprocessable(f"{where}: must be a positive whole number, got {value!r}")
    return int(number)


def _list(value: object, where: str) -> list[object]:
    if not isinstance(value, list | tuple):
        raise BadRequest(f"{where}: expected a list, got {_type_name(value)}")
    if len(value) > _MAX_ITEMS:
        raise Unprocessable(f"{where}: at most {_MAX_ITEMS} entries")
    return list(value)


def _mapping(value: object, where: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise BadRequest(f"{where}: expected an object, got {_type_name(value)}")
    for key in value:
        if not isinstance(key, str):
            raise BadRequest(f"{where}: keys must be strings")
    return value


def _check_keys(obj: Mapping[str, object], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        prefix = f"{where}." if where else ""
        allowed_list = ", ".join(sorted(allowed))
        raise Unprocessable(f"{prefix}{unknown[0]}: unknown field (allowed: {allowed_list})")


def _entries(value: object, where: str, scalar_key: str) -> list[tuple[str, Mapping[str, object]]]:
    """``[{"codec": "h264", ...}]`` or ``{"h264": {...}}`` (or ``{"aac": 6}`` for audio)."""
    out: list[tuple[str, Mapping[str, object]]] = []
    if isinstance(value, Mapping):
        obj = _mapping(value, where)
        if len(obj) > _MAX_ITEMS:
            raise Unprocessable(f"{where}: at most {_MAX_ITEMS} entries")
        for codec, spec in obj.items():
            sub = f"{where}.{codec}"
            if isinstance(spec, Mapping):
                out.append((sub, {"codec": codec, **_mapping(spec, sub)}))
            elif spec is None or spec is True:
                out.append((sub, {"codec": codec}))
            else:
                out.append((sub, {"codec": codec, scalar_key: spec}))
        return out
    for i, item in enumerate(_list(value, where)):
        sub = f"{where}[{i}]"
        if isinstance(item, str):
            out.append((sub, {"codec": item}))
        else:
            out.append((sub, _mapping(item, sub)))
    return out


def _level(codec: str, value: object, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise Unprocessable(f'{where}: {value[:20]!r} is not a level like "4.1"') from None
        human = True
    else:
        number = _number(value, where)
        human = number < 10 or number != int(number)
    if number <= 0:
        raise Unprocessable(f"{where}: must be positive")
    return level_from_human(codec, number) if human else int(number)


def _video_caps(obj: Mapping[str, object], where: str) -> VideoCaps:
    _check_keys(obj, _VIDEO_KEYS, where)
    if "codec" not in obj:
        raise Unprocessable(f"{where}.codec: required")
    codec = normalize_video_codec(_name(obj["codec"], f"{where}.codec"))
    profiles: frozenset[str] | None = None
    if obj.get("profiles") is not None:
        items = _list(obj["profiles"], f"{where}.profiles")
        names = [_str(p, f"{where}.profiles[{i}]") for i, p in enumerate(items)]
        profiles = _expand_profiles(codec, names)
    depth = _positive_int(obj.get("max_bit_depth", 8), f"{where}.max_bit_depth") or 8
    if depth not in (8, 10, 12):
        raise Unprocessable(f"{where}.max_bit_depth: must be 8, 10 or 12")
    fps = None
    if obj.get("max_frame_rate") is not None:
        fps = _number(obj["max_frame_rate"], f"{where}.max_frame_rate")
        if fps <= 0:
            raise Unprocessable(f"{where}.max_frame_rate: must be positive")
    hdr: set[str] = set()
    for i, kind in enumerate(_list(obj.get("hdr") or [], f"{where}.hdr")):
        k = _str(kind, f"{where}.hdr[{i}]").strip().lower().replace("-", "_")
        k = _HDR_ALIASES.get(k, k)
        if k == "none":
            continue
        if k not in HDR_KINDS:
            raise Unprocessable(
                f"{where}.hdr[{i}]: unknown HDR kind {kind!r} (hdr10, hlg, dolby_vision)"
            )
        hdr.add(k)
    return VideoCaps(
        codec=codec,
        profiles=profiles,
        max_level=_level(codec, obj.get("max_level"), f"{where}.max_level"),
        max_bit_depth=depth,
        max_width=_positive_int(obj.get("max_width"), f"{where}.max_width"),
        max_height=_positive_int(obj.get("max_height"), f"{where}.max_height"),
        max_frame_rate=fps,
        hdr=frozenset(hdr),
    )


def _audio_caps(obj: Mapping[str, object], where: str) -> AudioCaps:
    _check_keys(obj, _AUDIO_KEYS, where)
    if "codec" not in obj:
        raise Unprocessable(f"{where}.codec: required")
    codec = normalize_audio_codec(_name(obj["codec"], f"{where}.codec"))
    channels = _positive_int(obj.get("max_channels", 2), f"{where}.max_channels") or 2
    if channels > 32:
        raise Unprocessable(f"{where}.max_channels: at most 32")
    return AudioCaps(codec, channels)


def profile_from_dict(obj: object) -> DeviceProfile:
    """Validate an explicit capabilities object from the API.

    Shape (every field optional except that something must be playable)::

        {"name": "my-tv", "containers": ["mp4", "matroska"], "direct_play": true,
         "video": [{"codec": "h264", "profiles": ["high"], "max_level": "5.1",
                    "max_bit_depth": 8, "max_width": 3840, "max_height": 2160,
                    "max_frame_rate": 60, "hdr": ["hdr10"]}],
         "audio": [{"codec": "aac", "max_channels": 6}] | {"aac": 6, "ac3": 6},
         "subtitles": ["webvtt", "srt"], "max_bitrate": 20000000,
         "hls": ["fmp4", "ts"] | {"fmp4": true, "ts": false} | false,
         "interlaced": false}

    Wrong JSON types raise ``BadRequest``; well-typed but invalid values raise
    ``Unprocessable``; both messages start with the path of the bad field.
    """
    top = _mapping(obj, "device")
    _check_keys(top, _TOP_KEYS, "device")
    name = _name(top.get("name", "custom"), "device.name")
    containers = frozenset(
        normalize_container(_name(c, f"device.containers[{i}]"))
        for i, c in enumerate(_list(top.get("containers") or [], "device.containers"))
    )
    video_entries = _entries(top.get("video") or [], "device.video", "max_level")
    audio_entries = _entries(top.get("audio") or [], "device.audio", "max_channels")
    video = tuple(_video_caps(o, w) for w, o in video_entries)
    audio = tuple(_audio_caps(o, w) for w, o in audio_entries)
    for kind, caps in (("video", [v.codec for v in video]), ("audio", [a.codec for a in audio])):
        dupes = {c for c in caps if caps.count(c) > 1}
        if dupes:
            raise Unprocessable(f"device.{kind}: codec {sorted(dupes)[0]!r} listed twice")
    subtitles = frozenset(
        normalize_subtitle_format(_name(s, f"device.subtitles[{i}]"))
        for i, s in enumerate(_list(top.get("subtitles", ["webvtt"]) or [], "device.subtitles"))
    )
    max_bitrate = _positive_int(top.get("max_bitrate"), "device.max_bitrate")
    if max_bitrate is not None and max_bitrate < 64_000:
        raise Unprocessable("device.max_bitrate: at least 64000 bits/s")
    hls_fmp4, hls_ts = _hls(top.get("hls", ["fmp4", "ts"]))
    direct_play = _bool(top.get("direct_play", True), "device.direct_play")
    interlaced = _bool(top.get("interlaced", False), "device.interlaced")
    if not video and not audio:
        raise Unprocessable("device: lists no video and no audio codecs; nothing could play")
    if not direct_play and not (hls_fmp4 or hls_ts):
        raise Unprocessable("device.hls: without direct play the device must take HLS (fmp4/ts)")
    return DeviceProfile(
        name=name,
        containers=containers,
        video=video,
        audio=audio,
        subtitles=subtitles,
        max_bitrate=max_bitrate,
        hls_fmp4=hls_fmp4,
        hls_ts=hls_ts,
        direct_play=direct_play,
        interlaced=interlaced,
    )


def _hls(value: object) -> tuple[bool, bool]:
    if isinstance(value, bool):
        return value, value
    if isinstance(value, Mapping):
        obj = _mapping(value, "device.hls")
        _check_keys(obj, frozenset({"fmp4", "ts"}), "device.hls")
        return (
            _bool(obj.get("fmp4", False), "device.hls.fmp4"),
            _bool(obj.get("ts", False), "device.hls.ts"),
        )
    modes: set[str] = set()
    for i, m in enumerate(_list(value, "device.hls")):
        mode = _str(m, f"device.hls[{i}]").strip().lower()
        mode = {"cmaf": "fmp4", "mp4": "fmp4", "mpegts": "ts"}.get(mode, mode)
        if mode not in ("fmp4", "ts"):
            raise Unprocessable(f"device.hls[{i}]: unknown segment format {m!r} (fmp4, ts)")
        modes.add(mode)
    return "fmp4" in modes, "ts" in modes
