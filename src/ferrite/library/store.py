"""Media file rows in the database, as plain functions of a connection.

Every function takes a SQLAlchemy :class:`~sqlalchemy.Connection` already inside a
transaction (``db.write``/``db.write_sync`` give one ``BEGIN IMMEDIATE`` transaction per
call), so "save a probed file" -- file row, streams, packed keyframes, subtitle cues, the
item hierarchy and its search rows -- commits or rolls back as one.

A file is described by one :class:`~ferrite.library.files.FileFacts` (path, size, mtime,
fingerprint, inode/device), built by the caller once. The rest lives beside this module:
the item hierarchy a file is attached to in :mod:`ferrite.library.items`, its streams,
keyframes and subtitles (and reading them back as a ``MediaInfo``) in
:mod:`ferrite.library.media_rows`. A file that moves or is renamed keeps its
``media_files.id`` (:func:`move_file`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from ferrite.db.schema import (
    keyframes,
    media_files,
    streams,
    subtitle_tracks,
    torrent_files,
)
from ferrite.errors import NotFound
from ferrite.library.files import FileFacts, FileRecord
from ferrite.library.items import attach, prune
from ferrite.library.media_rows import insert_media
from ferrite.library.naming import ParsedName
from ferrite.media.info import MediaInfo

_FILE_COLUMNS = (
    media_files.c.id,
    media_files.c.library_id,
    media_files.c.item_id,
    media_files.c.path,
    media_files.c.size,
    media_files.c.mtime_ns,
    media_files.c.fingerprint,
    media_files.c.probe_status,
    media_files.c.probe_error,
    media_files.c.probed_at,
    media_files.c.inode,
    media_files.c.device,
)


def _inserted_id(result: Any) -> int:
    return int(result.inserted_primary_key[0])


def _record(row: Any) -> FileRecord:
    return FileRecord(*row)


def _under(column: Any, prefixes: Sequence[str]) -> Any:
    """``column`` equals one of ``prefixes`` or lies below one (a directory)."""
    conds = []
    for p in prefixes:
        base = p.rstrip("/")
        conds.append(column == base)
        conds.append(func.substr(column, 1, len(base) + 1) == base + "/")
    return or_(*conds)


def file_records(
    conn: Connection, library_id: int, *, under: Sequence[str] | None = None
) -> dict[str, FileRecord]:
    """The library's files by path; only those at or below ``under`` paths if given."""
    q = select(*_FILE_COLUMNS).where(media_files.c.library_id == library_id)
    if under is not None:
        if not under:
            return {}
        q = q.where(_under(media_files.c.path, under))
    return {r.path: r for r in map(_record, conn.execute(q))}


def files_by_fingerprint(conn: Connection, library_id: int, fingerprint: str) -> list[FileRecord]:
    q = select(*_FILE_COLUMNS).where(
        media_files.c.library_id == library_id, media_files.c.fingerprint == fingerprint
    )
    return [_record(r) for r in conn.execute(q)]


def get_file(conn: Connection, file_id: int) -> FileRecord:
    row = conn.execute(select(*_FILE_COLUMNS).where(media_files.c.id == file_id)).first()
    if row is None:
        raise NotFound(f"no media file {file_id}")
    return _record(row)


def sidecars_by_file(
    conn: Connection, library_id: int, *, under: Sequence[str] | None = None
) -> dict[int, frozenset[str]]:
    """Paths of the sidecar subtitle files recorded for each file of the library."""
    q = (
        select(subtitle_tracks.c.file_id, subtitle_tracks.c.path)
        .join(media_files, media_files.c.id == subtitle_tracks.c.file_id)
        .where(media_files.c.library_id == library_id, subtitle_tracks.c.path.is_not(None))
    )
    if under is not None:
        q = q.where(_under(media_files.c.path, under))
    out: dict[int, set[str]] = {}
    for file_id, path in conn.execute(q):
        out.setdefault(file_id, set()).add(path)
    return {k: frozenset(v) for k, v in out.items()}


def torrent_paths(conn: Connection, library_id: int) -> frozenset[str]:
    """Paths of the library's files that belong to a torrent: the torrent integration
    probes them through its reader as pieces arrive; a scan leaves them alone."""
    q = (
        select(media_files.c.path)
        .join(torrent_files, torrent_files.c.media_file_id == media_files.c.id)
        .where(media_files.c.library_id == library_id)
    )
    return frozenset(conn.execute(q).scalars())


# -- writing files ---------------------------------------------------------------------


def _upsert_file_row(conn: Connection, file_id: int | None, values: dict[str, Any]) -> int:
    if file_id is None:
        existing = conn.execute(
            select(media_files.c.id).where(media_files.c.path == values["path"])
        ).scalar()
        file_id = existing
    if file_id is None:
        return _inserted_id(conn.execute(insert(media_files).values(**values)))
    conn.execute(update(media_files).where(media_files.c.id == file_id).values(**values))
    for table in (streams, keyframes, subtitle_tracks):
        conn.execute(delete(table).where(table.c.file_id == file_id))
    return file_id


def _fact_columns(facts: FileFacts) -> dict[str, Any]:
    return {
        "path": facts.path,
        "size": facts.size,
        "mtime_ns": facts.mtime_ns,
        "inode": facts.inode,
        "device": facts.device,
        "fingerprint": facts.fingerprint,
    }


