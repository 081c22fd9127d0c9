"""The app's long-lived parts in one small container, started and stopped together.

``create_app`` builds a :class:`Services` in its lifespan and puts it on
``app.state.services``; routers reach it through ``ferrite.api.deps.ServicesDep``. Every
part with a resource has an owner here, and :meth:`Services.aclose` releases them in
reverse order: background tasks (scans) are cancelled and awaited, the watcher stopped,
the hashing pool and the database closed.

Every part is a typed field. The core (database, auth, scans...) is made by
:meth:`Services.start`; the streaming stack (``playback``, ``runs``, ``warmer``) and the
torrent integration (``torrents``) are started by the app's lifespan in that order and
stay ``None`` on a server (or in a test) that runs without them.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import stat
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ferrite.auth.imagetokens import ImageTokens
from ferrite.auth.passwords import Passwords
from ferrite.auth.service import AuthService
from ferrite.auth.tokens import Clock, load_or_create_secret
from ferrite.cluster.link import ClusterLink
from ferrite.config import Settings
from ferrite.db.engine import Database
from ferrite.errors import NotFound
from ferrite.http.feed import FeedInputs
from ferrite.library import queries
from ferrite.library.queries import FileLocation
from ferrite.library.scanner import Scanner
from ferrite.sources import FileSources

if TYPE_CHECKING:
    from ferrite.cluster.remote import RemoteTranscoder
    from ferrite.library.watcher import LibraryWatcher
    from ferrite.playback.service import PlaybackService
    from ferrite.playback.warmer import Warmer
    from ferrite.torrent.service import TorrentService
    from ferrite.transcode.runs import RunManager

log = logging.getLogger(__name__)

#: How long a starting node waits for its first subscription before serving anyway.
_CLUSTER_START_WAIT_S = 5.0

ScanFn = Callable[[int, "Sequence[Path] | None"], Awaitable[object]]


class Tasks:
    """Owner of background asyncio tasks: keeps them referenced, logs failures, cancels all
    on :meth:`aclose`."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        if self._closed:
            coro.close()
            raise RuntimeError("the server is shutting down")
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    def __len__(self) -> int:
        return len(self._tasks)

    async def aclose(self, *, grace_s: float = 0.0) -> None:
        """Wait up to ``grace_s`` for running tasks to end, then cancel the rest."""
        self._closed = True
        tasks = list(self._tasks)
        if tasks and grace_s > 0:
            await asyncio.wait(tasks, timeout=grace_s)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class Scans:
    """Background library scans: at most one per library, later requests coalesced.

    A scan asked for while one runs is remembered (paths merged; ``None`` = everything)
    and runs once the current one ends, so a burst of rescans costs at most two scans.
    """

    def __init__(self, scan: ScanFn | None, tasks: Tasks, on_done: Callable[[int], None]) -> None:
        self._scan = scan
        self._tasks = tasks
        self._on_done = on_done
        self._after_scan: list[Callable[[int], None]] = []
        self._running: dict[int, asyncio.Task[Any]] = {}
        self._pending: dict[int, set[Path] | None] = {}
        self.reports: dict[int, object] = {}  # the last report per library

    @property
    def available(self) -> bool:
        return self._scan is not None

    def after_scan(self, listener: Callable[[int], None]) -> Callable[[], None]:
        """Call ``listener(library_id)`` after each scan (e.g. the warmer looks for new
        files); returns the function that removes it."""
        self._after_scan.append(listener)
        return lambda: self._after_scan.remove(listener)

    def scanning(self, library_id: int) -> bool:
        return library_id in self._running

    def request(self, library_id: int, paths: Sequence[Path] | None = None) -> None:
        """Scan ``library_id`` (``paths`` of it, or all) in the background, soon."""
        if self._scan is None:
            log.warning("no scanner available; library %s not scanned", library_id)
            return
        if library_id in self._running:
            if library_id in self._pending:
                prev = self._pending[library_id]
                self._pending[library_id] = (
                    None if prev is None or paths is None else prev | set(paths)
                )
            else:
                self._pending[library_id] = None if paths is None else set(paths)
            return
        self._running[library_id] = self._tasks.spawn(
            self._run(library_id, paths), name=f"scan-library-{library_id}"
        )

    async def _run(self, library_id: int, paths: Sequence[Path] | None) -> None:
        assert self._scan is not None
        try:
            while True:
                started = time.monotonic()
                try:
                    self.reports[library_id] = await self._scan(library_id, paths)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("scan of library %s failed", library_id)
                else:
                    log.info("scanned library %s in %.1f s", library_id, time.monotonic() - started)
                finally:
                    self._on_done(library_id)
                    for listener in self._after_scan:
                        listener(library_id)
                if library_id not in self._pending:
                    return
                pending = self._pending.pop(library_id)
                paths = None if pending is None else sorted(pending)
        finally:
            self._running.pop(library_id, None)
            self._pending.pop(library_id, None)


class FileLocator:
    """item (and file) id -> :class:`FileLocation`, cached so repeated range requests of a
    player do no database query. Bounded LRU; cleared after scans; an entry whose file is
    gone is dropped by the file route and looked up again."""

    def __init__(self, db: Database, *, size: int = 10_000) -> None:
        self._db = db
        self._size = size
        self._cache: OrderedDict[tuple[int, int | None], FileLocation] = OrderedDict()

    async def locate(self, item_id: int, file_id: int | None = None) -> FileLocation | None:
        key = (item_id, file_id)
        found = self._cache.get(key)
        if found is not None:
            self._cache.move_to_end(key)
            return found
        try:
            found = await self._db.read(queries.file_location, item_id, file_id)
        except NotFound:
            return None
        self._cache[key] = found
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return found

    def invalidate(self, item_id: int) -> None:
        for key in [k for k in self._cache if k[0] == item_id]:
            del self._cache[key]

    def clear(self) -> None:
        self._cache.clear()


