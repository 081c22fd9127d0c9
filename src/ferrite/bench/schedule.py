"""What each benchmark viewer does and when (pure, deterministic from a seed).

A :class:`ViewerPlan` says when a viewer starts (viewers ramp up over ``ramp_s`` so a run
isn't one thundering herd unless asked for: ``ramp_s=0``), which titles it plays in
order (it moves to the next when one ends, like autoplay of the next episode), when it
seeks and where to (a fraction of whatever title is playing, so the plan doesn't depend
on durations), and whether and when it switches rendition. Times are seconds of wall
clock after the run starts; the same seed and arguments always give the same plans, so
two commits are measured against the same workload.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

#: No seek or switch in the first seconds of a viewer (its start is measured as TTFF).
SETTLE_S = 3.0
#: Seek targets stay this far from the end so a seek has something to play.
TAIL_FRACTION = 0.9


@dataclass(frozen=True, slots=True)
class Seek:
    at_s: float  # after the viewer's own start
    fraction: float  # of the playing title's duration, in [0, TAIL_FRACTION)


@dataclass(frozen=True, slots=True)
class ViewerPlan:
    index: int
    start_s: float  # after the run starts
    items: tuple[int, ...]  # item ids, played in this order (cycled)
    seeks: tuple[Seek, ...]  # sorted by time
    switch_at_s: float | None  # after the viewer's own start; None: never switches

    def item(self, n: int) -> int:
        """The ``n``-th title this viewer plays (0-based), cycling through ``items``."""
        return self.items[n % len(self.items)]


def make_plans(
    *,
    seed: int,
    viewers: int,
    duration_s: float,
    items: Sequence[int],
    seeks: int = 2,
    switch_fraction: float = 0.3,
    ramp_s: float = 5.0,
) -> list[ViewerPlan]:
    """Plans for ``viewers`` viewers of ``items`` over a run of ``duration_s`` seconds.

    Each viewer seeks ``seeks`` times at uniformly random moments of its own watching
    time (after :data:`SETTLE_S`), to uniformly random positions; ``switch_fraction`` of
    the viewers (rounded, chosen at random) switch rendition once.
    """
    if viewers < 0 or seeks < 0 or duration_s <= 0 or ramp_s < 0:
        raise ValueError("viewers, seeks and ramp_s must be >= 0 and duration_s > 0")
    if not 0 <= switch_fraction <= 1:
        raise ValueError("switch_fraction must be in [0, 1]")
    if not items:
        raise ValueError("no items to play")
    rng = random.Random(seed)
    ramp = min(ramp_s, duration_s / 2)
    switchers = set(rng.sample(range(viewers), round(viewers * switch_fraction)))
    plans = []
    for i in range(viewers):
        # the first viewer starts at once; the others in evenly spread slots, jittered
        start = 0.0 if i == 0 else ramp * (i + rng.random()) / viewers
        order = list(items)
        rng.shuffle(order)
        watch = duration_s - start
        window = (SETTLE_S, max(SETTLE_S, watch - 1.0))
        seek_list = sorted(
            (
                Seek(round(rng.uniform(*window), 3), round(rng.uniform(0, TAIL_FRACTION), 4))
                for _ in range(seeks)
            ),
            key=lambda s: s.at_s,
        )
        switch_at = round(rng.uniform(*window), 3) if i in switchers else None
        plans.append(
            ViewerPlan(
                index=i,
                start_s=round(start, 3),
                items=tuple(order),
                seeks=tuple(seek_list),
                switch_at_s=switch_at,
            )
        )
    return plans
