"""The throttle rule of transcode runs, as pure functions of numbers.

The run manager (:mod:`ferrite.transcode.runs`) asks these what to do with a run; the run
(:mod:`ferrite.transcode.run`) does it -- ``SIGSTOP``/``SIGCONT``, slots, retirement. No
clock, no process, no event loop here: tests/transcode/test_throttle.py checks every
decision without ffmpeg.

Throttling
    A session's *playhead* (per key) is the last segment it requested (or reported with
    :meth:`~ferrite.transcode.runs.RunManager.note_position`); look-ahead requests
    (``Priority.PREFETCH``) don't move it. A run with nobody waiting on it that is more
    than ``transcode_ahead_s`` ahead of every playhead attached to it (or has none) is
    paused with ``SIGSTOP`` -- any encoder, zero CPU -- and **gives its admission slot
    back**, so a viewer who paused the film doesn't block a new viewer's first segment.
    Likewise, when a viewer has to queue for a slot, the running run furthest ahead of its
    viewers (at least ``min(10 s, ahead_s / 2)``, nobody waiting on it) is paused for it:
    look-ahead never holds a slot a first segment or a seek needs. It resumes
    (``SIGCONT``) when the furthest playhead comes within half of that (hysteresis: no
    stop/continue per segment), re-acquiring a slot at ``BACKGROUND`` priority (it still
    has a buffer to serve), or at once at the waiter's priority when someone waits for a
    segment it hasn't made yet.

Bounded
    A paused run still holds its ffmpeg (a decoder and an encoder in memory), so runs that
    hold or will hold one -- queued, running, paused -- are capped by ``max_runs``
    (``transcode_max_runs``): a new run beyond the cap retires paused runs, least useful
    first (:func:`retire_order`: nobody watching, then furthest ahead of its viewers, then
    longest unused). Random seeks and stops cannot pile up stopped ffmpegs.

Joining
    A request joins a live run when that run's next segment is the one asked for, or it
    should get there within ``JOIN_HORIZON_S`` at its measured speed (:func:`will_reach`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import Enum
from typing import Literal, Protocol, TypeVar

__all__ = [
    "ASSUMED_SPEED",
    "JOIN_HORIZON_S",
    "PREEMPT_LEAD_S",
    "RESUME_FRACTION",
    "Action",
    "RunState",
    "decide",
    "lead_s",
    "preempt_lead_s",
    "preempt_pick",
    "retire_order",
    "speed",
    "will_reach",
]

RunState = Literal["queued", "running", "paused", "done"]

#: A request joins a live run when that run should make its segment within this many
#: seconds (at the run's measured speed); otherwise a new run starts at the segment: about
#: what a new run takes to make its first segment, so a seek never waits for a run
#: crawling towards it (10 s segments once made a seek wait 18 s).
JOIN_HORIZON_S = 2.5
#: Media seconds per wall second assumed of a run before it has measured its own speed.
ASSUMED_SPEED = 1.0
#: A paused run resumes when the furthest playhead is within this fraction of ahead_s.
RESUME_FRACTION = 0.5
#: A running run at least this far ahead of its viewers (capped at ahead_s / 2) yields its
#: slot to a viewer who has to queue: look-ahead never blocks a first segment.
PREEMPT_LEAD_S = 10.0


class Action(Enum):
    """What :func:`decide` tells the manager to do with a live run."""

    KEEP = "keep"
    #: Someone waits for a segment the run hasn't made: a slot at the waiter's priority.
    RUN = "run"
    #: A viewer came within reach of a paused run: a slot at ``BACKGROUND`` priority.
    RESUME = "resume"
    #: Too far ahead of every viewer (or none left): ``SIGSTOP``, slot given back.
    PAUSE = "pause"
    #: Queued and nobody wants it any more: it never started, nothing to keep.
    RETIRE = "retire"
    #: Paused and queued for a slot it no longer needs: leave the queue.
    DROP_TICKET = "drop_ticket"


def speed(*, running: bool, media_s: float, busy_s: float) -> float:
    """Media seconds a run makes per wall second: measured (``media_s`` made in ``busy_s``
    of running) once there is enough of both; a queued or paused run must first get a
    slot back, so it is assumed slow."""
    if not running or media_s < 1.0 or busy_s < 0.2:
        return ASSUMED_SPEED
    return media_s / busy_s


def will_reach(
    boundaries: Sequence[float],
    next_index: int,
    end: int,
    index: int,
    *,
    speed: float,
    horizon_s: float,
) -> bool:
    """Whether a live run whose next segment is ``next_index`` (and which stops before
    ``end``) makes segment ``index`` now or within ``horizon_s`` seconds at ``speed``."""
    if not next_index <= index < end:
        return False
    if index == next_index:
        return True
    media_s = boundaries[index] - boundaries[next_index]
    return media_s / speed <= horizon_s


def lead_s(boundaries: Sequence[float], next_index: int, furthest: int | None) -> float | None:
    """How far (seconds of media) a run at ``next_index`` is ahead of its ``furthest``
    playhead; None without playheads. Both indices are clamped to the plan's last
    segment (a finished run's next index is one past it)."""
    if furthest is None:
        return None
    last = len(boundaries) - 1
    return boundaries[min(next_index, last)] - boundaries[min(furthest, last)]


def decide(
    state: RunState,
    *,
    waited_on: bool,
    lead: float | None,
    ahead_s: float,
    finished: bool,
    queued_for_slot: bool,
) -> Action:
    """Run, pause, resume or drop a live run according to who waits and who watches.

    ``waited_on``: a request waits for a segment the run hasn't made; ``lead``: see
    :func:`lead_s`; ``finished``: the run has made its last segment (its ffmpeg is exiting
    by itself: a ``SIGSTOP`` now would keep it stopped until the idle reaper comes);
    ``queued_for_slot``: the run holds a ticket in the admission queue.
    """
    if waited_on:
        return Action.RUN
    far = lead is None or lead > ahead_s
    if state == "queued":
        return Action.RETIRE if far else Action.KEEP
    if state == "running":
        return Action.PAUSE if far and not finished else Action.KEEP
    if state == "paused":
        if lead is not None and lead <= ahead_s * RESUME_FRACTION:
            return Action.RESUME
        if queued_for_slot and far:
            return Action.DROP_TICKET
    return Action.KEEP


def preempt_lead_s(ahead_s: float) -> float:
    """How far ahead of its viewers a running run must be to yield its slot to a queued
    viewer: :data:`PREEMPT_LEAD_S`, at most half of ``ahead_s``."""
    return min(PREEMPT_LEAD_S, ahead_s / 2)


T = TypeVar("T")


def preempt_pick(
    candidates: Iterable[tuple[T, float | None]], min_lead_s: float
) -> tuple[T, float] | None:
    """The candidate (with its lead) furthest ahead of its viewers, at least
    ``min_lead_s``; a run without viewers counts as infinitely far ahead. The first one
    wins a tie. None when no candidate is far enough."""
    best: tuple[T, float] | None = None
    for item, lead in candidates:
        far = float("inf") if lead is None else lead
        if far >= min_lead_s and (best is None or far > best[1]):
            best = (item, far)
    return best


class Retirable(Protocol):
    """What :func:`retire_order` looks at."""

    last_used: float

    def lead_s(self) -> float | None: ...


R = TypeVar("R", bound=Retirable)


def retire_order(runs: Iterable[R]) -> list[R]:
    """Paused runs from least to most useful: without viewers first (nobody will come
    back to them), then the furthest ahead of their viewers, then the longest unused."""

    def key(run: R) -> tuple[bool, float, float]:
        lead = run.lead_s()
        return (lead is not None, -(lead or 0.0), run.last_used)

    return sorted(runs, key=key)
