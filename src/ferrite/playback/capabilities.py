"""Explicit capabilities objects: a client's own description of what it plays, validated.

``POST /api/playback {"device": {...}}`` (and the Jellyfin ``DeviceProfile`` translation)
send a JSON object instead of a built-in profile name; :func:`profile_from_dict` checks
every field and builds the :class:`~ferrite.playback.profiles.DeviceProfile`, and
:func:`resolve_device` takes either form. Wrong JSON types raise ``BadRequest``,
well-typed but invalid values ``Unprocessable``, each message starting with the field's
path. Pure.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Final

from ferrite.errors import BadRequest, Unprocessable
from ferrite.media.codecnames import (
    level_from_human,
    normalize_audio_codec,
    normalize_container,
    normalize_subtitle_format,
    normalize_video_codec,
)
from ferrite.playback.devices import get_profile
from ferrite.playback.profiles import (
    HDR_KINDS,
    AudioCaps,
    DeviceProfile,
    VideoCaps,
    expand_profiles,
)

_NAME_RE: Final = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,63}$")


def resolve_device(device: object) -> DeviceProfile:
    """The API's ``device`` field: a built-in profile name or a capabilities object."""
    if isinstance(device, str):
        return get_profile(device)
    if isinstance(device, Mapping):
        return profile_from_dict(device)
    raise BadRequest("device: expected a profile name or a capabilities object")


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
        profiles = expand_profiles(codec, names)
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
