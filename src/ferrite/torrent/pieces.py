"""Torrent piece math: plain functions over plain numbers.

A torrent is one byte stream cut into pieces of ``piece_length`` bytes (the last one
shorter); its files are consecutive spans of that stream. Everything the streaming
reader decides — which pieces a byte range needs, how urgently each one is wanted, how
far ahead to ask, what to fetch first so a player can start — is computed here without
libtorrent, sockets or clocks, so it is tested with numbers (and hypothesis).

Units: byte offsets and sizes are ``int`` bytes; ``bitrate`` and ``throughput`` are
bits per second; deadlines are milliseconds from "now".
"""

from __future__ import annotations

import math
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

from ferrite.library.naming import SUBTITLE_EXTENSIONS

KiB = 1024
MiB = 1024 * 1024

#: Assumed bitrate of a video whose real bitrate is unknown (generous for 1080p H.264).
DEFAULT_BITRATE = 8_000_000

ContainerKind = Literal["mp4", "matroska", "avi", "other"]

_CONTAINERS: dict[str, ContainerKind] = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mp4",
    ".3gp": "mp4",
    ".mkv": "matroska",
    ".webm": "matroska",
    ".mka": "matroska",
    ".avi": "avi",
}

VIDEO_EXTENSIONS = frozenset(
    {
        ".3gp", ".asf", ".avi", ".divx", ".flv", ".m2ts", ".m4v", ".mkv", ".mov", ".mp4",
        ".mpeg", ".mpg", ".mts", ".ogm", ".ogv", ".rm", ".rmvb", ".ts", ".vob", ".webm",
        ".wmv",
    }
)  # fmt: skip


def container_kind(path: str) -> ContainerKind:
    """Guess the container from a file name (the torrent has no bytes of it yet)."""
    return _CONTAINERS.get(PurePosixPath(path).suffix.lower(), "other")


def is_video_path(path: str) -> bool:
    return PurePosixPath(path).suffix.lower() in VIDEO_EXTENSIONS


def is_subtitle_path(path: str) -> bool:
    return PurePosixPath(path).suffix.lower() in SUBTITLE_EXTENSIONS


