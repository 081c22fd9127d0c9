"""The facts of each stream of an open container (codec, language, size, frame rate,
colour, HDR kind, channels ...) as :class:`~ferrite.media.info.Stream` records, and which
video stream is the primary one.
"""

from __future__ import annotations

import re
import threading
from fractions import Fraction
from pathlib import Path
from typing import Any

import av.logging
from av.container import InputContainer
from av.stream import Disposition

from ferrite.media.info import Hdr, Stream, StreamType

# FFmpeg's enum values (libavutil/pixfmt.h), as the names ffprobe prints.
_PRIMARIES = {
    1: "bt709", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "film",
    9: "bt2020", 10: "smpte428", 11: "smpte431", 12: "smpte432", 22: "ebu3213",
}  # fmt: skip
_TRANSFER = {
    1: "bt709", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 7: "smpte240m", 8: "linear",
    9: "log100", 10: "log316", 11: "iec61966-2-4", 12: "bt1361e", 13: "iec61966-2-1",
    14: "bt2020-10", 15: "bt2020-12", 16: "smpte2084", 17: "smpte428", 18: "arib-std-b67",
}  # fmt: skip
_SPACE = {
    0: "gbr", 1: "bt709", 4: "fcc", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "ycgco",
    9: "bt2020nc", 10: "bt2020c", 11: "smpte2085", 12: "chroma-derived-nc",
    13: "chroma-derived-c", 14: "ictcp", 15: "ipt-c2", 16: "ycgco-re", 17: "ycgco-ro",
}  # fmt: skip
_RANGE = {1: "tv", 2: "pc"}
_FIELD_ORDER = {1: "progressive", 2: "tt", 3: "bb", 4: "tb", 5: "bt"}
_DOLBY_VISION_TAGS = frozenset({"dvh1", "dvhe", "dav1", "dva1", "dvav", "dvas"})


def codec_name(s: Any) -> str:
    try:
        return str(s.codec_context.codec.canonical_name)
    except Exception:  # no decoder for this codec id: fall back to the context's name
        name = getattr(s.codec_context, "name", None)
        return str(name) if name else "unknown"


def _text_tag(tag: Any) -> str | None:
    if isinstance(tag, str) and len(tag) == 4 and tag.isprintable() and tag.strip():
        return tag
    return None


def title(s: Any) -> str | None:
    # Matroska: "title"; MP4: the track's udta "name" box.
    return meta(s, "title") or meta(s, "name")


def meta(s: Any, key: str) -> str | None:
    for k, v in (s.metadata or {}).items():
        if k.lower() == key and v:
            return str(v)
    return None


def _tag_duration(value: str | None) -> float | None:
    # Matroska's per-track statistics tag: "00:00:04.000000000"
    if not value:
        return None
    m = re.fullmatch(r"(\d+):(\d{2}):(\d{2}(?:\.\d+)?)", value.strip())
    if not m:
        return None
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))


def stream_facts(s: Any) -> Stream:
    cc = s.codec_context
    type_: StreamType = s.type if s.type in ("video", "audio", "subtitle", "attachment") else "data"
    tb: Fraction = s.time_base or Fraction(1, 1000)
    codec = codec_name(s)
    language = s.language or meta(s, "language")
    if language in ("und", ""):
        language = None
    level = getattr(cc, "level", None)
    common: dict[str, Any] = {
        "index": s.index,
        "type": type_,
        "codec": codec,
        "time_base": tb,
        "profile": s.profile or None,
        "level": level if isinstance(level, int) and level > 0 else None,
        "language": language,
        "title": title(s),
        "bitrate": (cc.bit_rate or None) if type_ in ("video", "audio") else None,
        "default": bool(s.disposition & Disposition.default),
        "forced": bool(s.disposition & Disposition.forced),
        "extradata": bytes(cc.extradata) if cc.extradata else None,
        "codec_tag": _text_tag(s.codec_tag),
        "start_time_s": float(s.start_time * tb) if s.start_time is not None else None,
        "duration_s": float(s.duration * tb) if s.duration else _tag_duration(meta(s, "duration")),
        "frame_count": s.frames or None,
    }
    if type_ == "video":
        pix_fmt = cc.pix_fmt
        bit_depth = None
        fmt = cc.format
        if fmt is not None and fmt.components:
            bit_depth = max(c.bits for c in fmt.components)
        transfer = _TRANSFER.get(cc.color_trc)
        common.update(
            width=cc.width or None,
            height=cc.height or None,
            frame_rate=s.average_rate or s.guessed_rate or None,
            bit_depth=bit_depth,
            pix_fmt=pix_fmt,
            color_primaries=_PRIMARIES.get(cc.color_primaries),
            color_transfer=transfer,
            color_space=_SPACE.get(cc.colorspace),
            color_range=_RANGE.get(cc.color_range),
            field_order=_FIELD_ORDER.get(cc.field_order),
            hdr=_hdr(s, codec, transfer, bit_depth),
        )
    elif type_ == "audio":
        common.update(
            channels=cc.channels or None,
            channel_layout=cc.layout.name if cc.layout is not None else None,
            sample_rate=cc.sample_rate or None,
        )
    return Stream(**common)


def _hdr(s: Any, codec: str, transfer: str | None, bit_depth: int | None) -> Hdr:
    if _text_tag(s.codec_tag) in _DOLBY_VISION_TAGS:
        return "dolby_vision"
    if codec in ("hevc", "av1", "h264") and (bit_depth or 8) >= 10 and _has_dovi_config(s):
        return "dolby_vision"
    if transfer == "smpte2084":
        return "hdr10"
    if transfer == "arib-std-b67":
        return "hlg"
    return "none"


_LOG_LOCK = threading.Lock()


def _has_dovi_config(s: Any) -> bool:
    """Whether the stream carries a Dolby Vision configuration record (``dvcC``/``dvvC``
    in MP4, a BlockAdditionMapping in Matroska).

    PyAV doesn't expose a stream's coded side data, but FFmpeg's format dump lists it
    ("DOVI configuration record"); the dump only appears with FFmpeg logging at INFO, so
    the level is raised for the duration of this call, under a lock. Only 10-bit
    HEVC/AV1/H.264 streams get here.
    """
    with _LOG_LOCK:
        previous = av.logging.get_level()
        try:
            av.logging.set_level(av.logging.INFO)
            dump = s.container.dumps_format()
        except Exception:  # the dump is a best-effort hint; never fail a probe on it
            return False
        finally:
            av.logging.set_level(previous)
    return dovi_in_dump(dump, s.index)


def dovi_in_dump(dump: str, stream_index: int) -> bool:
    """Find "DOVI configuration record" among the side data of stream ``stream_index`` in
    the text of ``av_dump_format``."""
    section: int | None = None
    for line in dump.splitlines():
        m = re.match(r"\s*Stream #\d+:(\d+)", line)
        if m:
            section = int(m.group(1))
        elif section == stream_index and "DOVI configuration record" in line:
            return True
    return False


def primary_video(container: InputContainer) -> Any:
    for s in container.streams.video:
        if not s.disposition & Disposition.attached_pic:
            return s
    return None


def container_name(fmt: str, path: Path) -> str:
    ext = path.suffix.lower()
    if fmt.startswith("mov"):
        return {".mov": "mov", ".m4v": "m4v", ".3gp": "3gp"}.get(ext, "mp4")
    if fmt.startswith("matroska"):
        return "webm" if ext == ".webm" else "matroska"
    return fmt.split(",")[0]
