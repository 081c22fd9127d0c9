"""Torrents as library items you can play while they download: the engine meets the app.

    TorrentService (svc.extras["torrents"])
    ├── TorrentEngine          started lazily: at startup only when torrents exist, else
    │                          on the first POST /api/torrents (no libtorrent session, no
    │                          listening port, for servers that never use torrents)
    ├── catalog                video files -> pending media_files rows + items at once
    ├── probes                 one task per pending file: PyAV probes through the piece-
    │                          aware reader as soon as head/tail pieces (fetched first by
    │                          the engine) arrive; stored like a scan; never repeated
    ├── svc.sources            every linked video file is registered as a StreamedFile:
    │                          the packager, direct play and ffmpeg read it through a
    │                          TorrentFileReader until the file is complete on disk
    └── playback.prepare       a session on a torrent item waits for its probe, then
                               preloads the pieces at the session's start position

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
import time
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ferrite.errors import (
    FerriteError,
    NotFound,
    ProbeError,
    Timeout,
    TorrentError,
    Unprocessable,
)
from ferrite.library import artwork, store
from ferrite.library.naming import MAX_SIDECAR_BYTES, parse_path
from ferrite.library.probe import probe_timed
from ferrite.sources import Readable, StreamedFile
from ferrite.torrent import catalog
from ferrite.torrent.engine import TorrentEngine
from ferrite.torrent.pieces import Layout, WindowPolicy, file_pieces, is_subtitle_path, piece_at
from ferrite.torrent.reader import TorrentFileReader
from ferrite.torrent.records import TorrentEvent, TorrentFile, TorrentStatus

if TYPE_CHECKING:
    from ferrite.services import Services

log = logging.getLogger(__name__)

#: How long POST /api/torrents waits for a magnet's metadata before answering 202.
METADATA_WAIT_S = 20.0
#: Retry delays of a probe whose pieces did not come (no peer yet, seeder restarting).
PROBE_RETRY_S = (1.0, 2.0, 5.0, 10.0, 30.0)
#: Deadline windows of readers: a few seconds ahead, not the engine's default 10-60 s.
#: Every piece with a deadline gets libtorrent's top priority, and its regular picker
#: does not order those by deadline: a window of most of the file means the piece a
#: player waits for comes in random order (measured in docs/benchmarks.md).
STREAM_WINDOW = WindowPolicy(min_s=2.0, max_s=10.0)
#: Bitrate a probe's reader plans with: it keeps its deadline window at the minimum.
PROBE_BITRATE = 64_000
#: Pieces shown around a reader's position in the status (before, after).
AROUND = (8, 32)


@dataclass
class _Entry:
    """A linked video file of a torrent, as the integration tracks it in memory."""

    torrent_id: int
    index: int
    path: str
    save_path: str
    size: int
    file_id: int
    item_id: int | None
    fingerprint: str
    status: str  # pending | ok | failed
    duration_s: float | None
    bitrate: int | None
    layout: Layout
    file: TorrentFile
    version_ns: int
    complete: bool = False


class TorrentService:
    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.settings = svc.settings
        self.db = svc.db
        self.root = Path(svc.settings.data_dir) / "torrents"
        self._engine: TorrentEngine | None = None  # set before start(): events need it
        self._ready = False
        self._start_lock = asyncio.Lock()
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._by_file: dict[int, _Entry] = {}
        self._by_torrent: dict[int, list[_Entry]] = {}
        self._links: dict[int, asyncio.Task[list[catalog.LinkedFile]]] = {}
        self._probes: dict[int, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._probe_pool = ThreadPoolExecutor(2, thread_name_prefix="torrent-probe")
        self._closed = False

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

    async def aclose(self) -> None:
        self._closed = True
        engine, self._engine = self._engine, None
        self._ready = False
        if engine is not None:
            await engine.close()  # readers blocked on pieces fail now
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.to_thread(self._probe_pool.shutdown, wait=True, cancel_futures=True)
        for entry in list(self._by_file.values()):
            self.svc.sources.unregister(entry.path)
        self._by_file.clear()
        self._by_torrent.clear()

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
                return self._shape(engine.status(status.id), []), False
        linked = await self._link(status.id)
        if not any(f.is_video for f in engine.files(status.id)):
            names = ", ".join(f.rel_path for f in linked[:5]) or "none"
            await self.remove(status.id, delete_data=True)
            raise Unprocessable(
                f"the torrent '{status.name}' has no video files (files: {names}); "
                "nothing to play, so it was not added"
            )
        return self._shape(engine.status(status.id), linked), True

    async def list_all(self) -> list[dict[str, Any]]:
        if not self._ready or self._engine is None:
            return []
        out = []
        for status in self._engine.torrents():
            out.append(self._shape(status, await self._linked(status.id), readers=False))
        return out

    async def get(self, torrent_id: int) -> dict[str, Any]:
        engine = await self._started()
        status = engine.status(torrent_id)
        return self._shape(
            status, await self._linked(torrent_id), bitmap=engine.piece_map(torrent_id)
        )

    async def remove(self, torrent_id: int, *, delete_data: bool = False) -> None:
        """Remove the torrent, its items (and its data with ``delete_data``). Reads and
        playbacks of its files end with a clear error at once."""
        engine = await self._started()
        engine.status(torrent_id)  # NotFound before anything changes
        file_ids = await self.db.read(catalog.media_file_ids, torrent_id)
        for file_id in file_ids:
            probe = self._probes.pop(file_id, None)
            if probe is not None:
                probe.cancel()
        link = self._links.pop(torrent_id, None)
        if link is not None:
            link.cancel()
        # The engine first: readers blocked on this torrent wake with NotFound.
        await engine.remove(torrent_id, delete_data=delete_data)
        entries = self._by_torrent.pop(torrent_id, [])
        for entry in entries:
            self._by_file.pop(entry.file_id, None)
            self.svc.sources.unregister(entry.path)  # the pool closes its containers
        if file_ids:
            await self.db.write(store.remove_files, file_ids)
        for entry in entries:
            if entry.item_id is not None:
                self.svc.files.invalidate(entry.item_id)

    async def prepare(self, file_id: int, start_s: float) -> None:
        """Before a playback session of ``file_id``: if it is a torrent file, wait for its
        probe (bounded by ``torrent_wait_s``) and fetch the pieces at ``start_s`` first."""
        entry = self._by_file.get(file_id)
        if entry is None:
            return
        probe = self._probes.get(file_id)
        if probe is not None and not probe.done():
            limit = self.settings.torrent_wait_s
            try:
                await asyncio.wait_for(asyncio.shield(probe), limit)
            except TimeoutError:
                with contextlib.suppress(FerriteError):
                    engine = await self._started()
                    log.warning("probe stalled: %s", await engine.diagnosis(entry.torrent_id))
                raise Timeout(
                    f"the start of '{Path(entry.path).name}' has not arrived after {limit:g} s; "
                    "no peer is sending it (yet)"
                ) from None
        if entry.status == "ok" and start_s > 0 and entry.duration_s and not entry.complete:
            engine = await self._started()
            engine.preload_resume(
                entry.torrent_id, entry.index, start_s, entry.duration_s, bitrate=entry.bitrate
            )

    # == engine events (on the loop) ======================================================
    def _on_event(self, event: TorrentEvent) -> None:
        if self._closed:
            return
        if event.kind == "metadata":
            self._link_task(event.torrent_id)
        elif event.kind == "finished":
            for entry in self._by_torrent.get(event.torrent_id, []):
                entry.complete = True
                if entry.status == "ok":
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
                now=self.svc.clock(),
            )
        )
        layout = Layout(status.piece_length, status.total_size)
        entries = []
        for f in linked:
            if f.media_file_id is None or f.index not in files or f.probe_status == "failed":
                continue
            entry = self._by_file.get(f.media_file_id)
            if entry is None:
                entry = _Entry(
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
                )
                self._by_file[entry.file_id] = entry
                self._register(entry)
            entries.append(entry)
            if entry.status == "pending" and entry.file_id not in self._probes:
                self._probes[entry.file_id] = self._spawn(
                    self._probe(entry), f"torrent-probe-{entry.file_id}"
                )
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
    def _register(self, entry: _Entry) -> None:
        self.svc.sources.register(
            StreamedFile(
                path=entry.path,
                size=entry.size,
                version_ns=entry.version_ns,
                open=functools.partial(self._open_reader, entry),
                complete=functools.partial(self._complete, entry),
            )
        )

    def _complete(self, entry: _Entry) -> bool:
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

    def _open_reader(self, entry: _Entry) -> Readable | None:
        """A TorrentFileReader over the file (worker threads), or None once complete."""
        if self._complete(entry):
            return None

        async def open_() -> Readable:
            engine = self._engine
            if engine is None:
                raise TorrentError("the torrent engine stopped", code="torrent_engine_stopped")
            return engine.open_reader(
                entry.torrent_id, entry.index, bitrate=entry.bitrate, duration_s=entry.duration_s
            )

        if threading.get_ident() == self._loop_thread:  # pragma: no cover - misuse guard
            raise RuntimeError("open a torrent reader from a worker thread, not the loop")
        # The engine's records belong to the loop: open there, read here.
        return asyncio.run_coroutine_threadsafe(open_(), self._loop).result(30)

    # == probing ==========================================================================
    async def _probe(self, entry: _Entry) -> None:
        attempt = 0
        try:
            while True:
                engine = self._engine
                if engine is None:
                    return
                started = time.monotonic()
                try:
                    # A probe reads a few scattered ranges (header, index, first and last
                    # GOP, sampled keyframes): no read-ahead beyond the minimum window.
                    reader = engine.open_reader(
                        entry.torrent_id, entry.index, bitrate=PROBE_BITRATE
                    )
                    file = _ProbeFile(reader, functools.partial(self._will_need, entry))
                    sidecars: _Sidecars | None = None
                    try:
                        sidecars = _Sidecars(engine, entry)
                        info, timings = await self._loop.run_in_executor(
                            self._probe_pool,
                            functools.partial(
                                probe_timed,
                                entry.path,
                                sidecars=sidecars.paths,
                                file=file,
                                read_sidecar=sidecars.read,
                            ),
                        )
                    finally:
                        reader.close()
                        if sidecars is not None:
                            sidecars.close()
                except ProbeError as exc:
                    await self._probe_failed(entry, exc.message)
                    return
                except NotFound:
                    return  # the torrent was removed
                except FerriteError as exc:
                    if getattr(exc, "code", "") == "torrent_engine_stopped" or self._closed:
                        return
                    delay = PROBE_RETRY_S[min(attempt, len(PROBE_RETRY_S) - 1)]
                    attempt += 1
                    log.info(
                        "probe of %s waits for data (%s); retry in %g s",
                        entry.path,
                        exc.message,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    continue
                await self._probe_done(entry, info)
                log.info(
                    "probed torrent file %s in %.2f s (keyframes: %s)",
                    Path(entry.path).name,
                    time.monotonic() - started,
                    timings.keyframe_method,
                )
                return
        finally:
            if self._probes.get(entry.file_id) is asyncio.current_task():
                del self._probes[entry.file_id]

    def _will_need(self, entry: _Entry, ranges: list[tuple[int, int]]) -> None:
        """Probe thread: the probe will read ``ranges`` next; fetch them all at once."""

        def start() -> None:
            if not self._closed:
                self._spawn(self._prefetch(entry, ranges), f"torrent-prefetch-{entry.file_id}")

        self._loop.call_soon_threadsafe(start)

    async def _prefetch(self, entry: _Entry, ranges: list[tuple[int, int]]) -> None:
        engine = self._engine
        if engine is None:
            return
        readers = [
            engine.open_reader(entry.torrent_id, entry.index, bitrate=PROBE_BITRATE) for _ in ranges
        ]
        try:
            await asyncio.gather(
                *(r.wait_for_range(a, b) for r, (a, b) in zip(readers, ranges, strict=True)),
                return_exceptions=True,  # a hint: the probe's own read reports failures
            )
        finally:
            for r in readers:
                r.close()

    async def _probe_done(self, entry: _Entry, info: Any) -> None:
        library_id = await self.db.read(catalog.library_of, entry.file_id)
        if library_id is None:
            return  # removed meanwhile
        file_id, item_id = await self.db.write(
            functools.partial(
                store.save_probed,
                **self._file_row(entry, library_id),
                info=info,
                parsed=parse_path(entry.path, root=entry.save_path, kind="mixed"),
            )
        )
        await self.db.write(catalog.set_media, entry.torrent_id, entry.index, file_id, item_id)
        entry.item_id = item_id
        entry.duration_s = info.duration_s or None
        entry.bitrate = info.bitrate
        entry.status = "ok"
        self.svc.files.invalidate(item_id)
        if self._complete(entry):
            self._spawn(self._poster(entry), f"torrent-poster-{entry.file_id}")

    def _file_row(self, entry: _Entry, library_id: int) -> dict[str, Any]:
        """What ``store.save_probed``/``save_failed`` record of a torrent file (no mtime:
        its identity is the torrent's, not the disk's)."""
        return {
            "library_id": library_id,
            "path": entry.path,
            "size": entry.size,
            "mtime_ns": 0,
            "fingerprint": entry.fingerprint,
            "now": self.svc.clock(),
            "file_id": entry.file_id,
        }

    async def _probe_failed(self, entry: _Entry, reason: str) -> None:
        log.warning("torrent file %s cannot be played: %s", entry.path, reason)
        library_id = await self.db.read(catalog.library_of, entry.file_id)
        if library_id is None:
            return
        await self.db.write(
            functools.partial(store.save_failed, **self._file_row(entry, library_id), reason=reason)
        )
        await self.db.write(catalog.set_media, entry.torrent_id, entry.index, entry.file_id, None)
        entry.status = "failed"
        if entry.item_id is not None:
            self.svc.files.invalidate(entry.item_id)
        entry.item_id = None
        self.svc.sources.unregister(entry.path)
        self._by_file.pop(entry.file_id, None)
        with contextlib.suppress(FerriteError):
            if self._engine is not None:
                self._engine.mark_video(entry.torrent_id, entry.index, False)

    async def _poster(self, entry: _Entry) -> None:
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

    # == shapes ===========================================================================
    def _shape(
        self,
        status: TorrentStatus,
        linked: Sequence[catalog.LinkedFile],
        *,
        readers: bool = True,
        bitmap: list[bool] | None = None,
    ) -> dict[str, Any]:
        by_index = {f.index: f for f in linked}
        files = []
        for f in status.files:
            link = by_index.get(f.index)
            files.append(
                {
                    "index": f.index,
                    "path": f.path,
                    "size": f.size,
                    "is_video": f.is_video,
                    "item_id": link.item_id if link else None,
                    "file_id": link.media_file_id if link else None,
                    "probe_status": link.probe_status if link else None,
                }
            )
        out: dict[str, Any] = {
            "id": status.id,
            "info_hash": status.info_hash,
            "name": status.name,
            "state": status.state,
            "has_metadata": status.has_metadata,
            "progress": status.progress,
            "download_rate": status.download_rate,
            "upload_rate": status.upload_rate,
            "peers": status.peers,
            "seeds": status.seeds,
            "total_size": status.total_size,
            "piece_length": status.piece_length,
            "num_pieces": status.num_pieces,
            "pieces_have": status.pieces_have,
            "hash_failures": status.hash_failures,
            "error": status.error,
            "added_at": status.added_at,
            "files": files,
        }
        if readers:
            out["readers"] = [self._reader_shape(status, r, bitmap) for r in status.readers]
        return out

    @staticmethod
    def _reader_shape(status: TorrentStatus, r: Any, bitmap: list[bool] | None) -> dict[str, Any]:
        f = next((f for f in status.files if f.index == r.file_index), None)
        out: dict[str, Any] = {
            "reader_id": r.reader_id,
            "file_index": r.file_index,
            "position": r.position,
            "bitrate": r.bitrate,
            "window_s": r.window_s,
            "window": list(r.window) if r.window else None,
            "waiting_for": r.waiting_for,
        }
        if f is not None and status.piece_length and f.size:
            layout = Layout(status.piece_length, status.total_size)
            piece = piece_at(layout, f.span, min(r.position, f.size - 1))[0]
            out["piece"] = piece
            if bitmap is not None:
                first = max(0, piece - AROUND[0])
                last = min(len(bitmap), piece + AROUND[1] + 1)
                out["around"] = {
                    "first": first,
                    "have": "".join("1" if bitmap[p] else "0" for p in range(first, last)),
                }
        return out

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


class _Sidecars:
    """The subtitle files of a torrent that sit next to a video, read for its probe
    through piece-aware readers (verified bytes only; opened here, on the loop)."""

    def __init__(self, engine: TorrentEngine, entry: _Entry) -> None:
        folder = PurePosixPath(entry.file.path).parent
        self._readers: dict[Path, tuple[TorrentFileReader, int]] = {}
        try:
            for f in engine.files(entry.torrent_id):
                if PurePosixPath(f.path).parent != folder or not is_subtitle_path(f.path):
                    continue
                if f.size <= MAX_SIDECAR_BYTES:
                    reader = engine.open_reader(entry.torrent_id, f.index, bitrate=PROBE_BITRATE)
                    path = Path(entry.save_path, *PurePosixPath(f.path).parts)
                    self._readers[path] = (reader, f.size)
        except BaseException:
            self.close()
            raise
        self.paths = sorted(self._readers)

    def read(self, path: Path) -> bytes | None:
        """Probe thread: the whole file; a piece that doesn't come raises Timeout (the
        probe is retried, so a slow subtitle file is not dropped for good)."""
        found = self._readers.get(path)
        if found is None:
            return None
        reader, size = found
        reader.seek(0)
        data = bytearray()
        while len(data) < size and (chunk := reader.read(size - len(data))):
            data += chunk
        return bytes(data)

    def close(self) -> None:
        for reader, _ in self._readers.values():
            reader.close()


class _ProbeFile:
    """The probe's reader with a ``will_need`` hint (see ``library.probe``)."""

    def __init__(self, reader: Readable, will_need: Any) -> None:
        self._reader = reader
        self.will_need = will_need

    def read(self, size: int | None = -1, /) -> bytes:
        return self._reader.read(size)

    def seek(self, offset: int, whence: int = 0, /) -> int:
        return self._reader.seek(offset, whence)

    def tell(self) -> int:
        return self._reader.seek(0, 1)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        self._reader.close()


# == app wiring =============================================================================
async def start_torrents(svc: Services) -> None:
    """Lifespan: the torrent integration; its engine starts now only if torrents exist."""
    service = TorrentService(svc)
    svc.extras["torrents"] = service
    playback = svc.extras.get("playback")
    if playback is not None:
        playback.prepare = service.prepare
    try:
        if await svc.db.read(catalog.torrent_count):
            await service.engine()
            # Restored torrents register their files before the first request is served.
            if service._links:
                await asyncio.wait(list(service._links.values()), timeout=30)
    except FerriteError as exc:
        log.error("the torrent engine did not start: %s (torrents are unavailable)", exc.message)


async def stop_torrents(svc: Services) -> None:
    service = svc.extras.pop("torrents", None)
    playback = svc.extras.get("playback")
    if playback is not None:
        playback.prepare = None
    if service is not None:
        await service.aclose()
