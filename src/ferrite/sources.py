"""Media files whose bytes are not all on disk yet: one registry every reader asks first.

A torrent file that is still downloading already has its path (under the data
directory), but reading the path gives zeros where pieces are missing. Its owner
registers the path here as a :class:`StreamedFile`: an opener that returns a piece-aware
file object (a ``TorrentFileReader``: blocking reads that wait for verified pieces) while
the file is incomplete, and ``None`` once the disk holds all of it. Everything that reads
media by path goes through this one mechanism:

- the packager's container pool (``hls/pool.py``) opens PyAV on the file object,
- direct play (``api/files.py`` -> ``http/files.py``) serves Range requests from it,
- ffmpeg, which reads by name, gets ``FeedInputs.input_for`` (``http/feed.py``, which
  owns it): the path of a complete file, or else a URL of a loopback HTTP server that
  serves the file object with Range support, so transcodes run while the torrent
  downloads. This registry knows nothing of that server.

Reads of these files block until pieces arrive (up to ``torrent_wait_s``), so they run in
the registry's own bounded pool (:attr:`FileSources.reads`, ``torrent_read_threads``
threads), never in the packager's or the server's shared pools: a few slow torrents must
not stall remux and direct play of everything else.

A registered path is trusted as is: its size and mtime on disk change while it arrives,
so the stat-based identity check of scanned files (``MediaChanged``) is not made for it;
the owner vouches for the bytes (torrent pieces are hash-checked) and unregisters the
path when the file goes. Unregistering tells subscribers (the container pool drops the
containers it holds open on the file).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

__all__ = ["FileSources", "PyAVFile", "Readable", "StreamedFile"]


class Readable(Protocol):
    """A seekable binary file object (``open(path, "rb")``, ``TorrentFileReader``)."""

    def read(self, size: int | None = -1, /) -> bytes: ...
    def seek(self, offset: int, whence: int = 0, /) -> int: ...
    def close(self) -> None: ...


class PyAVFile:
    """A :class:`Readable` as PyAV should read it: after its first error, quiet.

    FFmpeg may read or seek again after a failed read before it reports the failure, and
    PyAV keeps one exception per thread: a second one makes it *print* the first ("PyAV
    library exception being dropped", with its traceback) instead of raising it. So once
    a read or seek has raised, reads return ``b""`` and seeks do nothing; the first error
    still reaches the caller, which then drops the container (never reuses it).
    """

    def __init__(self, file: Readable) -> None:
        self._file = file
        self._failed = False
        self._pos = 0

    def read(self, size: int | None = -1, /) -> bytes:
        if self._failed:
            return b""
        try:
            data = self._file.read(size)
        except BaseException:
            self._failed = True
            raise
        self._pos += len(data)
        return data

    def seek(self, offset: int, whence: int = 0, /) -> int:
        if self._failed:
            return self._pos
        try:
            self._pos = self._file.seek(offset, whence)
        except BaseException:
            self._failed = True
            raise
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        self._file.close()


@dataclass(frozen=True, slots=True)
class StreamedFile:
    """A media file served by its owner until the disk has it all."""

    path: str
    size: int
    #: Stable validator for HTTP caching (ETag/Last-Modified) while served by ``open``.
    version_ns: int
    #: A new seekable binary file object over the file, or ``None`` when the file on disk
    #: is complete (read the path). Blocking: call it from a worker thread.
    open: Callable[[], Readable | None]
    #: Whether the disk holds the whole file now (cheap; any thread).
    complete: Callable[[], bool]


class FileSources:
    """The registry of :class:`StreamedFile` by path. Thread-safe."""

    def __init__(self, *, read_threads: int = 4) -> None:
        #: The pool for blocking reads of registered files (see the module docstring).
        self.reads = ThreadPoolExecutor(max(1, read_threads), thread_name_prefix="streamed-read")
        self._lock = threading.Lock()
        self._files: dict[str, StreamedFile] = {}
        self._listeners: list[Callable[[str], None]] = []

    def register(self, file: StreamedFile) -> None:
        with self._lock:
            self._files[file.path] = file

    def unregister(self, path: str) -> None:
        with self._lock:
            found = self._files.pop(path, None)
            listeners = list(self._listeners)
        if found is None:
            return
        for listener in listeners:
            try:
                listener(path)
            except Exception:
                log.exception("file source listener failed for %s", path)

    def get(self, path: str) -> StreamedFile | None:
        return self._files.get(path)

    def __contains__(self, path: object) -> bool:
        return path in self._files

    def __len__(self) -> int:
        return len(self._files)

    def on_unregister(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(path)`` whenever a path is unregistered."""
        with self._lock:
            self._listeners.append(listener)

    def close(self) -> None:
        """Stop the read pool; registrations stay readable by path."""
        self.reads.shutdown(wait=True, cancel_futures=True)
