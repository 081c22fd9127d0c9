"""Torrent files as library entries: plain functions of a connection (``db.write``).

Every video file of a torrent becomes, as soon as the torrent's metadata is known and
before its data arrives, a ``media_files`` row (``probe_status = "pending"``, path = where
libtorrent writes it under the data directory) with an item in the "Torrents" library,
linked through ``torrent_files`` (``torrent_id``, ``file_index`` -> ``media_file_id``,
``item_id``). The link is what marks a media file as torrent-backed: the scanner leaves
such files alone (``store.torrent_paths``) and the torrent integration probes them
through the piece-aware reader, storing the result with ``store.save_probed`` like a
scan would -- so a restart finds them probed and doesn't probe again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sqlalchemy import Connection, func, insert, select, update

from ferrite.db import dialect
from ferrite.db.schema import media_files, torrent_files, torrents
from ferrite.library import libraries, store
from ferrite.library.files import FileFacts
from ferrite.library.naming import parse_path

LIBRARY_NAME = "Torrents"


@dataclass(frozen=True, slots=True)
class FileSpec:
    """A file of a torrent as the engine knows it."""

    index: int
    path: str  # relative to the torrent's save path, "/"-separated
    size: int
    is_video: bool


@dataclass(frozen=True, slots=True)
class LinkedFile:
    """A torrent file and, for a video, its media file and item."""

    torrent_id: int
    index: int
    rel_path: str
    path: str  # absolute, on disk
    size: int
    media_file_id: int | None
    item_id: int | None
    probe_status: str | None  # pending | ok | failed (None: not a video)
    duration_s: float | None
    bitrate: int | None
    fingerprint: str | None
    #: ``media_files.mtime_ns``: which probe the row holds (``torrent.probing``: 1 = the
    #: header only, the full probe still to come; 0 = the full probe).
    version: int = 0


def fingerprint_of(info_hash: str, index: int) -> str:
    """The content identity of a torrent file (what ``media_files.fingerprint`` holds):
    the info hash names the bytes exactly, so nothing needs to be read to know it."""
    return hashlib.blake2b(f"{info_hash}:{index}".encode(), digest_size=20).hexdigest()


def ensure_library(conn: Connection, root: Path, now: float) -> int:
    """The library holding the torrents' folder: the "Torrents" library (kind mixed),
    created on the first torrent; or the user's library if the folder lies inside one."""
    dialect.lock(conn, "torrent-library")  # two first torrents at once: one library
    owner = libraries.library_for_path(conn, root)
    if owner is not None:
        return owner[0]
    return libraries.create_library(conn, name=LIBRARY_NAME, kind="mixed", paths=[root], now=now).id


def link_files(
    conn: Connection,
    *,
    torrent_id: int,
    info_hash: str,
    save_path: str,
    root: Path,
    files: Sequence[FileSpec],
    now: float,
) -> list[LinkedFile]:
    """Make every video file of the torrent a (pending) library item unless it is one.

    Idempotent: files linked before keep their media file, item and probe.
    """
    library_id: int | None = None
    known = {
        r.file_index: r
        for r in conn.execute(select(torrent_files).where(torrent_files.c.torrent_id == torrent_id))
    }
    for spec in files:
        path = str(Path(save_path, *PurePosixPath(spec.path).parts))
        row = known.get(spec.index)
        if row is None:
            conn.execute(
                insert(torrent_files).values(
                    torrent_id=torrent_id, file_index=spec.index, path=spec.path, size=spec.size
                )
            )
        if not spec.is_video or (row is not None and row.media_file_id is not None):
            continue
        if library_id is None:
            library_id = ensure_library(conn, root, now)
        # mtime 0: no probe version yet (the probe's version becomes the mtime).
        facts = FileFacts(path, spec.size, 0, fingerprint_of(info_hash, spec.index))
        file_id, item_id = store.save_pending(
            conn,
            facts,
            library_id=library_id,
            parsed=parse_path(path, root=save_path, kind="mixed"),
            now=now,
        )
        set_media(conn, torrent_id, spec.index, file_id, item_id)
    return linked_files(conn, torrent_id)


def set_media(
    conn: Connection, torrent_id: int, index: int, file_id: int | None, item_id: int | None
) -> None:
    conn.execute(
        update(torrent_files)
        .where(torrent_files.c.torrent_id == torrent_id, torrent_files.c.file_index == index)
        .values(media_file_id=file_id, item_id=item_id)
    )


def linked_files(conn: Connection, torrent_id: int) -> list[LinkedFile]:
    rows = conn.execute(
        select(
            torrent_files.c.file_index,
            torrent_files.c.path.label("rel_path"),
            torrent_files.c.size,
            media_files.c.id,
            media_files.c.item_id,
            media_files.c.path,
            media_files.c.probe_status,
            media_files.c.duration_s,
            media_files.c.bitrate,
            media_files.c.fingerprint,
            media_files.c.mtime_ns,
        )
        .select_from(
            torrent_files.outerjoin(media_files, media_files.c.id == torrent_files.c.media_file_id)
        )
        .where(torrent_files.c.torrent_id == torrent_id)
        .order_by(torrent_files.c.file_index)
    )
    return [
        LinkedFile(
            torrent_id=torrent_id,
            index=r.file_index,
            rel_path=r.rel_path,
            path=r.path or "",
            size=r.size,
            media_file_id=r.id,
            item_id=r.item_id,
            probe_status=r.probe_status,
            duration_s=r.duration_s,
            bitrate=r.bitrate,
            fingerprint=r.fingerprint,
            version=r.mtime_ns or 0,
        )
        for r in rows
    ]


def media_file_ids(conn: Connection, torrent_id: int) -> list[int]:
    return [
        int(i)
        for i in conn.execute(
            select(torrent_files.c.media_file_id).where(
                torrent_files.c.torrent_id == torrent_id,
                torrent_files.c.media_file_id.is_not(None),
            )
        ).scalars()
    ]


def torrent_count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(torrents)).scalar_one())


def library_of(conn: Connection, file_id: int) -> int | None:
    """The library of a media file (``None`` once it is gone)."""
    value = conn.execute(
        select(media_files.c.library_id).where(media_files.c.id == file_id)
    ).scalar()
    return int(value) if value is not None else None
