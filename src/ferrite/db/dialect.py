"""What differs between SQLite (the embedded default) and PostgreSQL, in one place.

Everything else is the same SQLAlchemy Core on both. The differences:

* **Upserts**: ``INSERT ... ON CONFLICT`` is spelled by each dialect's own ``insert``
  construct (:func:`insert`); both take the same ``on_conflict_do_*`` arguments.
* **Title search**: SQLite has the FTS5 virtual table ``items_fts`` (rowid = item id,
  tokenizer ``unicode61 remove_diacritics 2``, prefix indexes). PostgreSQL has the table
  ``items_search`` whose ``document`` column is a generated ``tsvector`` (title weight A,
  context B, file names C, the ``simple`` configuration) under a GIN index. The text
  stored there is folded in Python first (:func:`search_text`: no diacritics, case folded,
  words only), so both engines find "Amélie" by "amelie" and file names split into words
  ("Alien.1979.mkv" -> "alien 1979 mkv"; PostgreSQL's parser would keep that as one
  "file" token). Either way the caller gives words (letters and digits only, see
  ``ferrite.library.search``) and every word is a prefix, all must match: user input
  never reaches FTS5 or tsquery syntax, so no input can raise.
  ``websearch_to_tsquery`` is not used: it has no prefix matching, so "ame" would no
  longer find "Amélie" on PostgreSQL while it does on SQLite; the quoted prefix lexemes
  given to ``to_tsquery`` hold only letters and digits and cannot raise either.
* **Case-insensitive matching** is done in Python on both (``users.username_key`` is
  NFKC + casefold: SQLite's ``lower()`` folds ASCII only, PostgreSQL's depends on the
  locale).
* **Collation**: titles sort by ``items.sort_title``, a key normalised in Python, compared
  bytewise: SQLite's ``BINARY``; on PostgreSQL the column is created ``COLLATE "C"``
  (:data:`SORT_COLLATION`), so the order (and the index's) does not depend on the
  database's locale.
* **Concurrency** (``ferrite.db.engine``): one writer thread on SQLite, a pool on
  PostgreSQL; migrations hold an advisory lock on PostgreSQL, and so do the few
  read-then-write sequences the single writer used to serialise (:func:`lock`).
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    MetaData,
    Select,
    Table,
    Text,
    column,
    func,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite

#: SQLite's FTS5 virtual table over titles (see the first migration).
FTS_TABLE = "items_fts"
#: PostgreSQL's search table, one row per searchable item.
SEARCH_TABLE = "items_search"
#: Relative weights of title, context and file names in the ranking.
WEIGHTS = (10.0, 4.0, 1.0)
#: PostgreSQL collation of sort keys: bytewise, like SQLite's BINARY.
SORT_COLLATION = "C"
#: Longest word searched for (a longer one is cut: PostgreSQL ignores huge lexemes).
MAX_WORD = 100

#: Namespace of :func:`lock`'s advisory locks ("fe").
LOCKS = 0x6665

_WORD = re.compile(r"[^\W_]+")

_fts = table(FTS_TABLE, column("rowid"))
_search = Table(
    SEARCH_TABLE,
    MetaData(),
    Column("item_id", BigInteger, primary_key=True),
    Column("title", Text),
    Column("context", Text),
    Column("filename", Text),
    Column("document", postgresql.TSVECTOR),
)


def is_postgresql(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def insert(conn: Connection, target: Table) -> Any:
    """``INSERT`` with ``on_conflict_do_update``/``on_conflict_do_nothing`` for ``conn``."""
    if is_postgresql(conn):
        return postgresql.insert(target)
    return sqlite.insert(target)


def lock(conn: Connection, name: str) -> None:
    """Serialise transactions that read then write ``name``'s rows (a check-then-insert,
    a last-admin check, the library's item tree) until this transaction ends.

    SQLite's single writer already runs write transactions one at a time; on PostgreSQL
    this is a transaction-scoped advisory lock, so it also holds across nodes.
    """
    if is_postgresql(conn):
        key = zlib.crc32(name.encode()) - 2**31  # the two-int4 key space: (namespace, key)
        conn.execute(text("SELECT pg_advisory_xact_lock(:ns, :key)"), {"ns": LOCKS, "key": key})


# -- search: writing ---------------------------------------------------------------------
def search_text(value: str) -> str:
    """What PostgreSQL indexes of ``value``: folded words separated by spaces.

    >>> search_text("Amélie.2001.1080p-GRP [x264].mkv")
    'amelie 2001 1080p grp x264 mkv'
    """
    decomposed = unicodedata.normalize("NFKD", value)
    folded = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join(_WORD.findall(folded))


def index_item(conn: Connection, item_id: int, title: str, context: str, filename: str) -> None:
    """Insert or replace the search row of ``item_id``."""
    if is_postgresql(conn):
        values = {
            "title": search_text(title),
            "context": search_text(context),
            "filename": search_text(filename),
        }
        stmt = postgresql.insert(_search).values(item_id=item_id, **values)
        conn.execute(stmt.on_conflict_do_update(index_elements=[_search.c.item_id], set_=values))
        return
    conn.execute(text(f"DELETE FROM {FTS_TABLE} WHERE rowid = :id"), {"id": item_id})
    conn.execute(
        text(f"INSERT INTO {FTS_TABLE} (rowid, title, context, filename) VALUES (:id, :t, :c, :f)"),
        {"id": item_id, "t": title, "c": context, "f": filename},
    )


def index_new_items(conn: Connection, rows: Sequence[tuple[int, str, str, str]]) -> None:
    """Bulk insert search rows ``(item_id, title, context, filename)`` of items that have
    none yet (a bulk load, a benchmark)."""
    if is_postgresql(conn):
        conn.execute(
            _search.insert(),
            [
                {"item_id": i, "title": search_text(t), "context": search_text(c),
                 "filename": search_text(f)}
                for i, t, c, f in rows
            ],
        )  # fmt: skip
        return
    conn.execute(
        text(f"INSERT INTO {FTS_TABLE} (rowid, title, context, filename) VALUES (:i, :t, :c, :f)"),
        [{"i": i, "t": t, "c": c, "f": f} for i, t, c, f in rows],
    )


def unindex_items(conn: Connection, item_ids: Iterable[int]) -> None:
    """Remove the search rows of ``item_ids``."""
    ids = [int(x) for x in item_ids]
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        if is_postgresql(conn):
            conn.execute(_search.delete().where(_search.c.item_id.in_(chunk)))
        else:
            marks = ",".join(str(x) for x in chunk)
            conn.execute(text(f"DELETE FROM {FTS_TABLE} WHERE rowid IN ({marks})"))


def unindex_library(conn: Connection, library_id: int) -> None:
    """Remove the search rows of every item of a library (before deleting it)."""
    source = SEARCH_TABLE if is_postgresql(conn) else FTS_TABLE
    key = "item_id" if is_postgresql(conn) else "rowid"
    conn.execute(
        text(f"DELETE FROM {source} WHERE {key} IN (SELECT id FROM items WHERE library_id = :lib)"),
        {"lib": library_id},
    )


# -- search: reading ---------------------------------------------------------------------
def fts_match(words: Sequence[str], column_: str | None) -> str:
    """An FTS5 MATCH expression: every word quoted, a prefix, required."""
    prefix = f"{column_}:" if column_ else ""
    return " ".join(f'{prefix}"{w}"*' for w in words)


def _tsquery(words: Sequence[str], weight: str = "") -> Any:
    """``to_tsquery('simple', '''w1'':*A & ...')``: every word a prefix, all required.
    Words hold only letters and digits (folded here like the indexed text)."""
    lexemes = [search_text(w)[:MAX_WORD] for w in words]
    expr = " & ".join(f"'{w}':*{weight}" for w in lexemes if w)
    return func.to_tsquery(literal_column("'simple'::regconfig"), expr or "''")


def hits(conn: Connection, words: Sequence[str], *, in_title: bool = False) -> Select[Any]:
    """``(id, rank)`` of the items matching every word; a lower rank is a better match.
    ``in_title`` adds a boolean column ``in_title``: every word is in the item's title."""
    if is_postgresql(conn):
        d, c, b, a = 0.0, WEIGHTS[2] / WEIGHTS[0], WEIGHTS[1] / WEIGHTS[0], 1.0
        weights: Any = literal_column(f"'{{{d},{c},{b},{a}}}'::float4[]")
        cols: list[Any] = [
            _search.c.item_id.label("id"),
            (-func.ts_rank(weights, _search.c.document, _tsquery(words))).label("rank"),
        ]
        if in_title:
            # Tested on each hit's own document: no second index scan and join.
            title_only = _search.c.document.op("@@")(_tsquery(words, "A"))
            cols.append(title_only.label("in_title"))
        return select(*cols).where(_search.c.document.op("@@")(_tsquery(words)))
    cols = [_fts.c.rowid.label("id"), func.bm25(literal_column(FTS_TABLE), *WEIGHTS).label("rank")]
    if in_title:
        # FTS5 answers a column filter only as a MATCH of its own: one more lookup, run
        # once (an uncorrelated IN), not per row.
        cols.append(_fts.c.rowid.in_(matching_ids(conn, words, title_only=True)).label("in_title"))
    return select(*cols).where(literal_column(FTS_TABLE).op("MATCH")(fts_match(words, None)))


def matching_ids(conn: Connection, words: Sequence[str], *, title_only: bool = False) -> Any:
    """Ids of the items matching every word (in their title only if ``title_only``)."""
    if is_postgresql(conn):
        query = _tsquery(words, "A" if title_only else "")
        return select(_search.c.item_id.label("id")).where(_search.c.document.op("@@")(query))
    match = fts_match(words, "title" if title_only else None)
    return select(_fts.c.rowid.label("id")).where(literal_column(FTS_TABLE).op("MATCH")(match))
