"""A synchronous, seekable file object over one file of a torrent that is still arriving.

``TorrentFileReader`` is what PyAV (``av.open(reader)``) and the HTTP Range route (in a
worker thread) read from. A ``read`` maps its byte range to pieces, tells the torrent's
:class:`~ferrite.torrent.scheduler.PieceScheduler` what this reader needs (the pieces
of the read now, the following ones spaced by the stream's bitrate over an adaptive
window), then blocks until each piece has passed its hash check and returns the
verified bytes. It never returns data that has not been verified.

A *background* reader (the full probe running behind a player) asks for the pieces of
its reads at :data:`~ferrite.torrent.scheduler.BACKGROUND_PRIORITY` instead of with
deadlines: libtorrent fetches them after every piece a player waits for or reads ahead.

Every wait is bounded by ``torrent_wait_s``: a piece no peer delivers in that time
raises :class:`ferrite.errors.Timeout` naming the piece. Removing the torrent or
stopping the engine wakes a waiting read with ``NotFound``/``TorrentError``; closing the
reader from another thread wakes it with ``Conflict``.
"""

from __future__ import annotations

import io
import itertools
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from ferrite.errors import Conflict, FerriteError, Timeout
from ferrite.torrent.board import PieceBoard
from ferrite.torrent.pieces import (
    Layout,
    Window,
    WindowPolicy,
    contiguous_ahead,
    deadline_schedule,
    estimate_bitrate,
    piece_at,
    piece_file_span,
    piece_range,
    plan_window,
)
from ferrite.torrent.records import ReaderState, TorrentFile
from ferrite.torrent.scheduler import BACKGROUND_PRIORITY, PieceScheduler

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

_ids = itertools.count(1)

#: Re-plan deadlines at least this often while reading inside one piece.
REPLAN_S = 1.0


class ReaderHost(Protocol):
    """What a reader needs from the engine's record of its torrent."""

    name: str
    error: str | None
    layout: Layout
    board: PieceBoard
    scheduler: PieceScheduler

    def throughput(self) -> float:
        """Measured download rate of the torrent in bits/s."""
        ...

    def peer_count(self) -> int: ...

    def playing(self) -> None:
        """A player's reader is reading (ends the torrent's start-up hold soon)."""
        ...

    def confirm_piece(self, piece: int) -> bool:
        """Ask libtorrent directly whether it has the piece (before giving up)."""
        ...

    def attach(self, reader: TorrentFileReader) -> None: ...
    def detach(self, reader: TorrentFileReader) -> None: ...

    async def wait_piece(
        self, piece: int, wait_s: float, cancelled: Callable[[], FerriteError | None]
    ) -> bool:
        """Await the piece on the event loop; ``False`` on timeout."""
        ...


