"""Elementary-stream surgery for stream copy: NAL unit framing and ADTS headers.

Pure functions over ``bytes``; the packager (``hls/packager.py``) calls them on demuxed
packets before they go into an fMP4 ``mdat``, and the probe (``library/probe.py``) reads
keyframes with them: media vocabulary, below both.

* H.264/HEVC samples in MP4/CMAF are *length-prefixed* NAL units (the size of the
  prefix comes from the ``avcC``/``hvcC`` record); MPEG-TS and raw streams carry
  *Annex B* (``00 00 01`` start codes). :func:`to_length_prefixed` converts either into
  4-byte length prefixes and can drop NAL types on the way (``hvc1`` requires parameter
  sets in the sample entry only, so in-band VPS/SPS/PPS are removed, as FFmpeg's
  mov muxer does).
* :func:`check_length_prefixed` is a cheap structural check (the prefixes must tile the
  packet exactly and every NAL header's forbidden bit must be 0): garbage in the middle
  of a file is caught here instead of being served as video.
* AAC in MPEG-TS is framed in ADTS headers; MP4 wants raw access units plus an
  ``AudioSpecificConfig`` (:func:`adts_header`, :func:`audio_specific_config`), i.e. what
  FFmpeg's ``aac_adtstoasc`` bitstream filter does.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AdtsHeader",
    "BitstreamError",
    "adts_frame",
    "adts_header",
    "audio_specific_config",
    "check_length_prefixed",
    "is_annexb",
    "nal_length_size",
    "split_annexb",
    "split_length_prefixed",
    "strip_adts",
    "to_length_prefixed",
]

#: HEVC NAL unit types of parameter sets (VPS, SPS, PPS).
HEVC_PARAMETER_SETS = frozenset({32, 33, 34})

_AAC_RATES = (
    96000,
    88200,
    64000,
    48000,
    44100,
    32000,
    24000,
    22050,
    16000,
    12000,
    11025,
    8000,
    7350,
)


class BitstreamError(ValueError):
    """The bytes are not the framing they claim to be (corrupt data)."""


def is_annexb(data: bytes) -> bool:
    """True when ``data`` starts with an Annex B start code (``00 00 01`` / ``00 00 00 01``)."""
    return data[:3] == b"\x00\x00\x01" or data[:4] == b"\x00\x00\x00\x01"


def nal_length_size(extradata: bytes | None, codec: str) -> int | None:
    """NAL length-prefix size declared by an ``avcC``/``hvcC`` record, or None for Annex B.

    ``avcC`` keeps ``lengthSizeMinusOne`` in the low two bits of byte 4, ``hvcC`` in
    byte 21. Anything that isn't a configuration record (version byte 1) means the
    stream is Annex B.
    """
    if not extradata or extradata[0] != 1:
        return None
    at = 21 if codec == "hevc" else 4
    if len(extradata) <= at:
        return None
    return (extradata[at] & 0x03) + 1


def split_annexb(data: bytes) -> list[bytes]:
    """NAL units of an Annex B byte stream (start codes and trailing zeros removed)."""
    nals: list[bytes] = []
    n = len(data)
    i = data.find(b"\x00\x00\x01")
    if i < 0:
        return [data] if data else []
    while i >= 0:
        start = i + 3
        nxt = data.find(b"\x00\x00\x01", start)
        end = n if nxt < 0 else nxt
        # A 4-byte start code (or trailing_zero_8bits) leaves zeros before the next one.
        while end > start and data[end - 1] == 0:
            end -= 1
        if end > start:
            nals.append(data[start:end])
        i = nxt
    return nals


def split_length_prefixed(data: bytes, length_size: int = 4) -> list[bytes]:
    """NAL units of a length-prefixed sample; :class:`BitstreamError` if malformed."""
    nals: list[bytes] = []
    pos = 0
    n = len(data)
    while pos < n:
        if pos + length_size > n:
            raise BitstreamError("truncated NAL length prefix")
        size = int.from_bytes(data[pos : pos + length_size], "big")
        pos += length_size
        if size == 0 or pos + size > n:
            raise BitstreamError(f"NAL length {size} overruns the sample ({n - pos} bytes left)")
        nals.append(data[pos : pos + size])
        pos += size
    return nals


def check_length_prefixed(data: bytes, length_size: int = 4) -> None:
    """Raise :class:`BitstreamError` unless ``data`` is well-formed length-prefixed NALs.

    Fast: only the prefixes and the first byte of each NAL are read.
    """
    pos = 0
    n = len(data)
    if n == 0:
        raise BitstreamError("empty video sample")
    while pos < n:
        if pos + length_size > n:
            raise BitstreamError("truncated NAL length prefix")
        size = int.from_bytes(data[pos : pos + length_size], "big")
        pos += length_size
        if size == 0 or pos + size > n:
            raise BitstreamError(f"NAL length {size} overruns the sample ({n - pos} bytes left)")
        if data[pos] & 0x80:
            raise BitstreamError("NAL header has the forbidden_zero_bit set")
        pos += size


def hevc_nal_type(nal: bytes) -> int:
    return (nal[0] >> 1) & 0x3F


def h264_nal_type(nal: bytes) -> int:
    return nal[0] & 0x1F


def h264_open_keyframe(data: bytes, length_size: int | None) -> bool:
    """True when an H.264 keyframe sample holds non-IDR slices and no IDR one: a
    recovery-point I picture of an open GOP. ``length_size``: the ``avcC`` prefix size, or
    None for Annex B. Malformed data counts as not open (the packager reports it)."""
    try:
        nals = (
            split_annexb(data) if length_size is None else split_length_prefixed(data, length_size)
        )
    except BitstreamError:
        return False
    types = {h264_nal_type(n) for n in nals if n}
    return 1 in types and 5 not in types


def to_length_prefixed(
    data: bytes,
    *,
    source_length_size: int | None,
    codec: str,
    drop_types: frozenset[int] = frozenset(),
) -> bytes:
    """Re-frame one H.264/HEVC sample as 4-byte length-prefixed NAL units.

    ``source_length_size`` None means the input is Annex B. NAL units whose type is in
    ``drop_types`` are left out. Raises :class:`BitstreamError` on malformed input.
    """
    if source_length_size is None:
        nals = split_annexb(data)
    else:
        nals = split_length_prefixed(data, source_length_size)
    type_of = hevc_nal_type if codec == "hevc" else h264_nal_type
    out = bytearray()
    for nal in nals:
        if nal[0] & 0x80:
            raise BitstreamError("NAL header has the forbidden_zero_bit set")
        if drop_types and type_of(nal) in drop_types:
            continue
        out += len(nal).to_bytes(4, "big")
        out += nal
    if not out:
        raise BitstreamError("video sample holds no NAL units")
    return bytes(out)


@dataclass(frozen=True, slots=True)
class AdtsHeader:
    profile: int  # audioObjectType - 1 (1 = AAC LC)
    sample_rate_index: int
    channel_config: int
    header_size: int  # 7, or 9 with CRC
    frame_size: int  # header + payload
    raw_blocks: int  # number_of_raw_data_blocks_in_frame + 1

    @property
    def sample_rate(self) -> int:
        return _AAC_RATES[self.sample_rate_index]


def adts_header(data: bytes) -> AdtsHeader | None:
    """Parse the ADTS header at the start of ``data``; None if there is none."""
    if len(data) < 7 or data[0] != 0xFF or (data[1] & 0xF6) != 0xF0:
        return None
    protection_absent = data[1] & 0x01
    profile = (data[2] >> 6) & 0x03
    sr_index = (data[2] >> 2) & 0x0F
    channels = ((data[2] & 0x01) << 2) | ((data[3] >> 6) & 0x03)
    frame_size = ((data[3] & 0x03) << 11) | (data[4] << 3) | (data[5] >> 5)
    blocks = (data[6] & 0x03) + 1
    if sr_index >= len(_AAC_RATES):
        return None
    return AdtsHeader(
        profile, sr_index, channels, 7 if protection_absent else 9, frame_size, blocks
    )


def strip_adts(data: bytes) -> bytes:
    """The raw AAC access unit inside one ADTS frame (input without ADTS returned as is)."""
    header = adts_header(data)
    if header is None:
        return data
    if header.raw_blocks != 1:
        raise BitstreamError("ADTS frames with several raw data blocks cannot be stream-copied")
    if header.frame_size < header.header_size or header.frame_size > len(data):
        raise BitstreamError("ADTS frame length does not match the packet")
    return data[header.header_size : header.frame_size]


def audio_specific_config(header: AdtsHeader) -> bytes:
    """The 2-byte ISO 14496-3 ``AudioSpecificConfig`` equivalent to an ADTS header."""
    aot = header.profile + 1
    value = (aot << 11) | (header.sample_rate_index << 7) | (header.channel_config << 3)
    return value.to_bytes(2, "big")


def adts_frame(asc: bytes, raw: bytes) -> bytes:
    """Wrap one raw AAC access unit in an ADTS header built from its ``AudioSpecificConfig``."""
    if len(asc) < 2:
        raise BitstreamError("AudioSpecificConfig too short")
    aot = asc[0] >> 3
    sr_index = ((asc[0] & 0x07) << 1) | (asc[1] >> 7)
    channels = (asc[1] >> 3) & 0x0F
    if not 1 <= aot <= 4 or sr_index >= len(_AAC_RATES):
        raise BitstreamError("AudioSpecificConfig cannot be expressed as ADTS")
    size = len(raw) + 7
    if size >= 1 << 13:
        raise BitstreamError("AAC frame too large for ADTS")
    header = bytes(
        (
            0xFF,
            0xF1,  # MPEG-4, layer 0, no CRC
            ((aot - 1) << 6) | (sr_index << 2) | (channels >> 2),
            ((channels & 0x03) << 6) | (size >> 11),
            (size >> 3) & 0xFF,
            ((size & 0x07) << 5) | 0x1F,
            0xFC,  # buffer fullness 0x7FF (VBR), one raw data block
        )
    )
    return header + raw
