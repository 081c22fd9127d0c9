"""A Jellyfin ``DeviceProfile`` translated into a Ferrite capabilities object.

Pure. Ferrite's decision engine (:mod:`ferrite.playback.decision`) then decides direct
play, remux or transcode exactly as for its own clients; :func:`capabilities` only says
what the device can take, in :func:`ferrite.playback.capabilities.profile_from_dict`'s shape.

What is read (keys matched case-insensitively):

- ``DirectPlayProfiles`` of ``Type`` Video: containers the device plays as a file, and
  their video/audio codecs; no such profile means no direct play.
- ``TranscodingProfiles`` of ``Type`` Video: with ``Protocol`` hls, the segment format
  (``ts`` -> MPEG-TS, ``mp4``/``fmp4`` -> fMP4) and more codecs the device decodes inside
  HLS. Without an HLS profile the device gets a progressive stream instead.
- ``CodecProfiles`` of ``Type`` Video (conditions ``VideoLevel``, ``VideoProfile``,
  ``VideoBitDepth``, ``Width``, ``Height``, ``VideoFramerate``, ``VideoRangeType``) and
  ``VideoAudio``/``Audio`` (``AudioChannels``), with ``LessThanEqual``/``EqualsAny``/
  ``Equals``. Other conditions are ignored (documented in docs/jellyfin.md).
- ``SubtitleProfiles``: formats the device renders itself.
- ``MaxStreamingBitrate`` (and ``MaxStaticBitrate``): the bitrate cap.

Approximation: Jellyfin pairs codecs with containers per profile; Ferrite's capability
model has one codec list for the device, so the union is used. HDR is assumed only when
``VideoRangeType`` says so (Ferrite's rule: a wrong "no" costs a transcode, a wrong "yes"
a washed-out picture).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ferrite.errors import BadRequest
from ferrite.media.codecnames import normalize_audio_codec, normalize_video_codec

_CONTAINERS: Final = {"mkv": "matroska", "m4v": "mp4", "mov": "mp4", "ts": "mpegts"}
_HDR: Final = {
    "hdr10": "hdr10",
    "hdr10plus": "hdr10",
    "hlg": "hlg",
    "dovi": "dolby_vision",
    "doviwithhdr10": "dolby_vision",
    "doviwithhlg": "dolby_vision",
    "doviwithsdr": "dolby_vision",
    "doviwithhdr10plus": "dolby_vision",
}
_SUBTITLE_METHODS: Final = frozenset({"external", "hls", "embed"})
_MAX_LIST: Final = 200


def _fold(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise BadRequest(f"DeviceProfile: {where} must be an object.")
    return {str(k).lower(): v for k, v in value.items()}


def _list(value: object, where: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > _MAX_LIST:
        raise BadRequest(f"DeviceProfile: {where} must be a list (at most {_MAX_LIST}).")
    return [_fold(v, f"{where}[{i}]") for i, v in enumerate(value)]


def _names(value: object, where: str) -> list[str]:
    if value is None or value == "":
        return []
    if not isinstance(value, str) or len(value) > 2000:
        raise BadRequest(f"DeviceProfile: {where} must be a comma-separated string.")
    return [p.strip().lower() for p in value.split(",") if p.strip()]


def _int(value: object, where: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadRequest(f"DeviceProfile: {where} must be a number.")
    try:
        number = float(str(value).strip())
    except ValueError:
        raise BadRequest(f"DeviceProfile: {where} must be a number, not {value!r:.30}.") from None
    if number != number or number < 0 or number > 10**12:  # NaN, negative, absurd
        raise BadRequest(f"DeviceProfile: {where} is out of range.")
    return int(number)


def _container(name: str) -> str:
    return _CONTAINERS.get(name, name)


def capabilities(profile: object, *, name: str = "jellyfin") -> dict[str, Any]:
    """The Ferrite capabilities object for a Jellyfin ``DeviceProfile``; 400 if malformed."""
    top = _fold(profile, "the profile")
    containers: set[str] = set()
    video: dict[str, dict[str, Any]] = {}
    audio: dict[str, dict[str, Any]] = {}
    direct = False
    for i, dp in enumerate(_list(top.get("directplayprofiles"), "DirectPlayProfiles")):
        if str(dp.get("type", "Video")).lower() != "video":
            continue
        direct = True
        containers.update(_container(c) for c in _names(dp.get("container"), f"[{i}].Container"))
        for codec in _names(dp.get("videocodec"), f"DirectPlayProfiles[{i}].VideoCodec"):
            _add(video, normalize_video_codec(codec))
        for codec in _names(dp.get("audiocodec"), f"DirectPlayProfiles[{i}].AudioCodec"):
            _add(audio, normalize_audio_codec(codec))
    hls: set[str] = set()
    for i, tp in enumerate(_list(top.get("transcodingprofiles"), "TranscodingProfiles")):
        if str(tp.get("type", "Video")).lower() != "video":
            continue
        for codec in _names(tp.get("videocodec"), f"TranscodingProfiles[{i}].VideoCodec"):
            _add(video, normalize_video_codec(codec))
        for codec in _names(tp.get("audiocodec"), f"TranscodingProfiles[{i}].AudioCodec"):
            _add(audio, normalize_audio_codec(codec))
        if str(tp.get("protocol", "")).lower() == "hls":
            container = str(tp.get("container", "ts")).lower()
            hls.add("fmp4" if container in ("mp4", "fmp4", "m4s") else "ts")
        channels = _int(tp.get("maxaudiochannels"), f"TranscodingProfiles[{i}].MaxAudioChannels")
        if channels:
            for spec in audio.values():
                spec.setdefault("max_channels", channels)
    for i, cp in enumerate(_list(top.get("codecprofiles"), "CodecProfiles")):
        kind = str(cp.get("type", "")).lower()
        names = _names(cp.get("codec"), f"CodecProfiles[{i}].Codec")
        conditions = _list(cp.get("conditions"), f"CodecProfiles[{i}].Conditions")
        if kind == "video":
            codecs = [normalize_video_codec(n) for n in names]
            targets = [video[c] for c in codecs if c in video] if codecs else list(video.values())
            for spec in targets:
                _video_conditions(spec, conditions, f"CodecProfiles[{i}]")
        elif kind in ("videoaudio", "audio"):
            codecs = [normalize_audio_codec(n) for n in names]
            targets = [audio[c] for c in codecs if c in audio] if codecs else list(audio.values())
            for cond in conditions:
                if str(cond.get("property", "")).lower() == "audiochannels" and _limit(cond):
                    value = _int(cond.get("value"), f"CodecProfiles[{i}].AudioChannels")
                    if value:
                        for spec in targets:
                            spec["max_channels"] = min(value, 32)
    subtitles = {
        str(sp.get("format", "")).lower()
        for sp in _list(top.get("subtitleprofiles"), "SubtitleProfiles")
        if str(sp.get("method", "")).lower() in _SUBTITLE_METHODS and sp.get("format")
    }
    bitrate = _int(top.get("maxstreamingbitrate"), "MaxStreamingBitrate")
    if not video and not audio:
        raise BadRequest("DeviceProfile lists no video or audio codec the device can play.")
    out: dict[str, Any] = {
        "name": name,
        "containers": sorted(containers),
        "direct_play": direct,
        "video": list(video.values()),
        "audio": list(audio.values()),
        "subtitles": sorted(subtitles),
        "hls": sorted(hls),
    }
    if bitrate and bitrate >= 64_000:
        out["max_bitrate"] = bitrate
    if not direct and not hls:
        # Neither a file nor HLS: Ferrite can't stream progressively without direct
        # play, so HLS in MPEG-TS (what every Jellyfin client's player takes).
        out["hls"] = ["ts"]
    return out


def _add(specs: dict[str, dict[str, Any]], codec: str) -> None:
    specs.setdefault(codec, {"codec": codec})


def _limit(cond: Mapping[str, Any]) -> bool:
    return str(cond.get("condition", "")).lower() in ("lessthanequal", "equals")


def _video_conditions(spec: dict[str, Any], conditions: list[dict[str, Any]], where: str) -> None:
    for cond in conditions:
        prop = str(cond.get("property", "")).lower()
        kind = str(cond.get("condition", "")).lower()
        value = cond.get("value")
        if kind == "equalsany" or (kind == "equals" and prop in ("videoprofile",)):
            names = [v.strip() for v in str(value or "").split("|") if v.strip()]
            if prop == "videoprofile" and names:
                spec["profiles"] = [n.lower() for n in names]
            elif prop == "videorangetype":
                spec["hdr"] = sorted({_HDR[n.lower()] for n in names if n.lower() in _HDR})
            continue
        if not _limit(cond):
            continue
        number = _int(value, f"{where}.{cond.get('property')}")
        if number is None or number <= 0:
            continue
        if prop == "videolevel":
            spec["max_level"] = number  # ffmpeg's integer, as Jellyfin writes it
        elif prop == "videobitdepth":
            spec["max_bit_depth"] = 12 if number >= 12 else 10 if number >= 10 else 8
        elif prop == "width":
            spec["max_width"] = number
        elif prop == "height":
            spec["max_height"] = number
        elif prop == "videoframerate":
            spec["max_frame_rate"] = number
