"""The reads the Jellyfin API needs beyond Ferrite's own, and favourites.

Plain functions of a connection (run through ``Database.read``/``write``), with Ferrite's
rules: every query takes the caller's visible libraries (``None`` = all, an admin) and
joins progress and favourites on ``(user_id, item_id)`` with the caller's id only.

Rows come back as :class:`Row` mappings carrying the item, the caller's progress and
favourite flag, and the parent/grandparent titles a Jellyfin item shows (``SeriesName``,
``SeasonId``) — one query per page, no per-item look-ups.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    delete,
    false,
    func,
    or_,
    select,
    true,
)

from ferrite.db import dialect
from ferrite.db.schema import favorites, items, progress
from ferrite.errors import NotFound
from ferrite.library.queries import ITEM_COLUMNS

Libraries = frozenset[int] | None

_parent = items.alias("parent")
_grand = items.alias("grand")

_COLUMNS = (
    *ITEM_COLUMNS,
    items.c.sort_title,
    favorites.c.created_at.label("f_created_at"),
    _parent.c.kind.label("parent_kind"),
    _parent.c.title.label("parent_title"),
    _parent.c.parent_id.label("parent_parent_id"),
    _parent.c.artwork.label("parent_artwork"),
    _grand.c.title.label("grand_title"),
    _grand.c.artwork.label("grand_artwork"),
)


@dataclass(frozen=True, slots=True)
class ItemQuery:
    """What ``GET /Items`` asks, in Ferrite's terms."""

    library_id: int | None = None
    parent_id: int | None = None
    recursive: bool = False
    kinds: frozenset[str] = frozenset()
    ids: tuple[int, ...] = ()
    search: str | None = None
    played: bool | None = None
    resumable: bool = False
    favorite: bool | None = None
    sort: tuple[str, ...] = ()
    descending: bool = False
    offset: int = 0
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[dict[str, Any]]
    total: int
    offset: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _base(user_id: int) -> Any:
    joined = (
        items.outerjoin(
            progress, and_(progress.c.item_id == items.c.id, progress.c.user_id == user_id)
        )
        .outerjoin(
            favorites, and_(favorites.c.item_id == items.c.id, favorites.c.user_id == user_id)
        )
        .outerjoin(_parent, _parent.c.id == items.c.parent_id)
        .outerjoin(_grand, _grand.c.id == _parent.c.parent_id)
    )
    return joined


def _visible(libraries: Libraries) -> ColumnElement[bool]:
    if libraries is None:
        return true()
    if not libraries:
        return false()
    return items.c.library_id.in_(sorted(libraries))


def _order(sort: Sequence[str], descending: bool) -> list[Any]:
    cols: list[Any] = []
    for key in sort:
        k = key.lower()
        if k in ("sortname", "name"):
            col: Any = items.c.sort_title
        elif k in ("datecreated", "datelastcontentadded"):
            col = items.c.added_at
        elif k in ("productionyear", "premieredate"):
            col = items.c.year
        elif k == "dateplayed":
            col = progress.c.updated_at
        elif k == "parentindexnumber":
            col = items.c.season_number
        elif k == "indexnumber":
            col = items.c.episode_number
        elif k == "runtime":
            col = items.c.duration_s
        elif k == "random":
            cols.append(func.random())
            continue
        else:
            continue  # ratings, budgets ...: Ferrite has none of them
        cols.append(col.desc() if descending else col.asc())
    if not cols:
        cols = [
            items.c.season_number.asc(),
            items.c.episode_number.asc(),
            items.c.sort_title.desc() if descending else items.c.sort_title.asc(),
        ]
    return [*cols, items.c.id]


