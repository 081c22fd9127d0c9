"""Torrents as library items you can play while they download: the engine meets the app.

    TorrentService (svc.torrents, built by the app: ferrite.app)
    ├── TorrentEngine          started lazily: at startup only when torrents exist, else
    │                          on the first POST /api/torrents (no libtorrent session, no
    │                          listening port, for servers that never use torrents)
    ├── catalog                video files -> pending media_files rows + items at once
    ├── prober (probing.py)    per video file: the header probe (what playback needs,
    │                          from the bytes a player reads first), then the full probe
    │                          behind the player; stored like a scan; never repeated
    ├── sources (FileSources)  every linked video file is registered as a StreamedFile:
    │                          the packager, direct play and ffmpeg read it through a
    │                          TorrentFileReader until the file is complete on disk
    └── prepare (a preparer)   a session on a torrent item waits for its header probe,
                               then preloads the pieces at the session's start position

Files are identified by ``media_files.id``; torrent events (metadata, finished, removed)
arrive from the engine on the event loop. Every task is owned here and cancelled by
:meth:`TorrentService.aclose`, after the engine is closed (which wakes any read blocked on
a piece, so worker threads end at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from ferrite.config import Settings
from ferrite.db.engine import Database
from ferrite.errors import FerriteError, NotFound, Timeout, TorrentError, Unprocessable
from ferrite.library import artwork, store
from ferrite.sources import FileSources, Readable, StreamedFile
from ferrite.torrent import catalog, shapes
from ferrite.torrent.engine import TorrentEngine
from ferrite.torrent.pieces import Layout, WindowPolicy, file_pieces
from ferrite.torrent.probing import Entry, Prober, PromiseDelay
from ferrite.torrent.records import TorrentEvent

log = logging.getLogger(__name__)

#: How long POST /api/torrents waits for a magnet's metadata before answering 202.
METADATA_WAIT_S = 20.0
#: Deadline windows of readers: a few seconds ahead, not the engine's default 10-60 s.
#: Every piece with a deadline gets libtorrent's top priority, and its regular picker
#: does not order those by deadline: a window of most of the file means the piece a
#: player waits for comes in random order (measured in docs/benchmarks.md).
STREAM_WINDOW = WindowPolicy(min_s=2.0, max_s=10.0)


class TorrentService:
    """Only what it uses is handed in (no ``Services``): the settings and database, the
    registry its files are read through, the file locator's ``invalidate``, the clock,
    and the packager's ``promise_video_delay`` (None without a playback stack)."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        sources: FileSources,
        *,
        invalidate: Callable[[int], None],
        clock: Callable[[], float],
        promise_delay: PromiseDelay | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.sources = sources
        self.clock = clock
        self.root = Path(settings.data_dir) / "torrents"
        self._engine: TorrentEngine | None = None  # set before start(): events need it
        self._ready = False
        self._start_lock = asyncio.Lock()
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._by_file: dict[int, Entry] = {}
        self._failed: dict[int, Entry] = {}  # files whose probe failed, by media file id
        self._by_torrent: dict[int, list[Entry]] = {}
        self._links: dict[int, asyncio.Task[list[catalog.LinkedFile]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self.prober = Prober(
            db,
            invalidate=invalidate,
            clock=clock,
            promise_delay=promise_delay,
            engine=lambda: self._engine,
            spawn=self._spawn,
            on_probed=self._probed,
            on_failed=self._probe_failed,
            closed=lambda: self._closed,
        )

    # == lifecycle ====================================================================
    @property
    def started(self) -> bool:
        return self._ready

    async def engine(self) -> TorrentEngine:
        """The engine, started on first use."""
        if self._ready and self._engine is not None:
            return self._engine
        async with self._start_lock:
            if self._closed:
                raise TorrentError("the server is shutting down", code="torrent_engine_stopped")
            if not self._ready:
                hosts = [h.strip() for h in self.settings.torrent_listen_host.split(",")]
                engine = TorrentEngine(
                    self.settings,
                    self.db,
                    listen_hosts=[h for h in hosts if h] or None,
                    policy=STREAM_WINDOW,
                )
                engine.subscribe(self._on_event)
                self._engine = engine
                try:
                    await engine.start()  # restores saved torrents: their events link them
                except BaseException:
                    self._engine = None
                    await engine.close()
                    raise
                self._ready = True
        assert self._engine is not None
        return self._engine

    async def start(self) -> None:
        """At server start: the engine starts now only if torrents exist; restored
        torrents register their files before the first request is served."""
        try:
            if await self.db.read(catalog.torrent_count):
                await self.engine()
                if self._links:
                    await asyncio.wait(list(self._links.values()), timeout=30)
        except FerriteError as exc:
            log.error(
                "the torrent engine did not start: %s (torrents are unavailable)", exc.message
            )

    async def aclose(self) -> None:
        self._closed = True
        engine, self._engine = self._engine, None
        self._ready = False
        if engine is not None:
            await engine.close()  # readers blocked on pieces fail now
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.prober.aclose()
        for entry in list(self._by_file.values()):
            self.sources.unregister(entry.path)
        self._by_file.clear()
        self._by_torrent.clear()
        self._failed.clear()

    # == the API's verbs ================================================================
    async def add(
        self, *, magnet: str | None = None, data: bytes | None = None, peers: Sequence[str] = ()
    ) -> tuple[dict[str, Any], bool]:
        """Add a torrent; ``(shape, complete)`` -- complete is False while a magnet's
        metadata (and so its files) is not known yet. A torrent without any video file is
        removed again and answered with :class:`Unprocessable`."""
        engine = await self.engine()
        if magnet is not None:
            status = await engine.add_magnet(magnet, peers=peers)
        else:
            assert data is not None
            status = await engine.add_torrent_file(data, peers=peers)
        if not status.has_metadata:
            try:
                await engine.wait_metadata(
                    status.id, min(METADATA_WAIT_S, self.settings.torrent_wait_s)
                )
            except Timeout:
                return shapes.torrent_shape(engine.status(status.id), []), False
        linked = await self._link(status.id)
        if not any(f.is_video for f in engine.files(status.id)):
            names = ", ".join(f.rel_path for f in linked[:5]) or "none"
            await self.remove(status.id, delete_data=True)
            raise Unprocessable(
                f"the torrent '{status.name}' has no video files (files: {names}); "
                "nothing to play, so it was not added"
            )
        return shapes.torrent_shape(engine.status(status.id), linked), True

    async def list_all(self) -> list[dict[str, Any]]:
        if not self._ready or self._engine is None:
            return []
        out = []
        for status in self._engine.torrents():
            out.append(shapes.torrent_shape(status, await self._linked(status.id), readers=False))
        return out

    async def get(self, torrent_id: int) -> dict[str, Any]:
        engine = await self._started()
        status = engine.status(torrent_id)
        return shapes.torrent_shape(
            status, await self._linked(torrent_id), bitmap=engine.piece_map(torrent_id)
        )

    async def remove(self, torrent_id: int, *, delete_data: bool = False) -> None:
        """Remove the torrent, its items (and its data with ``delete_data``). Reads and
        playbacks of its files end with a clear error at once."""
        engine = await self._started()
        engine.status(torrent_id)  # NotFound before anything changes
        file_ids = await self.db.read(catalog.media_file_ids, torrent_id)
        for file_id in file_ids:
            self.prober.cancel(file_id)
            self._failed.pop(file_id, None)
        link = self._links.pop(torrent_id, None)
        if link is not None:
            link.cancel()
        # The engine first: readers blocked on this torrent wake with NotFound.
        await engine.remove(torrent_id, delete_data=delete_data)
        entries = self._by_torrent.pop(torrent_id, [])
        for entry in entries:
            self._by_file.pop(entry.file_id, None)
            self.sources.unregister(entry.path)  # the pool closes its containers
        if file_ids:
            await self.db.write(store.remove_files, file_ids)
        for entry in entries:
            if entry.item_id is not None:
                self.prober.invalidate(entry.item_id)

    async def prepare(self, file_id: int, start_s: float) -> None:
        """Before a playback session of ``file_id``: if it is a torrent file, wait until
        playback can be decided -- its header probe, not the full one (bounded by
        ``torrent_wait_s``) -- and fetch the pieces at ``start_s`` first."""
        entry = self._by_file.get(file_id) or self._failed.get(file_id)
        if entry is None:
            return
        await self.prober.playable(entry, self.settings.torrent_wait_s)
        if entry.status == "failed":
            raise Unprocessable(f"'{Path(entry.path).name}' cannot be played: {entry.error}")
        if entry.status == "ok" and start_s > 0 and entry.duration_s and not entry.complete:
            engine = await self._started()
            engine.preload_resume(
                entry.torrent_id, entry.index, start_s, entry.duration_s, bitrate=entry.bitrate
            )

    async def prepare_index(self, file_id: int) -> None:
        """Before an HLS session of ``file_id``: if it is a torrent file, wait until its
        stored probe has the keyframe index (a Matroska file's cues; bounded by
        ``torrent_wait_s``)."""
        entry = self._by_file.get(file_id)
        if entry is not None:
            await self.prober.indexed(entry, self.settings.torrent_wait_s)

    # == engine events (on the loop) ======================================================
    def _on_event(self, event: TorrentEvent) -> None:
        if self._closed:
            return
        if event.kind == "metadata":
            self._link_task(event.torrent_id)
        elif event.kind == "finished":
            # libtorrent's "finished" means every *wanted* piece is in (during the
            # start-up hold that is only the head and tail): ask the piece map.
            for entry in self._by_torrent.get(event.torrent_id, []):
                if self._complete(entry) and entry.status == "ok":
                    self._spawn(self._poster(entry), f"torrent-poster-{entry.file_id}")

    # == linking =========================================================================
    def _link_task(self, torrent_id: int) -> asyncio.Task[list[catalog.LinkedFile]]:
        task = self._links.get(torrent_id)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = self._spawn(self._link_now(torrent_id), f"torrent-link-{torrent_id}")
            self._links[torrent_id] = task
        return task

    async def _link(self, torrent_id: int) -> list[catalog.LinkedFile]:
        return await asyncio.shield(self._link_task(torrent_id))

    async def _link_now(self, torrent_id: int) -> list[catalog.LinkedFile]:
        engine = self._engine
        if engine is None:
            raise TorrentError("the torrent engine is not running", code="torrent_engine_stopped")
        status = engine.status(torrent_id)
        files = {f.index: f for f in status.files}
        specs = [catalog.FileSpec(f.index, f.path, f.size, f.is_video) for f in status.files]
        linked = await self.db.write(
            functools.partial(
                catalog.link_files,
                torrent_id=torrent_id,
                info_hash=status.info_hash,
                save_path=status.save_path,
                root=self.root,
                files=specs,
                now=self.clock(),
            )
        )
        layout = Layout(status.piece_length, status.total_size)
        entries = []
        for f in linked:
            if f.media_file_id is None or f.index not in files or f.probe_status == "failed":
                continue
            entry = self._by_file.get(f.media_file_id)
            if entry is None:
                entry = Entry(
                    torrent_id=torrent_id,
                    index=f.index,
                    path=f.path,
                    save_path=status.save_path,
                    size=f.size,
                    file_id=f.media_file_id,
                    item_id=f.item_id,
                    fingerprint=f.fingerprint or "",
                    status=f.probe_status or "pending",
                    duration_s=f.duration_s,
                    bitrate=f.bitrate,
                    layout=layout,
                    file=files[f.index],
                    version_ns=int(status.added_at * 1e9),
                    version=f.version,
                )
                self._by_file[entry.file_id] = entry
                self._register(entry)
            entries.append(entry)
            if entry.needs_probe:
                self.prober.start(entry)
            elif entry.status == "ok" and self._complete(entry):
                self._spawn(self._poster(entry), f"torrent-poster-{entry.file_id}")
        self._by_torrent[torrent_id] = entries
        if entries:
            log.info(
                "torrent %s (%s): %d video file(s) in the library",
                torrent_id,
                status.name,
                len(entries),
            )
        return linked

    async def _linked(self, torrent_id: int) -> list[catalog.LinkedFile]:
        return await self.db.read(catalog.linked_files, torrent_id)

    # == reading: the StreamedFile of an entry ===========================================
    def _register(self, entry: Entry) -> None:
        self.sources.register(
            StreamedFile(
                path=entry.path,
                size=entry.size,
                version_ns=entry.version_ns,
                open=functools.partial(self._open_reader, entry),
                complete=functools.partial(self._complete, entry),
            )
        )

    def _complete(self, entry: Entry) -> bool:
        """Whether every piece of the file is verified (then the disk copy is whole)."""
        if entry.complete:
            return True
        engine = self._engine
        if engine is None:
            return False
        try:
            have = engine.piece_map(entry.torrent_id)
        except FerriteError:
            return False
        entry.complete = all(have[p] for p in file_pieces(entry.layout, entry.file.span))
        return entry.complete

    def _open_reader(self, entry: Entry) -> Readable | None:
        """A TorrentFileReader over the file (worker threads), or None once complete."""
        if self._complete(entry):
            return None

        async def open_() -> Readable:
            engine = self._engine
            if engine is None:
                raise TorrentError("the torrent engine stopped", code="torrent_engine_stopped")
            return engine.open_reader(
                entry.torrent_id,
                entry.index,
                bitrate=entry.bitrate,
                duration_s=entry.duration_s,
                player=True,
            )

        if threading.get_ident() == self._loop_thread:  # pragma: no cover - misuse guard
            raise RuntimeError("open a torrent reader from a worker thread, not the loop")
        # The engine's records belong to the loop: open there, read here.
        return asyncio.run_coroutine_threadsafe(open_(), self._loop).result(30)

    # == probe outcomes (from the prober, on the loop) ====================================
    def _probed(self, entry: Entry) -> None:
        if self._complete(entry):
            self._spawn(self._poster(entry), f"torrent-poster-{entry.file_id}")

    def _probe_failed(self, entry: Entry) -> None:
        self.sources.unregister(entry.path)
        self._by_file.pop(entry.file_id, None)
        self._failed[entry.file_id] = entry
        with contextlib.suppress(FerriteError):
            if self._engine is not None:
                self._engine.mark_video(entry.torrent_id, entry.index, False)

    async def _poster(self, entry: Entry) -> None:
        """The item's poster, from the complete file on disk (scans skip torrent files)."""
        if entry.item_id is None:
            return
        name = await asyncio.to_thread(
            artwork.ensure_artwork,
            self.settings.data_dir,
            entry.path,
            entry.fingerprint,
            duration_s=entry.duration_s,
        )
        if name is None:
            return
        item_id = entry.item_id

        def save(conn: Any) -> None:
            artwork.set_artwork(conn, [(item_id, name)])
            artwork.fill_parent_artwork(conn)

        await self.db.write(save)

    # == internals ========================================================================
    async def _started(self) -> TorrentEngine:
        if not self._ready or self._engine is None:
            if await self.db.read(catalog.torrent_count) == 0:
                raise NotFound("no such torrent")
            return await self.engine()
        return self._engine

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and not isinstance(exc, NotFound):
            log.error("torrent task %s failed", task.get_name(), exc_info=exc)
