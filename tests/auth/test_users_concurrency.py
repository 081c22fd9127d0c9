"""Checks across users hold when writes run concurrently (PostgreSQL's pool of writers;
on SQLite the single writer runs them one at a time and the same checks hold)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import func, select

from ferrite.auth import users
from ferrite.db.engine import Database
from ferrite.db.schema import users as users_table
from ferrite.errors import Conflict

ROUNDS = 10


def _together(db: Database, fns: list[Callable[[Any], object]]) -> list[object]:
    """Run every ``fn(conn)`` in its own write transaction, released at the same moment."""
    start = threading.Barrier(len(fns))

    def run(fn: Callable[[Any], object]) -> object:
        start.wait()
        try:
            return db.write_sync(fn)
        except Conflict as exc:
            return exc

    with ThreadPoolExecutor(len(fns)) as pool:
        return list(pool.map(run, fns))


def test_concurrent_first_setups_make_one_admin(db: Database) -> None:
    for round_ in range(ROUNDS):
        names = [f"admin{round_}x{i}" for i in range(3)]
        results = _together(
            db,
            [
                lambda c, n=n: users.create_user(
                    c,
                    username=n,
                    password_hash="h",
                    is_admin=True,
                    library_ids=(),
                    now=1.0,
                    only_if_empty=True,
                )
                for n in names
            ],
        )
        assert sum(isinstance(r, users.UserRecord) for r in results) == 1, results
        assert db.read_sync(users.count_users) == 1
        db.write_sync(lambda c: c.execute(users_table.delete()))


def test_two_admins_demoting_each_other_leave_one(db: Database) -> None:
    for round_ in range(ROUNDS):
        a, b = (
            db.write_sync(
                lambda c, n=n: users.create_user(
                    c, username=n, password_hash="h", is_admin=True, library_ids=(), now=1.0
                )
            )
            for n in (f"a{round_}", f"b{round_}")
        )
        _together(db, [lambda c, u=u: users.update_user(c, u.id, is_admin=False) for u in (a, b)])
        admins = db.read_sync(
            lambda c: c.execute(
                select(func.count()).where(users_table.c.is_admin.is_(True))
            ).scalar_one()
        )
        assert admins == 1
        db.write_sync(lambda c: c.execute(users_table.delete()))
