"""Timestamps of packaged segments: the source timeline, the offset, and who owns a packet.

Pure rules the packager carries out and the playlist/WebVTT code relies on.

**Times.** A segment is a half-open interval ``[start, end)`` of *source presentation
time in seconds*, as exact :class:`fractions.Fraction` values (a keyframe pts times its
stream's time base, converted without rounding). ``None`` for ``start`` means "from the
beginning of the file" (segment 0 also gets anything before the first boundary, e.g. AAC
priming at a negative pts); ``None`` for ``end`` means "to the end of the file".

**Ownership** (so that every packet lands in exactly one segment of a rendition):

* a *video* packet belongs to the segment containing the pts of the most recent keyframe
  at or before it in decode order (a GOP travels whole; open-GOP leading pictures go with
  the keyframe they follow in decode order);
* an *audio* packet belongs to the segment containing its own pts.

**Timeline offset.** Output timestamps are the source's plus one per-file constant,
:func:`timeline_offset` (whole seconds, hence exact in every timescale: 90 kHz, 48 kHz,
1/1000...). fMP4 ``tfdt`` is unsigned and MPEG-TS has no negative timestamps, while
sources do start below zero (AAC priming with an edit list, Opus pre-skip, B-frame DTS):
the base of 10 s keeps every decode time positive. The same constant applies to every
rendition and segment of a file, so media time ``t_out = t_source + timeline_offset``;
WebVTT segments carry ``X-TIMESTAMP-MAP=MPEGTS:<(offset + cue_zero) * 90000 mod 2**33>``
for cue times measured on the source timeline.

**Decode times.** MKV stores no DTS, and the DTS FFmpeg guesses after a seek differ
from those of a linear read, which would make a segment depend on where the read started.
So decode times are derived from presentation times (:func:`derived_decode_times`):
``dts_i = sorted(pts)_i - D`` within a segment, where ``D`` is one per-file constant (the
stream's reorder delay, measured once on the file's first GOPs). The decode timeline then
ends each segment exactly where the next one begins, ``tfdt`` is the segment's earliest
pts minus ``D``, and composition offsets are never negative. (They are written in a
version-1 ``trun``, which allows negative ones, but FFmpeg's mov demuxer shows a picture
at ``dts + ctts + dts_shift``, ``dts_shift`` being the largest negative offset seen so
far: negative offsets would put video late against audio in every FFmpeg-based player.)
MPEG-TS uses the same decode times.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

__all__ = [
    "AAC_FRAME",
    "TIMELINE_BASE_OFFSET_S",
    "Span",
    "aac_frame_range",
    "derived_decode_times",
    "in_span",
    "mpegts_timestamp_map",
    "reorder_delay",
    "span",
    "spans",
    "timeline_offset",
    "to_ticks",
    "unwrap_ts",
]

#: Seconds added to every output timestamp of every file (see the module docstring).
TIMELINE_BASE_OFFSET_S = 10
#: Samples per AAC-LC frame.
AAC_FRAME = 1024
_TS_WRAP = 1 << 33


def timeline_offset(start_time_s: float | Fraction | None) -> int:
    """Whole seconds added to every packaged timestamp of a file.

    ``start_time_s`` is the file's start time as probed (``MediaInfo.start_time_s``, the
    earliest pts of any stream). Files that start more than a second below zero get the
    excess on top of the 10 s base, so decode times are never negative.
    """
    start = Fraction(start_time_s or 0)
    return TIMELINE_BASE_OFFSET_S + max(0, math.ceil(-start))


def mpegts_timestamp_map(offset_s: int, local_s: Fraction = Fraction(0)) -> int:
    """90 kHz MPEG-TS time of source time ``local_s`` (for WebVTT ``X-TIMESTAMP-MAP``)."""
    return round((offset_s + local_s) * 90000) % _TS_WRAP


@dataclass(frozen=True, slots=True)
class Span:
    """Segment ``index`` covers source presentation times ``[start, end)`` in seconds."""

    index: int
    start: Fraction | None
    end: Fraction | None

    def contains(self, t: Fraction) -> bool:
        return in_span(t, self.start, self.end)


def in_span(t: Fraction, start: Fraction | None, end: Fraction | None) -> bool:
    return (start is None or t >= start) and (end is None or t < end)


def spans(boundaries: Sequence[Fraction]) -> list[Span]:
    """Spans of a segment plan given its segment start times (increasing, first = 0's).

    The first span is open at the start and the last one at the end, so packets before the
    first boundary or after the last one are not lost.
    """
    n = len(boundaries)
    return [span(boundaries, i) for i in range(n)]


def span(boundaries: Sequence[Fraction], index: int) -> Span:
    """The :class:`Span` of segment ``index`` of a plan with these segment start times."""
    n = len(boundaries)
    if not 0 <= index < n:
        raise IndexError(f"segment {index} out of range (plan has {n})")
    start = None if index == 0 else Fraction(boundaries[index])
    end = None if index == n - 1 else Fraction(boundaries[index + 1])
    return Span(index, start, end)


def to_ticks(t: Fraction, timescale: int) -> int:
    """``t`` seconds in units of ``1/timescale``, rounded half to even."""
    return round(t * timescale)


def derived_decode_times(
    pts: Sequence[int], next_start: int | None, last_duration: int, delay: int = 0
) -> tuple[list[int], list[int]]:
    """Decode times and durations of a segment's samples (in decode order) from their pts.

    ``dts_i`` is the i-th smallest pts minus ``delay``; a sample lasts until the next
    decode time; the last one until ``next_start - delay`` (``next_start``: the earliest pts
    of the following segment) or, at the end of the file, ``last_duration``. Returns
    ``(dts, durations)`` in the same units as ``pts``.
    """
    dts = [p - delay for p in sorted(pts)]
    durations = [b - a for a, b in itertools.pairwise(dts)]
    if dts:
        tail = next_start - delay - dts[-1] if next_start is not None else last_duration
        durations.append(max(tail, 0))
    return dts, durations


def aac_frame_range(
    anchor: int, rate: int, start: Fraction | None, end: Fraction | None
) -> tuple[int, int | None]:
    """Indexes ``[k0, k1)`` of the global AAC frames a transcoded segment carries.

    Frame ``k`` starts at sample ``anchor + 1024 k`` (``anchor``: the audio stream's first
    sample on the source timeline, in units of ``1/rate``). A frame belongs to the segment
    whose span contains its start time. Frame ``-1`` is the encoder's priming frame and
    belongs to segment 0 (``start is None``). ``k1`` is None for the last segment (until the
    encoder is drained).
    """
    k0 = -1 if start is None else max(-1, math.ceil((start * rate - anchor) / AAC_FRAME))
    if end is None:
        return k0, None
    k1 = max(k0, math.ceil((end * rate - anchor) / AAC_FRAME))
    return k0, k1


def reorder_delay(pts: Sequence[int]) -> int:
    """Smallest ``D`` with ``sorted(pts)_i - D <= pts_i`` for packets in decode order."""
    return max((o - p for o, p in zip(sorted(pts), pts, strict=True)), default=0)


def unwrap_ts(pts: int, reference: int, bits: int = 33) -> int:
    """``pts`` plus the multiple of ``2**bits`` that brings it closest to ``reference``."""
    period = 1 << bits
    return pts + round((reference - pts) / period) * period
