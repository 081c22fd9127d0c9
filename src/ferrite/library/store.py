"""Media files and items in the database, as plain functions of a connection.

Every function takes a SQLAlchemy :class:`~sqlalchemy.Connection` already inside a
transaction (``db.write``/``db.write_sync`` give one ``BEGIN IMMEDIATE`` transaction per
call), so "save a probed file" -- file row, streams, packed keyframes, subtitle cues, the
item hierarchy and its search rows -- commits or rolls back as one.

Items form ``movie`` or ``show -> season -> episode``. They are found or created by
library + normalised title (+ year where both sides have one), season number and episode
number; they disappear when their last file (or last child) goes. A file that moves or is
renamed keeps its ``media_files.id``; its item is kept too, renamed in place when the new
name means another title that doesn't exist yet.

Reading: :func:`load_media` rebuilds the :class:`~ferrite.media.info.MediaInfo` of a file
(streams, keyframe index, subtitles with cues) for playback; call it once per playback
session and cache it.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import PurePath
from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from ferrite.db import dialect
from ferrite.db.schema import (
    items,
    keyframes,
    media_files,
    streams,
    subtitle_tracks,
    torrent_files,
)
from ferrite.errors import MediaError, NotFound
from ferrite.library import search
from ferrite.library.naming import ParsedName, normalize_title, sort_title
from ferrite.media.info import KeyframeIndex, MediaInfo, Stream, SubtitleCue, SubtitleTrack
from ferrite.media.keyframes import pack_deltas, unpack_deltas


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
    probe_status: str  # ok | failed
    probe_error: str | None
    probed_at: float
    inode: int | None = None  # which file the scan saw (None: not recorded)
    device: int | None = None


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


#: The lock (ferrite.db.dialect.lock) of the library's item tree of shows, seasons, items.
ITEM_TREE = "items"


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


# -- writing files ---------------------------------------------------------------------


def _frac(value: Fraction | None) -> str | None:
    return None if value is None else f"{value.numerator}/{value.denominator}"


def _unfrac(text: str | None) -> Fraction | None:
    return None if text is None else Fraction(text)


def pack_cues(cues: Sequence[SubtitleCue]) -> bytes:
    return zlib.compress(
        json.dumps([[c.start_ms, c.end_ms, c.text] for c in cues], ensure_ascii=False).encode(
            "utf-8"
        )
    )


def unpack_cues(blob: bytes) -> tuple[SubtitleCue, ...]:
    return tuple(
        SubtitleCue(int(a), int(b), str(t)) for a, b, t in json.loads(zlib.decompress(blob))
    )


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


def save_probed(
    conn: Connection,
    *,
    library_id: int,
    path: str,
    size: int,
    mtime_ns: int,
    fingerprint: str,
    info: MediaInfo,
    parsed: ParsedName,
    now: float,
    file_id: int | None = None,
    inode: int | None = None,
    device: int | None = None,
) -> tuple[int, int]:
    """Store a successful probe of ``path`` and attach it to its item.

    Replaces any earlier streams/keyframes/subtitles of the same file (by ``file_id`` or
    path). Returns ``(file_id, item_id)``.
    """
    old_item = _item_of_file(conn, file_id, path)
    file_id = _upsert_file_row(
        conn,
        file_id,
        {
            "library_id": library_id,
            "path": path,
            "size": size,
            "mtime_ns": mtime_ns,
            "inode": inode,
            "device": device,
            "fingerprint": fingerprint,
            "container": info.container,
            "duration_s": info.duration_s,
            "bitrate": info.bitrate,
            "start_time_s": info.start_time_s,
            "probe_status": "ok",
            "probe_error": None,
            "probed_at": now,
        },
    )
    _insert_media(conn, file_id, info)
    item_id = _attach(
        conn,
        file_id,
        library_id,
        parsed,
        path=path,
        duration_s=info.duration_s,
        now=now,
        old_item=old_item,
    )
    return file_id, item_id


def _insert_media(conn: Connection, file_id: int, info: MediaInfo) -> None:
    if info.streams:
        conn.execute(
            insert(streams),
            [
                {
                    "file_id": file_id,
                    "index": s.index,
                    "type": s.type,
                    "codec": s.codec,
                    "time_base": _frac(s.time_base),
                    "profile": s.profile,
                    "level": s.level,
                    "width": s.width,
                    "height": s.height,
                    "frame_rate": _frac(s.frame_rate),
                    "bit_depth": s.bit_depth,
                    "pix_fmt": s.pix_fmt,
                    "color_primaries": s.color_primaries,
                    "color_transfer": s.color_transfer,
                    "color_space": s.color_space,
                    "color_range": s.color_range,
                    "field_order": s.field_order,
                    "hdr": s.hdr,
                    "language": s.language,
                    "title": s.title,
                    "channels": s.channels,
                    "channel_layout": s.channel_layout,
                    "sample_rate": s.sample_rate,
                    "bitrate": s.bitrate,
                    "is_default": s.default,
                    "is_forced": s.forced,
                    "extradata": s.extradata,
                    "codec_tag": s.codec_tag,
                    "start_time_s": s.start_time_s,
                    "duration_s": s.duration_s,
                    "frame_count": s.frame_count,
                }
                for s in info.streams
            ],
        )
    kf = info.keyframes
    if kf is not None:
        conn.execute(
            insert(keyframes).values(
                file_id=file_id,
                stream_index=kf.stream_index,
                time_base=_frac(kf.time_base),
                count=len(kf.pts),
                end_pts=kf.end_pts,
                pts=pack_deltas(kf.pts),
                positions=pack_deltas(kf.positions) if kf.positions else None,
                open_gop=kf.open_gop,
            )
        )
    if info.subtitles:
        conn.execute(
            insert(subtitle_tracks),
            [
                {
                    "file_id": file_id,
                    "stream_index": t.stream_index,
                    "path": t.path,
                    "codec": t.codec,
                    "language": t.language,
                    "title": t.title,
                    "is_default": t.default,
                    "is_forced": t.forced,
                    "cues": pack_cues(t.cues) if t.cues is not None else None,
                    "cue_count": len(t.cues or ()),
                }
                for t in info.subtitles
            ],
        )


def save_pending(
    conn: Connection,
    *,
    library_id: int,
    path: str,
    size: int,
    fingerprint: str,
    parsed: ParsedName,
    now: float,
) -> tuple[int, int]:
    """Record a file whose bytes are still arriving (a torrent) as a playable item at once.

    The file is ``pending`` (no streams, no keyframes) until :func:`save_probed` with its
    ``file_id`` stores the probe. A row already at ``path`` with the same fingerprint and
    an item is kept as it is (a torrent added again keeps its probe). Returns
    ``(file_id, item_id)``.
    """
    row = conn.execute(
        select(media_files.c.id, media_files.c.item_id, media_files.c.fingerprint).where(
            media_files.c.path == path
        )
    ).first()
    if row is not None and row.fingerprint == fingerprint and row.item_id is not None:
        return int(row.id), int(row.item_id)
    old_item = row.item_id if row is not None else None
    file_id = _upsert_file_row(
        conn,
        row.id if row is not None else None,
        {
            "library_id": library_id,
            "path": path,
            "size": size,
            "mtime_ns": 0,
            "fingerprint": fingerprint,
            "container": None,
            "duration_s": None,
            "bitrate": None,
            "start_time_s": None,
            "probe_status": "pending",
            "probe_error": None,
            "probed_at": 0.0,
        },
    )
    item_id = _attach(
        conn, file_id, library_id, parsed, path=path, duration_s=None, now=now, old_item=old_item
    )
    return file_id, item_id


def torrent_paths(conn: Connection, library_id: int) -> frozenset[str]:
    """Paths of the library's files that belong to a torrent: the torrent integration
    probes them through its reader as pieces arrive; a scan leaves them alone."""
    q = (
        select(media_files.c.path)
        .join(torrent_files, torrent_files.c.media_file_id == media_files.c.id)
        .where(media_files.c.library_id == library_id)
    )
    return frozenset(conn.execute(q).scalars())


def save_failed(
    conn: Connection,
    *,
    library_id: int,
    path: str,
    size: int,
    mtime_ns: int,
    fingerprint: str,
    reason: str,
    now: float,
    file_id: int | None = None,
    inode: int | None = None,
    device: int | None = None,
) -> int:
    """Record that ``path`` could not be probed (status ``failed`` + ``reason``): no
    streams, keyframes or subtitles, no item (an item it had before is pruned)."""
    old_item = _item_of_file(conn, file_id, path)
    file_id = _upsert_file_row(
        conn,
        file_id,
        {
            "library_id": library_id,
            "item_id": None,
            "path": path,
            "size": size,
            "mtime_ns": mtime_ns,
            "inode": inode,
            "device": device,
            "fingerprint": fingerprint,
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
        _prune(conn, old_item)
    return file_id


def move_file(
    conn: Connection,
    file_id: int,
    *,
    path: str,
    size: int,
    mtime_ns: int,
    parsed: ParsedName | None,
    now: float,
    inode: int | None = None,
    device: int | None = None,
) -> int | None:
    """Record that the file ``file_id`` now lives at ``path`` (same content): its id,
    streams and keyframes stay; its item stays (renamed in place if the new name means a
    different title). Sidecar subtitles are the scanner's to refresh. Returns the item id."""
    rec = get_file(conn, file_id)
    conn.execute(
        update(media_files)
        .where(media_files.c.id == file_id)
        .values(path=path, size=size, mtime_ns=mtime_ns, inode=inode, device=device)
    )
    if rec.probe_status != "ok" or parsed is None:
        return rec.item_id
    duration = conn.execute(
        select(media_files.c.duration_s).where(media_files.c.id == file_id)
    ).scalar()
    return _attach(
        conn,
        file_id,
        rec.library_id,
        parsed,
        path=path,
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
        _prune(conn, item_id)


def _item_of_file(conn: Connection, file_id: int | None, path: str) -> int | None:
    q = select(media_files.c.item_id)
    q = (
        q.where(media_files.c.id == file_id)
        if file_id is not None
        else q.where(media_files.c.path == path)
    )
    value = conn.execute(q).scalar()
    return int(value) if value is not None else None


# -- items -----------------------------------------------------------------------------


def _season_title(season: int) -> str:
    return "Specials" if season == 0 else f"Season {season}"


def _leaf_title(parsed: ParsedName, path: str) -> str:
    if parsed.kind == "movie":
        return parsed.title
    if parsed.episode_title:
        return parsed.episode_title
    if parsed.episode is not None:
        end = f"-{parsed.episode_end}" if parsed.episode_end else ""
        return f"Episode {parsed.episode}{end}"
    return PurePath(path).stem


def _find(
    conn: Connection,
    library_id: int,
    kind: str,
    title: str,
    year: int | None,
    parent_id: int | None = None,
) -> int | None:
    """An item of ``kind`` with the same normalised title and a compatible year."""
    q = select(items.c.id, items.c.title, items.c.year).where(
        items.c.library_id == library_id,
        items.c.kind == kind,
        items.c.sort_title == sort_title(title),
    )
    if parent_id is not None:
        q = q.where(items.c.parent_id == parent_id)
    key = normalize_title(title)
    matches = [
        (r.id, r.year)
        for r in conn.execute(q.order_by(items.c.id))
        if normalize_title(r.title) == key and (year is None or r.year is None or r.year == year)
    ]
    exact = [i for i, y in matches if y == year]
    best = exact or [i for i, _ in matches]
    return int(best[0]) if best else None


def _create(conn: Connection, now: float, **values: Any) -> int:
    values.setdefault("sort_title", sort_title(values["title"]))
    return _inserted_id(conn.execute(insert(items).values(added_at=now, **values)))


def _ensure_season(conn: Connection, library_id: int, parsed: ParsedName, now: float) -> int:
    show = _find(conn, library_id, "show", parsed.title, parsed.year)
    if show is None:
        show = _create(
            conn, now, library_id=library_id, kind="show", title=parsed.title, year=parsed.year
        )
        search.index_item(conn, show, title=parsed.title, context=str(parsed.year or ""))
    elif parsed.year is not None:
        conn.execute(
            update(items).where(items.c.id == show, items.c.year.is_(None)).values(year=parsed.year)
        )
    season_no = parsed.season if parsed.season is not None else 1
    season = conn.execute(
        select(items.c.id).where(
            items.c.parent_id == show, items.c.kind == "season", items.c.season_number == season_no
        )
    ).scalar()
    if season is None:
        title = _season_title(season_no)
        season = _create(
            conn,
            now,
            library_id=library_id,
            parent_id=show,
            kind="season",
            title=title,
            sort_title=f"{season_no:05d}",
            season_number=season_no,
        )
    return int(season)


def _find_episode(conn: Connection, season_id: int, parsed: ParsedName, title: str) -> int | None:
    q = select(items.c.id).where(items.c.parent_id == season_id, items.c.kind == "episode")
    if parsed.episode is not None:
        q = q.where(items.c.episode_number == parsed.episode)
    else:
        q = q.where(items.c.episode_number.is_(None), items.c.sort_title == sort_title(title))
    value = conn.execute(q.order_by(items.c.id)).scalar()
    return int(value) if value is not None else None


def _leaf_values(parsed: ParsedName, title: str, season_id: int | None) -> dict[str, Any]:
    if parsed.kind == "movie":
        return {
            "kind": "movie",
            "title": title,
            "sort_title": sort_title(title),
            "year": parsed.year,
            "parent_id": None,
            "season_number": None,
            "episode_number": None,
            "episode_end": None,
        }
    return {
        "kind": "episode",
        "title": title,
        "sort_title": sort_title(title),
        "year": None,
        "parent_id": season_id,
        "season_number": parsed.season if parsed.season is not None else 1,
        "episode_number": parsed.episode,
        "episode_end": parsed.episode_end,
    }


def _files_of(conn: Connection, item_id: int) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            select(media_files.c.path)
            .where(media_files.c.item_id == item_id)
            .order_by(media_files.c.id)
        )
    ]


