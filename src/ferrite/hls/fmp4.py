"""ISO BMFF (fragmented MP4 / CMAF) boxes: parse, normalise an init segment, write fragments.

Pure code over ``bytes``. Who writes what, and why:

* **Init segments** (``ftyp`` + ``moov``) start life in FFmpeg's own mov muxer, driven by
  the packager through PyAV, because the codec-specific sample entries are the hard part
  and FFmpeg gets them right for every codec we copy (``avc1``/``avcC``, ``hvc1``/``hvcC``,
  ``vp09``/``vpcC``, ``av01``/``av1C``, ``mp4a``/``esds``, ``ac-3``/``dac3``,
  ``ec-3``/``dec3``, ``Opus``/``dOps``, ``fLaC``/``dfLa``, colour and HDR boxes).
  :func:`normalize_init` then rewrites everything around the sample entry into a fixed
  shape: one track with ``track_ID`` 1, zero creation times and durations, our own media
  timescale, no edit list (timestamps are the source timeline plus the documented
  offset, see ``hls/timeline.py``), no ``udta`` and an ``mvex``/``trex``. The result is a
  pure function of the stream's codec parameters, whichever segment is requested first.
* **Media segments** (``moof`` + ``mdat``) are written here by :func:`fragment`, not by
  FFmpeg: the values in them *are* the timeline (``mfhd`` sequence number = segment index +
  1, ``tfdt`` on the source timeline, per-sample durations, sizes, sync flags and signed
  composition offsets in a version-1 ``trun``). FFmpeg's fragmenter derives ``tfdt`` and the
  last sample's duration from its own state and rewrites timestamps for negative offsets,
  which would make a segment depend on the run that produced it. Writing ~40 bytes of
  header per segment ourselves makes every segment a pure function of its packets.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

__all__ = [
    "Box",
    "FragmentInfo",
    "InitInfo",
    "Sample",
    "fragment",
    "init_info",
    "iter_boxes",
    "normalize_init",
    "parse_boxes",
    "read_fragment",
    "serialize",
    "split_top_level",
]

#: Boxes whose payload is only child boxes.
CONTAINERS = frozenset(
    {"moov", "trak", "mdia", "minf", "stbl", "mvex", "moof", "traf", "edts", "dinf", "udta", "mfra"}
)

SYNC_SAMPLE_FLAGS = 0x02000000  # sample_depends_on = 2 (an I-frame / independent)
NON_SYNC_SAMPLE_FLAGS = 0x01010000  # sample_depends_on = 1, sample_is_non_sync_sample = 1

_TFHD_DEFAULT_BASE_IS_MOOF = 0x020000
_TRUN_FLAGS = 0x000001 | 0x000100 | 0x000200 | 0x000400 | 0x000800


class BoxError(ValueError):
    """The bytes are not well-formed ISO BMFF."""


@dataclass(slots=True)
class Box:
    """One box: a leaf with ``payload`` bytes, or a container with ``children``."""

    type: str
    payload: bytes = b""
    children: list[Box] | None = None

    def child(self, type_: str) -> Box | None:
        return next((c for c in self.children or () if c.type == type_), None)

    def find(self, path: str) -> Box | None:
        """Descendant by a ``/``-separated path of types, e.g. ``"mdia/mdhd"``."""
        node: Box | None = self
        for part in path.split("/"):
            node = node.child(part) if node is not None else None
        return node


def iter_boxes(
    data: bytes, start: int = 0, end: int | None = None
) -> Iterator[tuple[str, int, int, int]]:
    """``(type, offset, header_size, size)`` of each box in ``data[start:end]``."""
    end = len(data) if end is None else end
    pos = start
    while pos < end:
        if pos + 8 > end:
            raise BoxError(f"truncated box header at {pos}")
        size, raw_type = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                raise BoxError(f"truncated large box header at {pos}")
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise BoxError(f"box {raw_type!r} at {pos} has impossible size {size}")
        yield raw_type.decode("latin-1"), pos, header, size
        pos += size


def parse_boxes(data: bytes, start: int = 0, end: int | None = None) -> list[Box]:
    boxes: list[Box] = []
    for type_, pos, header, size in iter_boxes(data, start, end):
        if type_ in CONTAINERS:
            boxes.append(Box(type_, children=parse_boxes(data, pos + header, pos + size)))
        else:
            boxes.append(Box(type_, payload=bytes(data[pos + header : pos + size])))
    return boxes


def _box(type_: str, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), type_.encode("latin-1")) + payload


def serialize(boxes: Iterable[Box]) -> bytes:
    out = bytearray()
    for b in boxes:
        body = serialize(b.children) if b.children is not None else b.payload
        out += _box(b.type, body)
    return bytes(out)


def split_top_level(data: bytes) -> list[tuple[str, bytes]]:
    """Top-level boxes as ``(type, bytes including header)``."""
    return [(t, bytes(data[pos : pos + size])) for t, pos, _, size in iter_boxes(data)]


# --- init segments ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InitInfo:
    timescale: int
    track_id: int
    handler: str  # "vide" | "soun"
    sample_entry: str  # "avc1", "hvc1", "mp4a", ...


def _full_box_version(payload: bytes) -> int:
    return payload[0] if payload else 0


def _mvhd(timescale: int = 1000) -> bytes:
    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    return (
        struct.pack(">IIIII", 0, 0, 0, timescale, 0)  # version/flags, times, scale, duration
        + struct.pack(">IH", 0x00010000, 0x0100)  # rate 1.0, volume 1.0
        + bytes(10)
        + matrix
        + bytes(24)
        + struct.pack(">I", 2)  # next_track_ID
    )


def _tkhd(old: bytes, track_id: int) -> bytes:
    version = _full_box_version(old)
    # The tail (layer, alternate group, volume, matrix, width, height) is FFmpeg's: it
    # carries the display size, sample aspect ratio and any rotation.
    tail = old[4 + (32 if version == 1 else 20) :]
    if len(tail) != 60:
        raise BoxError("unexpected tkhd layout")
    flags = 0x000003  # enabled | in movie
    head = struct.pack(">I", flags) + struct.pack(">IIIII", 0, 0, track_id, 0, 0)
    return head + tail


def _mdhd(old: bytes, timescale: int) -> bytes:
    version = _full_box_version(old)
    language = old[4 + (28 if version == 1 else 16) :][:2]
    if len(language) != 2:
        raise BoxError("unexpected mdhd layout")
    return struct.pack(">IIIII", 0, 0, 0, timescale, 0) + language + b"\x00\x00"


def _trex(track_id: int) -> bytes:
    return struct.pack(">IIIIII", 0, track_id, 1, 0, 0, 0)


def normalize_init(data: bytes, *, timescale: int, track_id: int = 1) -> bytes:
    """Rewrite FFmpeg's ``ftyp``+``moov`` into our deterministic single-track init.

    Keeps ``ftyp``, the track's ``hdlr``, ``minf`` (with the ``stsd`` sample entry) and the
    display fields of ``tkhd``; replaces ``mvhd``, ``mdhd`` (with ``timescale``) and
    ``mvex``; drops edit lists, user data and anything after the ``moov``.
    """
    top = parse_boxes(data)
    ftyp = next((b for b in top if b.type == "ftyp"), None)
    moov = next((b for b in top if b.type == "moov"), None)
    if ftyp is None or moov is None:
        raise BoxError("init segment needs ftyp and moov")
    traks = [c for c in moov.children or () if c.type == "trak"]
    if len(traks) != 1:
        raise BoxError(f"expected one track, found {len(traks)}")
    trak = traks[0]
    tkhd = trak.child("tkhd")
    mdia = trak.child("mdia")
    if tkhd is None or mdia is None:
        raise BoxError("trak without tkhd/mdia")
    mdhd = mdia.child("mdhd")
    hdlr = mdia.child("hdlr")
    minf = mdia.child("minf")
    if mdhd is None or hdlr is None or minf is None:
        raise BoxError("mdia without mdhd/hdlr/minf")
    stbl = minf.child("stbl")
    if stbl is None or stbl.child("stsd") is None:
        raise BoxError("track without a sample description")
    new_trak = Box(
        "trak",
        children=[
            Box("tkhd", _tkhd(tkhd.payload, track_id)),
            Box(
                "mdia",
                children=[Box("mdhd", _mdhd(mdhd.payload, timescale)), hdlr, minf],
            ),
        ],
    )
    new_moov = Box(
        "moov",
        children=[
            Box("mvhd", _mvhd()),
            new_trak,
            Box("mvex", children=[Box("trex", _trex(track_id))]),
        ],
    )
    return serialize([ftyp, new_moov])


def init_info(data: bytes) -> InitInfo:
    """Timescale, track id, handler and sample entry type of a single-track init."""
    moov = next((b for b in parse_boxes(data) if b.type == "moov"), None)
    if moov is None:
        raise BoxError("no moov")
    trak = moov.child("trak")
    if trak is None:
        raise BoxError("no trak")
    tkhd = trak.child("tkhd")
    mdhd = trak.find("mdia/mdhd")
    hdlr = trak.find("mdia/hdlr")
    stsd = trak.find("mdia/minf/stbl/stsd")
    if tkhd is None or mdhd is None or hdlr is None or stsd is None:
        raise BoxError("incomplete trak")
    v = _full_box_version(tkhd.payload)
    (track_id,) = struct.unpack_from(">I", tkhd.payload, 4 + (16 if v == 1 else 8))
    v = _full_box_version(mdhd.payload)
    (timescale,) = struct.unpack_from(">I", mdhd.payload, 4 + (16 if v == 1 else 8))
    handler = hdlr.payload[8:12].decode("latin-1")
    entry = stsd.payload[12:16].decode("latin-1")
    return InitInfo(timescale, track_id, handler, entry)


# --- media segments ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    """One access unit of a fragment: payload, duration and composition offset in ticks."""

    data: bytes
    duration: int
    sync: bool = True
    cto: int = 0  # composition time offset (pts - dts), signed


def fragment(
    sequence: int, track_id: int, base_decode_time: int, samples: Sequence[Sample]
) -> bytes:
    """One ``moof`` + ``mdat`` carrying ``samples`` (decode order) from ``base_decode_time``.

    ``tfhd`` uses default-base-is-moof; ``trun`` is version 1 (signed composition offsets)
    with explicit duration, size, flags and offset for every sample.
    """
    if base_decode_time < 0:
        raise ValueError(f"negative decode time {base_decode_time}: timeline offset too small")
    if not samples:
        raise ValueError("a fragment needs at least one sample")
    n = len(samples)
    trun_size = 8 + 12 + 16 * n
    traf_size = 8 + 16 + 20 + trun_size  # tfhd (no optional fields), tfdt v1, trun
    moof_size = 8 + 16 + traf_size
    data_offset = moof_size + 8
    trun = bytearray(trun_size)
    struct.pack_into(
        ">I4sIIi", trun, 0, trun_size, b"trun", (1 << 24) | _TRUN_FLAGS, n, data_offset
    )
    pos = 20
    for s in samples:
        flags = SYNC_SAMPLE_FLAGS if s.sync else NON_SYNC_SAMPLE_FLAGS
        struct.pack_into(">IIIi", trun, pos, s.duration, len(s.data), flags, s.cto)
        pos += 16
    header = b"".join(
        (
            struct.pack(">I4s", moof_size, b"moof"),
            struct.pack(">I4sII", 16, b"mfhd", 0, sequence),
            struct.pack(">I4s", traf_size, b"traf"),
            struct.pack(">I4sII", 16, b"tfhd", _TFHD_DEFAULT_BASE_IS_MOOF, track_id),
            struct.pack(">I4sIQ", 20, b"tfdt", 1 << 24, base_decode_time),
            trun,
        )
    )
    payload_size = sum(len(s.data) for s in samples)
    mdat_header = struct.pack(">I4s", 8 + payload_size, b"mdat")
    return b"".join([header, mdat_header, *(s.data for s in samples)])


@dataclass(frozen=True, slots=True)
class FragmentInfo:
    sequence: int
    track_id: int
    base_decode_time: int
    samples: list[Sample] = field(default_factory=list)


def read_fragment(data: bytes) -> list[FragmentInfo]:
    """Parse every ``moof``+``mdat`` pair of a media segment (for tests and tools)."""
    out: list[FragmentInfo] = []
    boxes = list(iter_boxes(data))
    for i, (type_, pos, header, size) in enumerate(boxes):
        if type_ != "moof":
            continue
        moof = Box("moof", children=parse_boxes(data, pos + header, pos + size))
        mfhd = moof.child("mfhd")
        traf = moof.child("traf")
        if mfhd is None or traf is None:
            raise BoxError("moof without mfhd/traf")
        tfhd, tfdt, trun = traf.child("tfhd"), traf.child("tfdt"), traf.child("trun")
        if tfhd is None or tfdt is None or trun is None:
            raise BoxError("traf without tfhd/tfdt/trun")
        (sequence,) = struct.unpack_from(">I", mfhd.payload, 4)
        (track_id,) = struct.unpack_from(">I", tfhd.payload, 4)
        if tfdt.payload[0] == 1:
            (bdt,) = struct.unpack_from(">Q", tfdt.payload, 4)
        else:
            (bdt,) = struct.unpack_from(">I", tfdt.payload, 4)
        vflags, count, data_offset = struct.unpack_from(">IIi", trun.payload, 0)
        flags = vflags & 0xFFFFFF
        if flags != _TRUN_FLAGS:
            raise BoxError(f"unsupported trun flags {flags:#x}")
        signed = (vflags >> 24) == 1
        fmt = ">IIIi" if signed else ">IIII"
        samples = []
        cursor = pos + data_offset
        if i + 1 >= len(boxes) or boxes[i + 1][0] != "mdat":
            raise BoxError("moof not followed by mdat")
        for k in range(count):
            dur, sz, sflags, cto = struct.unpack_from(fmt, trun.payload, 12 + 16 * k)
            samples.append(
                Sample(bytes(data[cursor : cursor + sz]), dur, sflags == SYNC_SAMPLE_FLAGS, cto)
            )
            cursor += sz
        out.append(FragmentInfo(sequence, track_id, bdt, samples))
    return out