@dataclass
class Services:
    settings: Settings
    db: Database
    auth: AuthService
    clock: Clock
    tasks: Tasks
    scans: Scans
    files: FileLocator
    #: ``?token=`` credentials of image URLs (artwork), derived from the install secret.
    image_tokens: ImageTokens
    scanner: Scanner | None = None
    watcher: LibraryWatcher | None = None
    # Media files not all on disk yet (torrents), read through their owner: see sources.py
    sources: FileSources = field(default_factory=FileSources)
    #: The streaming stack, started by the app after the core (``ferrite.app``).
    playback: PlaybackService | None = None
    runs: RunManager | None = None  # every transcode run of the server
    warmer: Warmer | None = None  # only with ``warm_segments`` > 0
    #: The torrent integration (built by the app: ``ferrite.app._start_torrents``).
    torrents: TorrentService | None = None
    #: What this node shares with the others of a cluster (only with ``redis_url``).
    cluster: ClusterLink | None = None
    #: Sends transcodes to the cluster's workers (a playback node with ``redis_url``).
    remote: RemoteTranscoder | None = None
    _owns_passwords: bool = True
    #: What ffmpeg opens for a file of ``sources`` (http/feed.py owns the loopback server).
    inputs: FeedInputs = field(init=False)

    def __post_init__(self) -> None:
        self.inputs = FeedInputs(self.sources)

    @classmethod
    async def start(
        cls,
        settings: Settings,
        *,
        clock: Clock = time.time,
        passwords: Passwords | None = None,
        make_scanner: Callable[[Database, Settings], Scanner] | None = Scanner,
    ) -> Services:
        """Open the database, migrate, load the auth table; no scanning yet."""
        await asyncio.to_thread(private_dir, settings.data_dir)
        db = Database(settings.db_url)
        try:
            await asyncio.to_thread(db.migrate)
            secret = await asyncio.to_thread(load_or_create_secret, settings.data_dir)
            owns = passwords is None
            auth = AuthService(
                db, settings, secret, clock=clock, passwords=passwords or Passwords()
            )
            await auth.load()
        except BaseException:
            db.close()
            raise
        # The fan-out re-reads the auth table once subscribed: changes other nodes make
        # from then on reach this one. Redis away at start is not fatal (it retries).
        cluster = ClusterLink.start(settings, auth, secret) if settings.redis_url else None
        if cluster is not None:
            await cluster.fanout.wait_connected(_CLUSTER_START_WAIT_S)
        tasks = Tasks()
        files = FileLocator(db)
        scanner = make_scanner(db, settings) if make_scanner is not None else None
        scans = Scans(_scan_fn(scanner), tasks, on_done=lambda _lib: files.clear())
        return cls(
            settings=settings,
            db=db,
            auth=auth,
            clock=clock,
            tasks=tasks,
            scans=scans,
            files=files,
            image_tokens=ImageTokens(secret, auth.table, clock=clock),
            scanner=scanner,
            sources=FileSources(read_threads=settings.torrent_read_threads),
            cluster=cluster,
            _owns_passwords=owns,
        )

    def scanning(self, library_id: int) -> bool:
        """Whether a scan of the library is queued or running (ours or the watcher's)."""
        if self.scans.scanning(library_id):
            return True
        return self.scanner is not None and library_id in self.scanner.scanning

    def libraries_changed(self) -> None:
        """Libraries were added, changed or removed: forget cached paths, re-watch folders."""
        self.files.clear()
        if self.watcher is not None:
            self.watcher.refresh()

    async def start_watcher(self) -> None:
        """Watch library folders and rescan changed paths (``settings.watch``)."""
        if not self.settings.watch or self.scanner is None or self.watcher is not None:
            return
        from ferrite.library.watcher import LibraryWatcher

        self.watcher = LibraryWatcher(
            self.db, self.scanner, self.settings, on_scan=lambda *_: self.files.clear()
        )
        await self.watcher.start()

    async def aclose(self, *, grace_s: float = 10.0) -> None:
        """Stop everything: the watcher, then scans (the scanner's pool is shut so a scan
        under way ends soon; it gets ``grace_s`` before its task is cancelled), then the
        hashing pool and the database."""
        await _close(self.watcher)
        if self.scanner is not None:
            await asyncio.to_thread(self.scanner.close)
        await self.tasks.aclose(grace_s=grace_s)
        await asyncio.to_thread(self.inputs.close)
        await asyncio.to_thread(self.sources.close)
        if self.cluster is not None:
            await self.cluster.aclose()
        if self._owns_passwords:
            self.auth.close()
        await asyncio.to_thread(self.db.close)


def private_dir(path: Path) -> None:
    """The data directory, 0700 whatever the umask: it holds the secret, the database,
    torrents and caches. One made readable by others before is restricted (logged)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s was open to other users (mode %o); restricting it to 0700", path, mode)
        path.chmod(0o700)


def _scan_fn(scanner: Scanner | None) -> ScanFn | None:
    if scanner is None:
        return None

    async def run(library_id: int, paths: Sequence[Path] | None) -> object:
        # Scanner.scan_library blocks (walks, probes in its pool, writes): a worker thread.
        return await asyncio.to_thread(
            scanner.scan_library, library_id, None if paths is None else list(paths)
        )

    return run


async def _close(part: Any | None) -> None:
    if part is None:
        return
    for name in ("aclose", "stop", "close"):
        method = getattr(part, name, None)
        if method is None:
            continue
        result = method()
        if inspect.isawaitable(result):
            await result
        return