def _attach(
    conn: Connection,
    file_id: int,
    library_id: int,
    parsed: ParsedName,
    *,
    path: str,
    duration_s: float | None,
    now: float,
    old_item: int | None,
) -> int:
    """Point ``file_id`` at the item its name describes (finding or creating the show and
    season), keeping ``old_item`` -- renamed in place -- when it would otherwise be left
    without files. Prunes what the file leaves empty; refreshes search rows."""
    dialect.lock(conn, ITEM_TREE)  # find-or-create and prune: one writer at a time
    title = _leaf_title(parsed, path)
    season_id = _ensure_season(conn, library_id, parsed, now) if parsed.kind == "episode" else None
    if parsed.kind == "movie":
        leaf = _find(conn, library_id, "movie", title, parsed.year)
    else:
        assert season_id is not None
        leaf = _find_episode(conn, season_id, parsed, title)
    old_parent: int | None = None
    if leaf is None and old_item is not None:
        row = conn.execute(
            select(items.c.kind, items.c.parent_id).where(items.c.id == old_item)
        ).first()
        others = [p for p in _files_of(conn, old_item) if p != path]
        if row is not None and row.kind == parsed.kind and not others:
            # The same content under a new name: keep the item (and everyone's progress).
            old_parent = row.parent_id
            conn.execute(
                update(items)
                .where(items.c.id == old_item)
                .values(**_leaf_values(parsed, title, season_id))
            )
            leaf = old_item
    if leaf is None:
        leaf = _create(conn, now, library_id=library_id, **_leaf_values(parsed, title, season_id))
    conn.execute(update(media_files).where(media_files.c.id == file_id).values(item_id=leaf))
    if duration_s is not None:
        conn.execute(update(items).where(items.c.id == leaf).values(duration_s=duration_s))
    _reindex(conn, leaf)
    if old_item is not None and old_item != leaf:
        _prune(conn, old_item)
    if old_parent is not None and old_parent != season_id:
        _prune(conn, old_parent)
    return leaf


