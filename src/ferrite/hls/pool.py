"""Open PyAV input containers, kept per file and lent to one worker thread at a time.

Opening a container is the most expensive part of a cold stream-copy segment (the
``moov``/cues are parsed and ``avformat_find_stream_info`` runs), and a player asks for
several segments of the same file at once (video, audio, look-ahead). Each file gets at
most ``per_file`` open containers; a borrower takes an idle one or opens a new one while
under the cap, otherwise waits for one to come back (no re-open storm). Containers are not
thread-safe, so a container is only ever held by one borrower.

Before lending, the file is checked against the identity the library scanned
(:class:`SourceFile`: size and mtime): a file replaced or deleted since is
:class:`~ferrite.errors.MediaChanged`, and containers opened on an older version of the
path (different inode, size or mtime) are closed, never reused. A borrower that saw an
error gives its container back as *broken* and it is closed.

Files registered in :class:`~ferrite.sources.FileSources` (torrent files still
downloading) are opened through their owner's file object instead of the path (PyAV reads
the piece-aware reader) until the disk holds them completely, and skip the stat identity
check (their size and mtime change while they arrive); unregistering one closes its idle
containers.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import av
import av.container
import av.error

from ferrite.errors import MediaChanged, MediaError, Overloaded
from ferrite.media.inputs import pyav_options
from ferrite.sources import FileSources, PyAVFile, Readable

__all__ = ["ContainerPool", "SourceFile"]

Opener = Callable[[str], av.container.InputContainer]


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A media file as the library scanned it: the identity a segment is valid for."""

    path: str | Path
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class _Key:
    path: str
    dev: int
    ino: int
    size: int
    mtime_ns: int


def _open(path: str) -> av.container.InputContainer:
    return av.open(path, "r", options=pyav_options())


class _FileSlot:
    __slots__ = ("idle", "open_count")

    def __init__(self) -> None:
        self.idle: list[av.container.InputContainer] = []
        self.open_count = 0


