"""What to do when someone waits for pieces and nothing arrives (pure logic).

libtorrent alone recovers slowly from the two stalls a viewer notices: with nobody
connected it redials a failed peer only after ``min_reconnect_time`` (60 s), and a
connection that stopped delivering (a stalled uTP stream, a peer that went silent)
is dropped only after ``peer_timeout`` (120 s). A stream can't wait that long, so the
engine's alert thread feeds one observation per torrent per tick to a
:class:`StallWatch`, which answers:

* ``REDIAL`` -- someone waits or reads, nobody is connected: dial the explicit peers
  again (every ``redial_s``). Not only once a read waits: a player still playing from
  its buffer needs the seeder back before that buffer runs out, and libtorrent's own
  redial of a peer that failed to answer comes ``min_reconnect_time`` x (1 + its failure
  count) later (issue #15: a seeder restarting during play, back within 3 s);
* ``RECONNECT`` -- someone waits, peers are connected, yet no payload byte arrived
  for ``stall_s``: drop every connection and dial again. Repeated reconnects without
  progress back off (doubling up to ``max_stall_s``) so a swarm where nobody has the
  piece isn't churned every few seconds.

Waiting is what matters: an idle torrent that receives nothing is not stalled.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

REDIAL_S = 1.0
STALL_S = 8.0
MAX_STALL_S = 64.0


class Action(enum.Enum):
    NONE = "none"
    REDIAL = "redial"
    RECONNECT = "reconnect"


@dataclass
class StallWatch:
    """The stall state of one torrent; ``observe`` once per housekeeping tick."""

    redial_s: float = REDIAL_S
    stall_s: float = STALL_S
    max_stall_s: float = MAX_STALL_S
    _payload: int = -1
    _progress_at: float = 0.0
    _wait_since: float | None = None
    _acted_at: float = -math.inf
    _patience: float = field(default=0.0, init=False)
    quiet_s: float = field(default=0.0, init=False)  # the silence that caused the last RECONNECT

    def __post_init__(self) -> None:
        self._patience = self.stall_s

    @property
    def patience(self) -> float:
        """Seconds without payload before the next reconnect (grows while it fails)."""
        return self._patience

    def observe(
        self,
        now: float,
        *,
        waiting: bool,
        peers: int,
        payload: int,
        can_redial: bool,
        reading: bool = False,
    ) -> Action:
        """``payload``: the torrent's payload bytes received so far (a counter that
        may restart at 0); ``can_redial``: whether there are explicit peers to dial;
        ``reading``: a reader is open (someone plays, maybe from its buffer)."""
        if payload != self._payload:
            # Only growth is progress: not the first sight of the counter, and not its
            # reset to 0 (libtorrent restarts it when a torrent is paused and resumed,
            # which is how a reconnect drops connections).
            if 0 <= self._payload < payload:
                self._progress_at = now
                self._patience = self.stall_s
            self._payload = payload
        if not waiting:
            self._wait_since = None
        elif self._wait_since is None:
            self._wait_since = now
        since = self._wait_since
        if peers == 0 and (waiting or reading):
            if can_redial and now - self._acted_at >= self.redial_s:
                self._acted_at = now
                return Action.REDIAL
            return Action.NONE
        if since is None:  # nobody waits
            return Action.NONE
        quiet = now - max(self._progress_at, since, self._acted_at)
        if quiet >= self._patience:
            self.quiet_s = quiet
            self._acted_at = now
            self._patience = min(self._patience * 2, self.max_stall_s)
            return Action.RECONNECT
        return Action.NONE