def _reindex(conn: Connection, item_id: int) -> None:
    row = conn.execute(
        select(items.c.kind, items.c.title, items.c.year, items.c.parent_id).where(
            items.c.id == item_id
        )
    ).first()
    if row is None:
        return
    filename = "\n".join(PurePath(p).name for p in _files_of(conn, item_id))
    context = str(row.year or "")
    if row.kind == "episode" and row.parent_id is not None:
        season = conn.execute(
            select(items.c.title, items.c.parent_id).where(items.c.id == row.parent_id)
        ).first()
        if season is not None:
            show = conn.execute(
                select(items.c.title).where(items.c.id == season.parent_id)
            ).scalar()
            context = f"{show or ''} {season.title}".strip()
    search.index_item(conn, item_id, title=row.title, context=context, filename=filename)


def _prune(conn: Connection, item_id: int | None) -> None:
    """Delete ``item_id`` and then its ancestors while they have no files and no children."""
    dialect.lock(conn, ITEM_TREE)
    while item_id is not None:
        has_file = conn.execute(
            select(media_files.c.id).where(media_files.c.item_id == item_id).limit(1)
        ).first()
        has_child = conn.execute(
            select(items.c.id).where(items.c.parent_id == item_id).limit(1)
        ).first()
        if has_file is not None or has_child is not None:
            if has_file is not None:
                _reindex(conn, item_id)  # its file names changed
            return
        parent = conn.execute(select(items.c.parent_id).where(items.c.id == item_id)).scalar()
        search.unindex_items(conn, [item_id])
        conn.execute(delete(items).where(items.c.id == item_id))
        item_id = parent


