"""Segment plans: the cut rule, checked against a naive reference and by invariants."""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferrite.errors import MediaError
from ferrite.hls.plan import KEYFRAME_SLACK_S, RUNT_FRACTION, SegmentPlan, make_plan
from ferrite.media.info import KeyframeIndex

TIME_BASES = [
    Fraction(1, 1000),  # Matroska
    Fraction(1, 90000),  # MPEG-TS
    Fraction(1, 15360),  # ffmpeg's MP4 default for 30 fps
    Fraction(1, 24000),
    Fraction(1001, 30000),  # a frame-rate time base (AVI-like)
    Fraction(1, 25),
]


def reference_plan(
    pts: list[int], end: int, tb: Fraction, target: Fraction, max_len: Fraction
) -> tuple[str, list[int]]:
    """The rule from the module docstring, written the slow, obvious way."""
    slack = min(KEYFRAME_SLACK_S, target / 2)

    def merge_runt(b: list[int]) -> list[int]:
        if len(b) >= 3 and (b[-1] - b[-2]) * tb < target / 4 and (b[-1] - b[-3]) * tb <= max_len:
            return [*b[:-2], b[-1]]
        return b

    kfs = [p for p in pts if p < end]
    bounds = [kfs[0]]
    for p in kfs[1:]:
        if (p - bounds[-1]) * tb >= target - slack:
            bounds.append(p)
    bounds = merge_runt([*bounds, end])
    if all((b - a) * tb <= max_len for a, b in pairwise(bounds)):
        return "keyframe", bounds
    step = max(1, math.floor(target / tb))
    grid = [kfs[0]]
    while grid[-1] + step < end:
        grid.append(grid[-1] + step)
    return "grid", merge_runt([*grid, end])


@st.composite
def keyframe_indexes(draw: st.DrawFn) -> KeyframeIndex:
    tb = draw(st.sampled_from(TIME_BASES))
    ticks_per_s = 1 / tb
    # Up to 26.5 hours of offset: the whole 33-bit MPEG-TS clock, and a little negative.
    offset_s = draw(st.one_of(st.just(0), st.integers(-2, 95_443)))
    first = round(offset_s * ticks_per_s) + draw(st.integers(0, 5))
    gop_s = st.one_of(
        st.sampled_from([1.0, 2.0, 2.002, 1.999, 4.0, 0.5, 10.0]),  # regular GOPs
        st.floats(0.01, 12.0),  # irregular (scene cuts)
        st.floats(12.0, 60.0),  # very long GOPs
    )
    gaps = draw(st.lists(gop_s, min_size=0, max_size=80))
    pts = [first]
    for g in gaps:
        pts.append(pts[-1] + max(1, round(g * ticks_per_s)))
    tail_s = draw(st.one_of(st.floats(0.001, 15.0), st.sampled_from([0.04, 0.3, 2.0])))
    end = pts[-1] + max(1, round(tail_s * ticks_per_s))
    return KeyframeIndex(stream_index=0, time_base=tb, pts=tuple(pts), end_pts=end)


targets = st.sampled_from([1.0, 2.0, 2.5, 4.0, 6.0])


def check_invariants(plan: SegmentPlan, target_s: float, max_s: float) -> None:
    b = plan.boundaries
    n = len(plan)
    assert n == len(b) - 1 >= 1
    assert all(x < y for x, y in pairwise(b))
    durations = plan.durations()
    assert all(d > 0 for d in durations)
    assert math.isclose(sum(durations), plan.total_duration, rel_tol=0, abs_tol=1e-6)
    assert plan.total_duration == float((b[-1] - b[0]) * plan.time_base)
    assert max(durations) <= max_s + 1e-9
    for i in range(n):
        assert plan.start(i) < plan.end(i)
        assert plan.index_at(plan.start(i)) == i
        assert plan.index_at((plan.start(i) + plan.end(i)) / 2) in (i, i + 1)  # float ties
        assert plan.index_at_position(plan.position(i)) == i
        if i + 1 < n:
            assert plan.index_at(plan.end(i)) == i + 1
    assert plan.index_at(plan.start_s - 1000) == 0
    assert plan.index_at(plan.end_s + 1000) == n - 1
    assert plan.index_at_position(-5.0) == 0
    assert plan.index_at_position(plan.total_duration) == n - 1
    assert plan.position(0) == 0.0
    if plan.kind == "grid":
        assert not plan.video_copy_ok
        assert plan.grid_reason is not None
    else:
        assert plan.video_copy_ok
        assert plan.grid_reason is None
    assert plan.audio_copy_ok


