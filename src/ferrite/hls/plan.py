"""Segment plans: where every rendition of one media file is cut — one plan per kind.

A segment is a pure function of (media fingerprint, rendition, segment index), so the cut
points must not depend on which client or which transcode run asks. The plans are
computed once per file from the stored keyframe index (:func:`make_plans`), and a
rendition is cut at exactly the boundaries of its kind's plan:

- **copy plan** — the video stream copy. A copied segment must start on a source keyframe,
  so this plan follows the keyframes (long segments are fine: they cost nothing to make;
  ``TARGETDURATION`` follows them).
- **grid plan** — everything else: transcoded video rungs (the encoder forces a keyframe
  at every boundary, whatever the source's GOP), audio (copied or transcoded: every audio
  frame is a sync sample) and WebVTT subtitles. Short segments, so a transcode starts and
  seeks fast.

The rules
---------

*Copy plan* (``kind="keyframe"``):

1. The first boundary is the first keyframe; the last boundary is the end of the stream
   (``KeyframeIndex.end_pts``; when the index has no usable end, the container's
   ``start_s + duration_s``). Keyframes at or after the end are ignored.
2. A new segment starts at the first keyframe at or after ``previous boundary + target_s
   - 5 ms``. The 5 ms slack is shorter than a frame at any real frame rate (120 fps is
   8.3 ms) and longer than Matroska's 1 ms timestamp rounding, so a 2 s GOP stored as
   1.999 s makes 2 s segments rather than 4 s ones.
3. A last segment shorter than a quarter of ``target_s`` is a runt: it is merged into the
   previous segment (the last keyframe boundary is dropped).

The copy plan is *offered* (:attr:`Plans.copy`) only when its longest segment is at most
``max_copy_segment_s`` (a file with one keyframe every few minutes, or a single one, would
make segments too big to hold in memory or to start from) and its keyframes are not H.264
open-GOP recovery points (a segment starting on one does not decode on its own: pictures
after it reference the previous GOP, and browsers fail on them after a seek). Otherwise
the video is transcoded.

*Grid plan* (``kind="grid"``):

- With a keyframe index, every copy-plan segment ``[a, b)`` is divided into
  ``n = max(1, round((b - a) / target_s))`` equal parts. Every copy boundary is therefore
  also a grid boundary — an ABR switch between the copy rendition and a transcoded rung at
  any copy boundary is seamless — and every grid segment lasts between 2/3 and 3/2 of the
  target (a short last copy segment excepted). A source with 2 s GOPs gets a grid equal to
  its copy plan; a 10.4 s GOP becomes five segments of 2.08 s.
- Without an index (audio-only files, video the probe could not index) the grid is
  ``start, start + target_s, ...`` then the end, with the copy plan's runt rule.
- Audio and subtitles use the grid too, continued in ``target_s`` steps (same runt rule)
  to the container's end where the file outlasts its video (:attr:`Plans.audio`), so
  audio longer than the picture is neither lost nor crammed into the last segment.

A transcode that starts at grid index ``k`` decodes from the source keyframe before it and
outputs exactly from ``k``'s time (``ferrite.transcode.argv``).

Time
----

Boundaries are integers in ``time_base`` on the SOURCE timeline: the keyframe index's own
time base, or 1/90000 for grids without an index. A MPEG-TS file that starts at 36000 s
keeps boundaries near 36000 s, so segments cut by different runs or renditions carry the
same timestamps and fit together. Both plans of a file start at the same boundary, which
is time 0 of every playlist and of the player's clock. Two timelines appear in the API:

- *source time* (``start``, ``end``, ``index_at``, ``start_s``): seconds on the file's own
  timeline, what the demuxer and ffmpeg ``-ss`` see;
- *position* (``position``, ``index_at_position``, ``to_position``): seconds from the
  plan's first boundary.
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
from ferrite.hls.timeline import Span
from ferrite.media.info import KeyframeIndex

PlanKind = Literal["keyframe", "grid"]
#: Why a file's video can't be stream copied into segments.
CopyRefusal = Literal["no_keyframes", "keyframes_too_far", "open_gop"]

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
    Build plans with :func:`make_plans`; the constructor only checks the invariants.
    """

    kind: PlanKind
    time_base: Fraction
    boundaries: tuple[int, ...]
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

    def starts(self) -> tuple[float, ...]:
        """Every segment's start, in source seconds (what ffmpeg's arguments take)."""
        return self._times[:-1]

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

    def span(self, i: int, *, open_end: bool = True) -> Span:
        """Segment ``i`` as exact source times for the packager. The first span is open at
        the start (AAC priming, pictures before the first keyframe) and, with
        ``open_end``, the last one at the end, so no packet is lost. Audio closes the end:
        audio past the plan's end (past what the container says the file lasts) would
        make the last segment outlast its ``EXTINF``."""
        self._check(i)
        b, tb = self.boundaries, self.time_base
        start = None if i == 0 else Fraction(b[i]) * tb
        end = None if i == len(b) - 2 and open_end else Fraction(b[i + 1]) * tb
        return Span(i, start, end)

    @property
    def max_duration(self) -> float:
        """The longest segment, in seconds."""
        num, den = self.time_base.numerator, self.time_base.denominator
        return max(y - x for x, y in pairwise(self.boundaries)) * num / den

    def ending_at(self, end_s: float) -> SegmentPlan:
        """This plan for a stream that ends at source time ``end_s``, before the plan does
        (an audio track shorter than the picture): segments past its end dropped, the last
        one ending there (a short tail merges into the segment before). The plan itself
        when the stream outlasts it."""
        tb = self.time_base
        end = round(Fraction(end_s) / tb)
        b = self.boundaries
        if end >= b[-1] or end <= b[0]:
            return self
        bounds = [*b[: bisect_left(b, end)], end]
        _merge_runt(bounds, tb, _target_of(self))
        return SegmentPlan(self.kind, tb, tuple(bounds))

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