# -- reading ---------------------------------------------------------------------------


def load_media(conn: Connection, file_id: int) -> MediaInfo:
    """The :class:`MediaInfo` stored for ``file_id``: streams, keyframe index, subtitles
    with their cues (``MediaInfo.subtitles`` in the order of :func:`subtitle_ids`).

    Raises :class:`NotFound` for an unknown file, :class:`MediaError` for one whose probe
    failed.
    """
    row = conn.execute(select(media_files).where(media_files.c.id == file_id)).first()
    if row is None:
        raise NotFound(f"no media file {file_id}")
    if row.probe_status != "ok":
        raise MediaError(f"{PurePath(row.path).name} cannot be played: {row.probe_error}")
    stream_rows = conn.execute(
        select(streams).where(streams.c.file_id == file_id).order_by(streams.c.index)
    ).all()
    kf_row = conn.execute(select(keyframes).where(keyframes.c.file_id == file_id)).first()
    kf = None
    if kf_row is not None:
        kf = KeyframeIndex(
            stream_index=kf_row.stream_index,
            time_base=Fraction(kf_row.time_base),
            pts=tuple(unpack_deltas(kf_row.pts)),
            end_pts=kf_row.end_pts,
            positions=tuple(unpack_deltas(kf_row.positions)) if kf_row.positions else (),
            open_gop=bool(kf_row.open_gop),
        )
    return MediaInfo(
        container=row.container or "",
        duration_s=row.duration_s or 0.0,
        bitrate=row.bitrate,
        start_time_s=row.start_time_s or 0.0,
        streams=tuple(_stream_from_row(r) for r in stream_rows),
        keyframes=kf,
        subtitles=tuple(t for _, t in subtitle_tracks_of(conn, file_id, with_cues=True)),
    )


