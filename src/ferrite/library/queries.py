"""The library's read side for the API, plus the caller's progress.

Plain functions of a SQLAlchemy connection, run through ``Database.read``/``write``.
Every function takes the caller's visible library ids (``libraries``: a frozenset, or
``None`` for an admin who sees everything) and filters by it, and every progress join is
on ``(user_id, item_id)`` with the caller's id: a user can neither see nor touch another
user's progress, nor learn that a library they were not granted exists (its items are
simply "not found").

Rows become API.md's shapes in :mod:`ferrite.library.shapes`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    func,
    select,
    true,
)

from ferrite.db import dialect
from ferrite.db.schema import (
    items,
    library_paths,
    media_files,
    progress,
    streams,
    subtitle_tracks,
)
from ferrite.errors import NotFound, Unprocessable
from ferrite.library.roots import real_roots
from ferrite.library.search import words as search_words
from ferrite.library.shapes import item_dict, stream_dict, subtitle_dict

Libraries = frozenset[int] | None
SortKey = Literal["title", "-title", "added", "-added", "year", "-year"]
SORT_KEYS: tuple[str, ...] = ("title", "-title", "added", "-added", "year", "-year")
ITEM_KINDS: tuple[str, ...] = ("movie", "show", "season", "episode")
PLAYABLE_KINDS = frozenset({"movie", "episode"})
TOP_LEVEL_KINDS = ("movie", "show")


@dataclass(frozen=True, slots=True)
class ItemPage:
    items: list[dict[str, Any]]
    total: int


@dataclass(frozen=True, slots=True)
class FileLocation:
    """Where an item's media file is; enough to serve it without another query."""

    item_id: int
    library_id: int
    file_id: int
    path: str
    size: int
    mtime_ns: int
    container: str | None
    #: Which file the scan saw (None: not recorded, e.g. a torrent's or an older scan's).
    inode: int | None = None
    device: int | None = None
    #: The library's folders, symlinks resolved (direct play checks the opened file is
    #: inside one of them).
    roots: tuple[str, ...] = ()


# -- building blocks ------------------------------------------------------------------------
# An item with the caller's progress: what every item list selects (the Jellyfin reads too).
ITEM_COLUMNS = (
    items.c.id,
    items.c.library_id,
    items.c.kind,
    items.c.title,
    items.c.year,
    items.c.parent_id,
    items.c.season_number,
    items.c.episode_number,
    items.c.duration_s,
    items.c.added_at,
    items.c.artwork,
    progress.c.position_s.label("p_position_s"),
    progress.c.played.label("p_played"),
    progress.c.updated_at.label("p_updated_at"),
)


def _with_progress(user_id: int) -> Select[Any]:
    """Items LEFT JOIN the caller's own progress row (never anyone else's)."""
    joined = items.outerjoin(
        progress, and_(progress.c.item_id == items.c.id, progress.c.user_id == user_id)
    )
    return select(*ITEM_COLUMNS).select_from(joined)


def _visible(libraries_: Libraries) -> ColumnElement[bool]:
    if libraries_ is None:
        return true()
    return items.c.library_id.in_(sorted(libraries_))


def _order(sort: str, rank: Any | None = None) -> list[Any]:
    """ORDER BY for a sort key; ``rank`` is the FTS hits' rank column when searching."""
    desc = sort.startswith("-")
    key = sort.lstrip("-")
    cols: list[Any]
    if key == "added":
        cols = [items.c.added_at.asc() if desc else items.c.added_at.desc()]
    elif key == "year":
        # Newest first by default; items without a year last either way.
        year = items.c.year.asc() if desc else items.c.year.desc()
        cols = [items.c.year.is_(None), year, items.c.sort_title]
    elif key == "rank" and rank is not None:
        # The same order as ferrite.library.search: weighted bm25, then shorter titles.
        cols = [rank, func.length(items.c.sort_title)]
    else:
        cols = [items.c.sort_title.desc() if desc else items.c.sort_title.asc()]
    return [*cols, items.c.id]