@dataclass(frozen=True, slots=True)
class Plans:
    """The plans of one media file: ``copy`` for the video stream copy (``None`` when the
    video can't be copied into segments, ``copy_refusal`` says why), ``grid`` for
    transcoded video, ``audio`` for audio and subtitles."""

    grid: SegmentPlan
    #: Audio and subtitles: the grid, extended to the container's end where the file
    #: outlasts its video (audio longer than the picture); the grid itself otherwise.
    audio: SegmentPlan
    copy: SegmentPlan | None
    copy_refusal: CopyRefusal | None = None

    def for_video(self, copy: bool) -> SegmentPlan:
        """The plan of a video rendition (copied or transcoded)."""
        if not copy:
            return self.grid
        if self.copy is None:
            raise MediaError(f"this video can't be stream copied ({self.copy_refusal})")
        return self.copy


def make_plans(
    keyframes: KeyframeIndex | None,
    *,
    duration_s: float,
    start_s: float = 0.0,
    target_s: float = 2.0,
    max_copy_segment_s: float = 20.0,
) -> Plans:
    """The plans of one file (the rules are in this module's docstring).

    ``duration_s`` and ``start_s`` are the container's; they place grids without an index
    and stand in for an index's missing end. Raises ``ValueError`` for bad targets and
    :class:`~ferrite.errors.MediaError` for media with nothing to play.
    """
    if not (math.isfinite(target_s) and target_s > 0):
        raise ValueError(f"target_s must be a positive number, not {target_s}")
    if not (math.isfinite(max_copy_segment_s) and max_copy_segment_s >= target_s):
        raise ValueError(
            f"max_copy_segment_s ({max_copy_segment_s}) must be >= target_s ({target_s})"
        )
    target = Fraction(target_s)
    container_ok = math.isfinite(start_s) and math.isfinite(duration_s) and duration_s > 0

    if keyframes is None or not keyframes.pts:
        if not container_ok:
            raise MediaError(f"media has no duration to play (duration {duration_s} s)")
        tb = GRID_TIME_BASE
        start = round(Fraction(start_s) / tb)
        end = start + round(Fraction(duration_s) / tb)
        if end <= start:
            raise MediaError(f"media is too short to play (duration {duration_s} s)")
        grid = _fixed_grid(start, end, tb, target)
        return Plans(grid, grid, None, "no_keyframes")

    tb = keyframes.time_base
    end = keyframes.end_pts
    if end <= keyframes.pts[-1] and container_ok:
        # The index does not know where the stream ends: trust the container instead.
        end = max(end, round((Fraction(start_s) + Fraction(duration_s)) / tb))
    pts = keyframes.pts[: bisect_left(keyframes.pts, end)]
    if not pts:
        raise MediaError("the keyframe index ends before its first keyframe")

    bounds = _keyframe_bounds(pts, end, tb, target)
    _merge_runt(bounds, tb, target)
    copy = SegmentPlan("keyframe", tb, tuple(bounds))
    grid_bounds = _subdivide(bounds, tb, target)
    grid = SegmentPlan("grid", tb, tuple(grid_bounds))
    audio = grid
    container_end = round((Fraction(start_s) + Fraction(duration_s)) / tb) if container_ok else end
    if container_end > end:
        # The grid continues past the picture's end for the audio (a short overhang
        # merges into the last segment by the runt rule).
        step = max(1, math.floor(target / tb))
        longer = [*grid_bounds[:-1], *range(end, container_end, step), container_end]
        _merge_runt(longer, tb, target)
        audio = SegmentPlan("grid", tb, tuple(longer))
    if keyframes.open_gop:
        return Plans(grid, audio, None, "open_gop")
    if copy.max_duration > max_copy_segment_s:
        return Plans(grid, audio, None, "keyframes_too_far")
    return Plans(grid, audio, copy)


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


def _subdivide(bounds: list[int], tb: Fraction, target: Fraction) -> list[int]:
    """Every segment of ``bounds`` cut into equal parts of about ``target`` (integer
    ticks, so the parts differ by at most one tick)."""
    out = [bounds[0]]
    for a, b in pairwise(bounds):
        n = max(1, math.floor((b - a) * tb / target + Fraction(1, 2)))
        out.extend(a + (b - a) * j // n for j in range(1, n))
        out.append(b)
    return out


def _fixed_grid(start: int, end: int, tb: Fraction, target: Fraction) -> SegmentPlan:
    # Floor keeps every full grid step <= target in coarse time bases.
    step = max(1, math.floor(target / tb))
    bounds = [*range(start, end, step), end]
    _merge_runt(bounds, tb, target)
    return SegmentPlan("grid", tb, tuple(bounds))


def _target_of(plan: SegmentPlan) -> Fraction:
    """The target a plan was made for, as its typical (median) segment length."""
    d = sorted(y - x for x, y in pairwise(plan.boundaries))
    return d[len(d) // 2] * plan.time_base


def _merge_runt(bounds: list[int], tb: Fraction, target: Fraction) -> None:
    if len(bounds) >= 3 and (bounds[-1] - bounds[-2]) * tb < target * RUNT_FRACTION:
        del bounds[-2]