# -- geometry -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Layout:
    """The piece grid of a torrent."""

    piece_length: int
    total_size: int

    def __post_init__(self) -> None:
        if self.piece_length <= 0:
            raise ValueError(f"piece_length must be positive, not {self.piece_length}")
        if self.total_size < 0:
            raise ValueError(f"total_size must not be negative, not {self.total_size}")

    @property
    def num_pieces(self) -> int:
        return -(-self.total_size // self.piece_length)

    def piece_start(self, piece: int) -> int:
        return piece * self.piece_length

    def piece_size(self, piece: int) -> int:
        if not 0 <= piece < self.num_pieces:
            raise IndexError(f"piece {piece} out of range 0..{self.num_pieces - 1}")
        return min(self.piece_length, self.total_size - self.piece_start(piece))


@dataclass(frozen=True, slots=True)
class FileSpan:
    """Where one file lies in the torrent's byte stream."""

    offset: int
    size: int

    @property
    def end(self) -> int:
        return self.offset + self.size


def piece_range(layout: Layout, file: FileSpan, start: int, end: int) -> range:
    """Pieces holding the file's bytes ``[start, end)`` (clipped to the file)."""
    start = max(0, start)
    end = min(file.size, end)
    if start >= end:
        return range(0)
    first = (file.offset + start) // layout.piece_length
    last = (file.offset + end - 1) // layout.piece_length
    return range(first, last + 1)


def file_pieces(layout: Layout, file: FileSpan) -> range:
    """Every piece holding some byte of the file."""
    return piece_range(layout, file, 0, file.size)


def bytes_done(layout: Layout, have: Container[int], span: FileSpan | None = None) -> int:
    """Bytes of the torrent (or of the file ``span``) inside verified pieces ``have``.

    This, over the size, is what a user calls progress: libtorrent's own ``progress``
    counts only *wanted* pieces, so it reads 1.0 during the start-up hold (only the
    head/tail pieces are wanted then) while most of the file is still missing.
    """
    span = span or FileSpan(0, layout.total_size)
    done = 0
    for piece in file_pieces(layout, span):
        if piece in have:
            start, end = piece_file_span(layout, span, piece)
            done += end - start
    return done


def fraction_done(layout: Layout, have: Container[int], span: FileSpan | None = None) -> float:
    """:func:`bytes_done` over the size (0..1; an empty file is done)."""
    size = layout.total_size if span is None else span.size
    return 1.0 if size == 0 else bytes_done(layout, have, span) / size


def piece_at(layout: Layout, file: FileSpan, position: int) -> tuple[int, int]:
    """``(piece, offset inside that piece)`` of the file's byte ``position``."""
    if not 0 <= position < file.size:
        raise ValueError(f"position {position} outside the file (size {file.size})")
    absolute = file.offset + position
    return absolute // layout.piece_length, absolute % layout.piece_length


def piece_file_span(layout: Layout, file: FileSpan, piece: int) -> tuple[int, int]:
    """The file's bytes ``[start, end)`` that ``piece`` holds; ``start == end`` if none."""
    piece_start = layout.piece_start(piece)
    piece_end = piece_start + layout.piece_size(piece)
    start = max(piece_start, file.offset) - file.offset
    end = min(piece_end, file.end) - file.offset
    if end <= start:
        clamped = min(max(start, 0), file.size)
        return clamped, clamped
    return start, end


def contiguous_ahead(layout: Layout, file: FileSpan, position: int, have: Container[int]) -> int:
    """Bytes from ``position`` to the first missing piece (or the end of the file)."""
    if position >= file.size:
        return 0
    for piece in piece_range(layout, file, position, file.size):
        if piece not in have:
            return max(0, piece_file_span(layout, file, piece)[0] - position)
    return file.size - position


def missing(pieces: Iterable[int], have: Container[int]) -> list[int]:
    return [p for p in pieces if p not in have]


# -- deadlines ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Deadline:
    piece: int
    ms: int  # milliseconds from now


def deadline_schedule(
    layout: Layout,
    file: FileSpan,
    position: int,
    *,
    bitrate: int,
    window_bytes: int,
    have: Container[int] = frozenset(),
    immediate_bytes: int = 0,
    urgency: float = 0.5,
) -> list[Deadline]:
    """Deadlines for the pieces a player at ``position`` needs next.

    The pieces holding ``[position, position + immediate_bytes)`` (at least the current
    one) are due now (0 ms). Each later piece inside the window is due when playback at
    ``bitrate`` reaches its first byte, scaled by ``urgency`` (< 1 asks for it early,
    leaving slack for slow peers). Pieces in ``have`` are left out. The result is sorted
    by piece with non-decreasing deadlines.
    """
    if not 0 <= position < file.size:
        return []
    if bitrate <= 0:
        raise ValueError(f"bitrate must be positive, not {bitrate}")
    bytes_per_ms = bitrate / 8 / 1000
    now_end = position + max(1, immediate_bytes)
    window_end = max(now_end, position + window_bytes)
    schedule: list[Deadline] = []
    for piece in piece_range(layout, file, position, window_end):
        if piece in have:
            continue
        first_byte = piece_file_span(layout, file, piece)[0]
        ahead = first_byte - position
        ms = 0 if first_byte < now_end else int(ahead / bytes_per_ms * urgency)
        schedule.append(Deadline(piece, ms))
    return schedule


# -- the adaptive window --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WindowPolicy:
    """How far ahead of a reader pieces get deadlines."""

    min_s: float = 10.0
    max_s: float = 60.0
    min_pieces: int = 4
    seek_boost: float = 2.0  # window multiplier right after a seek
    seek_boost_s: float = 15.0  # ... lasting this long
    far_ahead: float = 2.0  # buffered more than far_ahead × window: shrink to min_s


@dataclass(frozen=True, slots=True)
class Window:
    seconds: float
    bytes: int


def plan_window(
    policy: WindowPolicy,
    *,
    piece_length: int,
    bitrate: int,
    throughput: float,
    since_seek_s: float | None,
    buffered_s: float,
) -> Window:
    """Size the deadline window of one reader.

    - It grows with measured ``throughput`` relative to the stream's ``bitrate``: a link
      that downloads 3× faster than playback can keep three times as many pieces in
      flight without starving the current one. Measured in bytes it therefore grows
      with both (``seconds × bitrate``).
    - Right after a seek the buffer is empty, so the window is boosted to refill it.
    - Far ahead of the playhead (more than ``far_ahead`` windows buffered) it shrinks
      to the minimum: deadlines are not needed, and rarest-first order (which keeps
      the swarm healthy) takes over.
    """
    if bitrate <= 0:
        raise ValueError(f"bitrate must be positive, not {bitrate}")
    ratio = max(1.0, throughput / bitrate) if throughput > 0 else 1.0
    seconds = policy.min_s * ratio
    if since_seek_s is not None and since_seek_s < policy.seek_boost_s:
        seconds *= policy.seek_boost
    seconds = min(seconds, policy.max_s)
    if buffered_s > policy.far_ahead * seconds:
        seconds = policy.min_s
    seconds = max(policy.min_s, seconds)
    size = max(policy.min_pieces * piece_length, math.ceil(seconds * bitrate / 8))
    return Window(seconds, size)


# -- fast start and resume ------------------------------------------------------------


def _clamp(value: float, low: int, high: int) -> int:
    return int(min(max(value, low), high))


def head_tail_ranges(kind: ContainerKind, size: int) -> list[tuple[int, int]]:
    """File byte ranges to fetch first, before any reader asks, most important first.

    Every byte here competes with the first frame for the peers' upload (issue #15: the
    dedicated streaming clients fetch ~1.5 MB before their first frame), so only what
    the header probe and a player surely read first:

    - MP4/MOV: the start: the ``moov`` index (~0.1-0.2 % of the file) when the file was
      made with ``+faststart``, else the first frames. The end, where plain muxers put
      the ``moov``, a moment later (:func:`late_tail_range`).
    - Matroska: EBML header, SeekHead, Info, Tracks and the first Cluster at the start.
      The ``Cues`` (usually at the end) are read on demand: direct play is decided
      without them (``torrent/probing.py``), an HLS plan waits for them.
    - AVI: header at the start, ``idx1`` at the end (the demuxer reads it on opening).
      Others (TS, ...): the start only.

    Not the tails of MP4 and Matroska: wanted at the metadata, libtorrent requests a
    tail piece before the head (traced: the head then came a piece later), which cost
    every moov-first MP4 and every Matroska file one piece of the seeder's upload before
    the first frame (docs/benchmarks.md).
    """
    if size <= 0:
        return []
    if kind == "mp4":
        head, tail = _mp4_end_bytes(size), 0
    elif kind == "matroska":
        head, tail = _clamp(size * 0.001, 128 * KiB, 4 * MiB), 0
    elif kind == "avi":
        head = 512 * KiB
        tail = _clamp(size * 0.002, 256 * KiB, 4 * MiB)
    else:
        head, tail = 512 * KiB, 0
    head = min(head, size)
    ranges = [(0, head)]
    if tail and size - tail > head:
        ranges.append((size - tail, size))
    elif tail:
        ranges = [(0, size)]
    return ranges


def late_tail_range(kind: ContainerKind, size: int) -> tuple[int, int] | None:
    """The end of an MP4 (its ``moov`` unless the file was made with ``+faststart``), to
    fetch a moment after the head (``torrent.TAIL_AFTER_S``): requested with the head, it
    came first; requested once the head's requests are out, it comes right after the
    head -- in the same round trip, where waiting for the head to say where the ``moov``
    is would cost one more (a tick of a rate-limited seeder: 0.5 s)."""
    if kind != "mp4" or size <= 0:
        return None
    head = tail = min(_mp4_end_bytes(size), size)
    return (size - tail, size) if size - tail > head else None


def _mp4_end_bytes(size: int) -> int:
    """How much of either end of an MP4 to fetch first: its ``moov`` is ~0.1-0.2 % of
    the file (a bigger one is read on demand)."""
    return _clamp(size * 0.002, 128 * KiB, 8 * MiB)


def late_tail_pieces(layout: Layout, file: FileSpan, kind: ContainerKind) -> list[int]:
    """The pieces of :func:`late_tail_range` that are not the head's."""
    tail = late_tail_range(kind, file.size)
    if tail is None:
        return []
    head = set(head_tail_pieces(layout, file, kind))
    return [p for p in piece_range(layout, file, *tail) if p not in head]


def _unique(pieces: Iterable[int]) -> Iterator[int]:
    seen: set[int] = set()
    for piece in pieces:
        if piece not in seen:
            seen.add(piece)
            yield piece


def head_tail_pieces(layout: Layout, file: FileSpan, kind: ContainerKind) -> list[int]:
    """Pieces to fetch first so a player can open the file, in priority order."""
    return list(
        _unique(
            p
            for start, end in head_tail_ranges(kind, file.size)
            for p in piece_range(layout, file, start, end)
        )
    )


def estimate_bitrate(size: int, duration_s: float | None) -> int:
    """Average bitrate of a file, or :data:`DEFAULT_BITRATE` without a duration."""
    if duration_s is None or duration_s <= 0 or size <= 0:
        return DEFAULT_BITRATE
    return max(1, int(size * 8 / duration_s))


def resume_range(
    size: int,
    position_s: float,
    duration_s: float,
    *,
    bitrate: int | None = None,
    back_s: float = 10.0,
    ahead_s: float = 30.0,
) -> tuple[int, int]:
    """File bytes to preload so playback can resume at ``position_s``.

    Without an index the byte offset of a time is a guess (constant bitrate), and the
    player starts at the keyframe *before* the position, so the range reaches
    ``back_s`` earlier and ``ahead_s`` later, at least 1 % of the file either side.
    """
    if size <= 0 or duration_s <= 0:
        return 0, 0
    fraction = min(max(position_s / duration_s, 0.0), 1.0)
    rate = bitrate if bitrate and bitrate > 0 else estimate_bitrate(size, duration_s)
    bytes_per_s = rate / 8
    slack = size * 0.01
    guess = size * fraction
    start = int(max(0.0, guess - max(slack, back_s * bytes_per_s)))
    end = int(min(float(size), guess + max(slack, ahead_s * bytes_per_s)))
    return start, max(start, end)


def resume_pieces(
    layout: Layout,
    file: FileSpan,
    position_s: float,
    duration_s: float,
    *,
    bitrate: int | None = None,
) -> range:
    start, end = resume_range(file.size, position_s, duration_s, bitrate=bitrate)
    return piece_range(layout, file, start, end)
