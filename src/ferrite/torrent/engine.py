"""The torrent engine: one libtorrent session for the server's lifetime.

    TorrentEngine
    ├── lt.session            owned; created in start(), destroyed in close()
    ├── AlertPump (alerts.py) the alert thread, the only consumer of libtorrent alerts
    │     wait_for_alert → pop_alerts → per-alert bookkeeping (piece board, scheduler)
    │     → one loop.call_soon_threadsafe per batch for the loop-side methods here
    ├── LoopSide (events.py)  listeners, the tasks the engine owns, the alert thread's door
    │                         to the loop; add_torrent_params prepared by source.py
    └── ManagedTorrent × n    handle, metadata, PieceBoard (have/wait/read_piece cache),
                              PieceScheduler (the one place priorities/deadlines are set),
                              open TorrentFileReaders

Threads: the event loop owns adding/removing torrents and the database; the alert
thread owns piece availability; readers run in worker threads (PyAV, the HTTP range
route) and block only on their torrent's board. Nothing here polls: readers wake on
``piece_finished_alert``; the alert thread wakes on alerts and, at most once a second,
for housekeeping (status snapshot, the stall watchdog of ``watchdog.py`` -- redial
explicit peers, reconnect silent ones while readers wait -- and saving resume data of
torrents that changed).

Resume data (with the info dict) is saved when a torrent changes and at close, and
read back at start, so a restart continues where it stopped. Libtorrent's exceptions
never leave this package untranslated.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import libtorrent as lt

from ferrite.config import Settings
from ferrite.db.engine import Database
from ferrite.errors import (
    Conflict,
    FerriteError,
    NotFound,
    Timeout,
    TorrentError,
)
from ferrite.torrent import source as src
from ferrite.torrent import store
from ferrite.torrent.alerts import AlertPump, connect, save_resume, sync_torrent
from ferrite.torrent.events import Listener, LoopSide
from ferrite.torrent.pieces import MiB, WindowPolicy
from ferrite.torrent.reader import TorrentFileReader
from ferrite.torrent.records import TorrentEvent, TorrentFile, TorrentStatus
from ferrite.torrent.torrent import ManagedTorrent
from ferrite.torrent.watchdog import STALL_S, StallWatch

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 10.0


class TorrentEngine:
    """Adds, streams and removes torrents. Start with ``await start()``, end with
    ``await close()``; everything else is called on the same event loop, except
    :class:`TorrentFileReader` methods, which run in worker threads."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        listen_hosts: Sequence[str] | None = None,
        peer_filter: Sequence[tuple[str, str]] | None = None,
        policy: WindowPolicy | None = None,
        resume_interval_s: float = 30.0,
        cache_bytes: int = 32 * MiB,
        alert_queue_size: int = src.ALERT_QUEUE_SIZE,
        stall_s: float = STALL_S,
    ) -> None:
        """``listen_hosts``: addresses to listen on (default: all); ``peer_filter``:
        when given, only peers in these ``(first, last)`` IP ranges are allowed;
        ``stall_s``: silence while a reader waits before peers are reconnected."""
        self.settings = settings
        self.db = db
        self.root = Path(settings.data_dir) / "torrents"
        self._listen_hosts = listen_hosts
        self._peer_filter = peer_filter
        self._policy = policy or WindowPolicy()
        self._resume_interval = resume_interval_s
        self._cache_bytes = cache_bytes
        self._alert_queue_size = alert_queue_size
        self._stall_s = stall_s
        self._session: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()  # guards the two maps below
        self._torrents: dict[int, ManagedTorrent] = {}
        self._by_handle: dict[Any, ManagedTorrent] = {}
        self._add_lock: asyncio.Lock | None = None
        self.events = LoopSide(CLOSE_TIMEOUT_S)  # listeners, owned tasks, the loop's door
        self._resume_waiters: dict[int, asyncio.Future[None]] = {}
        self._removals: dict[str, tuple[asyncio.Future[None], bool]] = {}  # hash -> (done, delete)
        self._pump = AlertPump(self)
        self._state = "new"  # new | running | closing | closed
        self.listen_errors: list[str] = []
        self.alerts_dropped = 0

    # == lifecycle ====================================================================
    async def start(self) -> None:
        if self._state != "new":
            raise Conflict("the torrent engine was already started")
        loop = asyncio.get_running_loop()
        self._loop = loop
        self.events.loop = loop
        self._add_lock = asyncio.Lock()
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
        rows = await self.db.read(store.all_torrents)
        pack = src.session_settings(
            self.settings, listen_hosts=self._listen_hosts, alert_queue_size=self._alert_queue_size
        )
        try:
            self._session = await asyncio.to_thread(lambda: lt.session(pack))
            if self._peer_filter is not None:
                self._session.set_ip_filter(src.ip_filter(self._peer_filter))
        except RuntimeError as exc:
            raise TorrentError(f"could not start the torrent session: {exc}") from exc
        self._state = "running"
        self._thread = threading.Thread(target=self._pump.run, name="torrent-alerts", daemon=True)
        self._thread.start()
        for row in rows:
            try:
                await self._restore(row)
            except FerriteError as exc:
                log.error("could not resume torrent %s (%s): %s", row.id, row.name, exc)

    async def close(self) -> None:
        """Stop every reader, save resume data, stop the alert thread, end the session."""
        if self._state in ("closing", "closed"):
            return
        if self._state == "new":
            self._state = "closed"
            return
        self._state = "closing"
        assert self._loop is not None
        stopped = functools.partial(
            TorrentError, "the torrent engine stopped", code="torrent_engine_stopped"
        )
        torrents = self._all()
        for t in torrents:
            t.fail(stopped)
            t.wake_async(None)
        ses = self._session
        with contextlib.suppress(RuntimeError):
            ses.pause()  # no more pieces: the resume data we save is the final state
        for t in torrents:
            future = self._loop.create_future()
            self._resume_waiters[t.id] = future
            try:
                t.handle.save_resume_data(
                    lt.torrent_handle.flush_disk_cache | lt.torrent_handle.save_info_dict
                )
            except RuntimeError:
                future.set_result(None)
        if self._resume_waiters:
            await asyncio.wait(list(self._resume_waiters.values()), timeout=CLOSE_TIMEOUT_S)
        await self.events.drain()
        self._stop.set()
        with contextlib.suppress(RuntimeError):
            ses.post_session_stats()  # wakes wait_for_alert at once
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
        with self._lock:
            self._torrents.clear()
            self._by_handle.clear()
        box = [self._session]
        self._session = None
        del ses
        # The session's destructor joins libtorrent's threads: not on the event loop.
        await asyncio.to_thread(box.clear)
        self._state = "closed"

    @property
    def listen_port(self) -> int:
        """The TCP port peers can reach us on (the real one when configured as 0)."""
        self._running()
        return int(self._session.listen_port())

    # == adding and removing ============================================================
    async def add_magnet(self, uri: str, *, peers: Sequence[str] = ()) -> TorrentStatus:
        """Add a magnet link; files are known once a peer sent the metadata
        (``await wait_metadata(id)``). ``peers``: explicit ``"ip:port"`` to connect to."""
        params = src.parse_magnet(uri)
        return await self._add(params, "magnet", uri.strip().encode(), peers)

    async def add_torrent_file(self, data: bytes, *, peers: Sequence[str] = ()) -> TorrentStatus:
        """Add a torrent from the bytes of a .torrent file."""
        params = src.parse_torrent_file(data)
        return await self._add(params, "torrent", bytes(data), peers)

    async def remove(self, torrent_id: int, *, delete_data: bool = False) -> None:
        """Remove a torrent (and its downloaded files with ``delete_data``).

        Readers waiting on it fail at once with NotFound; later reads too.
        """
        t = self._get(torrent_id)
        assert self._loop is not None
        with self._lock:
            self._torrents.pop(t.id, None)
            self._by_handle.pop(t.handle, None)
        name = t.name
        t.fail(lambda: NotFound(f"torrent '{name}' was removed"))
        t.wake_async(None)
        future = self._loop.create_future()
        self._removals[t.info_hash] = (future, delete_data)
        flags = lt.session.delete_files if delete_data else 0
        try:
            self._session.remove_torrent(t.handle, flags)
        except RuntimeError as exc:
            self._removals.pop(t.info_hash, None)
            raise TorrentError(f"could not remove torrent '{name}': {exc}") from exc
        try:
            await asyncio.wait_for(future, CLOSE_TIMEOUT_S)
        except TimeoutError:
            log.warning("no removal confirmation for torrent %s", t.id)
        finally:
            self._removals.pop(t.info_hash, None)
        await self.db.write(store.delete_torrent, t.id)
        if delete_data:
            await asyncio.to_thread(shutil.rmtree, t.save_path, True)
        self.events.emit(TorrentEvent("removed", t.id))

    def connect_peers(self, torrent_id: int, peers: Sequence[str]) -> None:
        """Connect to explicit peers now (and redial them while a reader waits)."""
        t = self._get(torrent_id)
        endpoints = src.parse_peers(peers)
        known = t.peers
        t.peers = tuple(dict.fromkeys((*known, *(p.strip() for p in peers))))
        connect(t, endpoints)
        if t.peers != known:  # remembered across restarts
            write = self.db.write(store.set_peers, t.id, t.peers)
            self.events.spawn(write, f"torrent-peers-{t.id}")

    # == queries ======================================================================
    def torrents(self) -> list[TorrentStatus]:
        """Every torrent's state (a snapshot refreshed every second; no libtorrent call)."""
        self._running()
        return [t.status() for t in self._all()]

    def status(self, torrent_id: int) -> TorrentStatus:
        """Progress, rates, peers, files and the piece window of every open reader."""
        return self._get(torrent_id).status()

    def piece_map(self, torrent_id: int) -> list[bool]:
        """Which pieces are verified, as of the last alert (for "pieces around readers")."""
        return self._get(torrent_id).board.bitmap()

    async def diagnosis(self, torrent_id: int) -> str:
        """libtorrent's view of a torrent and its peers in one line (for a stall's log)."""
        return await asyncio.to_thread(self._get(torrent_id).diagnosis)

    def files(self, torrent_id: int) -> list[TorrentFile]:
        """The files (no pad files); empty until a magnet's metadata arrived."""
        return list(self._get(torrent_id).files)

    async def wait_metadata(
        self, torrent_id: int, wait_s: float | None = None
    ) -> list[TorrentFile]:
        """Await a magnet's metadata; ``Timeout`` after ``wait_s`` (default torrent_wait_s)."""
        t = self._get(torrent_id)
        limit = self.settings.torrent_wait_s if wait_s is None else wait_s
        try:
            await asyncio.wait_for(t.metadata_event.wait(), limit)
        except TimeoutError:
            raise Timeout(
                f"torrent '{t.name}': no peer has sent the metadata for {limit:g} s "
                f"({t.num_peers} peers connected)"
            ) from None
        if t.failure is not None:
            raise t.failure()
        return list(t.files)

    # == streaming ====================================================================
    def open_reader(
        self,
        torrent_id: int,
        file_index: int,
        *,
        bitrate: int | None = None,
        duration_s: float | None = None,
        background: bool = False,
        player: bool = False,
    ) -> TorrentFileReader:
        """A seekable file object over file ``file_index``; close it when done.

        ``bitrate`` (bits/s) or ``duration_s`` space the deadlines; without them a
        generous default is assumed until ``reader.set_bitrate`` is called.
        ``background``: its reads come after every player's (no deadlines).
        ``player``: a player's reader (its first read ends the start-up hold soon).
        """
        t = self._get(torrent_id)
        if not t.has_metadata:
            raise Conflict(f"torrent '{t.name}' has no metadata yet; its files are unknown")
        f = t.file(file_index)
        if f is None:
            raise NotFound(f"torrent '{t.name}' has no file {file_index}")
        return TorrentFileReader(
            t,
            f,
            wait_s=self.settings.torrent_wait_s,
            bitrate=bitrate,
            duration_s=duration_s,
            policy=self._policy,
            background=background,
            player=player,
        )

    def preload_resume(
        self,
        torrent_id: int,
        file_index: int,
        position_s: float,
        duration_s: float,
        *,
        bitrate: int | None = None,
    ) -> list[int]:
        """Fetch the pieces around a resume position first; returns them."""
        return self._get(torrent_id).preload_resume(file_index, position_s, duration_s, bitrate)

    def mark_video(self, torrent_id: int, file_index: int, is_video: bool) -> None:
        """Correct the extension-based guess once a probe knows better."""
        self._get(torrent_id).replace_file(file_index, is_video=is_video)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event)`` on the loop for every torrent event; returns unsubscribe."""
        return self.events.subscribe(listener)

    # == internals: adding ============================================================
    async def _add(
        self, params: Any, kind: str, source: bytes, peers: Sequence[str]
    ) -> TorrentStatus:
        self._running()
        endpoints = src.parse_peers(peers)
        info_hash = src.info_hash_of(params.info_hashes)
        assert self._add_lock is not None
        async with self._add_lock:
            existing = next((t for t in self._all() if t.info_hash == info_hash), None)
            if existing is not None:  # adding twice is harmless: connect the new peers
                self.connect_peers(existing.id, peers)
                return existing.status()
            name = src.torrent_name(params, info_hash)
            save_path = str(self.root / info_hash)
            torrent_id = await self.db.write(
                functools.partial(
                    store.insert_torrent,
                    info_hash=info_hash,
                    name=name,
                    source_kind=kind,
                    source=source,
                    peers=tuple(peers),
                    save_path=save_path,
                    added_at=time.time(),
                )
            )
            try:
                t = await self._start_torrent(
                    torrent_id, params, info_hash, name, save_path, tuple(peers), time.time()
                )
            except BaseException:
                await self.db.write(store.delete_torrent, torrent_id)
                raise
        connect(t, endpoints)
        save_resume(t)  # persist at once (with the info dict once known)
        return t.status()

    async def _restore(self, row: store.TorrentRow) -> None:
        params = None
        if row.resume_data:
            try:
                params = lt.read_resume_data(row.resume_data)
            except RuntimeError as exc:
                log.warning("resume data of torrent %s unusable (%s); re-checking", row.id, exc)
        if params is None:
            params = (
                src.parse_magnet(row.source.decode())
                if row.source_kind == "magnet"
                else src.parse_torrent_file(row.source)
            )
        t = await self._start_torrent(
            row.id, params, row.info_hash, row.name, row.save_path, row.peers, row.added_at
        )
        connect(t, src.parse_peers(row.peers))

    async def _start_torrent(
        self,
        torrent_id: int,
        params: Any,
        info_hash: str,
        name: str,
        save_path: str,
        peers: tuple[str, ...],
        added_at: float,
    ) -> ManagedTorrent:
        assert self._loop is not None
        src.prepare_params(params, save_path)
        try:
            handle = await asyncio.to_thread(self._session.add_torrent, params)
        except RuntimeError as exc:
            raise TorrentError(f"could not add torrent '{name}': {exc}") from exc
        t = ManagedTorrent(
            torrent_id=torrent_id,
            info_hash=info_hash,
            name=name,
            handle=handle,
            save_path=save_path,
            peers=peers,
            added_at=added_at,
            cache_bytes=self._cache_bytes,
            loop=self._loop,
            watch=StallWatch(stall_s=self._stall_s),
        )
        with self._lock:
            self._torrents[torrent_id] = t
            self._by_handle[handle] = t
        try:
            # Alerts about the handle that came before it was registered were ignored;
            # catch up from libtorrent's own view (metadata, pieces) now.
            changed = await asyncio.to_thread(sync_torrent, t)
        except BaseException:
            with self._lock:
                self._torrents.pop(torrent_id, None)
                self._by_handle.pop(handle, None)
            with contextlib.suppress(RuntimeError):
                self._session.remove_torrent(handle)
            raise
        if changed:
            self._metadata_arrived(t)
        self.events.emit(TorrentEvent("added", t.id))
        return t

    # == internals: the loop side =======================================================
    def _metadata_arrived(self, t: ManagedTorrent) -> None:
        t.metadata_event.set()
        files = [(f.index, f.path, f.size) for f in t.files]
        write = self.db.write(store.set_metadata, t.id, t.name, files)
        self.events.spawn(write, f"torrent-meta-{t.id}")
        save_resume(t)
        self.events.emit(TorrentEvent("metadata", t.id))

    def _piece_arrived(self, t: ManagedTorrent, piece: int) -> None:
        t.wake_async(piece)
        if self.events.listeners:
            self.events.emit(TorrentEvent("piece", t.id, piece))

    def _store_resume(self, torrent_id: int, data: bytes) -> None:
        async def write() -> None:
            try:
                await self.db.write(store.save_resume, torrent_id, data)
            finally:
                self._resume_saved(torrent_id)

        self.events.spawn(write(), f"torrent-resume-{torrent_id}")

    def _resume_saved(self, torrent_id: int) -> None:
        future = self._resume_waiters.pop(torrent_id, None)
        if future is not None and not future.done():
            future.set_result(None)

    def _removal_done(self, info_hash: str) -> None:
        removal = self._removals.get(info_hash)
        if removal is not None and not removal[0].done():
            removal[0].set_result(None)

    # == internals: lookups =============================================================
    def _running(self) -> None:
        if self._state != "running":
            raise TorrentError("the torrent engine is not running", code="torrent_engine_stopped")

    def _all(self) -> list[ManagedTorrent]:
        with self._lock:
            return list(self._torrents.values())

    def _get(self, torrent_id: int) -> ManagedTorrent:
        self._running()
        with self._lock:
            t = self._torrents.get(torrent_id)
        if t is None:
            raise NotFound(f"no torrent {torrent_id}")
        return t
