"""What one torrent has, who waits for what it hasn't, and the verified piece bytes.

The alert thread marks pieces as they pass their hash check (``mark``); reader threads
block in ``wait`` until theirs arrive, the torrent goes away (``fail``) or their own
deadline passes. One condition variable serves the whole torrent: a finished piece
wakes its waiters, who recheck; there is no polling.

Piece *bytes* come from libtorrent's ``read_piece`` (``piece_data``), never from our
own reads of the file on disk. libtorrent 2.x marks a piece as "have" once it passes
the hash check, which can be before every block has left its store buffer for the
memory-mapped file (``piece_picker::have_piece`` is ``passed_hash_check || flushed``
in src/piece_picker.cpp), so a plain ``pread`` right after ``piece_finished_alert``
could see stale bytes. ``read_piece`` is answered by the disk subsystem, which consults
that store buffer, so it always yields the verified bytes; it also works for pieces
kept in a part file and for renamed files. Requests are deduplicated (two readers of
one piece cause one ``read_piece``) and results kept in a small LRU bounded in bytes.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from ferrite.errors import FerriteError, Timeout, TorrentError

ErrorFactory = Callable[[], FerriteError]


class PieceBoard:
    """Piece availability and piece bytes of one torrent (thread-safe)."""

    def __init__(
        self,
        num_pieces: int,
        *,
        fetch: Callable[[int], None],
        cache_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.num_pieces = num_pieces
        self._have = bytearray(num_pieces)
        self._count = 0
        self._fetch = fetch  # handle.read_piece: asynchronous, answered via deliver()
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._cache_bytes = 0
        self._cache_limit = cache_bytes
        self._pending: set[int] = set()
        self._errors: dict[int, tuple[float, str]] = {}
        self._waiting: dict[int, int] = {}  # piece -> threads waiting for it
        self._failure: ErrorFactory | None = None
        self._clock = clock
        self._cond = threading.Condition()
        self.fetches = 0  # read_piece calls made, for tests and metrics

    # -- availability ----------------------------------------------------------------
    def __contains__(self, piece: object) -> bool:
        return isinstance(piece, int) and 0 <= piece < self.num_pieces and bool(self._have[piece])

    @property
    def count(self) -> int:
        return self._count

    def bitmap(self) -> list[bool]:
        with self._cond:
            return [bool(b) for b in self._have]

    def missing(self, pieces: Iterable[int]) -> list[int]:
        return [p for p in pieces if not self._have[p]]

    def mark(self, piece: int) -> None:
        with self._cond:
            if 0 <= piece < self.num_pieces and not self._have[piece]:
                self._have[piece] = 1
                self._count += 1
                self._cond.notify_all()

    def unmark(self, piece: int) -> None:
        with self._cond:
            if 0 <= piece < self.num_pieces and self._have[piece]:
                self._have[piece] = 0
                self._count -= 1
                self._cache_drop(piece)

    def update(self, have: Iterable[bool]) -> list[int]:
        """Add every piece ``have`` says we hold (a resync); returns the new ones."""
        new = []
        with self._cond:
            for piece, has in enumerate(have):
                if has and piece < self.num_pieces and not self._have[piece]:
                    self._have[piece] = 1
                    self._count += 1
                    new.append(piece)
            if new:
                self._cond.notify_all()
        return new

    def fail(self, error: ErrorFactory) -> None:
        """The torrent is gone: every current and future wait raises ``error()``."""
        with self._cond:
            self._failure = error
            self._cache.clear()
            self._cache_bytes = 0
            self._cond.notify_all()

    def wake(self) -> None:
        """Make waiters recheck their cancellation (a reader was closed)."""
        with self._cond:
            self._cond.notify_all()

    def waiting(self) -> dict[int, int]:
        with self._cond:
            return dict(self._waiting)

    def wait(
        self, piece: int, timeout: float, cancelled: Callable[[], FerriteError | None]
    ) -> bool:
        """Block until ``piece`` is verified; ``False`` when ``timeout`` passes first.

        Raises the torrent's failure (removed, engine stopped) or the error that
        ``cancelled()`` returns (the reader was closed).
        """
        end = self._clock() + timeout
        with self._cond:
            self._waiting[piece] = self._waiting.get(piece, 0) + 1
            try:
                while not self._have[piece]:
                    self._check(cancelled)
                    remaining = end - self._clock()
                    if remaining <= 0:
                        return False
                    self._cond.wait(remaining)
                return True
            finally:
                left = self._waiting[piece] - 1
                if left:
                    self._waiting[piece] = left
                else:
                    del self._waiting[piece]

    # -- piece bytes -----------------------------------------------------------------
    def piece_data(
        self, piece: int, timeout: float, cancelled: Callable[[], FerriteError | None]
    ) -> bytes:
        """The verified bytes of a piece we have (one ``read_piece`` for all readers)."""
        start = self._clock()
        end = start + timeout
        with self._cond:
            if not self._have[piece]:
                raise TorrentError(f"piece {piece} is not verified yet; refusing to read it")
            while True:
                self._check(cancelled)
                data = self._cache.get(piece)
                if data is not None:
                    self._cache.move_to_end(piece)
                    return data
                failed = self._errors.get(piece)
                if failed is not None and failed[0] >= start:
                    raise TorrentError(f"could not read piece {piece} from disk: {failed[1]}")
                if piece not in self._pending:
                    self._errors.pop(piece, None)
                    self._pending.add(piece)
                    self.fetches += 1
                    self._fetch(piece)  # asynchronous: posts to libtorrent's network thread
                remaining = end - self._clock()
                if remaining <= 0:
                    raise Timeout(f"reading piece {piece} from disk took over {timeout:g} s")
                self._cond.wait(remaining)

    def deliver(self, piece: int, data: bytes | None, error: str | None) -> None:
        """A ``read_piece_alert`` arrived (alert thread)."""
        with self._cond:
            self._pending.discard(piece)
            if error is not None or data is None:
                self._errors[piece] = (self._clock(), error or "no data")
            elif self._have[piece]:
                self._cache_put(piece, data)
            self._cond.notify_all()

    def refetch(self) -> None:
        """Alerts were dropped: ask again for every piece still being read."""
        with self._cond:
            for piece in self._pending:
                self._fetch(piece)

    # -- internals -------------------------------------------------------------------
    def _check(self, cancelled: Callable[[], FerriteError | None]) -> None:
        if self._failure is not None:
            raise self._failure()
        error = cancelled()
        if error is not None:
            raise error

    def _cache_put(self, piece: int, data: bytes) -> None:
        self._cache_drop(piece)
        self._cache[piece] = data
        self._cache_bytes += len(data)
        # Keep at least the newest piece even when it alone exceeds the budget.
        while self._cache_bytes > self._cache_limit and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._cache_bytes -= len(old)

    def _cache_drop(self, piece: int) -> None:
        old = self._cache.pop(piece, None)
        if old is not None:
            self._cache_bytes -= len(old)
