"""Fakes shared by the tests: one of each, never a copy per folder."""

from __future__ import annotations


class FakeClock:
    """A clock the test moves by hand: ``clock()`` is ``clock.now``."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
