"""The one place that sets piece priorities and deadlines of one torrent.

Readers never call libtorrent's ``set_piece_deadline``/``piece_priority`` themselves:
each states what it wants (``want(owner, deadlines)``) and the scheduler merges the
wishes of every reader of the torrent — a piece wanted by two readers gets one request
with the earlier deadline, and a reader that seeks away or closes only withdraws its
own wishes (the other readers' deadlines stay).

Two libtorrent behaviours shape this (src/torrent.cpp, ``set_piece_deadline`` and
``remove_time_critical_piece``): setting a deadline raises the piece's priority to 7,
and *resetting* one drops it to 1 — below the default 4 — so a piece a reader gave up
would be downloaded last. The scheduler therefore restores the piece's base priority
after every reset. Base priorities are 4 (libtorrent's default: the whole torrent keeps
downloading rarest-first) except pieces given a preload priority (head/tail of a video,
resume position), which go first. Sequential download is never used.

**Start-up hold.** From a video torrent's metadata until its first player has been
playing for a few seconds (or nobody came to play), every piece nobody asked for has
priority 0: the peers' upload goes to the pieces of the first frame (head/tail preloads,
the probe's and the player's deadlines) instead of being shared with rarest-first
requests for the rest of the torrent, which would queue ahead of them (``hold`` /
``release_hold``; the engine's housekeeping decides when). Background reads (the full
probe) wait for the end of the hold too: a peer serves requests in order, so theirs
would delay the player's next pieces right after its first frame.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Protocol

from ferrite.torrent.pieces import Deadline

DEFAULT_PRIORITY = 4
#: Pieces a background reader (the full probe behind a player) reads: after the head/tail
#: preloads and every deadline, before the rest of the torrent.
BACKGROUND_PRIORITY = 5
PRELOAD_PRIORITY = 6
#: Wishes due later than this get PRELOAD_PRIORITY instead of a deadline (which means 7),
#: until a replan brings them closer. libtorrent's regular picker takes the pieces of one
#: priority in random order, so a window of deadlines is fetched out of order: traced, a
#: player waited 1.9 s for the first piece of its window while the seven after it came
#: (issue #15, the stalls right after the first frame).
HORIZON_S = 1.0


class PieceTarget(Protocol):
    """What the scheduler drives: a libtorrent handle (or a fake in tests)."""

    def set_piece_deadline(self, piece: int, ms: int) -> None: ...
    def reset_piece_deadline(self, piece: int) -> None: ...
    def piece_priority(self, piece: int, priority: int) -> None: ...
    def prioritize_pieces(self, priorities: list[int]) -> None: ...


class PieceScheduler:
    """Merges the piece wishes of every reader of one torrent."""

    def __init__(
        self,
        target: PieceTarget,
        *,
        clock: Callable[[], float] = time.monotonic,
        tolerance_ms: int = 200,
        horizon_s: float = HORIZON_S,
    ) -> None:
        self._target = target
        self._clock = clock
        self._tolerance = tolerance_ms / 1000
        self._horizon = horizon_s
        self._lock = threading.Lock()
        self._wants: dict[Hashable, dict[int, float]] = {}  # owner -> piece -> due (clock)
        self._applied: dict[int, float] = {}  # piece -> due last sent to libtorrent
        self._near: set[int] = set()  # wished for beyond the horizon: PRELOAD_PRIORITY
        self._base: dict[int, int] = {}  # piece -> priority other than DEFAULT_PRIORITY
        self._done: set[int] = set()
        self._closed = False
        self._holding = False
        self._num_pieces = 0
        self.calls = 0  # libtorrent calls made, for tests and metrics

    # -- readers -------------------------------------------------------------------
    def want(self, owner: Hashable, deadlines: Iterable[Deadline]) -> None:
        """Replace ``owner``'s wishes with ``deadlines`` (pieces done are ignored)."""
        with self._lock:
            if self._closed:
                return
            now = self._clock()
            new = {d.piece: now + d.ms / 1000 for d in deadlines if d.piece not in self._done}
            old = self._wants.get(owner, {})
            if new:
                self._wants[owner] = new
            else:
                self._wants.pop(owner, None)
            for piece in old.keys() | new.keys():
                self._apply(piece, now)

    def release(self, owner: Hashable) -> None:
        """Withdraw every wish of ``owner`` (a reader that seeked away or closed)."""
        self.want(owner, ())

    # -- the engine ----------------------------------------------------------------
    def preload(self, pieces: Iterable[int], priority: int = PRELOAD_PRIORITY) -> None:
        """Fetch these pieces before the rest of the torrent (not time-critical)."""
        with self._lock:
            if self._closed:
                return
            for piece in pieces:
                if piece in self._done or self._base.get(piece, DEFAULT_PRIORITY) >= priority:
                    continue
                self._base[piece] = priority
                if piece not in self._applied:  # a deadline already holds priority 7
                    self._call(self._target.piece_priority, piece, self._priority(piece))

    def hold(self, num_pieces: int) -> None:
        """Start-up: until :meth:`release_hold`, pieces nobody asked for get priority 0."""
        with self._lock:
            if self._closed or self._holding:
                return
            self._holding = True
            self._num_pieces = num_pieces
            self._call_all()

    def release_hold(self) -> None:
        """Back to downloading the whole torrent (rarest first, base priorities)."""
        with self._lock:
            if self._closed or not self._holding:
                return
            self._holding = False
            self._call_all()

    @property
    def holding(self) -> bool:
        return self._holding

    def held(self, piece: int) -> bool:
        """Whether the start-up hold keeps ``piece`` from being fetched now."""
        with self._lock:
            return self._holding and piece not in self._applied and self._priority(piece) == 0

    def completed(self, piece: int) -> None:
        """The piece passed its hash check: libtorrent has dropped its deadline."""
        with self._lock:
            self._done.add(piece)
            self._applied.pop(piece, None)
            self._near.discard(piece)
            self._base.pop(piece, None)
            for wants in self._wants.values():
                wants.pop(piece, None)

    def lost(self, piece: int) -> None:
        """A piece we had is gone again (recheck, storage error): wishes apply again."""
        with self._lock:
            self._done.discard(piece)

    def reapply(self) -> None:
        """Send every current deadline again (after the torrent was paused and
        resumed: libtorrent's own list of time-critical pieces may be gone)."""
        with self._lock:
            if self._closed:
                return
            now = self._clock()
            for piece, due in self._applied.items():
                self._call(self._target.set_piece_deadline, piece, max(0, int((due - now) * 1000)))

    def close(self) -> None:
        """The torrent is gone: forget everything, never touch the handle again."""
        with self._lock:
            self._closed = True
            self._wants.clear()
            self._applied.clear()
            self._near.clear()

    # -- inspection ----------------------------------------------------------------
    def windows(self) -> dict[Hashable, tuple[int, int]]:
        """``owner -> (first, last)`` piece each reader currently has deadlines on."""
        with self._lock:
            return {o: (min(w), max(w)) for o, w in self._wants.items() if w}

    def deadlines(self) -> dict[int, float]:
        """``piece -> due time`` as sent to libtorrent (a copy)."""
        with self._lock:
            return dict(self._applied)

    # -- internals -----------------------------------------------------------------
    def _call(self, fn: Callable[..., None], *args: int) -> None:
        self.calls += 1
        fn(*args)

    def _priority(self, piece: int) -> int:
        """The piece's priority without a deadline (lock held); a wish beyond the
        horizon counts as a preload. While holding, a
        background read (the full probe) waits too: its requests would queue at the
        peer ahead of the player's next pieces (a stall right after the first frame)."""
        base = self._base.get(piece)
        if piece in self._near:
            base = max(base or 0, PRELOAD_PRIORITY)
        if base is None:
            return 0 if self._holding else DEFAULT_PRIORITY
        return 0 if self._holding and base <= BACKGROUND_PRIORITY else base

    def _call_all(self) -> None:
        """Every piece's priority in one call (lock held); deadlines keep 7."""
        priorities = [
            7 if p in self._applied else DEFAULT_PRIORITY if p in self._done else self._priority(p)
            for p in range(self._num_pieces)
        ]
        self.calls += 1
        self._target.prioritize_pieces(priorities)

    def _apply(self, piece: int, now: float) -> None:
        due = min((w[piece] for w in self._wants.values() if piece in w), default=None)
        current = self._applied.get(piece)
        if due is not None and current is None and due - now > self._horizon:
            # Wanted, not yet urgent: before the rest of the torrent, after every deadline.
            if piece not in self._near:
                self._near.add(piece)
                self._call(self._target.piece_priority, piece, self._priority(piece))
            return
        if piece in self._near:
            self._near.discard(piece)
            if due is None:  # withdrawn before it became urgent
                self._call(self._target.piece_priority, piece, self._priority(piece))
                return
        if due is None:
            if current is not None:
                del self._applied[piece]
                self._call(self._target.reset_piece_deadline, piece)
                # reset_piece_deadline leaves priority 1; put the piece back in line.
                self._call(self._target.piece_priority, piece, self._priority(piece))
            return
        # Only ever move a deadline earlier: a later wish is already covered, and
        # re-sending the same deadline each read would flood the network thread.
        if current is None or due < current - self._tolerance:
            self._applied[piece] = due
            self._call(self._target.set_piece_deadline, piece, max(0, int((due - now) * 1000)))
