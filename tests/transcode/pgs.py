"""A minimal PGS (Blu-ray ``.sup``) writer, so burn-in of *image* subtitles can be tested:
ffmpeg can't turn text into bitmap subtitles, so we draw the bitmap ourselves.

Each cue is one opaque rectangle of palette colour 1 (white) at ``(x, y)``, shown from
``start`` to ``end``. Format: "PG" + PTS + DTS (90 kHz) + segment type + length, with
PCS (0x16), WDS (0x17), PDS (0x14), ODS (0x15) and END (0x80) segments per display set.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Box:
    start: float
    end: float
    x: int
    y: int
    width: int
    height: int


def _segment(kind: int, pts: float, payload: bytes) -> bytes:
    ticks = round(pts * 90000)
    return b"PG" + struct.pack(">IIBH", ticks, 0, kind, len(payload)) + payload


def _rle_box(width: int, height: int) -> bytes:
    line = bytearray()
    left = width
    while left:
        run = min(left, 16383)
        if run < 3:
            line += bytes([1]) * run
        elif run < 64:
            line += bytes([0, 0x80 | run, 1])
        else:
            line += bytes([0, 0xC0 | (run >> 8), run & 0xFF, 1])
        left -= run
    line += b"\x00\x00"  # end of line
    return bytes(line) * height


def write_sup(path: Path, boxes: list[Box], canvas: tuple[int, int]) -> Path:
    cw, ch = canvas
    out = bytearray()
    for n, box in enumerate(boxes):
        comp = 2 * n
        pcs = struct.pack(">HHBHBBBB", cw, ch, 0x10, comp, 0x80, 0, 0, 1)
        pcs += struct.pack(">HBBHH", 0, 0, 0, box.x, box.y)
        wds = struct.pack(">BBHHHH", 1, 0, box.x, box.y, box.width, box.height)
        # palette 0: entry 1 = white (Y=235, Cr=Cb=128), opaque
        pds = struct.pack(">BB", 0, 0) + bytes([1, 235, 128, 128, 255])
        rle = _rle_box(box.width, box.height)
        ods = struct.pack(">HBB", 0, 0, 0xC0) + (len(rle) + 4).to_bytes(3, "big")
        ods += struct.pack(">HH", box.width, box.height) + rle
        for kind, payload in ((0x16, pcs), (0x17, wds), (0x14, pds), (0x15, ods), (0x80, b"")):
            out += _segment(kind, box.start, payload)
        # clear: a composition with no objects
        clear = struct.pack(">HHBHBBBB", cw, ch, 0x10, comp + 1, 0x00, 0, 0, 0)
        wds_clear = struct.pack(">BBHHHH", 1, 0, box.x, box.y, box.width, box.height)
        for kind, payload in ((0x16, clear), (0x17, wds_clear), (0x80, b"")):
            out += _segment(kind, box.end, payload)
    path.write_bytes(bytes(out))
    return path
