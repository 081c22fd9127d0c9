"""The throttle rule of transcode runs, without ffmpeg: pause/resume, joining, preemption
and retirement decided from numbers alone."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ferrite.transcode.throttle import (
    ASSUMED_SPEED,
    PREEMPT_LEAD_S,
    Action,
    RunState,
    decide,
    lead_s,
    preempt_lead_s,
    preempt_pick,
    retire_order,
    speed,
    will_reach,
)

#: Ten 4-second segments: segment i starts at 4 * i.
PLAN = [4.0 * i for i in range(10)]
AHEAD_S = 30.0


def _decide(
    state: RunState,
    lead: float | None,
    *,
    waited_on: bool = False,
    finished: bool = False,
    queued_for_slot: bool = False,
) -> Action:
    return decide(
        state,
        waited_on=waited_on,
        lead=lead,
        ahead_s=AHEAD_S,
        finished=finished,
        queued_for_slot=queued_for_slot,
    )


# -- speed --------------------------------------------------------------------------------


def test_speed_is_measured_once_there_is_enough_of_it() -> None:
    assert speed(running=True, media_s=12.0, busy_s=3.0) == 4.0


@pytest.mark.parametrize(
    ("running", "media_s", "busy_s"),
    [
        (False, 12.0, 3.0),  # paused or queued: must get a slot back first
        (True, 0.9, 3.0),  # less than a second of media made
        (True, 12.0, 0.1),  # too short a measurement
    ],
)
def test_speed_is_assumed_until_measured(running: bool, media_s: float, busy_s: float) -> None:
    assert speed(running=running, media_s=media_s, busy_s=busy_s) == ASSUMED_SPEED


# -- the join horizon ---------------------------------------------------------------------


def test_the_next_segment_is_always_reached() -> None:
    # Even at a crawl: the run is making it now.
    assert will_reach(PLAN, 3, 10, 3, speed=0.01, horizon_s=0.0)


def test_a_segment_within_the_horizon_at_the_runs_speed_is_reached() -> None:
    # Segment 5 is 8 s of media past segment 3: 2 s at 4x, 8 s at 1x.
    assert will_reach(PLAN, 3, 10, 5, speed=4.0, horizon_s=2.5)
    assert not will_reach(PLAN, 3, 10, 5, speed=1.0, horizon_s=2.5)


def test_the_horizon_is_inclusive() -> None:
    assert will_reach(PLAN, 3, 10, 4, speed=1.6, horizon_s=2.5)  # 4 s / 1.6 = 2.5 s
    assert not will_reach(PLAN, 3, 10, 4, speed=1.5, horizon_s=2.5)


@pytest.mark.parametrize("index", [0, 2, 10, 11])
def test_segments_behind_the_run_or_past_its_end_are_never_reached(index: int) -> None:
    assert not will_reach(PLAN, 3, 10, index, speed=1000.0, horizon_s=1000.0)


# -- lead ---------------------------------------------------------------------------------


def test_lead_is_media_seconds_between_the_run_and_its_furthest_playhead() -> None:
    assert lead_s(PLAN, 7, 2) == 20.0


def test_no_playhead_means_no_lead() -> None:
    assert lead_s(PLAN, 7, None) is None


def test_a_finished_run_leads_from_the_last_segment() -> None:
    # next == len(plan) once the last segment is made: clamped, not an IndexError.
    assert lead_s(PLAN, 10, 5) == 16.0
    assert lead_s(PLAN, 10, 12) == 0.0


def test_a_viewer_ahead_of_the_run_gives_a_negative_lead() -> None:
    assert lead_s(PLAN, 2, 5) == -12.0


# -- decide -------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["queued", "running", "paused"])
def test_a_waiter_always_gets_the_run_going(state: RunState) -> None:
    assert _decide(state, None, waited_on=True) is Action.RUN
    assert _decide(state, 1000.0, waited_on=True, finished=True) is Action.RUN


def test_a_running_run_pauses_past_ahead_s_not_at_it() -> None:
    assert _decide("running", AHEAD_S) is Action.KEEP
    assert _decide("running", AHEAD_S + 0.1) is Action.PAUSE


def test_a_running_run_without_viewers_pauses() -> None:
    assert _decide("running", None) is Action.PAUSE


def test_a_run_that_made_its_last_segment_is_never_paused() -> None:
    # Its ffmpeg is exiting: a SIGSTOP would keep it stopped until the reaper.
    assert _decide("running", None, finished=True) is Action.KEEP
    assert _decide("running", 1000.0, finished=True) is Action.KEEP


def test_a_queued_run_nobody_wants_is_retired() -> None:
    assert _decide("queued", None) is Action.RETIRE
    assert _decide("queued", AHEAD_S + 1) is Action.RETIRE
    assert _decide("queued", AHEAD_S) is Action.KEEP


def test_a_paused_run_resumes_at_half_ahead_s_hysteresis() -> None:
    assert _decide("paused", AHEAD_S / 2) is Action.RESUME
    assert _decide("paused", 0.0) is Action.RESUME
    # Between half and ahead_s: neither resume nor leave the queue (no stop/continue per
    # segment).
    assert _decide("paused", AHEAD_S / 2 + 0.1) is Action.KEEP
    assert _decide("paused", AHEAD_S / 2 + 0.1, queued_for_slot=True) is Action.KEEP
    assert _decide("paused", AHEAD_S) is Action.KEEP


def test_a_paused_run_queued_for_a_slot_it_no_longer_needs_leaves_the_queue() -> None:
    assert _decide("paused", AHEAD_S + 1, queued_for_slot=True) is Action.DROP_TICKET
    assert _decide("paused", None, queued_for_slot=True) is Action.DROP_TICKET
    # Not queued: nothing to drop.
    assert _decide("paused", None) is Action.KEEP


def test_a_done_run_is_kept_as_it_is() -> None:
    assert _decide("done", None) is Action.KEEP


# -- preemption ---------------------------------------------------------------------------


def test_preempt_lead_is_capped_at_half_ahead_s() -> None:
    assert preempt_lead_s(60.0) == PREEMPT_LEAD_S
    assert preempt_lead_s(8.0) == 4.0


def test_preempt_picks_the_run_furthest_ahead() -> None:
    assert preempt_pick([("a", 12.0), ("b", 25.0), ("c", 15.0)], 10.0) == ("b", 25.0)


def test_preempt_counts_a_run_without_viewers_as_infinitely_ahead() -> None:
    assert preempt_pick([("a", 25.0), ("orphan", None)], 10.0) == ("orphan", float("inf"))


def test_preempt_threshold_is_inclusive_and_ties_go_to_the_first() -> None:
    assert preempt_pick([("a", 10.0), ("b", 10.0)], 10.0) == ("a", 10.0)
    assert preempt_pick([("a", 9.9), ("b", -3.0)], 10.0) is None
    assert preempt_pick([], 10.0) is None


# -- retirement ---------------------------------------------------------------------------


@dataclass
class _Paused:
    name: str
    lead: float | None
    last_used: float

    def lead_s(self) -> float | None:
        return self.lead


def test_retire_order_ranks_orphans_then_far_ahead_then_stale() -> None:
    runs = [
        _Paused("near", 5.0, 100.0),
        _Paused("orphan-recent", None, 300.0),
        _Paused("far", 50.0, 100.0),
        _Paused("orphan-old", None, 200.0),
        _Paused("near-stale", 5.0, 10.0),
        _Paused("level", 0.0, 1.0),
    ]
    assert [r.name for r in retire_order(runs)] == [
        "orphan-old",
        "orphan-recent",
        "far",
        "near-stale",
        "near",
        "level",
    ]