def save_probed(
    conn: Connection,
    facts: FileFacts,
    *,
    library_id: int,
    info: MediaInfo,
    parsed: ParsedName,
    now: float,
    file_id: int | None = None,
) -> tuple[int, int]:
    """Store a successful probe of the file and attach it to its item.

    Replaces any earlier streams/keyframes/subtitles of the same file (by ``file_id`` or
    path). Returns ``(file_id, item_id)``.
    """
    old_item = _item_of_file(conn, file_id, facts.path)
    file_id = _upsert_file_row(
        conn,
        file_id,
        {
            "library_id": library_id,
            **_fact_columns(facts),
            "container": info.container,
            "duration_s": info.duration_s,
            "bitrate": info.bitrate,
            "start_time_s": info.start_time_s,
            "probe_status": "ok",
            "probe_error": None,
            "probed_at": now,
        },
    )
    insert_media(conn, file_id, info)
    item_id = attach(
        conn,
        file_id,
        library_id,
        parsed,
        path=facts.path,
        duration_s=info.duration_s,
        now=now,
        old_item=old_item,
    )
    return file_id, item_id


def save_pending(
    conn: Connection,
    facts: FileFacts,
    *,
    library_id: int,
    parsed: ParsedName,
    now: float,
) -> tuple[int, int]:
    """Record a file whose bytes are still arriving (a torrent) as a playable item at once.

    The file is ``pending`` (no streams, no keyframes) until :func:`save_probed` with its
    ``file_id`` stores the probe. A row already at the path with the same fingerprint and
    an item is kept as it is (a torrent added again keeps its probe). Only the path, size,
    mtime and fingerprint of ``facts`` are written. Returns ``(file_id, item_id)``.
    """
    path = facts.path
    row = conn.execute(
        select(media_files.c.id, media_files.c.item_id, media_files.c.fingerprint).where(
            media_files.c.path == path
        )
    ).first()
    if row is not None and row.fingerprint == facts.fingerprint and row.item_id is not None:
        return int(row.id), int(row.item_id)
    old_item = row.item_id if row is not None else None
    file_id = _upsert_file_row(
        conn,
        row.id if row is not None else None,
        {
            "library_id": library_id,
            "path": path,
            "size": facts.size,
            "mtime_ns": facts.mtime_ns,
            "fingerprint": facts.fingerprint,
            "container": None,
            "duration_s": None,
            "bitrate": None,
            "start_time_s": None,
            "probe_status": "pending",
            "probe_error": None,
            "probed_at": 0.0,
        },
    )
    item_id = attach(
        conn, file_id, library_id, parsed, path=path, duration_s=None, now=now, old_item=old_item
    )
    return file_id, item_id


def save_failed(
    conn: Connection,
    facts: FileFacts,
    *,
    library_id: int,
    reason: str,
    now: float,
    file_id: int | None = None,
) -> int:
    """Record that the file could not be probed (status ``failed`` + ``reason``): no
    streams, keyframes or subtitles, no item (an item it had before is pruned)."""
    old_item = _item_of_file(conn, file_id, facts.path)
    file_id = _upsert_file_row(
        conn,
        file_id,
        {
            "library_id": library_id,
            "item_id": None,
            **_fact_columns(facts),
            "container": None,
            "duration_s": None,
            "bitrate": None,
            "start_time_s": None,
            "probe_status": "failed",
            "probe_error": reason,
            "probed_at": now,
        },
    )
    if old_item is not None:
        prune(conn, old_item)
    return file_id


def move_file(
    conn: Connection,
    file_id: int,
    facts: FileFacts,
    *,
    parsed: ParsedName | None,
    now: float,
) -> int | None:
    """Record that the file ``file_id`` now lives at ``facts.path`` (same content, so the
    fingerprint is not rewritten): its id, streams and keyframes stay; its item stays
    (renamed in place if the new name means a different title). Sidecar subtitles are the
    scanner's to refresh. Returns the item id."""
    rec = get_file(conn, file_id)
    conn.execute(
        update(media_files)
        .where(media_files.c.id == file_id)
        .values(
            path=facts.path,
            size=facts.size,
            mtime_ns=facts.mtime_ns,
            inode=facts.inode,
            device=facts.device,
        )
    )
    if rec.probe_status != "ok" or parsed is None:
        return rec.item_id
    duration = conn.execute(
        select(media_files.c.duration_s).where(media_files.c.id == file_id)
    ).scalar()
    return attach(
        conn,
        file_id,
        rec.library_id,
        parsed,
        path=facts.path,
        duration_s=duration,
        now=now,
        old_item=rec.item_id,
    )


def remove_files(conn: Connection, file_ids: Iterable[int]) -> None:
    """Delete files (their streams, keyframes and subtitles go with them) and prune the
    items they leave empty."""
    ids = list(file_ids)
    if not ids:
        return
    item_ids = {
        r[0]
        for r in conn.execute(select(media_files.c.item_id).where(media_files.c.id.in_(ids)))
        if r[0] is not None
    }
    conn.execute(delete(media_files).where(media_files.c.id.in_(ids)))
    for item_id in item_ids:
        prune(conn, item_id)


def _item_of_file(conn: Connection, file_id: int | None, path: str) -> int | None:
    q = select(media_files.c.item_id)
    q = (
        q.where(media_files.c.id == file_id)
        if file_id is not None
        else q.where(media_files.c.path == path)
    )
    value = conn.execute(q).scalar()
    return int(value) if value is not None else None
