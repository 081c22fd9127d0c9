"""What is known of one media file, as plain records (pure: no I/O).

* :class:`FileFacts` -- the file as it was seen just now (by a scan, or the torrent
  integration): built once and handed to :mod:`ferrite.library.store`, which records it.
* :class:`FileRecord` -- its ``media_files`` row as the database holds it, which
  :mod:`ferrite.library.reconcile` compares with what a walk found.
"""

from __future__ import annotations

from dataclasses import dataclass

from ferrite.library.fingerprint import StatSignature


@dataclass(frozen=True, slots=True)
class FileFacts:
    """A file's path and identity: what a ``media_files`` row records of the disk."""

    path: str
    size: int
    #: The scan's change detector; a torrent file's is its probe version (0: pending).
    mtime_ns: int
    fingerprint: str
    #: Which file it is (None: not known, as for a torrent's): direct play checks it.
    inode: int | None = None
    device: int | None = None

    @classmethod
    def of(cls, path: str, sig: StatSignature, fingerprint: str) -> FileFacts:
        return cls(path, sig.size, sig.mtime_ns, fingerprint, sig.inode, sig.device)


@dataclass(frozen=True, slots=True)
class FileRecord:
    """A ``media_files`` row as the scanner sees it."""

    id: int
    library_id: int
    item_id: int | None
    path: str
    size: int
    mtime_ns: int
    fingerprint: str
    probe_status: str  # ok | failed | pending
    probe_error: str | None
    probed_at: float
    inode: int | None = None  # which file the scan saw (None: not recorded)
    device: int | None = None
