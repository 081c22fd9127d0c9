"""The reads a playback makes: which version of a file is current, its media facts for a
session, and where the user left off. Plain functions on a connection (run them with
``Database.read``); the playback layer holds no SQL of its own."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from ferrite.db.schema import media_files, progress
from ferrite.errors import NotFound
from ferrite.library import media_rows
from ferrite.media.info import MediaInfo, SubtitleTrack


@dataclass(frozen=True)
class FileVersion:
    """A media file as it is now: where it is and which version (fingerprint, mtime)."""

    path: str
    size: int
    mtime_ns: int
    fingerprint: str


def file_version(conn: Connection, file_id: int) -> FileVersion:
    row = conn.execute(
        select(
            media_files.c.path,
            media_files.c.size,
            media_files.c.mtime_ns,
            media_files.c.fingerprint,
        ).where(media_files.c.id == file_id)
    ).first()
    if row is None:
        raise NotFound("This item has no media file.")
    return FileVersion(*row)


def playback_media(
    conn: Connection, file_id: int
) -> tuple[MediaInfo, list[tuple[int, SubtitleTrack]]]:
    """The file's probe facts and its subtitle tracks (id, track) with their cues."""
    return media_rows.load_media(conn, file_id), media_rows.subtitle_tracks_of(
        conn, file_id, with_cues=True
    )


def resume_position(conn: Connection, user_id: int, item_id: int) -> float:
    """Where ``user_id`` stopped in ``item_id`` (0 when never started or played to the end)."""
    row = conn.execute(
        select(progress.c.position_s, progress.c.played).where(
            progress.c.user_id == user_id, progress.c.item_id == item_id
        )
    ).first()
    if row is None or row.played:
        return 0.0
    return float(row.position_s)
