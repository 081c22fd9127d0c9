"""A virtual player buffer: when a viewer would see frames, and when it would stall (pure).

The benchmark doesn't decode anything. It keeps, per viewer, the media position the
player would show and how far its buffer reaches, on an explicit clock (``now`` is passed
in, so this is tested without time passing):

- **starting** / **seeking**: nothing to show yet; the wait ends when a received segment
  covers the position (that wait is the TTFF / the seek latency);
- **playing**: the position advances in real time; if it reaches the end of the buffer
  before the next segment arrives, the player **stalls** from that exact moment (computed,
  not sampled) until a segment covers the position again;
- **ended**: the position reached the end of the title.

Each finished wait becomes an :class:`Event` (``ttff``, ``seek`` or ``stall``, in ms), the
same kinds a real player reports to ``POST /api/playback/{sid}/events``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

State = Literal["starting", "playing", "stalled", "seeking", "ended"]
EventKind = Literal["ttff", "seek", "stall"]

_WAIT_KINDS: dict[State, EventKind] = {"starting": "ttff", "seeking": "seek", "stalled": "stall"}

#: Media seconds of slack: a buffer that reaches within this of the end has the end.
EPSILON = 1e-3


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    ms: float
    at: float  # clock time the wait ended


@dataclass
class VirtualBuffer:
    """Playback of one title from ``start_s``; ``media_end_s`` is its end."""

    media_end_s: float
    start_s: float = 0.0
    now: float = 0.0
    state: State = "starting"
    position_s: float = field(init=False)
    buffered_to_s: float = field(init=False)
    waiting_since: float = field(init=False)
    events: list[Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.position_s = self.start_s
        self.buffered_to_s = self.start_s
        self.waiting_since = self.now

    # -- time ------------------------------------------------------------------------------
    def advance(self, now: float) -> None:
        """Move the clock to ``now`` (never backwards), playing what is buffered."""
        if now <= self.now:
            return
        if self.state == "playing":
            reach = self.position_s + (now - self.now)
            if reach >= self.buffered_to_s:
                ran_dry_at = self.now + (self.buffered_to_s - self.position_s)
                self.position_s = self.buffered_to_s
                if self.buffered_to_s >= self.media_end_s - EPSILON:
                    self.state = "ended"
                else:
                    self.state = "stalled"
                    self.waiting_since = ran_dry_at
            else:
                self.position_s = reach
        self.now = now

    def ahead_s(self, now: float) -> float:
        """Media seconds buffered beyond the position at ``now``."""
        self.advance(now)
        return max(0.0, self.buffered_to_s - self.position_s)

    def runs_dry_at(self) -> float | None:
        """Clock time at which playback would stall (or end) with no more data."""
        if self.state != "playing":
            return None
        return self.now + (self.buffered_to_s - self.position_s)

    # -- what the driver reports ---------------------------------------------------------
    def received(self, now: float, end_s: float) -> Event | None:
        """Data up to media time ``end_s`` is now playable (every track of it arrived).
        Returns the event of a wait this ended, if any."""
        self.advance(now)
        self.buffered_to_s = max(self.buffered_to_s, min(end_s, self.media_end_s))
        if self.state in ("starting", "seeking", "stalled") and (
            self.buffered_to_s > self.position_s + EPSILON
            or self.buffered_to_s >= self.media_end_s - EPSILON
        ):
            kind = _WAIT_KINDS[self.state]
            event = Event(kind, (now - self.waiting_since) * 1000, now)
            self.events.append(event)
            self.state = "playing"
            return event
        return None

    def seek(self, now: float, position_s: float) -> None:
        """The viewer jumps to ``position_s``: the buffer is dropped, a seek wait begins.
        (A stall in progress ends without being counted: the viewer left it.)"""
        self.advance(now)
        position_s = min(max(0.0, position_s), self.media_end_s)
        self.position_s = position_s
        self.buffered_to_s = position_s
        self.state = "seeking"
        self.waiting_since = now

    @property
    def ended(self) -> bool:
        return self.state == "ended"
