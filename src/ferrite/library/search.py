"""Title search over items, ranked, limited to the caller's libraries.

SQLite: FTS5 ranked by bm25; PostgreSQL: a ``tsvector`` column ranked by ``ts_rank``
(the differences live in :mod:`ferrite.db.dialect`). The SQLite side:

The ``items_fts`` virtual table (see the first migration) has one row per searchable
item, ``rowid = items.id``, with three columns:

* ``title``    -- the movie, show or episode title;
* ``context``  -- for episodes the show and season names ("Test Show Season 1"), for
  movies and shows the year;
* ``filename`` -- the names of the item's files (people search for what they downloaded).

Seasons are not indexed (a search for a show finds the show and its episodes). The
tokenizer is ``unicode61 remove_diacritics 2`` with prefix indexes of 2 and 3 characters,
so "amelie" finds "Amélie" and "ame" finds it too. Rows are written by
:mod:`ferrite.library.store` in the same transaction as their item.

User input never reaches FTS5 or tsquery syntax: :func:`words` keeps only words, and
each one becomes a quoted prefix (``"ame"* "ten"*``): every word must match (AND).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

from sqlalchemy import Connection, case, func, select

from ferrite.db import dialect
from ferrite.db.dialect import WEIGHTS
from ferrite.db.schema import items

__all__ = ["MAX_TERMS", "WEIGHTS", "fts_query", "index_item", "search", "words"]

#: More words than this are ignored (a pasted paragraph is not a title).
MAX_TERMS = 12

_WORD = re.compile(r"[^\W_]+")


def fts_query(q: str, *, column: str | None = None) -> str | None:
    """A safe FTS5 MATCH expression for user input ``q``; ``None`` when it has no words.
    ``column`` restricts every word to one column (``title``).

    >>> fts_query('amé "lie OR NOT x*')
    '"amé"* "lie"* "OR"* "NOT"* "x"*'
    >>> fts_query("big test", column="title")
    'title:"big"* title:"test"*'
    """
    terms = words(q)
    return dialect.fts_match(terms, column) if terms else None


def words(q: str) -> list[str]:
    """The words of user input ``q`` that a search uses (at most :data:`MAX_TERMS`)."""
    return _WORD.findall(q)[:MAX_TERMS]


def index_item(
    conn: Connection, item_id: int, *, title: str, context: str = "", filename: str = ""
) -> None:
    """Insert or replace the search row of ``item_id``."""
    dialect.index_item(conn, item_id, title, context, filename)


def unindex_items(conn: Connection, item_ids: Iterable[int]) -> None:
    """Remove the search rows of ``item_ids`` (before or after deleting the items)."""
    dialect.unindex_items(conn, item_ids)


def unindex_library(conn: Connection, library_id: int) -> None:
    """Remove the search rows of every item of a library (before deleting it)."""
    dialect.unindex_library(conn, library_id)


def search(
    conn: Connection,
    q: str,
    *,
    library_ids: Collection[int] | None,
    kind: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[int]:
    """Item ids matching ``q``, best first.

    ``library_ids``: the libraries the caller may see (``None``: all, for admins; empty:
    nothing). ``kind``: ``movie``, ``show`` or ``episode`` to narrow the results.

    Order: items whose *title* holds every word come first, shorter titles first ("alien"
    ranks "Alien" before "Aliens" before "Alien Worlds"); then everything else (episodes
    found by their show's name, matches in file names) by weighted rank (bm25 on SQLite,
    ``ts_rank`` on PostgreSQL, :data:`WEIGHTS`); ties by id, so pages are stable. The
    rank alone would put a show above the film of the same name: bm25 normalises by the
    whole row's length, and a show has no file name.
    """
    terms = words(q)
    if not terms or (library_ids is not None and not library_ids) or limit <= 0:
        return []
    hits = dialect.hits(conn, terms, in_title=True).cte("hits")
    query = (
        select(items.c.id)
        .select_from(hits.join(items, items.c.id == hits.c.id))
        .order_by(
            hits.c.in_title.desc(),
            case((hits.c.in_title, func.length(items.c.title))),
            hits.c.rank,
            items.c.id,
        )
        .limit(int(limit))
        .offset(max(0, int(offset)))
    )
    if library_ids is not None:
        query = query.where(items.c.library_id.in_([int(x) for x in library_ids]))
    if kind is not None:
        query = query.where(items.c.kind == kind)
    return list(conn.execute(query).scalars())