class ContainerPool:
    """Per-file pools of open input containers (see module docstring). Thread-safe."""

    def __init__(
        self,
        *,
        per_file: int = 3,
        max_idle: int = 32,
        wait_timeout: float = 30.0,
        opener: Opener = _open,
        sources: FileSources | None = None,
    ) -> None:
        self._per_file = per_file
        self._max_idle = max_idle
        self._wait_timeout = wait_timeout
        self._opener = opener
        self._lock = threading.Condition()
        self._slots: OrderedDict[_Key, _FileSlot] = OrderedDict()  # LRU: oldest first
        self._idle_total = 0
        self._closed = False
        self.opened = 0  # containers opened so far (a metric and a test hook)
        self._sources = sources
        self._files: dict[int, Readable] = {}  # id(container) -> file object it reads
        if sources is not None:
            sources.on_unregister(self._drop_path)

    def check(self, source: SourceFile) -> _Key:
        """Stat the file; :class:`MediaChanged` unless it is still the scanned version."""
        path = os.fspath(source.path)
        if self._sources is not None and path in self._sources:
            return _Key(path, 0, 0, source.size, source.mtime_ns)  # see module docstring
        try:
            st = Path(path).stat()
        except FileNotFoundError as exc:
            self._drop_path(path)
            raise MediaChanged(f"{Path(path).name} no longer exists; rescan the library") from exc
        except OSError as exc:
            raise MediaError(f"cannot stat {Path(path).name}: {exc.strerror}") from exc
        if st.st_size != source.size or st.st_mtime_ns != source.mtime_ns:
            self._drop_path(path)
            raise MediaChanged(
                f"{Path(path).name} changed since it was scanned; rescan the library"
            )
        return _Key(path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    @contextmanager
    def borrow(self, source: SourceFile) -> Iterator[av.container.InputContainer]:
        """Lend an open container of ``source`` for the duration of the ``with`` block.

        An exception escaping the block closes the container instead of returning it.
        """
        key = self.check(source)
        container = self._take(key)
        ok = False
        try:
            yield container
            ok = True
        finally:
            self._give_back(key, container, broken=not ok)

    def _take(self, key: _Key) -> av.container.InputContainer:
        deadline = time.monotonic() + self._wait_timeout
        stale: list[av.container.InputContainer] = []
        try:
            with self._lock:
                while True:
                    if self._closed:
                        raise MediaError("the packager is shut down")
                    slot = self._slots.get(key)
                    if slot is None:
                        stale += self._drop_path_locked(key.path)
                        slot = self._slots[key] = _FileSlot()
                    self._slots.move_to_end(key)
                    if slot.idle:
                        self._idle_total -= 1
                        return slot.idle.pop()
                    if slot.open_count < self._per_file:
                        slot.open_count += 1
                        break
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise Overloaded("too many concurrent reads of one file", retry_after=1)
                    self._lock.wait(remaining)
        finally:
            for c in stale:
                self._close(c)
        try:
            container = self._open(key.path)
        except BaseException:
            with self._lock:
                slot.open_count -= 1
                self._lock.notify_all()
            raise
        with self._lock:
            self.opened += 1
        return container

    def _give_back(
        self, key: _Key, container: av.container.InputContainer, *, broken: bool
    ) -> None:
        to_close = []
        with self._lock:
            slot = self._slots.get(key)
            if broken or slot is None or self._closed:
                to_close.append(container)
                if slot is not None:
                    slot.open_count -= 1
            else:
                slot.idle.append(container)
                self._idle_total += 1
                to_close += self._evict_locked()
                file = self._files.get(id(container))
                idle = getattr(file, "idle", None)
                if idle is not None:
                    idle()  # a streamed file's reader: nothing it planned is urgent now
            self._lock.notify_all()
        for c in to_close:
            self._close(c)

    def _evict_locked(self) -> list[av.container.InputContainer]:
        out = []
        for key in list(self._slots):
            if self._idle_total <= self._max_idle:
                break
            slot = self._slots[key]
            while slot.idle and self._idle_total > self._max_idle:
                out.append(slot.idle.pop(0))
                slot.open_count -= 1
                self._idle_total -= 1
            if slot.open_count == 0:
                del self._slots[key]
        return out

    def _drop_path(self, path: str) -> None:
        with self._lock:
            to_close = self._drop_path_locked(path)
        for c in to_close:
            self._close(c)

    def _drop_path_locked(self, path: str) -> list[av.container.InputContainer]:
        """Forget every version of ``path``: idle containers close, lent ones on return."""
        out: list[av.container.InputContainer] = []
        for key in [k for k in self._slots if k.path == path]:
            slot = self._slots.pop(key)
            out += slot.idle
            self._idle_total -= len(slot.idle)
        return out

    def idle_count(self) -> int:
        with self._lock:
            return self._idle_total

    def close(self) -> None:
        """Close every idle container; containers still lent close when returned."""
        with self._lock:
            self._closed = True
            to_close = [c for slot in self._slots.values() for c in slot.idle]
            self._slots.clear()
            self._idle_total = 0
            self._lock.notify_all()
        for c in to_close:
            self._close(c)

    def _open(self, path: str) -> av.container.InputContainer:
        streamed = self._sources.get(path) if self._sources is not None else None
        file = streamed.open() if streamed is not None else None
        if file is None:
            return self._opener(path)
        try:
            container = av.open(PyAVFile(file), "r", options=pyav_options())
        except av.error.FFmpegError as exc:
            file.close()
            raise MediaError(f"cannot open {Path(path).name}: {exc}") from exc
        except BaseException:
            file.close()
            raise
        with self._lock:
            self._files[id(container)] = file
        return container

    def _close(self, container: av.container.InputContainer) -> None:
        with self._lock:
            file = self._files.pop(id(container), None)
        container.close()
        if file is not None:
            file.close()
