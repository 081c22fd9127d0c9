"""The warm store: the first segments of the renditions players start on, kept on disk.

Players as they ship start on the lowest-bandwidth variant of a master (hls.js, ExoPlayer),
which for most files is a transcoded rung: without help every start would wait for an
ffmpeg run to make its first segment. The warmer (``ferrite.playback.warmer``) makes the
first segments of that rung once per file in the background, and the HLS service keeps
them here, so a start is a disk read. Entries are keyed by the same tuple as the segment
cache (fingerprint, plan, container, rendition spec, index), so a changed file or plan
never finds stale bytes; the store is bounded in bytes, least recently used out first.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Hashable
from pathlib import Path

log = logging.getLogger(__name__)


def entry_name(key: Hashable) -> str:
    """A stable file name for a cache key (its ``repr`` holds only plain values)."""
    return hashlib.sha256(repr(key).encode()).hexdigest()[:40] + ".seg"


class WarmStore:
    """Bytes by key in a directory, at most ``max_bytes`` in all. Thread-safe; call from
    worker threads (every method touches the disk)."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._sizes: OrderedDict[str, int] = OrderedDict()
        self._total = 0
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        entries = []
        for path in directory.glob("*.seg"):
            with contextlib.suppress(OSError):
                st = path.stat()
                entries.append((st.st_mtime, path.name, st.st_size))
        for _, name, size in sorted(entries):  # oldest first: the first to go
            self._sizes[name] = size
            self._total += size
        for tmp in directory.glob("*.tmp"):  # a write cut short by a crash
            tmp.unlink(missing_ok=True)

    def get(self, key: Hashable) -> bytes | None:
        name = entry_name(key)
        with self._lock:
            if name not in self._sizes:
                return None
            self._sizes.move_to_end(name)
        try:
            return (self.directory / name).read_bytes()
        except OSError:
            self._forget(name)
            return None

    def put(self, key: Hashable, data: bytes) -> None:
        if len(data) > self.max_bytes:
            return
        name = entry_name(key)
        path = self.directory / name
        tmp = path.with_suffix(f".{threading.get_ident()}.tmp")
        try:
            tmp.write_bytes(data)
            tmp.replace(path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            log.warning("warm store: cannot write %s: %s", name, exc)
            return
        doomed: list[str] = []
        with self._lock:
            self._total += len(data) - self._sizes.pop(name, 0)
            self._sizes[name] = len(data)
            while self._total > self.max_bytes and len(self._sizes) > 1:
                old, size = self._sizes.popitem(last=False)
                self._total -= size
                doomed.append(old)
        for old in doomed:
            (self.directory / old).unlink(missing_ok=True)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return entry_name(key) in self._sizes

    @property
    def total_bytes(self) -> int:
        return self._total

    def _forget(self, name: str) -> None:
        with self._lock:
            self._total -= self._sizes.pop(name, 0)