@settings(max_examples=400, deadline=None)
@given(index=keyframe_indexes(), target_s=targets, max_factor=st.sampled_from([1, 1.25, 3, 5]))
def test_plan_matches_the_rule(index: KeyframeIndex, target_s: float, max_factor: float) -> None:
    max_s = target_s * max_factor
    plan = make_plan(index, duration_s=1.0, target_s=target_s, max_segment_s=max_s)
    kind, bounds = reference_plan(
        list(index.pts), index.end_pts, index.time_base, Fraction(target_s), Fraction(max_s)
    )
    assert (plan.kind, list(plan.boundaries)) == (kind, bounds)
    check_invariants(plan, target_s, max_s)
    tb = plan.time_base
    assert plan.boundaries[0] == index.pts[0]  # plans start at the first keyframe...
    assert plan.boundaries[-1] == index.end_pts  # ...and end where the stream ends
    durations = [(y - x) * tb for x, y in pairwise(plan.boundaries)]
    if plan.kind == "keyframe":
        keyframes = set(index.pts)
        assert all(p in keyframes for p in plan.boundaries[:-1])
        assert all(d >= Fraction(target_s) - KEYFRAME_SLACK_S for d in durations[:-1])
        if len(durations) >= 2 and durations[-1] < Fraction(target_s) * RUNT_FRACTION:
            assert durations[-1] + durations[-2] > max_s  # a runt only stays if it must
    else:
        assert plan.grid_reason == "long_gop"
        step = max(1, math.floor(Fraction(target_s) / tb))
        assert all(y - x == step for x, y in pairwise(plan.boundaries[:-1]))


@settings(max_examples=60, deadline=None)
@given(
    start_s=st.one_of(st.just(0.0), st.floats(-1.0, 95_000.0)),
    duration_s=st.floats(0.001, 30_000.0),
    target_s=targets,
)
def test_grid_without_keyframes(start_s: float, duration_s: float, target_s: float) -> None:
    plan = make_plan(None, duration_s=duration_s, start_s=start_s, target_s=target_s)
    assert plan.kind == "grid"
    assert plan.grid_reason == "no_keyframes"
    assert plan.time_base == Fraction(1, 90000)
    check_invariants(plan, target_s, 10.0)
    # Within one 90 kHz tick of what the container says.
    assert abs(plan.total_duration - duration_s) <= 1 / 90000
    assert abs(plan.start_s - start_s) <= 1 / 90000


def kf(tb: Fraction, times_s: list[float], end_s: float) -> KeyframeIndex:
    return KeyframeIndex(0, tb, tuple(round(t / tb) for t in times_s), round(end_s / tb))


def test_regular_two_second_gops() -> None:
    plan = make_plan(kf(Fraction(1, 1000), [0, 2, 4, 6, 8], 9.5), duration_s=9.5)
    assert plan.kind == "keyframe"
    assert plan.boundaries == (0, 2000, 4000, 6000, 8000, 9500)
    assert plan.durations() == [2.0, 2.0, 2.0, 2.0, 1.5]


def test_one_second_gops_make_two_second_segments() -> None:
    plan = make_plan(kf(Fraction(1, 1000), list(range(10)), 10.0), duration_s=10.0)
    assert plan.boundaries == (0, 2000, 4000, 6000, 8000, 10000)


def test_millisecond_rounding_does_not_double_segments() -> None:
    # A 2 s GOP stored with Matroska's 1 ms rounding as 1.999 s.
    plan = make_plan(kf(Fraction(1, 1000), [0, 1.999, 3.999, 6.0], 8.0), duration_s=8.0)
    assert plan.boundaries == (0, 1999, 3999, 6000, 8000)


def test_tiny_tail_merges_into_previous_segment() -> None:
    plan = make_plan(kf(Fraction(1, 1000), [0, 2, 4, 6], 6.3), duration_s=6.3)
    assert plan.boundaries == (0, 2000, 4000, 6300)
    # A tail of a quarter target or more stays its own segment.
    plan = make_plan(kf(Fraction(1, 1000), [0, 2, 4, 6], 6.5), duration_s=6.5)
    assert plan.boundaries == (0, 2000, 4000, 6000, 6500)


def test_runt_stays_when_merging_would_exceed_the_maximum() -> None:
    index = kf(Fraction(1, 1000), [0, 10], 10.2)
    plan = make_plan(index, duration_s=10.2, target_s=2.0, max_segment_s=10.0)
    assert plan.kind == "keyframe"
    assert plan.boundaries == (0, 10000, 10200)


def test_single_keyframe_short_clip() -> None:
    plan = make_plan(kf(Fraction(1, 90000), [0], 1.5), duration_s=1.5)
    assert plan.kind == "keyframe"
    assert len(plan) == 1
    assert plan.duration(0) == 1.5


