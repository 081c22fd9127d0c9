"""The engine's record of one torrent: handle, metadata, piece board, scheduler, readers.

Fields are written by the alert thread (status, pieces) and the event loop (async
waiters); readers in worker threads only use the thread-safe board and scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ferrite.errors import FerriteError
from ferrite.library.naming import MAX_SIDECAR_BYTES
from ferrite.torrent.board import PieceBoard
from ferrite.torrent.pieces import (
    Layout,
    container_kind,
    file_pieces,
    fraction_done,
    head_tail_pieces,
    is_subtitle_path,
    is_video_path,
    late_tail_pieces,
    resume_pieces,
)
from ferrite.torrent.records import TorrentFile, TorrentStatus
from ferrite.torrent.scheduler import PieceScheduler
from ferrite.torrent.watchdog import StallWatch

if TYPE_CHECKING:
    from ferrite.torrent.reader import TorrentFileReader

log = logging.getLogger(__name__)

#: Start-up hold (scheduler.py): released this long after the first player read ...
HOLD_PLAYING_S = 3.0
#: ... or this long after the metadata arrived when nobody plays.
HOLD_IDLE_S = 10.0
#: How long after the metadata an MP4's tail is preloaded (pieces.late_tail_range): the
#: heads' requests go out first (after an unchoke, ~35 ms on loopback).
TAIL_AFTER_S = 0.1


class HandleTarget:
    """A torrent handle for the scheduler and board that ignores a handle gone stale.

    Between ``remove_torrent`` and the readers noticing, a call on the handle raises
    "invalid torrent handle"; the torrent is going away, so there is nothing to do.
    """

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def _call(self, name: str, *args: int) -> None:
        try:
            getattr(self._handle, name)(*args)
        except RuntimeError as exc:
            log.debug("torrent handle call %s%r failed: %s", name, args, exc)

    def set_piece_deadline(self, piece: int, ms: int) -> None:
        self._call("set_piece_deadline", piece, ms)

    def reset_piece_deadline(self, piece: int) -> None:
        self._call("reset_piece_deadline", piece)

    def piece_priority(self, piece: int, priority: int) -> None:
        self._call("piece_priority", piece, priority)

    def read_piece(self, piece: int) -> None:
        self._call("read_piece", piece)

    def prioritize_pieces(self, priorities: list[int]) -> None:
        try:
            self._handle.prioritize_pieces(priorities)
        except RuntimeError as exc:
            log.debug("prioritize_pieces failed: %s", exc)


class ManagedTorrent:
    """One torrent of the engine; the :class:`ReaderHost` of its readers."""

    def __init__(
        self,
        *,
        torrent_id: int,
        info_hash: str,
        name: str,
        handle: Any,
        save_path: str,
        peers: tuple[str, ...],
        added_at: float,
        cache_bytes: int,
        loop: asyncio.AbstractEventLoop,
        watch: StallWatch | None = None,
    ) -> None:
        self.id = torrent_id
        self.info_hash = info_hash
        self.name = name
        self.handle = handle
        self.target = HandleTarget(handle)
        self.save_path = save_path
        self.peers = peers  # explicit "ip:port" peers, redialled while readers wait
        self.added_at = added_at
        self.loop = loop
        self._cache_bytes = cache_bytes
        self._meta_lock = threading.Lock()
        self.layout: Layout = Layout(1, 0)
        self.files: tuple[TorrentFile, ...] = ()
        self.board = PieceBoard(0, fetch=self.target.read_piece, cache_bytes=cache_bytes)
        self.scheduler = PieceScheduler(self.target)
        self.has_metadata = False
        self.metadata_event = asyncio.Event()  # set on the loop
        self.metadata_at = 0.0  # monotonic
        self.playing_since: float | None = None  # first read of a player's reader
        # status snapshot (alert thread)
        self.state = "checking_resume_data"
        self.download_rate = 0
        self.upload_rate = 0
        self.num_peers = 0
        self.num_seeds = 0
        self.payload_total = 0  # payload bytes received this session
        self.watch = watch or StallWatch()  # alert thread only
        self.hash_failures = 0
        self.error: str | None = None
        self.resume_dirty = False
        self.failure: Callable[[], FerriteError] | None = None
        self._readers: weakref.WeakSet[TorrentFileReader] = weakref.WeakSet()
        self._async_waiters: dict[int | None, list[asyncio.Future[None]]] = {}  # loop only

    # -- metadata --------------------------------------------------------------------
    def set_metadata(self, ti: Any) -> bool:
        """Build layout, files, board and preloads from a ``torrent_info``; once only."""
        with self._meta_lock:
            if self.has_metadata or ti is None or self.failure is not None:
                return False
            layout = Layout(ti.piece_length(), ti.total_size())
            fs = ti.layout()
            pad = int(fs.flag_pad_file)
            files = tuple(
                TorrentFile(
                    index=i,
                    path=fs.file_path(i).replace("\\", "/"),
                    size=fs.file_size(i),
                    offset=fs.file_offset(i),
                    is_video=is_video_path(fs.file_path(i)),
                )
                for i in range(fs.num_files())
                if not int(fs.file_flags(i)) & pad
            )
            self.layout = layout
            self.files = files
            self.name = ti.name() or self.name
            self.board = PieceBoard(
                layout.num_pieces, fetch=self.target.read_piece, cache_bytes=self._cache_bytes
            )
            self.has_metadata = True
        # Fast start: the head of every video first (an MP4's end a moment later), and
        # subtitle files whole (small; the probe reads the sidecars next to a video).
        late: list[int] = []
        for f in files:
            if f.is_video:
                kind = container_kind(f.path)
                self.scheduler.preload(head_tail_pieces(layout, f.span, kind))
                late += late_tail_pieces(layout, f.span, kind)
            elif is_subtitle_path(f.path) and f.size <= MAX_SIDECAR_BYTES:
                self.scheduler.preload(file_pieces(layout, f.span))
        if late:
            self._call_on_loop(self._preload_later, late)
        self.metadata_at = time.monotonic()
        if any(f.is_video for f in files):
            self.scheduler.hold(layout.num_pieces)
        return True

    def _preload_later(self, pieces: list[int]) -> None:
        """Loop: preload ``pieces`` (MP4 tails) once the heads' requests are out."""
        self.loop.call_later(TAIL_AFTER_S, self.scheduler.preload, pieces)

    def playing(self) -> None:
        """A player's reader read (worker thread): the start-up hold ends soon."""
        if self.playing_since is None:
            self.playing_since = time.monotonic()

    def hold_over(self, now: float) -> bool:
        """Alert thread: whether the start-up hold should end now."""
        if self.playing_since is not None:
            return now - self.playing_since >= HOLD_PLAYING_S
        return now - self.metadata_at >= HOLD_IDLE_S

    def file(self, index: int) -> TorrentFile | None:
        for f in self.files:
            if f.index == index:
                return f
        return None

    def replace_file(self, index: int, **changes: Any) -> None:
        self.files = tuple(
            dataclasses.replace(f, **changes) if f.index == index else f for f in self.files
        )

    def preload_resume(
        self, index: int, position_s: float, duration_s: float, bitrate: int | None
    ) -> list[int]:
        f = self.file(index)
        if f is None or not self.has_metadata:
            return []
        pieces = list(resume_pieces(self.layout, f.span, position_s, duration_s, bitrate=bitrate))
        self.scheduler.preload(pieces)
        return pieces

    # -- piece events ------------------------------------------------------------------
    def piece_done(self, piece: int) -> None:
        """Alert thread: a piece passed its hash check."""
        self.board.mark(piece)
        self.scheduler.completed(piece)
        self.resume_dirty = True

    def resync(self, have: list[bool]) -> list[int]:
        """Alert thread: merge a full piece bitmap (after a check or dropped alerts)."""
        new = self.board.update(have)
        for piece in new:
            self.scheduler.completed(piece)
        if new:
            self.resume_dirty = True
        return new

    def fail(self, error: Callable[[], FerriteError]) -> None:
        """Loop: the torrent is gone (removed, engine stopped); every waiter, blocked
        reader or awaiting coroutine, wakes with ``error``."""
        self.failure = error
        self.board.fail(error)
        self.scheduler.close()
        self.metadata_event.set()  # wait_metadata() re-checks and raises
        self.wake_async(None)

    # -- ReaderHost --------------------------------------------------------------------
    def throughput(self) -> float:
        return float(self.download_rate * 8)

    def peer_count(self) -> int:
        return self.num_peers

    def confirm_piece(self, piece: int) -> bool:
        """A last look before a read times out: a piece the board missed (a bug, or
        alerts lost without notice) is marked instead of failing the read."""
        try:
            has = bool(self.handle.have_piece(piece))
        except RuntimeError:
            return False
        if has and piece not in self.board:
            log.warning("torrent %s: piece %d was verified without an alert", self.id, piece)
            self.piece_done(piece)
        return has

    def attach(self, reader: TorrentFileReader) -> None:
        self._readers.add(reader)

    def detach(self, reader: TorrentFileReader) -> None:
        self._readers.discard(reader)
        self._call_on_loop(self.wake_async, None)

    def readers(self) -> list[TorrentFileReader]:
        return list(self._readers)

    async def wait_piece(
        self, piece: int, wait_s: float, cancelled: Callable[[], FerriteError | None]
    ) -> bool:
        loop = asyncio.get_running_loop()
        end = loop.time() + wait_s
        while True:
            if piece in self.board:
                return True
            if self.failure is not None:
                raise self.failure()
            error = cancelled()
            if error is not None:
                raise error
            remaining = end - loop.time()
            if remaining <= 0:
                return False
            future: asyncio.Future[None] = loop.create_future()
            waiters = self._async_waiters.setdefault(piece, [])
            waiters.append(future)
            try:
                await asyncio.wait_for(future, remaining)
            except TimeoutError:
                pass
            finally:
                waiters.remove(future)
                if not waiters and self._async_waiters.get(piece) is waiters:
                    del self._async_waiters[piece]

    def waiting(self) -> bool:
        """Whether anyone waits for a piece we are fetching: a reader thread or a
        coroutine (the probe's ``wait_for_range``). A background read of a piece the
        start-up hold keeps at priority 0 is no stall: nobody asks a peer for it yet, and
        "reconnecting" would drop the seeds a finished torrent does not dial again."""
        try:
            async_waits = tuple(self._async_waiters)  # the loop's dict, from the alert thread
        except RuntimeError:  # resized meanwhile: someone waits
            return True
        waits = (*self.board.waiting(), *async_waits)
        return any(p is None or not self.scheduler.held(p) for p in waits)

    def wake_async(self, piece: int | None) -> None:
        """Loop: wake async waiters of ``piece`` (``None``: all of them) to recheck."""
        keys = list(self._async_waiters) if piece is None else [piece]
        for key in keys:
            for future in self._async_waiters.get(key, ()):
                if not future.done():
                    future.set_result(None)

    def _call_on_loop(self, fn: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop has no waiters
            self.loop.call_soon_threadsafe(fn, *args)

    # -- status ------------------------------------------------------------------------
    def diagnosis(self) -> str:
        """Worker thread: why is nothing arriving? libtorrent's own view of the torrent,
        its peers and the pieces someone waits for, in one line for a log."""
        awaited = list(self._async_waiters)  # loop-owned; list(dict) is atomic under the GIL
        waited = sorted(set(self.board.waiting()) | {p for p in awaited if p is not None})
        try:
            st = self.handle.status()
            peers = self.handle.get_peer_info()
            have = {p: bool(self.handle.have_piece(p)) for p in waited[:8]}
            prio = {p: int(self.handle.piece_priority(p)) for p in waited[:8]}
            queue = {int(q["piece_index"]) for q in self.handle.get_download_queue()}
        except RuntimeError as exc:
            return f"torrent {self.id}: no diagnosis ({exc})"
        try:
            return self._describe(st, peers, waited, have, prio, queue)
        except Exception as exc:  # a diagnosis must never break its caller
            return f"torrent {self.id}: no diagnosis ({exc!r})"

    def _describe(
        self,
        st: Any,
        peers: list[Any],
        waited: list[int],
        have: dict[int, bool],
        prio: dict[int, int],
        queue: set[int],
    ) -> str:
        parts = [
            f"torrent {self.id} state={st.state} flags={int(st.flags):#x} "
            f"progress={st.progress:.3f} board={self.board.count}/{self.board.num_pieces} "
            f"lt_pieces={st.num_pieces} peers={len(peers)} connect_candidates="
            f"{st.connect_candidates} errc={st.errc.message() if st.errc.value() else '-'}",
            "waited=" + ",".join(f"{p}(have={have.get(p)},prio={prio.get(p)})" for p in waited[:8]),
            f"deadlines={len(self.scheduler.deadlines())} downloading={sorted(queue)[:8]}",
        ]
        for p in peers:
            parts.append(
                f"peer {p.ip[0]}:{p.ip[1]} flags={int(p.flags):#x} src={int(p.source):#x} "
                f"down={p.total_download} queue={p.download_queue_length} "
                f"up_queue={p.upload_queue_length} piece={p.downloading_piece_index} "
                f"pieces={sum(1 for x in p.pieces if x)} failcount={p.failcount} "
                f"read={int(p.read_state)} write={int(p.write_state)} "
                f"disk_pending={p.pending_disk_bytes} recv_buf={p.used_receive_buffer} "
                f"last_active={p.last_active}s last_request={p.last_request}s"
            )
        return "; ".join(parts)

    def status(self) -> TorrentStatus:
        readers = tuple(sorted((r.state() for r in self.readers()), key=lambda s: s.reader_id))
        return TorrentStatus(
            id=self.id,
            info_hash=self.info_hash,
            name=self.name,
            state=self.state,
            has_metadata=self.has_metadata,
            # Of all the bytes, not libtorrent's wanted-only progress (see bytes_done).
            progress=fraction_done(self.layout, self.board) if self.has_metadata else 0.0,
            file_progress=tuple(
                fraction_done(self.layout, self.board, f.span) if self.has_metadata else 0.0
                for f in self.files
            ),
            download_rate=self.download_rate,
            upload_rate=self.upload_rate,
            peers=self.num_peers,
            seeds=self.num_seeds,
            total_size=self.layout.total_size,
            piece_length=self.layout.piece_length if self.has_metadata else 0,
            num_pieces=self.layout.num_pieces,
            pieces_have=self.board.count,
            hash_failures=self.hash_failures,
            piece_reads=self.board.fetches,
            error=self.error,
            save_path=self.save_path,
            added_at=self.added_at,
            files=self.files,
            readers=readers,
        )
