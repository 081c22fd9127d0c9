from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ferrite.auth.passwords import Passwords
from ferrite.db.engine import Database
from tests.fakes import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def cheap_passwords() -> Iterator[Passwords]:
    """argon2id with tiny parameters: same code path, a fraction of the time."""
    p = Passwords(time_cost=1, memory_cost_kib=1024)
    yield p
    p.close()


@pytest.fixture
def db(tmp_path: Path, database_url: str) -> Iterator[Database]:
    database = Database(database_url or f"sqlite:///{tmp_path / 'test.db'}")
    database.migrate()
    yield database
    database.close()