class TorrentFileReader(io.RawIOBase):
    """Read-only, seekable binary file over one torrent file (one thread at a time)."""

    def __init__(
        self,
        host: ReaderHost,
        file: TorrentFile,
        *,
        wait_s: float,
        bitrate: int | None = None,
        duration_s: float | None = None,
        policy: WindowPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        background: bool = False,
        player: bool = False,
    ) -> None:
        super().__init__()
        self.id = next(_ids)
        self.background = background
        self.player = player
        self.file = file
        self.name = file.path
        self._host = host
        self._layout = host.layout
        self._span = file.span
        self._wait_s = wait_s
        self._bitrate = (
            bitrate if bitrate and bitrate > 0 else estimate_bitrate(file.size, duration_s)
        )
        self._policy = policy or WindowPolicy()
        self._clock = clock
        self._pos = 0
        self._shut = False
        self._plan_lock = threading.Lock()
        self._planned: range = range(0)  # pieces covered by the current deadlines
        self._planned_piece: int | None = None
        self._planned_end = 0  # end of the last read's bytes that were planned as "now"
        self._planned_at = 0.0
        self._window = Window(self._policy.min_s, 0)
        self._seek_at: float | None = clock()  # opening counts as a seek: boost the window
        self._waiting_for: int | None = None
        self._cur_piece: int | None = None
        self._cur_data = b""
        host.attach(self)

    # -- file object -----------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    @property
    def size(self) -> int:
        return self.file.size

    def tell(self) -> int:
        self._check_open()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        if whence == io.SEEK_SET:
            new = offset
        elif whence == io.SEEK_CUR:
            new = self._pos + offset
        elif whence == io.SEEK_END:
            new = self.file.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if new < 0:
            raise ValueError(f"negative seek position {new}")
        if new != self._pos and new < self.file.size:
            piece = piece_at(self._layout, self._span, new)[0]
            if piece not in self._planned:
                # A jump: withdraw this reader's deadlines (other readers keep theirs);
                # the next read plans from the new position with a boosted window.
                with self._plan_lock:
                    self._host.scheduler.release(self.id)
                    self._planned = range(0)
                    self._planned_piece = None
                    self._seek_at = self._clock()
        self._pos = new
        return new

    def read(self, size: int | None = -1) -> bytes:
        self._check_open()
        start = self._pos
        end = self.file.size if size is None or size < 0 else min(self.file.size, start + size)
        if start >= end:
            return b""
        if self.player:
            self._host.playing()
        self._plan(start, end)
        chunks = []
        position = start
        while position < end:
            piece, offset = piece_at(self._layout, self._span, position)
            data = self._piece(piece)
            take = min(end, piece_file_span(self._layout, self._span, piece)[1]) - position
            chunks.append(data[offset : offset + take])
            position += take
        self._pos = end
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self._shut:
            self._shut = True
            self._host.scheduler.release(self.id)
            self._host.detach(self)
            self._host.board.wake()  # a read blocked in another thread gives up
            self._cur_data = b""
        super().close()

    # -- streaming controls ----------------------------------------------------------
    @property
    def bitrate(self) -> int:
        return self._bitrate

    def set_bitrate(self, bitrate: int) -> None:
        """Use the real bitrate (from a probe) to space deadlines."""
        if bitrate > 0:
            self._bitrate = bitrate
            self._planned_at = 0.0  # re-plan on the next read

    def idle(self) -> None:
        """Withdraw this reader's deadlines until its next read: an open reader nobody is
        reading (a pooled container between segments) keeps no piece urgent."""
        with self._plan_lock:
            self._host.scheduler.release(self.id)
            self._planned = range(0)
            self._planned_piece = None

    async def wait_for_range(self, start: int, end: int) -> None:
        """Await (on the event loop) until the file's bytes ``[start, end)`` are verified.

        Sets deadlines like a read, so an async caller can wait without a thread and
        then ``read`` without blocking.
        """
        self._check_open()
        end = min(end, self.file.size)
        if start >= end:
            return
        self._plan(start, end)
        for piece in piece_range(self._layout, self._span, start, end):
            if piece in self._host.board:
                continue
            self._waiting_for = piece
            try:
                ok = await self._host.wait_piece(piece, self._wait_s, self._cancelled)
            finally:
                self._waiting_for = None
            if not ok and not self._host.confirm_piece(piece):
                raise self._timeout(piece)

    def state(self) -> ReaderState:
        planned = self._planned
        return ReaderState(
            reader_id=self.id,
            file_index=self.file.index,
            position=self._pos,
            bitrate=self._bitrate,
            window_s=self._window.seconds,
            window=(planned.start, planned.stop - 1) if planned else None,
            waiting_for=self._waiting_for,
        )

    # -- internals -------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._shut:
            raise ValueError("I/O operation on closed torrent reader")

    def _cancelled(self) -> FerriteError | None:
        if self._shut:
            return Conflict(f"the reader of '{self.file.path}' was closed while waiting")
        return None

    def _timeout(self, piece: int) -> Timeout:
        error = self._host.error
        return Timeout(
            f"torrent '{self._host.name}': no peer has sent piece {piece} for "
            f"{self._wait_s:g} s ({self._host.peer_count()} peers connected"
            + (f"; torrent error: {error})" if error else ")")
        )

    def _plan(self, start: int, end: int) -> None:
        """Tell the scheduler which pieces this reader wants, and by when."""
        now = self._clock()
        piece = piece_at(self._layout, self._span, start)[0]
        if self.background:  # no deadlines, no read-ahead: behind every player
            self._host.scheduler.preload(
                piece_range(self._layout, self._span, start, end), BACKGROUND_PRIORITY
            )
            return
        with self._plan_lock:
            if (
                piece == self._planned_piece
                and end <= self._planned_end
                and now - self._planned_at < REPLAN_S
            ):
                return
            bytes_per_s = self._bitrate / 8
            buffered = contiguous_ahead(self._layout, self._span, start, self._host.board)
            self._window = plan_window(
                self._policy,
                piece_length=self._layout.piece_length,
                bitrate=self._bitrate,
                throughput=self._host.throughput(),
                since_seek_s=None if self._seek_at is None else now - self._seek_at,
                buffered_s=buffered / bytes_per_s,
            )
            schedule = deadline_schedule(
                self._layout,
                self._span,
                start,
                bitrate=self._bitrate,
                window_bytes=self._window.bytes,
                have=self._host.board,
                immediate_bytes=end - start,
            )
            self._host.scheduler.want(self.id, schedule)
            self._planned = piece_range(
                self._layout, self._span, start, max(end, start + self._window.bytes)
            )
            self._planned_piece = piece
            self._planned_end = max(end, piece_file_span(self._layout, self._span, piece)[1])
            self._planned_at = now

    def _piece(self, piece: int) -> bytes:
        if piece == self._cur_piece:
            return self._cur_data
        board = self._host.board
        if piece not in board:
            self._waiting_for = piece
            try:
                arrived = board.wait(piece, self._wait_s, self._cancelled)
            finally:
                self._waiting_for = None
            if not arrived and not self._host.confirm_piece(piece):
                raise self._timeout(piece)
        data = board.piece_data(piece, self._wait_s, self._cancelled)
        self._cur_piece, self._cur_data = piece, data
        return data