def _stream_from_row(r: Any) -> Stream:
    return Stream(
        index=r.index,
        type=r.type,
        codec=r.codec,
        time_base=Fraction(r.time_base),
        profile=r.profile,
        level=r.level,
        width=r.width,
        height=r.height,
        frame_rate=_unfrac(r.frame_rate),
        bit_depth=r.bit_depth,
        pix_fmt=r.pix_fmt,
        color_primaries=r.color_primaries,
        color_transfer=r.color_transfer,
        color_space=r.color_space,
        color_range=r.color_range,
        field_order=r.field_order,
        hdr=r.hdr,
        language=r.language,
        title=r.title,
        channels=r.channels,
        channel_layout=r.channel_layout,
        sample_rate=r.sample_rate,
        bitrate=r.bitrate,
        default=bool(r.is_default),
        forced=bool(r.is_forced),
        extradata=r.extradata,
        codec_tag=r.codec_tag,
        start_time_s=r.start_time_s,
        duration_s=r.duration_s,
        frame_count=r.frame_count,
    )


def subtitle_tracks_of(
    conn: Connection, file_id: int, *, with_cues: bool = False
) -> list[tuple[int, SubtitleTrack]]:
    """``(subtitle_tracks.id, track)`` of a file in id order; cues only if ``with_cues``
    (the item detail doesn't need them; the WebVTT renderer does)."""
    cols = [
        subtitle_tracks.c.id,
        subtitle_tracks.c.codec,
        subtitle_tracks.c.stream_index,
        subtitle_tracks.c.path,
        subtitle_tracks.c.language,
        subtitle_tracks.c.title,
        subtitle_tracks.c.is_default,
        subtitle_tracks.c.is_forced,
    ]
    if with_cues:
        cols.append(subtitle_tracks.c.cues)
    rows = conn.execute(
        select(*cols).where(subtitle_tracks.c.file_id == file_id).order_by(subtitle_tracks.c.id)
    )
    out = []
    for r in rows:
        cues = unpack_cues(r.cues) if with_cues and r.cues is not None else None
        out.append(
            (
                r.id,
                SubtitleTrack(
                    codec=r.codec,
                    stream_index=r.stream_index,
                    path=r.path,
                    language=r.language,
                    title=r.title,
                    default=bool(r.is_default),
                    forced=bool(r.is_forced),
                    cues=cues,
                ),
            )
        )
    return out


def subtitle_ids(conn: Connection, file_id: int) -> list[int]:
    """``subtitle_tracks.id`` of a file, in the order of ``load_media(...).subtitles``."""
    return [
        r[0]
        for r in conn.execute(
            select(subtitle_tracks.c.id)
            .where(subtitle_tracks.c.file_id == file_id)
            .order_by(subtitle_tracks.c.id)
        )
    ]


def load_cues(conn: Connection, track_id: int) -> tuple[SubtitleCue, ...]:
    """The cues of one subtitle track (empty for image subtitles)."""
    blob = conn.execute(
        select(subtitle_tracks.c.cues).where(subtitle_tracks.c.id == track_id)
    ).first()
    if blob is None:
        raise NotFound(f"no subtitle track {track_id}")
    return unpack_cues(blob[0]) if blob[0] is not None else ()
