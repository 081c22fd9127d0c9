"""Fixtures for the library tests: a migrated database (SQLite, or PostgreSQL too: see
FERRITE_TEST_DATABASE in tests/postgres.py), settings, a writable copy of
the generated library."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ferrite import config
from ferrite.config import Settings
from ferrite.db.engine import Database


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return config.load(
        {"data_dir": tmp_path / "data", "scan_workers": 2, "watch_debounce_ms": 200}, environ={}
    )


@pytest.fixture
def db(tmp_path: Path, database_url: str) -> Iterator[Database]:
    sqlite_url = f"sqlite:///{tmp_path / 'data' / 'ferrite.db'}"
    database = Database(database_url or sqlite_url, readers=2)
    database.migrate()
    yield database
    database.close()


@pytest.fixture
def library_copy(library_root: Path, tmp_path: Path) -> Path:
    """A private copy of the generated library that a test may change."""
    dst = tmp_path / "library"
    shutil.copytree(library_root, dst)
    return dst
