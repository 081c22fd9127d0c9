"""The torrents tables: migration 0002 matches the schema; the engine's row functions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, select

from ferrite.db.engine import MIGRATIONS, Database
from ferrite.db.schema import metadata, torrent_files
from ferrite.torrent import store

OURS = {"torrents", "torrent_files"}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'ferrite.db'}")
    database.migrate()
    yield database
    database.close()


def test_migrating_to_head_creates_exactly_the_schema_tables(db: Database) -> None:
    engine = create_engine(db.url)
    with engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) >= OURS

        def include_name(name: str | None, kind: str, parent: dict[str, str | None]) -> bool:
            if kind == "schema":
                return True
            table = name if kind == "table" else parent.get("table_name")
            return table in OURS

        def include_object(obj: Any, name: str | None, kind: str, *_: Any) -> bool:
            table = name if kind == "table" else getattr(getattr(obj, "table", None), "name", None)
            return table in OURS

        context = MigrationContext.configure(
            conn, opts={"include_name": include_name, "include_object": include_object}
        )
        assert compare_metadata(context, metadata) == []
        columns = {c["name"] for c in inspect(conn).get_columns("torrent_files")}
        assert columns == {c.name for c in torrent_files.columns}
    engine.dispose()


def test_downgrade_removes_the_torrent_tables(db: Database) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    engine = create_engine(db.url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    with engine.connect() as conn:
        assert not OURS & set(inspect(conn).get_table_names())
    engine.dispose()


def test_rows_round_trip_and_deleting_a_torrent_deletes_its_files(db: Database) -> None:
    torrent_id = db.write_sync(
        lambda c: store.insert_torrent(
            c,
            info_hash="ab" * 20,
            name="ab" * 20,
            source_kind="magnet",
            source=b"magnet:?xt=urn:btih:" + b"ab" * 20,
            peers=["127.0.0.1:6881"],
            save_path="/data/torrents/x",
            added_at=1.5,
        )
    )
    files = [(0, "Movie/a.mkv", 10), (2, "Movie/b.txt", 3)]
    db.write_sync(store.set_metadata, torrent_id, "Movie", files)
    db.write_sync(store.set_metadata, torrent_id, "Movie", files)  # idempotent
    db.write_sync(store.save_resume, torrent_id, b"d4:infodee")
    (row,) = db.read_sync(store.all_torrents)
    assert row.id == torrent_id
    assert row.name == "Movie"
    assert row.peers == ("127.0.0.1:6881",)
    assert row.resume_data == b"d4:infodee"
    assert db.read_sync(store.get_by_hash, "ab" * 20) == row
    assert db.read_sync(store.get_by_hash, "cd" * 20) is None
    listed = db.read_sync(
        lambda c: c.execute(select(torrent_files.c.file_index, torrent_files.c.item_id)).all()
    )
    assert sorted(listed) == [(0, None), (2, None)]
    db.write_sync(store.delete_torrent, torrent_id)
    assert db.read_sync(store.all_torrents) == []
    assert db.read_sync(lambda c: c.execute(select(torrent_files)).all()) == []
