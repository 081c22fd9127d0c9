"""Codec, container and profile names as ffmpeg spells them, from the aliases clients send.

Vocabulary shared by the device profiles, the decision, the ladder and the Jellyfin
profile translation: ``avc`` -> ``h264``, ``e-ac-3`` -> ``eac3``, ``srt`` -> ``subrip``,
``"mov,mp4,m4a,..."`` -> ``mp4``, ``"Main 10"`` -> ``main10``, human levels to ffmpeg's
integers. Pure.
"""

from __future__ import annotations

import math
import re
from typing import Final

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


def level_from_human(codec: str, level: float) -> int:
    """``("h264", 4.1) -> 41``, ``("hevc", 5.1) -> 153``, ``("av1", 5.1) -> 13``."""
    if codec == "hevc":
        return round(level * 30)
    if codec == "av1":
        major = math.floor(level + 1e-9)
        minor = round((level - major) * 10)
        return (major - 2) * 4 + minor
    return round(level * 10)
