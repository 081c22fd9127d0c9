"""MPEG-TS packet-level touch-ups of what FFmpeg's muxer writes (pure).

RFC 8216 §3.2: "The first two Transport Stream packets in a Segment without an EXT-X-MAP
tag SHOULD be a PAT and a PMT." FFmpeg's mpegts muxer writes its SDT first; moving the
SDT packet(s) behind the PMT changes no PID's continuity counters.
"""

from __future__ import annotations

__all__ = ["PACKET_SIZE", "pat_pmt_first", "pids"]

PACKET_SIZE = 188
_PAT_PID = 0x0000
_SDT_PID = 0x0011


def _pid(data: bytes, offset: int) -> int:
    return ((data[offset + 1] & 0x1F) << 8) | data[offset + 2]


def pids(data: bytes) -> list[int]:
    """PID of every packet (the data must be whole, synchronised TS packets)."""
    if len(data) % PACKET_SIZE:
        raise ValueError("not a whole number of TS packets")
    return [_pid(data, i) for i in range(0, len(data), PACKET_SIZE)]


def pat_pmt_first(data: bytes, pmt_pid: int = 0x1000) -> bytes:
    """Reorder the leading SDT/PAT/PMT packets so that the PAT and the PMT come first."""
    head: list[bytes] = []
    pos = 0
    # The tables FFmpeg writes before the first PES packet.
    while pos < len(data) and _pid(data, pos) in (_PAT_PID, _SDT_PID, pmt_pid):
        head.append(data[pos : pos + PACKET_SIZE])
        pos += PACKET_SIZE
    order = {_PAT_PID: 0, pmt_pid: 1, _SDT_PID: 2}
    head.sort(key=lambda p: order[_pid(p, 0)])  # stable: each PID's packets keep their order
    return b"".join(head) + data[pos:]
