"""User queries against a real, migrated SQLite file."""

from __future__ import annotations

import pytest
from sqlalchemy import insert

from ferrite.auth import users
from ferrite.db.engine import Database
from ferrite.db.schema import libraries
from ferrite.errors import Conflict, NotFound, Unprocessable


def add(
    db: Database, name: str, *, admin: bool = False, libs: tuple[int, ...] = ()
) -> users.UserRecord:
    return db.write_sync(
        lambda c: users.create_user(
            c, username=name, password_hash="h", is_admin=admin, library_ids=libs, now=1.0
        )
    )


def add_library(db: Database, name: str) -> int:
    return int(
        db.write_sync(
            lambda c: c.execute(
                insert(libraries)
                .values(name=name, kind="movies", created_at=0)
                .returning(libraries.c.id)
            ).scalar_one()
        )
    )


def test_create_and_find_case_insensitively(db: Database) -> None:
    lib = add_library(db, "Movies")
    alice = add(db, "Alice", libs=(lib,))
    assert alice.library_ids == (lib,)
    found = db.read_sync(users.find_by_username, "  aLiCe ")
    assert found is not None
    assert found.id == alice.id
    with pytest.raises(Conflict):
        add(db, "ALICE")


def test_setup_only_while_empty(db: Database) -> None:
    def setup(c: object, name: str) -> users.UserRecord:
        return users.create_user(
            c,  # type: ignore[arg-type]
            username=name,
            password_hash="h",
            is_admin=True,
            library_ids=(),
            now=1.0,
            only_if_empty=True,
        )

    db.write_sync(setup, "root")
    with pytest.raises(Conflict):
        db.write_sync(setup, "other")


@pytest.mark.parametrize("name", ["", " ", "a" * 65, "bad/slash", "tab\tname", "nul\x00"])
def test_bad_usernames(db: Database, name: str) -> None:
    with pytest.raises(Unprocessable):
        add(db, name)


def test_unknown_library_grant(db: Database) -> None:
    with pytest.raises(Unprocessable):
        add(db, "bob", libs=(999,))


def test_password_change_and_disable_bump_version(db: Database) -> None:
    add(db, "root", admin=True)
    bob = add(db, "bob")
    changed = db.write_sync(lambda c: users.update_user(c, bob.id, password_hash="new"))
    assert changed.token_version == bob.token_version + 1
    disabled = db.write_sync(lambda c: users.update_user(c, bob.id, disabled=True))
    assert disabled.token_version == changed.token_version + 1
    assert disabled.disabled
    again = db.write_sync(lambda c: users.update_user(c, bob.id, disabled=True))
    assert again.token_version == disabled.token_version  # no change, no bump
    assert db.write_sync(users.bump_token_version, bob.id) == again.token_version + 1


def test_last_admin_is_protected(db: Database) -> None:
    root = add(db, "root", admin=True)
    for change in ({"is_admin": False}, {"disabled": True}):
        with pytest.raises(Conflict):
            db.write_sync(lambda c, ch=change: users.update_user(c, root.id, **ch))
    with pytest.raises(Conflict):
        db.write_sync(users.delete_user, root.id)
    other = add(db, "other", admin=True)
    db.write_sync(lambda c: users.update_user(c, root.id, is_admin=False))
    with pytest.raises(Conflict):
        db.write_sync(users.delete_user, other.id)


def test_grants_replace_and_delete_cascades(db: Database) -> None:
    a, b = add_library(db, "A"), add_library(db, "B")
    add(db, "root", admin=True)
    bob = add(db, "bob", libs=(a,))
    bob = db.write_sync(lambda c: users.update_user(c, bob.id, library_ids=[b, b]))
    assert bob.library_ids == (b,)
    principals = {p.id: p for p in db.read_sync(users.load_principals)}
    assert principals[bob.id].library_ids == frozenset({b})
    db.write_sync(users.delete_user, bob.id)
    assert db.read_sync(users.get_user, bob.id) is None
    with pytest.raises(NotFound):
        db.write_sync(users.delete_user, bob.id)
    with pytest.raises(NotFound):
        db.write_sync(lambda c: users.update_user(c, bob.id, is_admin=True))


def test_rename_conflict(db: Database) -> None:
    add(db, "root", admin=True)
    bob = add(db, "bob")
    with pytest.raises(Conflict):
        db.write_sync(lambda c: users.update_user(c, bob.id, username="ROOT"))
    renamed = db.write_sync(lambda c: users.update_user(c, bob.id, username="Bobby"))
    assert renamed.username == "Bobby"