def test_keyframe_only_at_zero_becomes_a_grid() -> None:
    plan = make_plan(kf(Fraction(1, 1000), [0], 60.0), duration_s=60.0)
    assert plan.kind == "grid"
    assert plan.grid_reason == "long_gop"
    assert not plan.video_copy_ok
    assert plan.audio_copy_ok
    assert len(plan) == 30
    assert set(plan.durations()) == {2.0}


def test_one_long_gop_anywhere_makes_the_whole_plan_a_grid() -> None:
    times = [0, 2, 4, 6, 18, 20]  # a 12 s GOP in the middle
    plan = make_plan(kf(Fraction(1, 1000), times, 22.0), duration_s=22.0)
    assert plan.kind == "grid"
    assert plan.boundaries == tuple(range(0, 22001, 2000))


def test_source_timeline_is_kept() -> None:
    # A MPEG-TS file that starts at 10 hours.
    tb = Fraction(1, 90000)
    start = 36000 * 90000 + 12345
    index = KeyframeIndex(0, tb, tuple(start + i * 180000 for i in range(5)), start + 900000)
    plan = make_plan(index, duration_s=10.0, start_s=36000.137)
    assert plan.boundaries[0] == start
    assert plan.start(0) == float(Fraction(start, 90000))
    assert plan.position(0) == 0.0
    assert plan.position(2) == 4.0
    assert plan.total_duration == 10.0
    assert plan.index_at(plan.start_s + 5.0) == 2
    assert plan.index_at_position(5.0) == 2
    assert plan.to_position(plan.start(3)) == pytest.approx(6.0, abs=1e-9)
    assert plan.to_source(6.0) == pytest.approx(plan.start(3), abs=1e-9)


def test_grid_without_index_uses_container_times() -> None:
    plan = make_plan(None, duration_s=7.1, start_s=1.4)
    assert plan.time_base == Fraction(1, 90000)
    assert plan.boundaries == (126000, 306000, 486000, 666000, 765000)
    assert plan.durations() == [2.0, 2.0, 2.0, 1.1]


def test_index_without_end_uses_the_container() -> None:
    index = KeyframeIndex(0, Fraction(1, 1000), (0, 2000, 4000), end_pts=4000)
    plan = make_plan(index, duration_s=5.0)
    assert plan.boundaries == (0, 2000, 4000, 5000)
    # Keyframes at or past the end cannot start a segment.
    index = KeyframeIndex(0, Fraction(1, 1000), (0, 2000, 4000, 6000), end_pts=5000)
    assert make_plan(index, duration_s=5.0).boundaries == (0, 2000, 4000, 5000)


def test_key_is_stable_and_covers_boundaries() -> None:
    a = make_plan(kf(Fraction(1, 1000), [0, 2, 4], 6.0), duration_s=6.0)
    b = make_plan(kf(Fraction(1, 1000), [0, 2, 4], 6.0), duration_s=6.0)
    c = make_plan(kf(Fraction(1, 1000), [0, 2, 4], 6.5), duration_s=6.5)
    d = make_plan(kf(Fraction(1, 90000), [0, 2, 4], 6.0), duration_s=6.0)
    assert a.key == b.key
    assert len(a.key) == 16
    assert int(a.key, 16) >= 0
    assert len({a.key, c.key, d.key}) == 3
    # Pinned: the key must not change between releases, or every cache entry is lost.
    assert a.key == SegmentPlan("keyframe", Fraction(1, 1000), (0, 2000, 4000, 6000), True).key


def test_indexes_out_of_range_are_errors() -> None:
    plan = make_plan(None, duration_s=4.0)
    with pytest.raises(IndexError):
        plan.start(2)
    with pytest.raises(IndexError):
        plan.duration(-1)
    with pytest.raises(IndexError):
        plan.end_pts(2)


@pytest.mark.parametrize(
    ("target", "maximum"), [(0.0, 10.0), (-1.0, 10.0), (math.nan, 10.0), (4.0, 2.0)]
)
def test_bad_targets_are_rejected(target: float, maximum: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        make_plan(None, duration_s=10.0, target_s=target, max_segment_s=maximum)


def test_nothing_to_play_is_a_media_error() -> None:
    with pytest.raises(MediaError):
        make_plan(None, duration_s=0.0)
    with pytest.raises(MediaError):
        make_plan(None, duration_s=math.nan)
    index = KeyframeIndex(0, Fraction(1, 1000), (5000,), end_pts=4000)
    with pytest.raises(MediaError):
        make_plan(index, duration_s=math.nan)


def test_constructor_checks_invariants() -> None:
    with pytest.raises(ValueError, match="strictly increase"):
        SegmentPlan("keyframe", Fraction(1, 1000), (0, 2000, 2000), True)
    with pytest.raises(ValueError, match="at least one segment"):
        SegmentPlan("grid", Fraction(1, 1000), (0,), False)
