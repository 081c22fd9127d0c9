"""Migrating an empty database to head gives exactly the schema the code declares."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ferrite.db.engine import Database
from ferrite.db.schema import FTS_TABLE, metadata


def _fts(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    # The FTS5 virtual table and its shadow tables live outside the metadata.
    return not (type_ == "table" and name is not None and name.startswith(FTS_TABLE))


# SQLite reflection can't read expression indexes (lower(username)); it says so and skips
# them, so that one index is checked by name below instead.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_empty_database_migrates_to_the_declared_schema(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        db.migrate()
        db.migrate()  # idempotent: a second start changes nothing

        def diff(conn):  # type: ignore[no-untyped-def]
            ctx = MigrationContext.configure(conn, opts={"include_object": _fts})
            return compare_metadata(ctx, metadata)

        assert db.read_sync(diff) == []
        names = db.read_sync(
            lambda c: {r[0] for r in c.exec_driver_sql("SELECT name FROM sqlite_master")}
        )
        assert "uq_users_username_lower" in names
    finally:
        db.close()