def _item_or_404(conn: Connection, item_id: int, libraries_: Libraries, user_id: int) -> Any:
    row = (
        conn.execute(_with_progress(user_id).where(items.c.id == item_id, _visible(libraries_)))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("No such item.")
    return row


# -- items ------------------------------------------------------------------------------
def list_items(
    conn: Connection,
    *,
    user_id: int,
    libraries: Libraries,
    library_id: int | None = None,
    parent_id: int | None = None,
    kind: str | None = None,
    q: str | None = None,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> ItemPage:
    """A page of items the caller may see, each with the caller's progress.

    Without ``parent_id``, ``kind`` or ``q`` it lists top-level items (movies and shows).
    ``q`` searches titles (FTS5 on SQLite, a tsvector on PostgreSQL) and sorts by
    relevance unless ``sort`` is given.
    """
    if libraries is not None and not libraries:
        return ItemPage([], 0)
    if library_id is not None and libraries is not None and library_id not in libraries:
        raise NotFound("No such library.")
    where: list[ColumnElement[bool]] = [_visible(libraries)]
    if library_id is not None:
        where.append(items.c.library_id == library_id)
    if parent_id is not None:
        where.append(items.c.parent_id == parent_id)
    if kind is not None:
        where.append(items.c.kind == kind)
    terms: list[str] = []
    if q is not None and q.strip():
        terms = search_words(q)
        if not terms:
            return ItemPage([], 0)
    elif parent_id is None and kind is None:
        # Top level. Movies and shows are exactly the items without a parent; saying it
        # with the kind lets SQLite walk ix_items_library_kind_sort in title order.
        where.append(items.c.kind.in_(TOP_LEVEL_KINDS))

    # Two steps, both index-friendly: the page's ids from ``items`` alone (plus the FTS
    # hits), then those rows with the caller's progress. Joining progress before the
    # ORDER BY ... LIMIT would join every candidate row, not just the page.
    count = select(func.count()).select_from(items)
    if terms:
        # MATERIALIZED: run the MATCH once. Left to itself, SQLite may probe the FTS
        # index once per items row (seconds at 50,000 items).
        hits = dialect.hits(conn, terms).cte("hits").prefix_with("MATERIALIZED")
        ids_query = select(items.c.id).select_from(hits.join(items, items.c.id == hits.c.id))
        order = _order(sort or "rank", hits.c.rank)
        count = count.where(items.c.id.in_(dialect.matching_ids(conn, terms)))
    else:
        ids_query = select(items.c.id)
        order = _order(sort or "title")
    ids_query = ids_query.where(*where).order_by(*order).limit(limit).offset(offset)
    ids = list(conn.execute(ids_query).scalars())
    if offset == 0 and len(ids) < limit:
        total = len(ids)
    else:
        total = int(conn.execute(count.where(*where)).scalar_one())
    if not ids:
        return ItemPage([], total)
    rows = conn.execute(_with_progress(user_id).where(items.c.id.in_(ids))).mappings()
    by_id = {r["id"]: r for r in rows}
    return ItemPage([item_dict(by_id[i]) for i in ids if i in by_id], total)


def get_item(
    conn: Connection, item_id: int, *, user_id: int, libraries: Libraries
) -> dict[str, Any]:
    """Item detail: the item, its files with their streams, and its subtitle tracks."""
    row = _item_or_404(conn, item_id, libraries, user_id)
    out = item_dict(row)
    file_rows = (
        conn.execute(
            select(
                media_files.c.id,
                media_files.c.size,
                media_files.c.container,
                media_files.c.duration_s,
                media_files.c.bitrate,
                media_files.c.probe_status,
            )
            .where(media_files.c.item_id == item_id)
            .order_by(media_files.c.id)
        )
        .mappings()
        .all()
    )
    file_ids = [f["id"] for f in file_rows]
    by_file: dict[int, list[dict[str, Any]]] = {i: [] for i in file_ids}
    subtitles: list[dict[str, Any]] = []
    if file_ids:
        for s in conn.execute(
            select(streams)
            .where(streams.c.file_id.in_(file_ids))
            .order_by(streams.c.file_id, streams.c.index)
        ).mappings():
            by_file[s["file_id"]].append(stream_dict(s))
        subtitles = [
            subtitle_dict(s)
            for s in conn.execute(
                select(
                    subtitle_tracks.c.id,
                    subtitle_tracks.c.file_id,
                    subtitle_tracks.c.stream_index,
                    subtitle_tracks.c.path,
                    subtitle_tracks.c.codec,
                    subtitle_tracks.c.language,
                    subtitle_tracks.c.title,
                    subtitle_tracks.c.is_default,
                    subtitle_tracks.c.is_forced,
                )
                .where(subtitle_tracks.c.file_id.in_(file_ids))
                .order_by(subtitle_tracks.c.file_id, subtitle_tracks.c.id)
            ).mappings()
        ]
    out["files"] = [
        {
            "id": f["id"],
            "size": f["size"],
            "container": f["container"],
            "duration_s": f["duration_s"],
            "bitrate": f["bitrate"],
            "playable": f["probe_status"] == "ok",
            "probe_status": f["probe_status"],  # ok | failed | pending (torrent arriving)
            "streams": by_file[f["id"]],
        }
        for f in file_rows
    ]
    out["subtitles"] = subtitles
    return out


def get_children(
    conn: Connection,
    item_id: int,
    *,
    user_id: int,
    libraries: Libraries,
    limit: int = 500,
    offset: int = 0,
) -> ItemPage:
    """Seasons of a show, episodes of a season (in season/episode order)."""
    _item_or_404(conn, item_id, libraries, user_id)
    where = (items.c.parent_id == item_id, _visible(libraries))
    query = (
        _with_progress(user_id)
        .where(*where)
        .order_by(
            items.c.season_number.is_(None),
            items.c.season_number,
            items.c.episode_number.is_(None),
            items.c.episode_number,
            items.c.sort_title,
            items.c.id,
        )
        .limit(limit)
        .offset(offset)
    )
    rows = conn.execute(query).mappings().all()
    total = int(conn.execute(select(func.count()).select_from(items).where(*where)).scalar_one())
    return ItemPage([item_dict(r) for r in rows], total)


def continue_watching(
    conn: Connection, *, user_id: int, libraries: Libraries, limit: int = 20
) -> list[dict[str, Any]]:
    """The caller's started, unfinished items, most recently watched first."""
    if libraries is not None and not libraries:
        return []
    query = (
        select(*ITEM_COLUMNS)
        .select_from(progress.join(items, items.c.id == progress.c.item_id))
        .where(
            progress.c.user_id == user_id,
            progress.c.played.is_(False),
            progress.c.position_s > 0,
            _visible(libraries),
        )
        .order_by(progress.c.updated_at.desc(), items.c.id)
        .limit(limit)
    )
    return [item_dict(r) for r in conn.execute(query).mappings()]


def put_progress(
    conn: Connection,
    item_id: int,
    *,
    user_id: int,
    libraries: Libraries,
    position_s: float,
    played: bool | None,
    threshold: float,
    now: float,
) -> dict[str, Any]:
    """Upsert the caller's progress on an item (unique per user and item).

    ``played`` is true when the caller says so or when the position passes ``threshold``
    of the duration; the position is clamped to ``[0, duration]``.
    """
    row = conn.execute(
        select(items.c.kind, items.c.duration_s).where(items.c.id == item_id, _visible(libraries))
    ).first()
    if row is None:
        raise NotFound("No such item.")
    kind, duration = row
    if kind not in PLAYABLE_KINDS:
        raise Unprocessable(f"A {kind} has no progress of its own; track its episodes.")
    if not math.isfinite(position_s) or position_s < 0:
        raise Unprocessable("position_s must be a finite number >= 0.")
    if duration:
        position_s = min(position_s, float(duration))
    done = bool(played) or bool(duration and position_s >= threshold * float(duration))
    values = {
        "user_id": user_id,
        "item_id": item_id,
        "position_s": position_s,
        "played": done,
        "updated_at": now,
    }
    stmt = dialect.insert(conn, progress).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[progress.c.user_id, progress.c.item_id],
        set_={"position_s": position_s, "played": done, "updated_at": now},
    )
    conn.execute(stmt)
    return {"position_s": position_s, "played": done, "updated_at": now}


# -- files ------------------------------------------------------------------------------------
def file_location(conn: Connection, item_id: int, file_id: int | None = None) -> FileLocation:
    """The media file to direct-play for an item (the first playable one unless named).

    Callers check ``library_id`` against the caller's grants; this does no access check so
    the result can be cached per item and shared by every user who may see it.
    """
    query = select(
        media_files.c.id,
        media_files.c.item_id,
        media_files.c.library_id,
        media_files.c.path,
        media_files.c.size,
        media_files.c.mtime_ns,
        media_files.c.inode,
        media_files.c.device,
        media_files.c.container,
    ).where(media_files.c.item_id == item_id)
    if file_id is not None:
        query = query.where(media_files.c.id == file_id)
    row = (
        conn.execute(
            query.order_by((media_files.c.probe_status != "ok"), media_files.c.id).limit(1)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("This item has no media file.")
    roots = conn.execute(
        select(library_paths.c.path).where(library_paths.c.library_id == row["library_id"])
    ).scalars()
    return FileLocation(
        item_id=row["item_id"],
        library_id=row["library_id"],
        file_id=row["id"],
        path=row["path"],
        size=row["size"],
        mtime_ns=row["mtime_ns"],
        container=row["container"],
        inode=row["inode"],
        device=row["device"],
        roots=real_roots(roots),
    )


def item_library(conn: Connection, item_id: int) -> int | None:
    return conn.execute(select(items.c.library_id).where(items.c.id == item_id)).scalar()


def item_artwork(conn: Connection, item_id: int, *, libraries: Libraries) -> str:
    name = conn.execute(
        select(items.c.artwork).where(items.c.id == item_id, _visible(libraries))
    ).scalar()
    if not name:
        raise NotFound("This item has no artwork.")
    return str(name)


def playable_video_files(conn: Connection) -> list[tuple[int, str]]:
    """``(file id, fingerprint)`` of every probed file with a video stream, oldest first."""
    has_video = (
        select(streams.c.file_id)
        .where(streams.c.file_id == media_files.c.id, streams.c.type == "video")
        .exists()
    )
    rows = conn.execute(
        select(media_files.c.id, media_files.c.fingerprint)
        .where(media_files.c.probe_status == "ok", media_files.c.item_id.is_not(None), has_video)
        .order_by(media_files.c.id)
    ).all()
    return [(r.id, r.fingerprint) for r in rows]
