"""Watch library folders and rescan exactly the paths that changed.

:class:`LibraryWatcher` runs two owned tasks while started:

* the *watch* task iterates ``watchfiles.awatch`` over every library folder (restarted
  by :meth:`LibraryWatcher.refresh` when libraries are added, changed or removed) and
  records each changed path that could matter (videos, sidecar subtitles, folders) with
  its ``(size, mtime_ns)`` at that moment;
* the *flush* task waits until no change has arrived for ``settings.watch_debounce_ms``,
  then takes the paths whose size and mtime are still what they were at their last event
  -- a file still being copied keeps changing and stays pending until it stops -- groups
  them by library and calls ``scanner.scan_library(library, paths=[...])`` in a thread.
  Never a whole-library scan for a file change.

Both tasks are cancelled by :meth:`LibraryWatcher.stop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import watchfiles

from ferrite.config import Settings
from ferrite.db.engine import Database
from ferrite.library import libraries
from ferrite.library.fingerprint import StatSignature, stat_signature
from ferrite.library.naming import is_subtitle, is_video
from ferrite.library.scanner import Scanner, ScanReport

log = logging.getLogger(__name__)

#: Called after each scan the watcher triggers: (library id, paths, report).
ScanHook = Callable[[int, list[str], ScanReport], None]

_default_filter = watchfiles.DefaultFilter()


def _relevant(change: watchfiles.Change, path: str) -> bool:
    """Videos, subtitles and (possibly deleted) folders; not hidden or temporary files."""
    if not _default_filter(change, path):
        return False
    name = Path(path).name
    if name.startswith(".") or name.endswith((".part", ".tmp", ".crdownload", ".!qB")):
        return False
    if is_video(name) or is_subtitle(name):
        return True
    # Anything else only as a folder (a new or deleted folder of videos).
    return Path(path).is_dir() or (change == watchfiles.Change.deleted and "." not in name)


def _stat(path: str) -> StatSignature | None:
    try:
        return stat_signature(path)
    except OSError:
        return None


class LibraryWatcher:
    """Rescans changed paths of every library while started. Owns its tasks."""

    def __init__(
        self,
        db: Database,
        scanner: Scanner,
        settings: Settings,
        *,
        on_scan: ScanHook | None = None,
        awatch: Callable[..., Any] = watchfiles.awatch,
    ) -> None:
        self.db = db
        self.scanner = scanner
        self.debounce_s = max(0.01, settings.watch_debounce_ms / 1000)
        self.on_scan = on_scan
        self._awatch = awatch
        self._pending: dict[str, StatSignature | None] = {}
        self._roots: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._kick: asyncio.Event | None = None
        self._watch_stop: asyncio.Event | None = None
        self._stopping = False
        self.watching: tuple[str, ...] = ()  # folders being watched now
        self._ready: asyncio.Event | None = None

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    async def start(self) -> None:
        """Start watching; returns once the folders are being watched."""
        if self._tasks:
            return
        self._stopping = False
        self._kick = asyncio.Event()
        self._watch_stop = asyncio.Event()
        self._ready = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._watch_loop(), name="ferrite-watch"),
            asyncio.create_task(self._flush_loop(), name="ferrite-watch-flush"),
        ]
        await self._ready.wait()

    async def stop(self) -> None:
        """Stop watching; pending changes that haven't settled are dropped (the next scan
        of the library sees them)."""
        self._stopping = True
        if self._watch_stop is not None:
            self._watch_stop.set()
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self.watching = ()

    aclose = stop

    def refresh(self) -> None:
        """Library folders changed (a library was created, edited or deleted): re-read them."""
        if self._watch_stop is not None:
            self._watch_stop.set()

    # -- tasks -------------------------------------------------------------------------------
    async def _watch_loop(self) -> None:
        assert self._ready is not None
        while not self._stopping:
            self._roots = await self.db.read(libraries.library_roots)
            folders = await asyncio.to_thread(lambda: [r for r in self._roots if Path(r).is_dir()])
            stop = self._watch_stop = asyncio.Event()
            self.watching = tuple(folders)
            if not folders:
                self._ready.set()
                await stop.wait()
                continue
            try:
                await self._watch(folders, stop)
            except Exception:
                log.exception("watching %s failed; retrying", folders)
                self._ready.set()
                await asyncio.sleep(self.debounce_s)

    async def _watch(self, folders: list[str], stop: asyncio.Event) -> None:
        assert self._ready is not None
        changes_iter = self._awatch(
            *folders,
            watch_filter=_relevant,
            stop_event=stop,
            debounce=max(50, int(self.debounce_s * 1000)),
            step=50,
            recursive=True,
        )
        # Run the generator up to its first wait: by then the OS watches are in place, so
        # start() can promise that later changes are seen.
        nxt = asyncio.ensure_future(changes_iter.__anext__())
        await asyncio.sleep(0)
        self._ready.set()
        try:
            while True:
                try:
                    changes = await nxt
                except StopAsyncIteration:
                    return
                self._note(changes)
                nxt = asyncio.ensure_future(changes_iter.__anext__())
        finally:
            stop.set()
            nxt.cancel()
            with contextlib.suppress(BaseException):
                await nxt
            await changes_iter.aclose()

    def _note(self, changes: set[tuple[watchfiles.Change, str]]) -> None:
        if not changes:
            return
        for _change, path in changes:
            self._pending[path] = _stat(path)
        assert self._kick is not None
        self._kick.set()

    async def _flush_loop(self) -> None:
        assert self._kick is not None
        kick = self._kick
        while True:
            await kick.wait()
            kick.clear()
            # Quiet period: restart it while changes keep arriving.
            while True:
                try:
                    await asyncio.wait_for(kick.wait(), timeout=self.debounce_s)
                except TimeoutError:
                    break
                kick.clear()
            ready = self._settled()
            if ready:
                try:
                    await self._scan(ready)
                except Exception:
                    log.exception("rescanning %s failed", ready)
            if self._pending:
                kick.set()  # some files are still being written: look again after a pause

    def _settled(self) -> list[str]:
        """Pending paths whose stat hasn't changed since their last event (or are gone)."""
        ready = []
        for path, before in list(self._pending.items()):
            now = _stat(path)
            if now == before:
                ready.append(path)
                del self._pending[path]
            else:
                self._pending[path] = now
        return ready

    async def _scan(self, paths: list[str]) -> None:
        by_library: dict[int, list[str]] = {}
        roots = sorted(self._roots.items(), key=lambda kv: -len(kv[0]))
        for p in paths:
            for root, lib in roots:
                if p == root or p.startswith(root.rstrip("/") + "/"):
                    by_library.setdefault(lib, []).append(p)
                    break
        for lib, lib_paths in by_library.items():
            lib_paths.sort()
            report = await asyncio.to_thread(
                self.scanner.scan_library, lib, paths=[Path(p) for p in lib_paths]
            )
            if self.on_scan is not None:
                self.on_scan(lib, lib_paths, report)
