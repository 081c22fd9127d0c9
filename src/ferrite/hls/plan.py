"""The segment plan: where every rendition of one media file is cut.

A segment is a pure function of (media fingerprint, rendition, segment index), so the cut
points must not depend on which rendition, which client or which transcode run asks. The
plan is computed once per file from the stored keyframe index, and every rendition
(stream copy, every transcode rung, video and audio) is cut at exactly these times.

The rule
--------

*Keyframe plan* (``kind="keyframe"``, ``video_copy_ok=True``):

1. The first boundary is the first keyframe; the last boundary is the end of the stream
   (``KeyframeIndex.end_pts``; when the index has no usable end, the container's
   ``start_s + duration_s``). Keyframes at or after the end are ignored.
2. A new segment starts at the first keyframe at or after ``previous boundary + target_s
   - 5 ms``. The 5 ms slack is shorter than a frame at any real frame rate (120 fps is
   8.3 ms) and longer than Matroska's 1 ms timestamp rounding, so a 2 s GOP stored as
   1.999 s makes 2 s segments rather than 4 s ones.
3. A last segment shorter than a quarter of ``target_s`` is a runt: it is merged into the
   previous segment (the last keyframe boundary is dropped), unless the merged segment
   would be longer than ``max_segment_s``.

*Grid plan* (``kind="grid"``, ``video_copy_ok=False``) — used when

- any keyframe-plan segment would be longer than ``max_segment_s`` (long or irregular
  GOPs: a stream copy must start each segment on a keyframe, so copy is not offered;
  transcodes force keyframes on the grid), ``grid_reason="long_gop"``; or
- there is no keyframe index (audio-only files, or video the probe could not index),
  ``grid_reason="no_keyframes"``.

Grid boundaries are ``start, start + target_s, start + 2 * target_s, ...`` then the end,
with the same runt rule. The grid starts where the keyframe plan would have started (the
first keyframe), or at ``start_s`` when there is no index. Audio may always be stream
copied, whatever the plan (``audio_copy_ok``): every audio frame is a sync sample, so the
packager cuts audio at the frame nearest each boundary.

Time
----

Boundaries are integers in ``time_base`` on the SOURCE timeline: the keyframe index's own
time base for keyframe plans and for long-GOP grids, 1/90000 for grids without an index.
A MPEG-TS file that starts at 36000 s keeps boundaries near 36000 s, so segments cut by
different runs or renditions carry the same timestamps and fit together. Seconds are
returned as floats computed from the exact integers. Two timelines appear in the API:

- *source time* (``start``, ``end``, ``index_at``, ``start_s``): seconds on the file's own
  timeline, what the demuxer and ffmpeg ``-ss`` see;
- *position* (``position``, ``index_at_position``, ``to_position``): seconds from the
  plan's first boundary, which is time 0 of every playlist and of the player's clock.
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import pairwise
from typing import Literal

from ferrite.errors import MediaError
from ferrite.media.info import KeyframeIndex

PlanKind = Literal["keyframe", "grid"]
GridReason = Literal["no_keyframes", "long_gop"]

#: Time base of grids made without a keyframe index: the MPEG-TS clock, exact for
#: millisecond and frame-rate multiples alike.
GRID_TIME_BASE = Fraction(1, 90000)
#: How early a keyframe may be and still end a target-length segment (see the rule).
KEYFRAME_SLACK_S = Fraction(1, 200)
#: A last segment shorter than this fraction of the target merges into the previous one.
RUNT_FRACTION = Fraction(1, 4)


@dataclass(frozen=True, slots=True)
class SegmentPlan:
    """Segment boundaries of one media file; segment ``i`` spans ``[b[i], b[i + 1])``.

    ``boundaries`` holds ``len(plan) + 1`` strictly increasing integers in ``time_base``.
    Build plans with :func:`make_plan`; the constructor only checks the invariants.
    """

    kind: PlanKind
    time_base: Fraction
    boundaries: tuple[int, ...]
    video_copy_ok: bool
    grid_reason: GridReason | None = None
    _times: tuple[float, ...] = field(init=False, repr=False, compare=False)
    _positions: tuple[float, ...] = field(init=False, repr=False, compare=False)
    _key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        b = self.boundaries
        if self.time_base <= 0:
            raise ValueError(f"time base must be positive, not {self.time_base}")
        if len(b) < 2:
            raise ValueError("a plan needs at least one segment (two boundaries)")
        for i in range(len(b) - 1):
            if b[i + 1] <= b[i]:
                raise ValueError(f"boundaries must strictly increase: {b[i]} then {b[i + 1]}")
        tb = self.time_base
        num, den = tb.numerator, tb.denominator
        # int / int is correctly rounded in Python, so this equals float(p * tb), and is
        # an order of magnitude faster than building a Fraction per boundary.
        object.__setattr__(self, "_times", tuple(p * num / den for p in b))
        object.__setattr__(self, "_positions", tuple((p - b[0]) * num / den for p in b))
        # The key covers exactly what decides segment contents: time base and boundaries.
        canonical = f"{tb.numerator}/{tb.denominator}:" + ",".join(map(str, b))
        digest = hashlib.sha256(canonical.encode("ascii")).hexdigest()
        object.__setattr__(self, "_key", digest[:16])

    def __len__(self) -> int:
        return len(self.boundaries) - 1

    def _check(self, i: int) -> None:
        # Negative indexes would silently wrap around; a segment URL "-1.m4s" is an error.
        if not 0 <= i < len(self.boundaries) - 1:
            raise IndexError(f"segment {i} out of range 0..{len(self.boundaries) - 2}")

    @property
    def key(self) -> str:
        """16 hex digits of SHA-256 over the time base and every boundary.

        Equal keys mean identical cut points, so it belongs in every segment cache key.
        """
        return self._key

    @property
    def audio_copy_ok(self) -> bool:
        """Audio can always be stream copied: every audio frame is a sync sample."""
        return True

    # -- source timeline -------------------------------------------------------------

    def start_pts(self, i: int) -> int:
        self._check(i)
        return self.boundaries[i]

    def end_pts(self, i: int) -> int:
        self._check(i)
        return self.boundaries[i + 1]

    def start(self, i: int) -> float:
        """Source time (seconds) where segment ``i`` starts."""
        self._check(i)
        return self._times[i]

    def end(self, i: int) -> float:
        """Source time (seconds) where segment ``i`` ends (the next one's start)."""
        self._check(i)
        return self._times[i + 1]

    def duration(self, i: int) -> float:
        self._check(i)
        b, tb = self.boundaries, self.time_base
        return (b[i + 1] - b[i]) * tb.numerator / tb.denominator

    def durations(self) -> list[float]:
        """Every segment's duration in seconds, for EXTINF."""
        num, den = self.time_base.numerator, self.time_base.denominator
        return [(y - x) * num / den for x, y in pairwise(self.boundaries)]

    @property
    def start_s(self) -> float:
        """Source time of the plan's first boundary (playlist time 0)."""
        return self._times[0]

    @property
    def end_s(self) -> float:
        return self._times[-1]

    @property
    def total_duration(self) -> float:
        """Exact sum of all segment durations, in seconds."""
        b, tb = self.boundaries, self.time_base
        return (b[-1] - b[0]) * tb.numerator / tb.denominator

    def index_at(self, t: float) -> int:
        """The segment containing source time ``t``; clamped to the first/last segment."""
        i = bisect_right(self._times, t) - 1
        return min(max(i, 0), len(self._times) - 2)

    # -- playlist timeline (position 0 = first boundary) --------------------------------

    def position(self, i: int) -> float:
        """Playlist time (seconds from the plan start) where segment ``i`` starts."""
        self._check(i)
        return self._positions[i]

    def end_position(self, i: int) -> float:
        """Playlist time where segment ``i`` ends (exactly the next one's ``position``)."""
        self._check(i)
        return self._positions[i + 1]

    def index_at_position(self, position: float) -> int:
        """The segment containing playlist time ``position``; clamped like ``index_at``."""
        i = bisect_right(self._positions, position) - 1
        return min(max(i, 0), len(self._positions) - 2)

    def to_position(self, t: float) -> float:
        """Source time to playlist time."""
        return t - self._times[0]

    def to_source(self, position: float) -> float:
        """Playlist time to source time."""
        return position + self._times[0]


def make_plan(
    keyframes: KeyframeIndex | None,
    *,
    duration_s: float,
    start_s: float = 0.0,
    target_s: float = 2.0,
    max_segment_s: float = 10.0,
) -> SegmentPlan:
    """The segment plan of one file (the rule is in this module's docstring).

    ``duration_s`` and ``start_s`` are the container's; they place grids without an index
    and stand in for an index's missing end. Raises ``ValueError`` for bad targets and
    :class:`~ferrite.errors.MediaError` for media with nothing to play.
    """
    if not (math.isfinite(target_s) and target_s > 0):
        raise ValueError(f"target_s must be a positive number, not {target_s}")
    if not (math.isfinite(max_segment_s) and max_segment_s >= target_s):
        raise ValueError(f"max_segment_s ({max_segment_s}) must be >= target_s ({target_s})")
    target, max_len = Fraction(target_s), Fraction(max_segment_s)
    container_ok = math.isfinite(start_s) and math.isfinite(duration_s) and duration_s > 0

    if keyframes is None or not keyframes.pts:
        if not container_ok:
            raise MediaError(f"media has no duration to play (duration {duration_s} s)")
        tb = GRID_TIME_BASE
        start = round(Fraction(start_s) / tb)
        end = start + round(Fraction(duration_s) / tb)
        if end <= start:
            raise MediaError(f"media is too short to play (duration {duration_s} s)")
        return _grid_plan(start, end, tb, target, max_len, "no_keyframes")

    tb = keyframes.time_base
    end = keyframes.end_pts
    if end <= keyframes.pts[-1] and container_ok:
        # The index does not know where the stream ends: trust the container instead.
        end = max(end, round((Fraction(start_s) + Fraction(duration_s)) / tb))
    pts = keyframes.pts[: bisect_left(keyframes.pts, end)]
    if not pts:
        raise MediaError("the keyframe index ends before its first keyframe")

    bounds = _keyframe_bounds(pts, end, tb, target)
    _merge_runt(bounds, tb, target, max_len)
    if max(b - a for a, b in pairwise(bounds)) * tb > max_len:
        return _grid_plan(pts[0], end, tb, target, max_len, "long_gop")
    return SegmentPlan("keyframe", tb, tuple(bounds), video_copy_ok=True)


def _keyframe_bounds(pts: tuple[int, ...], end: int, tb: Fraction, target: Fraction) -> list[int]:
    slack = min(KEYFRAME_SLACK_S, target / 2)
    # Smallest tick distance that counts as "at or after previous + target - slack".
    need = max(1, math.ceil((target - slack) / tb))
    bounds = [pts[0]]
    j = 0
    while True:
        j = bisect_left(pts, bounds[-1] + need, lo=j + 1)
        if j >= len(pts):
            break
        bounds.append(pts[j])
    bounds.append(end)
    return bounds


def _grid_plan(
    start: int, end: int, tb: Fraction, target: Fraction, max_len: Fraction, reason: GridReason
) -> SegmentPlan:
    # Floor keeps every full grid step <= target (hence <= max_segment_s) in coarse bases.
    step = max(1, math.floor(target / tb))
    bounds = [*range(start, end, step), end]
    _merge_runt(bounds, tb, target, max_len)
    return SegmentPlan("grid", tb, tuple(bounds), video_copy_ok=False, grid_reason=reason)


def _merge_runt(bounds: list[int], tb: Fraction, target: Fraction, max_len: Fraction) -> None:
    if len(bounds) < 3:
        return
    if (bounds[-1] - bounds[-2]) * tb < target * RUNT_FRACTION and (
        bounds[-1] - bounds[-3]
    ) * tb <= max_len:
        del bounds[-2]