def list_items(conn: Connection, q: ItemQuery, *, user_id: int, libraries: Libraries) -> Page:
    where: list[ColumnElement[bool]] = [_visible(libraries)]
    if q.library_id is not None:
        where.append(items.c.library_id == q.library_id)
        if not q.recursive:
            where.append(items.c.parent_id.is_(None))
    if q.parent_id is not None:
        if q.recursive:
            where.append(or_(items.c.parent_id == q.parent_id, _parent.c.parent_id == q.parent_id))
        else:
            where.append(items.c.parent_id == q.parent_id)
    if q.kinds:
        where.append(items.c.kind.in_(sorted(q.kinds)))
    elif q.library_id is None and q.parent_id is None and not q.ids and not q.recursive:
        where.append(items.c.parent_id.is_(None))
    if q.ids:
        where.append(items.c.id.in_(q.ids))
    if q.search:
        term = q.search.strip().lower().replace("\\", "\\\\").replace("%", "\\%")
        where.append(items.c.title.ilike(f"%{term.replace('_', chr(92) + '_')}%", escape="\\"))
    if q.played is True:
        where.append(progress.c.played.is_(True))
    elif q.played is False:
        where.append(or_(progress.c.played.is_(None), progress.c.played.is_(False)))
    if q.resumable:
        where.append(and_(progress.c.played.is_(False), progress.c.position_s > 0))
    if q.favorite is True:
        where.append(favorites.c.created_at.is_not(None))
    elif q.favorite is False:
        where.append(favorites.c.created_at.is_(None))
    base = _base(user_id)
    query = (
        select(*_COLUMNS)
        .select_from(base)
        .where(*where)
        .order_by(*_order(q.sort, q.descending))
        .offset(q.offset)
    )
    if q.limit is not None:
        query = query.limit(q.limit)
    rows = [dict(r) for r in conn.execute(query).mappings()]
    if q.offset == 0 and (q.limit is None or len(rows) < q.limit):
        total = len(rows)
    else:
        total = int(conn.execute(select(func.count()).select_from(base).where(*where)).scalar_one())
    return Page(rows, total, q.offset)


def get_row(
    conn: Connection, item_id: int, *, user_id: int, libraries: Libraries
) -> dict[str, Any]:
    row = (
        conn.execute(
            select(*_COLUMNS)
            .select_from(_base(user_id))
            .where(items.c.id == item_id, _visible(libraries))
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("Item not found.")
    return dict(row)


def next_up(
    conn: Connection,
    *,
    user_id: int,
    libraries: Libraries,
    series_id: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Per show the caller watched (most recent first): the first unplayed episode after
    the last one they played or started."""
    season = items.alias("s")
    show_of = func.coalesce(season.c.parent_id, items.c.parent_id)
    watched = (
        select(
            show_of.label("show_id"),
            items.c.season_number,
            items.c.episode_number,
            progress.c.updated_at,
        )
        .select_from(
            progress.join(items, items.c.id == progress.c.item_id).outerjoin(
                season, and_(season.c.id == items.c.parent_id, season.c.kind == "season")
            )
        )
        .where(progress.c.user_id == user_id, items.c.kind == "episode", _visible(libraries))
        .order_by(progress.c.updated_at.desc())
    )
    if series_id is not None:
        watched = watched.where(show_of == series_id)
    latest: dict[int, tuple[int, int]] = {}
    for show_id, s_no, e_no, _at in conn.execute(watched.limit(2000)):
        if show_id is not None and show_id not in latest:
            latest[show_id] = (s_no or 0, e_no or 0)
        if len(latest) >= limit:
            break
    out: list[dict[str, Any]] = []
    for show_id, (s_no, e_no) in latest.items():
        page = list_items(
            conn,
            ItemQuery(
                parent_id=show_id, recursive=True, kinds=frozenset({"episode"}), played=False
            ),
            user_id=user_id,
            libraries=libraries,
        )
        after = [
            r
            for r in page.rows
            if ((r["season_number"] or 0), (r["episode_number"] or 0)) > (s_no, e_no)
        ]
        after.sort(key=lambda r: (r["season_number"] or 0, r["episode_number"] or 0))
        if after:
            out.append(after[0])
    return out


def set_favorite(
    conn: Connection,
    item_id: int,
    *,
    user_id: int,
    libraries: Libraries,
    favorite: bool,
    now: float,
) -> None:
    exists = conn.execute(
        select(items.c.id).where(items.c.id == item_id, _visible(libraries))
    ).first()
    if exists is None:
        raise NotFound("Item not found.")
    if favorite:
        stmt = dialect.insert(conn, favorites).values(
            user_id=user_id, item_id=item_id, created_at=now
        )
        conn.execute(stmt.on_conflict_do_nothing())
    else:
        conn.execute(
            delete(favorites).where(favorites.c.user_id == user_id, favorites.c.item_id == item_id)
        )


def clear_progress(conn: Connection, item_id: int, *, user_id: int) -> None:
    conn.execute(
        delete(progress).where(progress.c.user_id == user_id, progress.c.item_id == item_id)
    )
