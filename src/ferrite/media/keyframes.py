"""Compact storage of keyframe indexes: zigzag varint deltas, zlib-compressed.

A two-hour film with a keyframe every two seconds has 3,600 keyframes; packed deltas
make that a few kilobytes in the database instead of a JSON list.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator


def _zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63) if n < 0 else n << 1


def _unzigzag(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


def pack_deltas(values: Iterable[int]) -> bytes:
    """Encode integers as zlib(varint(zigzag(delta)))."""
    out = bytearray()
    prev = 0
    for v in values:
        z = _zigzag(v - prev)
        prev = v
        while True:
            byte = z & 0x7F
            z >>= 7
            if z:
                out.append(byte | 0x80)
            else:
                out.append(byte)
                break
    return zlib.compress(bytes(out), 6)


def _iter_varints(data: bytes) -> Iterator[int]:
    shift = 0
    acc = 0
    for byte in data:
        acc |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            continue
        yield acc
        acc = 0
        shift = 0
    if shift:
        raise ValueError("truncated varint stream")


def unpack_deltas(blob: bytes) -> list[int]:
    """Inverse of :func:`pack_deltas`."""
    out: list[int] = []
    prev = 0
    for z in _iter_varints(zlib.decompress(blob)):
        prev += _unzigzag(z)
        out.append(prev)
    return out
