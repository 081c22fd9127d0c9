"""The built-in device profiles: what each family of clients decodes, as a table of values.

The table is a Python module of plain declarations rather than a JSON/TOML file loaded at
import: every entry keeps, right above it, the comment citing the vendor's spec it comes
from and why a capability is left out; mypy checks each entry against
:class:`~ferrite.playback.profiles.DeviceProfile`; and nothing is read from disk (this
module stays pure, and no data file has to be shipped in the wheel).

The built-ins are deliberately conservative: a wrong "yes" means a black screen or no
sound, a wrong "no" only costs a remux or a transcode. Where a capability depends on the
hardware (HEVC in Chrome, HDR on an SDR monitor), it is left out and the client can send
an explicit capabilities object instead (:mod:`ferrite.playback.capabilities`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from ferrite.errors import Unprocessable
from ferrite.media.codecnames import level_from_human
from ferrite.playback.profiles import AudioCaps, DeviceProfile, VideoCaps, expand_profiles

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
        profiles=None if profiles is None else expand_profiles(codec, profiles),
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
