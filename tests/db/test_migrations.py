"""Migrating an empty database to head gives exactly the schema the code declares."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ferrite.db.engine import Database
from ferrite.db.schema import FTS_TABLE, SEARCH_TABLE, metadata


def _fts(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    # The search tables (SQLite: FTS5 and its shadow tables) live outside the metadata.
    return not (
        type_ == "table" and name is not None and name.startswith((FTS_TABLE, SEARCH_TABLE))
    )


# SQLite reflection can't read expression indexes (lower(username)); it says so and skips
# them, so that one index is checked by name below instead.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_empty_database_migrates_to_the_declared_schema(
    tmp_path: Path, database_url: str, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    if database_url:  # PostgreSQL: an empty database, not the fixture's migrated copy
        url = request.getfixturevalue("pg_cluster").create_database()
    db = Database(url)
    try:
        assert db.migrate() is None  # it was empty
        db.migrate()  # idempotent: a second start changes nothing

        def diff(conn):  # type: ignore[no-untyped-def]
            ctx = MigrationContext.configure(conn, opts={"include_object": _fts})
            return compare_metadata(ctx, metadata)

        assert db.read_sync(diff) == []
        catalog = "SELECT name FROM sqlite_master"
        if not db.is_sqlite:
            catalog = "SELECT indexname FROM pg_indexes UNION SELECT tablename FROM pg_tables"
        names = db.read_sync(lambda c: {r[0] for r in c.exec_driver_sql(catalog)})
        assert "uq_users_username_lower" in names
        assert (FTS_TABLE if db.is_sqlite else SEARCH_TABLE) in names
    finally:
        db.close()
        if database_url:
            request.getfixturevalue("pg_cluster").drop_database(url)
