"""Segment plans: the cut rules, checked against a naive reference and by invariants."""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferrite.errors import MediaError
from ferrite.hls.plan import KEYFRAME_SLACK_S, RUNT_FRACTION, SegmentPlan, make_plans
from ferrite.media.info import KeyframeIndex

TIME_BASES = [
    Fraction(1, 1000),  # Matroska
    Fraction(1, 90000),  # MPEG-TS
    Fraction(1, 15360),  # ffmpeg's MP4 default for 30 fps
    Fraction(1, 24000),
    Fraction(1001, 30000),  # a frame-rate time base (AVI-like)
    Fraction(1, 25),
]


def reference_plans(
    pts: list[int], end: int, tb: Fraction, target: Fraction
) -> tuple[list[int], list[int]]:
    """The rules from the module docstring, written the slow, obvious way:
    (copy boundaries, grid boundaries)."""
    slack = min(KEYFRAME_SLACK_S, target / 2)
    kfs = [p for p in pts if p < end]
    bounds = [kfs[0]]
    for p in kfs[1:]:
        if (p - bounds[-1]) * tb >= target - slack:
            bounds.append(p)
    bounds.append(end)
    if len(bounds) >= 3 and (bounds[-1] - bounds[-2]) * tb < target / 4:
        bounds = [*bounds[:-2], bounds[-1]]
    grid = [bounds[0]]
    for a, b in pairwise(bounds):
        n = max(1, round((b - a) * tb / target + Fraction(1, 10**9)))  # halves round up
        grid += [a + (b - a) * j // n for j in range(1, n)] + [b]
    return bounds, grid


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


def check_invariants(plan: SegmentPlan) -> None:
    b = plan.boundaries
    n = len(plan)
    assert n == len(b) - 1 >= 1
    assert all(x < y for x, y in pairwise(b))
    durations = plan.durations()
    assert all(d > 0 for d in durations)
    assert math.isclose(sum(durations), plan.total_duration, rel_tol=0, abs_tol=1e-6)
    assert plan.total_duration == float((b[-1] - b[0]) * plan.time_base)
    assert plan.max_duration == max(durations)
    for i in range(n):
        assert plan.start(i) < plan.end(i)
        assert plan.index_at(plan.start(i)) == i
        assert plan.index_at((plan.start(i) + plan.end(i)) / 2) in (i, i + 1)  # float ties
        assert plan.index_at_position(plan.position(i)) == i
        if i + 1 < n:
            assert plan.index_at(plan.end(i)) == i + 1
        # Spans tile the timeline: each ends exactly where the next begins.
        sp = plan.span(i)
        assert sp.start is None if i == 0 else sp.start == Fraction(b[i]) * plan.time_base
        assert sp.end is None if i == n - 1 else sp.end == Fraction(b[i + 1]) * plan.time_base
    assert plan.starts() == tuple(plan.start(i) for i in range(n))
    assert plan.index_at(plan.start_s - 1000) == 0
    assert plan.index_at(plan.end_s + 1000) == n - 1
    assert plan.index_at_position(-5.0) == 0
    assert plan.index_at_position(plan.total_duration) == n - 1
    assert plan.position(0) == 0.0


@settings(max_examples=400, deadline=None)
@given(index=keyframe_indexes(), target_s=targets, max_factor=st.sampled_from([1, 1.25, 3, 5]))
def test_plans_match_the_rules(index: KeyframeIndex, target_s: float, max_factor: float) -> None:
    max_s = target_s * max_factor
    plans = make_plans(index, duration_s=1.0, target_s=target_s, max_copy_segment_s=max_s)
    target = Fraction(target_s)
    copy_bounds, grid_bounds = reference_plans(
        list(index.pts), index.end_pts, index.time_base, target
    )
    grid = plans.grid
    assert list(grid.boundaries) == grid_bounds
    assert grid.kind == "grid"
    check_invariants(grid)
    tb = grid.time_base
    longest_copy = max(b - a for a, b in pairwise(copy_bounds)) * tb
    if longest_copy <= max_s:
        assert plans.copy is not None
        assert plans.copy_refusal is None
        assert plans.for_video(copy=True) is plans.copy
        assert list(plans.copy.boundaries) == copy_bounds
        check_invariants(plans.copy)
    else:
        assert plans.copy is None
        assert plans.copy_refusal == "keyframes_too_far"
        with pytest.raises(MediaError):
            plans.for_video(copy=True)
    assert plans.for_video(copy=False) is grid
    # Both plans start at the first keyframe and end where the stream ends.
    assert grid.boundaries[0] == copy_bounds[0] == index.pts[0]
    assert grid.boundaries[-1] == copy_bounds[-1] == index.end_pts
    # Copy segments start on keyframes and last at least the target (but the last one).
    keyframes = set(index.pts)
    assert all(p in keyframes for p in copy_bounds[:-1])
    copy_durations = [(y - x) * tb for x, y in pairwise(copy_bounds)]
    slack = min(KEYFRAME_SLACK_S, target / 2)
    assert all(d >= target - slack for d in copy_durations[:-1])
    if len(copy_durations) >= 2:
        assert copy_durations[-1] >= target * RUNT_FRACTION
    # Every copy boundary is a grid boundary (seamless ABR switches) ...
    assert set(copy_bounds) <= set(grid.boundaries)
    # ... and grid segments are short: at most 1.5 targets (plus a tick of rounding), and
    # at least 2/3 of one unless their whole copy segment is shorter.
    for a, b in pairwise(copy_bounds):
        parts = [d for x, y in pairwise(grid.boundaries) if a <= x < b for d in [(y - x) * tb]]
        assert max(parts) - min(parts) <= tb  # equal parts
        assert all(d <= target * Fraction(3, 2) + tb for d in parts)
        if (b - a) * tb >= target:
            assert all(d >= target * Fraction(2, 3) - tb for d in parts)


@settings(max_examples=60, deadline=None)
@given(
    start_s=st.one_of(st.just(0.0), st.floats(-1.0, 95_000.0)),
    duration_s=st.floats(0.001, 30_000.0),
    target_s=targets,
)
def test_grid_without_keyframes(start_s: float, duration_s: float, target_s: float) -> None:
    plans = make_plans(None, duration_s=duration_s, start_s=start_s, target_s=target_s)
    plan = plans.grid
    assert plans.copy is None
    assert plans.copy_refusal == "no_keyframes"
    assert plan.kind == "grid"
    assert plan.time_base == Fraction(1, 90000)
    check_invariants(plan)
    assert plan.max_duration <= target_s * 1.25 + 1e-9
    # Within one 90 kHz tick of what the container says.
    assert abs(plan.total_duration - duration_s) <= 1 / 90000
    assert abs(plan.start_s - start_s) <= 1 / 90000


def kf(tb: Fraction, times_s: list[float], end_s: float) -> KeyframeIndex:
    return KeyframeIndex(0, tb, tuple(round(t / tb) for t in times_s), round(end_s / tb))


def copy_plan(index: KeyframeIndex, duration_s: float, **kw: float) -> SegmentPlan:
    plans = make_plans(index, duration_s=duration_s, **kw)
    assert plans.copy is not None
    return plans.copy


def test_regular_two_second_gops() -> None:
    plans = make_plans(kf(Fraction(1, 1000), [0, 2, 4, 6, 8], 9.5), duration_s=9.5)
    assert plans.copy is not None
    assert plans.copy.kind == "keyframe"
    assert plans.copy.boundaries == (0, 2000, 4000, 6000, 8000, 9500)
    assert plans.copy.durations() == [2.0, 2.0, 2.0, 2.0, 1.5]
    # Clean 2 s GOPs: transcoded rungs are cut exactly like the copy.
    assert plans.grid.boundaries == plans.copy.boundaries


def test_one_second_gops_make_two_second_segments() -> None:
    plan = copy_plan(kf(Fraction(1, 1000), list(range(10)), 10.0), 10.0)
    assert plan.boundaries == (0, 2000, 4000, 6000, 8000, 10000)


def test_millisecond_rounding_does_not_double_segments() -> None:
    # A 2 s GOP stored with Matroska's 1 ms rounding as 1.999 s.
    plan = copy_plan(kf(Fraction(1, 1000), [0, 1.999, 3.999, 6.0], 8.0), 8.0)
    assert plan.boundaries == (0, 1999, 3999, 6000, 8000)


def test_tiny_tail_merges_into_previous_segment() -> None:
    plan = copy_plan(kf(Fraction(1, 1000), [0, 2, 4, 6], 6.3), 6.3)
    assert plan.boundaries == (0, 2000, 4000, 6300)
    # A tail of a quarter target or more stays its own segment.
    plan = copy_plan(kf(Fraction(1, 1000), [0, 2, 4, 6], 6.5), 6.5)
    assert plan.boundaries == (0, 2000, 4000, 6000, 6500)


def test_x264_default_gop_copies_long_segments_and_transcodes_on_a_short_grid() -> None:
    # keyint=250 at 23.976 fps: a keyframe every 10.427 s, no scene cuts.
    tb = Fraction(1, 24000)
    gop = 250 * 1001
    index = KeyframeIndex(0, tb, tuple(i * gop for i in range(10)), 10 * gop)
    plans = make_plans(index, duration_s=104.27)
    assert plans.copy is not None
    assert plans.copy.boundaries == tuple(i * gop for i in range(11))
    assert len(plans.grid) == 50  # five segments of 2.085 s per GOP
    assert {round(d, 3) for d in plans.grid.durations()} == {2.085}
    assert set(plans.copy.boundaries) <= set(plans.grid.boundaries)


def test_irregular_open_gops() -> None:
    times = [0, 8.4, 11.6, 23.2, 40.2, 45.5, 55.0]
    plans = make_plans(kf(Fraction(1, 1000), times, 60.0), duration_s=60.0)
    assert plans.copy is not None
    assert plans.copy.durations() == [8.4, 3.2, 11.6, 17.0, 5.3, 9.5, 5.0]
    assert plans.grid.max_duration <= 2.1
    assert set(plans.copy.boundaries) <= set(plans.grid.boundaries)


def test_single_keyframe_short_clip() -> None:
    plan = copy_plan(kf(Fraction(1, 90000), [0], 1.5), 1.5)
    assert plan.kind == "keyframe"
    assert len(plan) == 1
    assert plan.duration(0) == 1.5


def test_keyframes_too_far_apart_are_not_copied() -> None:
    plans = make_plans(kf(Fraction(1, 1000), [0], 600.0), duration_s=600.0)
    assert plans.copy is None
    assert plans.copy_refusal == "keyframes_too_far"
    assert len(plans.grid) == 300
    assert set(plans.grid.durations()) == {2.0}
    # The limit is a setting.
    assert (
        make_plans(
            kf(Fraction(1, 1000), [0], 600.0), duration_s=600.0, max_copy_segment_s=600.0
        ).copy
        is not None
    )


def test_source_timeline_is_kept() -> None:
    # A MPEG-TS file that starts at 10 hours.
    tb = Fraction(1, 90000)
    start = 36000 * 90000 + 12345
    index = KeyframeIndex(0, tb, tuple(start + i * 180000 for i in range(5)), start + 900000)
    plan = copy_plan(index, 10.0, start_s=36000.137)
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
    plan = make_plans(None, duration_s=7.1, start_s=1.4).grid
    assert plan.time_base == Fraction(1, 90000)
    assert plan.boundaries == (126000, 306000, 486000, 666000, 765000)
    assert plan.durations() == [2.0, 2.0, 2.0, 1.1]


def test_index_without_end_uses_the_container() -> None:
    index = KeyframeIndex(0, Fraction(1, 1000), (0, 2000, 4000), end_pts=4000)
    plan = copy_plan(index, 5.0)
    assert plan.boundaries == (0, 2000, 4000, 5000)
    # Keyframes at or past the end cannot start a segment.
    index = KeyframeIndex(0, Fraction(1, 1000), (0, 2000, 4000, 6000), end_pts=5000)
    assert copy_plan(index, 5.0).boundaries == (0, 2000, 4000, 5000)


def test_key_is_stable_and_covers_boundaries() -> None:
    a = copy_plan(kf(Fraction(1, 1000), [0, 2, 4], 6.0), 6.0)
    b = copy_plan(kf(Fraction(1, 1000), [0, 2, 4], 6.0), 6.0)
    c = copy_plan(kf(Fraction(1, 1000), [0, 2, 4], 6.5), 6.5)
    d = copy_plan(kf(Fraction(1, 90000), [0, 2, 4], 6.0), 6.0)
    assert a.key == b.key
    assert len(a.key) == 16
    assert int(a.key, 16) >= 0
    assert len({a.key, c.key, d.key}) == 3
    # Pinned: the key must not change between releases, or every cache entry is lost.
    assert a.key == SegmentPlan("keyframe", Fraction(1, 1000), (0, 2000, 4000, 6000)).key


def test_indexes_out_of_range_are_errors() -> None:
    plan = make_plans(None, duration_s=4.0).grid
    with pytest.raises(IndexError):
        plan.start(2)
    with pytest.raises(IndexError):
        plan.duration(-1)
    with pytest.raises(IndexError):
        plan.end_pts(2)
    with pytest.raises(IndexError):
        plan.span(2)


@pytest.mark.parametrize(
    ("target", "maximum"), [(0.0, 10.0), (-1.0, 10.0), (math.nan, 10.0), (4.0, 2.0)]
)
def test_bad_targets_are_rejected(target: float, maximum: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        make_plans(None, duration_s=10.0, target_s=target, max_copy_segment_s=maximum)


def test_nothing_to_play_is_a_media_error() -> None:
    with pytest.raises(MediaError):
        make_plans(None, duration_s=0.0)
    with pytest.raises(MediaError):
        make_plans(None, duration_s=math.nan)
    index = KeyframeIndex(0, Fraction(1, 1000), (5000,), end_pts=4000)
    with pytest.raises(MediaError):
        make_plans(index, duration_s=math.nan)


def test_constructor_checks_invariants() -> None:
    with pytest.raises(ValueError, match="strictly increase"):
        SegmentPlan("keyframe", Fraction(1, 1000), (0, 2000, 2000))
    with pytest.raises(ValueError, match="at least one segment"):
        SegmentPlan("grid", Fraction(1, 1000), (0,))


def test_audio_longer_than_the_picture_gets_segments_of_its_own() -> None:
    # 8 s of video in 2 s GOPs, 11 s of audio: the audio plan continues the grid.
    plans = make_plans(kf(Fraction(1, 1000), [0, 2, 4, 6], 8.0), duration_s=11.0)
    assert plans.grid.boundaries == (0, 2000, 4000, 6000, 8000)
    assert plans.audio.boundaries == (0, 2000, 4000, 6000, 8000, 10000, 11000)
    # A few milliseconds more audio only stretch the last audio segment.
    plans = make_plans(kf(Fraction(1, 1000), [0, 2, 4, 6], 8.0), duration_s=8.026)
    assert plans.audio.boundaries == (0, 2000, 4000, 6000, 8026)
    # A container no longer than the video: one plan for both.
    plans = make_plans(kf(Fraction(1, 1000), [0, 2, 4, 6], 8.0), duration_s=8.0)
    assert plans.audio is plans.grid


def test_a_stream_that_ends_early_gets_a_shorter_plan() -> None:
    plans = make_plans(kf(Fraction(1, 1000), [0, 2, 4, 6, 8], 10.0), duration_s=10.0)
    short = plans.audio.ending_at(5.0)
    assert short.boundaries == (0, 2000, 4000, 5000)
    assert plans.audio.ending_at(9.9).boundaries == (0, 2000, 4000, 6000, 8000, 9900)
    assert plans.audio.ending_at(8.3).boundaries == (0, 2000, 4000, 6000, 8300)  # runt merged
    assert plans.audio.ending_at(12.0) is plans.audio  # outlasting the plan changes nothing
