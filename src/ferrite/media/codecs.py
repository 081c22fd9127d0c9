"""RFC 6381 codec strings (the ``CODECS`` attribute) from a stream's own parameters.

A player decides from ``CODECS`` whether it can play a variant, so the string must say
exactly what the bytes are: it is read from the decoder configuration record the stream
carries (avcC, hvcC, av1C, AudioSpecificConfig) or, for MPEG-TS sources whose "extradata"
is Annex B parameter sets, from the SPS itself. Only when neither exists is it rebuilt from
ffmpeg's profile name and level, and then from the resolution and frame rate.

References: ISO/IEC 14496-15 (avcC, hvcC; Annex E for the HEVC string), the AV1 codec ISO
media file format binding (av1C, "av01.P.LLT.DD"), the VP9 codec string in "VP Codec ISO
Media File Format Binding" ("vp09.PP.LL.DD"), ISO/IEC 14496-3 (AudioSpecificConfig).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Literal

from ferrite.media.info import Stream

VideoRange = Literal["SDR", "PQ", "HLG"]


class UnsupportedCodec(ValueError):
    """No RFC 6381 codec string is known for this codec (so it cannot go in HLS as is)."""


#: Decoder and encoder names that mean the same codec.
_ALIASES = {
    "libx264": "h264", "h265": "hevc", "libx265": "hevc", "libvpx-vp9": "vp9",
    "libdav1d": "av1", "libaom-av1": "av1", "libsvtav1": "av1", "aac_fixed": "aac",
    "libfdk_aac": "aac", "mp3float": "mp3", "libmp3lame": "mp3", "mp2float": "mp2",
    "ac3_fixed": "ac3", "libopus": "opus", "dca": "dts",
}  # fmt: skip
#: Codecs whose string is a constant.
_FIXED = {
    "mp3": "mp4a.40.34", "mp2": "mp4a.40.33", "ac3": "ac-3", "eac3": "ec-3", "opus": "Opus",
    "flac": "fLaC", "alac": "alac", "truehd": "mlpa", "vorbis": "vorbis", "webvtt": "wvtt",
    "mov_text": "tx3g",
}  # fmt: skip


def codec_string(stream: Stream) -> str:
    """The RFC 6381 string for ``stream``; raises :class:`UnsupportedCodec` otherwise.

    HEVC is always written ``hvc1`` (Apple requires hvc1 sample entries and the packager
    writes hvc1, even when the source said hev1); H.264 always ``avc1``.
    """
    codec = _ALIASES.get(stream.codec, stream.codec)
    if codec == "h264":
        return _avc(stream)
    if codec == "hevc":
        return _hevc(stream)
    if codec == "av1":
        return _av1(stream)
    if codec == "vp9":
        return _vp9(stream)
    if codec == "aac":
        return f"mp4a.40.{_aac_object_type(stream)}"
    if codec == "dts":
        return _dts(stream.profile or "")
    if codec in _FIXED:
        return _FIXED[codec]
    raise UnsupportedCodec(f"no RFC 6381 codec string for {stream.codec!r}")


def video_range(stream: Stream) -> VideoRange:
    """VIDEO-RANGE: PQ for SMPTE ST 2084 (HDR10, Dolby Vision), HLG for ARIB STD-B67."""
    if stream.color_transfer == "smpte2084":
        return "PQ"
    if stream.color_transfer == "arib-std-b67":
        return "HLG"
    if stream.color_transfer in (None, "unknown", "") and stream.hdr != "none":
        return "HLG" if stream.hdr == "hlg" else "PQ"
    return "SDR"


# -- H.264 ----------------------------------------------------------------------------

#: ffmpeg profile name -> (profile_idc, constraint flags byte) for the fallback.
_AVC_PROFILES = {
    "constrained baseline": (66, 0xC0), "baseline": (66, 0x00), "main": (77, 0x40),
    "extended": (88, 0x00), "high": (100, 0x00), "progressive high": (100, 0x08),
    "constrained high": (100, 0x0C), "high 10": (110, 0x00), "high 10 intra": (110, 0x10),
    "high 4:2:2": (122, 0x00), "high 4:2:2 intra": (122, 0x10), "high 4:4:4": (144, 0x00),
    "high 4:4:4 predictive": (244, 0x00), "high 4:4:4 intra": (244, 0x10),
    "cavlc 4:4:4": (44, 0x10), "cavlc 4:4:4 intra": (44, 0x10),
}  # fmt: skip
#: H.264 Table A-1: level_idc, max frame size in macroblocks, max macroblocks per second.
_AVC_LEVELS = (
    (10, 99, 1485), (11, 396, 3000), (12, 396, 6000), (13, 396, 11880), (20, 396, 11880),
    (21, 792, 19800), (22, 1620, 20250), (30, 1620, 40500), (31, 3600, 108000),
    (32, 5120, 216000), (40, 8192, 245760), (41, 8192, 245760), (42, 8704, 522240),
    (50, 22080, 589824), (51, 36864, 983040), (52, 36864, 2073600), (60, 139264, 4177920),
    (61, 139264, 8355840), (62, 139264, 16711680),
)  # fmt: skip


def _avc(stream: Stream) -> str:
    data = stream.extradata or b""
    if _is_annexb(data):
        for nal in _annexb_nals(data):
            if nal and nal[0] & 0x1F == 7:  # sequence parameter set
                sps = _unescape(nal[1 : 4 + 3])  # room for emulation-prevention bytes
                if len(sps) >= 3:
                    return f"avc1.{sps[0]:02x}{sps[1]:02x}{sps[2]:02x}"
    elif len(data) >= 4 and data[0] == 1:  # avcC: version, profile, constraints, level
        return f"avc1.{data[1]:02x}{data[2]:02x}{data[3]:02x}"
    profile, constraints = _AVC_PROFILES.get((stream.profile or "").lower(), (100, 0x00))
    level = _level(stream)
    if level is None:
        w, h = _size(stream)
        mbs = -(-w // 16) * -(-h // 16)
        level = _pick(_AVC_LEVELS, mbs, mbs * _fps(stream))
    return f"avc1.{profile:02x}{constraints:02x}{level:02x}"


# -- HEVC -----------------------------------------------------------------------------

#: ffmpeg profile name -> (general_profile_idc, compatibility flags as written).
_HEVC_PROFILES = {
    "main": (1, 0x6), "main 10": (2, 0x4), "main still picture": (3, 0xE),
    "rext": (4, 0x10), "format range extensions": (4, 0x10),
    "scc": (9, 0x200), "screen content coding extensions": (9, 0x200),
}  # fmt: skip
#: H.265 Table A.8: general_level_idc, max luma picture size, max luma sample rate.
_HEVC_LEVELS = (
    (30, 36864, 552960), (60, 122880, 3686400), (63, 245760, 7372800),
    (90, 552960, 16588800), (93, 983040, 33177600), (120, 2228224, 66846720),
    (123, 2228224, 133693440), (150, 8912896, 267386880), (153, 8912896, 534773760),
    (156, 8912896, 1069547520), (180, 35651584, 1069547520), (183, 35651584, 2139095040),
    (186, 35651584, 4278190080),
)  # fmt: skip


def _hevc(stream: Stream) -> str:
    data = stream.extradata or b""
    if _is_annexb(data):
        # The general profile_tier_level follows 1 byte of SPS header fields, or 4 of VPS.
        found: dict[int, bytes] = {}
        for nal in _annexb_nals(data):
            if len(nal) >= 2:
                found.setdefault((nal[0] >> 1) & 0x3F, nal)
        for nal_type, skip in ((33, 1), (32, 4)):  # SPS first, then VPS
            if nal_type in found:
                rbsp = _unescape(found[nal_type][2:])
                if len(rbsp) >= skip + 12:
                    return _hevc_from_ptl(rbsp[skip : skip + 12])
    elif len(data) >= 13 and data[0] in (0, 1):  # hvcC bytes 1-12 are the general PTL
        return _hevc_from_ptl(data[1:13])
    profile, compat = _HEVC_PROFILES.get((stream.profile or "").lower(), (1, 0x6))
    level = _level(stream)
    if level is None:
        w, h = _size(stream)
        level = _pick(_HEVC_LEVELS, w * h, w * h * _fps(stream))
    constraints = "" if stream.interlaced else ".B0"  # progressive, non-packed, frame-only
    return f"hvc1.{profile}.{compat:X}.L{level}{constraints}"


def _hevc_from_ptl(ptl: bytes) -> str:
    """ISO/IEC 14496-15 E.3 from the 12 bytes of general_profile_tier_level."""
    space = ("", "A", "B", "C")[ptl[0] >> 6]
    tier = "H" if ptl[0] & 0x20 else "L"
    profile_idc = ptl[0] & 0x1F
    # The 32 compatibility flags, flag j in bit j: i.e. the bits in reverse order.
    compat = int(f"{int.from_bytes(ptl[1:5], 'big'):032b}"[::-1], 2)
    constraints = list(ptl[5:11])
    while constraints and constraints[-1] == 0:
        constraints.pop()
    tail = "".join(f".{b:X}" for b in constraints)
    return f"hvc1.{space}{profile_idc}.{compat:X}.{tier}{ptl[11]}{tail}"


# -- AV1 and VP9 ----------------------------------------------------------------------

#: AV1 Annex A: seq_level_idx, max picture size, max display rate (samples per second).
_AV1_LEVELS = (
    (0, 147456, 4423680), (1, 278784, 8363520), (4, 665856, 19975680),
    (5, 1065024, 31950720), (8, 2359296, 70778880), (9, 2359296, 141557760),
    (12, 8912896, 267386880), (13, 8912896, 534773760), (14, 8912896, 1069547520),
    (16, 35651584, 1069547520), (17, 35651584, 2139095040), (18, 35651584, 4278190080),
)  # fmt: skip
#: VP9 levels: level, max picture size, max sample rate.
_VP9_LEVELS = (
    (10, 36864, 829440), (11, 73728, 2764800), (20, 122880, 4608000),
    (21, 245760, 9216000), (30, 552960, 20736000), (31, 983040, 36864000),
    (40, 2228224, 83558400), (41, 2228224, 160432128), (50, 8912896, 311951360),
    (51, 8912896, 588251136), (52, 8912896, 1176502272), (60, 35651584, 1176502272),
    (61, 35651584, 2353004544), (62, 35651584, 4706009088),
)  # fmt: skip


def _av1(stream: Stream) -> str:
    data = stream.extradata or b""
    if len(data) >= 3 and data[0] == 0x81:  # av1C: marker 1, version 1
        seq_profile, seq_level = data[1] >> 5, data[1] & 0x1F
        tier = "H" if data[2] & 0x80 else "M"
        high, twelve = data[2] & 0x40, data[2] & 0x20
        depth = (12 if seq_profile == 2 and twelve else 10) if high else 8
        return f"av01.{seq_profile}.{seq_level:02d}{tier}.{depth:02d}"
    profile = {"main": 0, "high": 1, "professional": 2}.get((stream.profile or "").lower(), 0)
    level = _level(stream)
    if level is None or level > 23:  # 31 means "no level"; 24-30 are reserved
        w, h = _size(stream)
        level = _pick(_AV1_LEVELS, w * h, w * h * _fps(stream))
    return f"av01.{profile}.{level:02d}M.{_bit_depth(stream):02d}"


def _vp9(stream: Stream) -> str:
    depth = _bit_depth(stream)
    m = re.fullmatch(r"profile (\d)", (stream.profile or "").lower())
    if m:
        profile = int(m.group(1))
    else:  # 0/2: 4:2:0 at 8/10-12 bits; 1/3: 4:2:2, 4:4:0, 4:4:4
        chroma_420 = (stream.pix_fmt or "yuv420p").startswith(("yuv420", "yuvj420", "nv12"))
        profile = (0 if chroma_420 else 1) + (2 if depth > 8 else 0)
    level = _level(stream)
    if level is None or level not in {lv for lv, _, _ in _VP9_LEVELS}:
        w, h = _size(stream)
        level = _pick(_VP9_LEVELS, w * h, w * h * _fps(stream))
    return f"vp09.{profile:02d}.{level:02d}.{depth:02d}"


# -- AAC ------------------------------------------------------------------------------

_AAC_PROFILES = {
    "main": 1, "lc": 2, "ssr": 3, "ltp": 4, "he-aac": 5, "he-aacv2": 29, "ld": 23,
    "eld": 39, "usac": 42, "xhe-aac": 42,
}  # fmt: skip


def _aac_object_type(stream: Stream) -> int:
    by_profile = _AAC_PROFILES.get((stream.profile or "").lower())
    data = stream.extradata or b""
    if len(data) >= 2:
        aot = data[0] >> 3
        if aot == 31:  # escape: 32 + the next 6 bits
            aot = 32 + (((data[0] & 0x07) << 3) | (data[1] >> 5))
        if aot == 2 and by_profile in (5, 29):
            # Backward-compatible SBR/PS signalling says LC up front; the decoder found
            # HE-AAC, and the string must say so or a player may output at half rate.
            return by_profile
        if aot:
            return aot
    return by_profile or 2


def _dts(profile: str) -> str:
    # ffmpeg names: "DTS", "DTS-ES", "DTS 96/24", "DTS-HD HRA", "DTS-HD MA",
    # "DTS-HD MA + DTS:X", "DTS Express".
    profile = profile.upper()
    if "DTS:X" in profile:
        return "dtsx"
    if "EXPRESS" in profile:
        return "dtse"
    return "dtsh" if "HD" in profile else "dtsc"


# -- helpers --------------------------------------------------------------------------


def _is_annexb(data: bytes) -> bool:
    return data.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01"))


def _annexb_nals(data: bytes) -> Iterator[bytes]:
    """NAL units of an Annex B byte stream (start-code separated)."""
    starts = [m.end() for m in re.finditer(b"\x00\x00\x01", data)]
    for i, start in enumerate(starts):
        end = starts[i + 1] - 3 if i + 1 < len(starts) else len(data)
        yield data[start:end].rstrip(b"\x00")  # trailing zeros belong to the next start code


def _unescape(payload: bytes) -> bytes:
    """Drop emulation-prevention bytes: 00 00 03 -> 00 00 (H.264 7.4.1, H.265 7.4.2)."""
    return payload.replace(b"\x00\x00\x03", b"\x00\x00")


def _level(stream: Stream) -> int | None:
    # ffmpeg reports an unknown level as -99 (FF_LEVEL_UNKNOWN); 0 is not a level either.
    return stream.level if stream.level is not None and 0 < stream.level < 256 else None


def _size(stream: Stream) -> tuple[int, int]:
    return stream.width or 1920, stream.height or 1080


def _fps(stream: Stream) -> float:
    return float(stream.frame_rate) if stream.frame_rate else 30.0


def _bit_depth(stream: Stream) -> int:
    if stream.bit_depth:
        return stream.bit_depth
    m = re.search(r"p(10|12)", stream.pix_fmt or "")
    return int(m.group(1)) if m else 8


def _pick(levels: tuple[tuple[int, int, int], ...], size: int, rate: float) -> int:
    """The lowest ``(level, max picture size, max rate)`` whose limits hold (else the top)."""
    for level, max_size, max_rate in levels:
        if size <= max_size and rate <= max_rate:
            return level
    return levels[-1][0]
