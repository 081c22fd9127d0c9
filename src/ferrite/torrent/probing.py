"""Probing a torrent's video files while they download: first what playback needs, then
the rest behind the player.

    Prober
    ├── (lite step)   Matroska only: the container header without its index (the Cues,
    │                 usually at the end), stored as LITE_VERSION: enough to decide
    │                 direct play (codecs, dimensions, duration); an HLS session waits
    │                 for the header step (``Entry.indexed``).
    ├── header step   library.probe.probe_header through a piece reader with deadlines:
    │                 container header, index (MP4 moov at either end, Matroska cues), the
    │                 first GOP -- what a player reads before its first frame anyway.
    │                 Stored at once as the file's probe (``media_files.mtime_ns`` =
    │                 HEADER_VERSION): POST /api/playback decides and plans from it.
    └── full step     library.probe through a *background* reader (no deadlines: its
                      pieces come after every player's): the index checked against the
                      data (last GOP, sampled MP4 keyframes), embedded and sidecar
                      subtitles. Stored over the header's (FULL_VERSION), as a scan
                      stores a library file; never repeated, also after a restart.

The version is part of the key of a file's playback context (and of the packager's per-
file facts), so sessions started after the full step use its plan; sessions already
playing keep theirs (cache keys hold the plan). A file whose header yields no usable
index (no ``moov`` keyframe table, untrustworthy cues, no video index at all) goes
straight to the full step, and playback waits for it, as before. A header step that
fails (no media FFmpeg can open, no audio or video, damaged first packets) is final:
the full probe would read the same verified bytes the same way, after waiting for the
rest of the file. A probe's read-ahead tasks end with it.

The header step reads up to the first keyframe only, so the playback decision does not
wait for a GOP. Right after it is stored, the first GOP (which the player reads next
anyway) gives the video's reorder delay (hls/timeline.py) to the packager, which would
otherwise read three GOPs before the first stream-copy segment. The delay is promised to
the packager before the header's probe is stored, so a segment asked for before the
first GOP is in waits for it; no HLS session waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ferrite.db.engine import Database
from ferrite.errors import FerriteError, NotFound, ProbeError, Timeout
from ferrite.hls.pool import SourceFile
from ferrite.hls.timeline import reorder_delay
from ferrite.library import store
from ferrite.library.files import FileFacts
from ferrite.library.naming import MAX_SIDECAR_BYTES, parse_path
from ferrite.library.probe import probe_timed
from ferrite.library.probe.header import HeaderProbe, probe_header
from ferrite.media.info import MediaInfo
from ferrite.sources import PyAVFile, Readable
from ferrite.torrent import catalog
from ferrite.torrent.engine import TorrentEngine
from ferrite.torrent.pieces import Layout, container_kind, is_subtitle_path
from ferrite.torrent.reader import TorrentFileReader
from ferrite.torrent.records import TorrentFile

log = logging.getLogger(__name__)

#: ``media_files.mtime_ns`` of a torrent file: which probe its row holds (a torrent
#: file's identity is the torrent's, so the field is free to version the probe).
FULL_VERSION = 0
HEADER_VERSION = 1
#: The container header without its index (Matroska before its cues): enough to decide
#: direct play, not to plan HLS.
LITE_VERSION = 2
#: The packager's ``promise_video_delay(sources, stream_index) -> settle(delay | None)``.
PromiseDelay = Callable[[Sequence[SourceFile], int], Callable[[int | None], None]]
#: Retry delays of a probe whose pieces did not come (no peer yet, seeder restarting).
PROBE_RETRY_S = (1.0, 2.0, 5.0, 10.0, 30.0)
#: Bitrate a probe's reader plans with: it keeps its deadline window at the minimum.
PROBE_BITRATE = 64_000


@dataclass
class Entry:
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
    version: int = FULL_VERSION  # of the stored probe (HEADER_VERSION: full step pending)
    complete: bool = False
    error: str | None = None  # why the probe failed (status "failed")
    #: Set once playback can be decided (a probe stored, or failed for good).
    playable: asyncio.Event = field(default_factory=asyncio.Event)
    #: Set once the stored probe has the keyframe index an HLS plan needs (or never will).
    indexed: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        if self.status != "pending":
            self.playable.set()
            if not self.needs_header:
                self.indexed.set()

    @property
    def needs_header(self) -> bool:
        """The header step (with the index) is still to run."""
        return self.status == "pending" or (self.status == "ok" and self.version == LITE_VERSION)

    @property
    def needs_probe(self) -> bool:
        return self.status == "pending" or (self.status == "ok" and self.version != FULL_VERSION)


class Prober:
    """Runs the two probe steps of every entry; owned by the TorrentService."""

    def __init__(
        self,
        db: Database,
        *,
        invalidate: Callable[[int], None],
        clock: Callable[[], float],
        promise_delay: PromiseDelay | None,
        engine: Callable[[], TorrentEngine | None],
        spawn: Callable[[Coroutine[Any, Any, Any], str], asyncio.Task[Any]],
        on_probed: Callable[[Entry], None],
        on_failed: Callable[[Entry], None],
        closed: Callable[[], bool],
    ) -> None:
        """``invalidate(item_id)``: forget the item's cached file location (its probe
        changed); ``promise_delay``: the packager's ``promise_video_delay``."""
        self.db = db
        self.invalidate = invalidate
        self._clock = clock
        self._promise_delay = promise_delay
        self._engine = engine
        self._spawn = spawn
        self._on_probed = on_probed
        self._on_failed = on_failed
        self._closed = closed
        self._loop = asyncio.get_running_loop()
        self._tasks: dict[int, asyncio.Task[None]] = {}
        # The read-ahead tasks of each probe (ended with it: they hold readers).
        self._prefetches: dict[int, set[asyncio.Task[None]]] = {}
        self._pool = ThreadPoolExecutor(2, thread_name_prefix="torrent-probe")

    # == the service's verbs ==============================================================
    def start(self, entry: Entry) -> None:
        """Probe ``entry`` unless it is done or already being probed."""
        if entry.needs_probe and entry.file_id not in self._tasks:
            self._tasks[entry.file_id] = self._spawn(
                self._run(entry), f"torrent-probe-{entry.file_id}"
            )

    def cancel(self, file_id: int) -> None:
        task = self._tasks.pop(file_id, None)
        if task is not None:
            task.cancel()
        for prefetch in self._prefetches.pop(file_id, set()):
            prefetch.cancel()

    def busy(self, file_id: int) -> bool:
        """Whether a probe of the file (or its read-ahead) is still running."""
        return file_id in self._tasks or bool(self._prefetches.get(file_id))

    async def playable(self, entry: Entry, limit: float) -> None:
        """Wait until playback of ``entry`` can be decided; Timeout after ``limit`` s."""
        await self._wait(entry, entry.playable, limit, "the start")

    async def indexed(self, entry: Entry, limit: float) -> None:
        """Wait until the stored probe of ``entry`` has its keyframe index (an HLS plan
        needs it); Timeout after ``limit`` s."""
        await self._wait(entry, entry.indexed, limit, "the keyframe index")

    async def _wait(self, entry: Entry, event: asyncio.Event, limit: float, what: str) -> None:
        if event.is_set():
            return
        try:
            await asyncio.wait_for(event.wait(), limit)
        except TimeoutError:
            engine = self._engine()
            if engine is not None:
                with contextlib.suppress(FerriteError):
                    log.warning("probe stalled: %s", await engine.diagnosis(entry.torrent_id))
            raise Timeout(
                f"{what} of '{Path(entry.path).name}' has not arrived after {limit:g} s; "
                "no peer is sending it (yet)"
            ) from None

    async def aclose(self) -> None:
        """After the engine closed (blocked reads have failed) and the tasks ended."""
        await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)

    # == the two steps ====================================================================
    async def _run(self, entry: Entry) -> None:
        try:
            if entry.status == "pending" and container_kind(entry.path) == "matroska":
                # Matroska's index (Cues) is usually at the end of the file: direct play
                # is decided from the head alone, before the cues arrive.
                lite = await self._retrying(entry, self._lite)
                if lite is _GONE:
                    return
                if isinstance(lite, HeaderProbe):
                    await self._store(entry, lite.info, LITE_VERSION)
            if entry.needs_header:
                header = await self._retrying(entry, self._header)
                if header is _GONE:
                    return
                if isinstance(header, HeaderProbe) and header.info.keyframes is not None:
                    # Promised before playback can start: a stream-copy segment asked
                    # for meanwhile waits for the first GOP (it reads it anyway).
                    settle = self._promise(entry, header.info.keyframes.stream_index)
                    try:
                        await self._store(entry, header.info, HEADER_VERSION)
                        gop = await self._retrying(entry, self._first_gop)
                        first = gop.first_gop_pts if isinstance(gop, HeaderProbe) else ()
                        settle(reorder_delay(first) if first else None)
                    finally:
                        settle(None)
            started = time.monotonic()
            full = await self._retrying(entry, self._full)
            if isinstance(full, MediaInfo):
                await self._store(entry, full, FULL_VERSION)
                log.info(
                    "probed torrent file %s in %.2f s", Path(entry.path).name,
                    time.monotonic() - started,
                )  # fmt: skip
        finally:
            entry.playable.set()  # whatever happened, nobody waits for this task any more
            entry.indexed.set()
            if self._tasks.get(entry.file_id) is asyncio.current_task():
                del self._tasks[entry.file_id]
                for prefetch in self._prefetches.pop(entry.file_id, set()):
                    prefetch.cancel()  # their readers wait for pieces nobody reads now

    async def _retrying(
        self, entry: Entry, step: Callable[[TorrentEngine, Entry], Coroutine[Any, Any, Any]]
    ) -> Any:
        """Run one step until it answers; a missing piece (no peer yet) is retried, a
        ProbeError stores the failure (the first GOP's only skips the delay)."""
        attempt = 0
        while True:
            engine = self._engine()
            if engine is None or self._closed():
                return _GONE
            try:
                return await step(engine, entry)
            except ProbeError as exc:
                if step == self._first_gop:
                    log.info("first GOP of %s: %s", entry.path, exc.message)
                    return None
                # Final, also from the header step: it reads verified bytes with the
                # full probe's demuxer (an unreadable container, no audio or video
                # stream, damaged first packets), so the full probe would only wait for
                # the rest of the file to fail the same way.
                await self._failed(entry, exc.message)
                return _GONE
            except NotFound:
                return _GONE  # the torrent was removed
            except FerriteError as exc:
                if getattr(exc, "code", "") == "torrent_engine_stopped" or self._closed():
                    return _GONE
                delay = PROBE_RETRY_S[min(attempt, len(PROBE_RETRY_S) - 1)]
                attempt += 1
                log.info("probe of %s waits for data (%s); retry in %g s", entry.path,
                         exc.message, delay)  # fmt: skip
                await asyncio.sleep(delay)

    async def _lite(self, engine: TorrentEngine, entry: Entry) -> HeaderProbe:
        return await self._header_read(engine, entry, first_gop=False, index=False)

    async def _header(self, engine: TorrentEngine, entry: Entry) -> HeaderProbe:
        return await self._header_read(engine, entry, first_gop=False)

    async def _first_gop(self, engine: TorrentEngine, entry: Entry) -> HeaderProbe:
        return await self._header_read(engine, entry, first_gop=True)

    async def _header_read(
        self, engine: TorrentEngine, entry: Entry, *, first_gop: bool, index: bool = True
    ) -> HeaderProbe:
        # The bytes a player reads first, with deadlines like a player's.
        reader = engine.open_reader(entry.torrent_id, entry.index, bitrate=PROBE_BITRATE)
        try:
            file = _ProbeFile(reader, functools.partial(self._will_need, entry, False))
            return await self._loop.run_in_executor(
                self._pool,
                functools.partial(
                    probe_header, entry.path, file=file, first_gop=first_gop, index=index
                ),
            )
        finally:
            reader.close()

    async def _full(self, engine: TorrentEngine, entry: Entry) -> MediaInfo:
        # Everything else, behind every player (no deadlines).
        reader = engine.open_reader(
            entry.torrent_id, entry.index, bitrate=PROBE_BITRATE, background=True
        )
        sidecars: _Sidecars | None = None
        try:
            file = _ProbeFile(reader, functools.partial(self._will_need, entry, True))
            sidecars = _Sidecars(engine, entry)
            info, _ = await self._loop.run_in_executor(
                self._pool,
                functools.partial(
                    probe_timed,
                    entry.path,
                    sidecars=sidecars.paths,
                    file=file,
                    read_sidecar=sidecars.read,
                ),
            )
            return info
        finally:
            reader.close()
            if sidecars is not None:
                sidecars.close()

    def _promise(self, entry: Entry, stream_index: int) -> Callable[[int | None], None]:
        """The packager waits for the reorder delay the first GOP will give (both probe
        versions of the file share it; see module docstring)."""
        if self._promise_delay is None:
            return lambda _delay: None
        versions = [SourceFile(entry.path, entry.size, v) for v in (HEADER_VERSION, FULL_VERSION)]
        return self._promise_delay(versions, stream_index)

    # == reading ahead ====================================================================
    def _will_need(self, entry: Entry, background: bool, ranges: list[tuple[int, int]]) -> None:
        """Probe thread: the probe will read ``ranges`` next; fetch them all at once."""

        def start() -> None:
            if self._closed() or entry.file_id not in self._tasks:
                return  # the probe ended meanwhile
            task = self._spawn(
                self._prefetch(entry, ranges, background), f"torrent-prefetch-{entry.file_id}"
            )
            running = self._prefetches.setdefault(entry.file_id, set())
            running.add(task)
            task.add_done_callback(running.discard)

        self._loop.call_soon_threadsafe(start)

    async def _prefetch(
        self, entry: Entry, ranges: list[tuple[int, int]], background: bool
    ) -> None:
        engine = self._engine()
        if engine is None:
            return
        readers = [
            engine.open_reader(
                entry.torrent_id, entry.index, bitrate=PROBE_BITRATE, background=background
            )
            for _ in ranges
        ]
        try:
            await asyncio.gather(
                *(r.wait_for_range(a, b) for r, (a, b) in zip(readers, ranges, strict=True)),
                return_exceptions=True,  # a hint: the probe's own read reports failures
            )
        finally:
            for r in readers:
                r.close()

    # == storing ==========================================================================
    async def _store(self, entry: Entry, info: MediaInfo, version: int) -> None:
        library_id = await self.db.read(catalog.library_of, entry.file_id)
        if library_id is None:
            return  # removed meanwhile
        file_id, item_id = await self.db.write(
            functools.partial(
                store.save_probed,
                **self._file_row(entry, library_id, version),
                info=info,
                parsed=parse_path(entry.path, root=entry.save_path, kind="mixed"),
            )
        )
        await self.db.write(catalog.set_media, entry.torrent_id, entry.index, file_id, item_id)
        entry.item_id = item_id
        entry.duration_s = info.duration_s or None
        entry.bitrate = info.bitrate
        entry.status = "ok"
        entry.version = version
        entry.playable.set()
        if info.keyframes is not None or version == FULL_VERSION:
            entry.indexed.set()
        self.invalidate(item_id)
        if version == FULL_VERSION:
            self._on_probed(entry)

    def _file_row(self, entry: Entry, library_id: int, version: int) -> dict[str, Any]:
        """What ``store.save_probed``/``save_failed`` record of a torrent file (its mtime
        is the probe's version: its identity is the torrent's, not the disk's)."""
        return {
            "facts": FileFacts(entry.path, entry.size, version, entry.fingerprint),
            "library_id": library_id,
            "now": self._clock(),
            "file_id": entry.file_id,
        }

    async def _failed(self, entry: Entry, reason: str) -> None:
        log.warning("torrent file %s cannot be played: %s", entry.path, reason)
        library_id = await self.db.read(catalog.library_of, entry.file_id)
        if library_id is None:
            return
        await self.db.write(
            functools.partial(
                store.save_failed,
                **self._file_row(entry, library_id, FULL_VERSION),
                reason=reason,
            )
        )
        await self.db.write(catalog.set_media, entry.torrent_id, entry.index, entry.file_id, None)
        entry.status = "failed"
        entry.error = reason
        if entry.item_id is not None:
            self.invalidate(entry.item_id)
        entry.item_id = None
        self._on_failed(entry)


_GONE = object()  # a step's answer when the torrent or the engine went away


class _Sidecars:
    """The subtitle files of a torrent that sit next to a video, read for its probe
    through piece-aware readers (verified bytes only; opened here, on the loop)."""

    def __init__(self, engine: TorrentEngine, entry: Entry) -> None:
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


class _ProbeFile(PyAVFile):
    """The probe's reader with a ``will_need`` hint (see ``library.probe``)."""

    def __init__(self, reader: Readable, will_need: Any) -> None:
        super().__init__(reader)
        self.will_need = will_need
