"""Title search: SQLite FTS5 over items, ranked by bm25, limited to the caller's libraries.

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

User input never reaches FTS5 syntax: :func:`fts_query` keeps only words, quotes each
one and makes it a prefix (``"ame"* "ten"*``): every word must match (AND).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

from sqlalchemy import Connection, text

from ferrite.db.schema import FTS_TABLE

#: Relative weights of title, context and filename in bm25.
WEIGHTS = (10.0, 4.0, 1.0)
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
    words = _WORD.findall(q)[:MAX_TERMS]
    if not words:
        return None
    prefix = f"{column}:" if column else ""
    return " ".join(f'{prefix}"{w}"*' for w in words)


def index_item(
    conn: Connection, item_id: int, *, title: str, context: str = "", filename: str = ""
) -> None:
    """Insert or replace the search row of ``item_id``."""
    if conn.dialect.name != "sqlite":
        return
    conn.execute(text(f"DELETE FROM {FTS_TABLE} WHERE rowid = :id"), {"id": item_id})
    conn.execute(
        text(f"INSERT INTO {FTS_TABLE} (rowid, title, context, filename) VALUES (:id, :t, :c, :f)"),
        {"id": item_id, "t": title, "c": context, "f": filename},
    )


def unindex_items(conn: Connection, item_ids: Iterable[int]) -> None:
    """Remove the search rows of ``item_ids`` (before or after deleting the items)."""
    if conn.dialect.name != "sqlite":
        return
    ids = list(item_ids)
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        marks = ",".join(str(int(x)) for x in chunk)
        conn.execute(text(f"DELETE FROM {FTS_TABLE} WHERE rowid IN ({marks})"))


def unindex_library(conn: Connection, library_id: int) -> None:
    """Remove the search rows of every item of a library (before deleting it)."""
    if conn.dialect.name != "sqlite":
        return
    conn.execute(
        text(
            f"DELETE FROM {FTS_TABLE} WHERE rowid IN (SELECT id FROM items WHERE library_id = :lib)"
        ),
        {"lib": library_id},
    )


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
    found by their show's name, matches in file names) by weighted bm25
    (:data:`WEIGHTS`); ties by id, so pages are stable. bm25 alone would put a show
    above the film of the same name: it normalises by the whole row's length, and a show
    has no file name.
    """
    match = fts_query(q)
    title_match = fts_query(q, column="title")
    if match is None or (library_ids is not None and not library_ids) or limit <= 0:
        return []
    params: dict[str, object] = {
        "match": match,
        "title_match": title_match,
        "limit": int(limit),
        "offset": max(0, int(offset)),
    }
    where = []
    if library_ids is not None:
        where.append(f"i.library_id IN ({','.join(str(int(x)) for x in library_ids)})")
    if kind is not None:
        where.append("i.kind = :kind")
        params["kind"] = kind
    filters = "".join(f" AND {w}" for w in where)
    if conn.dialect.name != "sqlite":
        return _search_like(conn, q, filters, params)
    w_title, w_context, w_file = WEIGHTS
    sql = (
        f"WITH hits AS (SELECT rowid AS id, bm25({FTS_TABLE}, {w_title}, {w_context}, {w_file}) "
        f"AS score FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :match), "
        f"titled AS (SELECT rowid AS id FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :title_match) "
        "SELECT i.id FROM hits h JOIN items i ON i.id = h.id "
        "LEFT JOIN titled t ON t.id = h.id "
        f"WHERE 1{filters} "
        "ORDER BY t.id IS NULL, CASE WHEN t.id IS NOT NULL THEN length(i.title) END, "
        "h.score, i.id LIMIT :limit OFFSET :offset"
    )
    return [row[0] for row in conn.execute(text(sql), params)]


def _search_like(conn: Connection, q: str, filters: str, params: dict[str, object]) -> list[int]:
    """Unranked fallback for databases without FTS5: every word in the title."""
    conds = []
    for n, word in enumerate(_WORD.findall(q)[:MAX_TERMS]):
        conds.append(f"lower(i.title) LIKE :w{n}")
        params[f"w{n}"] = f"%{word.lower()}%"
    sql = (
        f"SELECT i.id FROM items i WHERE i.kind != 'season' AND {' AND '.join(conds)}{filters} "
        "ORDER BY i.sort_title, i.id LIMIT :limit OFFSET :offset"
    )
    return [row[0] for row in conn.execute(text(sql), params)]
