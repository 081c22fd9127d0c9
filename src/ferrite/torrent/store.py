"""The torrent engine's rows: plain functions of a connection, run by ``Database``.

The engine only writes what a restart needs (source, explicit peers, resume data) and
the file list the library turns into items; it never reads the database on a hot path.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, update

from ferrite.db.schema import torrent_files, torrents


@dataclass(frozen=True, slots=True)
class TorrentRow:
    id: int
    info_hash: str
    name: str
    source_kind: str  # magnet | torrent
    source: bytes
    peers: tuple[str, ...]
    save_path: str
    added_at: float
    resume_data: bytes | None


def _row(r: object) -> TorrentRow:
    m = r._mapping  # type: ignore[attr-defined]
    return TorrentRow(
        id=m["id"],
        info_hash=m["info_hash"],
        name=m["name"],
        source_kind=m["source_kind"],
        source=bytes(m["source"]),
        peers=tuple(json.loads(m["peers"])) if m["peers"] else (),
        save_path=m["save_path"],
        added_at=m["added_at"],
        resume_data=bytes(m["resume_data"]) if m["resume_data"] is not None else None,
    )


def insert_torrent(
    conn: Connection,
    *,
    info_hash: str,
    name: str,
    source_kind: str,
    source: bytes,
    peers: Sequence[str],
    save_path: str,
    added_at: float,
) -> int:
    result = conn.execute(
        insert(torrents).values(
            info_hash=info_hash,
            name=name,
            source_kind=source_kind,
            source=source,
            peers=json.dumps(list(peers)) if peers else None,
            save_path=save_path,
            added_at=added_at,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def all_torrents(conn: Connection) -> list[TorrentRow]:
    return [_row(r) for r in conn.execute(select(torrents).order_by(torrents.c.id))]


def get_by_hash(conn: Connection, info_hash: str) -> TorrentRow | None:
    r = conn.execute(select(torrents).where(torrents.c.info_hash == info_hash)).first()
    return None if r is None else _row(r)


def set_peers(conn: Connection, torrent_id: int, peers: Sequence[str]) -> None:
    conn.execute(
        update(torrents).where(torrents.c.id == torrent_id).values(peers=json.dumps(list(peers)))
    )


def save_resume(conn: Connection, torrent_id: int, data: bytes) -> None:
    conn.execute(update(torrents).where(torrents.c.id == torrent_id).values(resume_data=data))


def set_metadata(
    conn: Connection, torrent_id: int, name: str, files: Iterable[tuple[int, str, int]]
) -> None:
    """Record the name and the ``(index, path, size)`` files known from the metadata."""
    conn.execute(update(torrents).where(torrents.c.id == torrent_id).values(name=name))
    have = {
        r.file_index
        for r in conn.execute(
            select(torrent_files.c.file_index).where(torrent_files.c.torrent_id == torrent_id)
        )
    }
    rows = [
        {"torrent_id": torrent_id, "file_index": i, "path": path, "size": size}
        for i, path, size in files
        if i not in have
    ]
    if rows:
        conn.execute(insert(torrent_files), rows)


def delete_torrent(conn: Connection, torrent_id: int) -> None:
    conn.execute(delete(torrent_files).where(torrent_files.c.torrent_id == torrent_id))
    conn.execute(delete(torrents).where(torrents.c.id == torrent_id))
