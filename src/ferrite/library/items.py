"""The item hierarchy: ``movie`` or ``show -> season -> episode``, as functions of a
connection inside the caller's transaction (see :mod:`ferrite.library.store`).

Items are found or created by library + normalised title (+ year where both sides have
one), season number and episode number; they disappear when their last file (or last
child) goes (:func:`prune`). :func:`attach` points a file at the item its name describes;
a file that moves or is renamed keeps its item, renamed in place when the new name means
another title that doesn't exist yet. Search rows are kept in step here.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from ferrite.db import dialect
from ferrite.db.schema import items, media_files
from ferrite.library import search
from ferrite.library.naming import ParsedName, normalize_title, sort_title

#: The lock (ferrite.db.dialect.lock) of the library's item tree of shows, seasons, items.
ITEM_TREE = "items"


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


def _inserted_id(result: Any) -> int:
    return int(result.inserted_primary_key[0])


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


def attach(
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
        prune(conn, old_item)
    if old_parent is not None and old_parent != season_id:
        prune(conn, old_parent)
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


def prune(conn: Connection, item_id: int | None) -> None:
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
