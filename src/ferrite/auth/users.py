"""User queries: plain functions of a SQLAlchemy connection (run via ``Database``).

Usernames are unique regardless of case. Rules every writer keeps: library grants name
existing libraries, and the last enabled admin can be neither demoted, disabled nor
deleted (the install would be unmanageable). Password hashing happens before these run
(``ferrite.auth.passwords``), so a write transaction never waits on argon2.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ferrite.auth.tokens import Principal
from ferrite.db import dialect
from ferrite.db.schema import libraries, user_libraries, users
from ferrite.errors import Conflict, NotFound, Unprocessable

#: The lock (ferrite.db.dialect.lock) of checks across users: first setup, last admin.
USERS = "users"

_USERNAME = re.compile(r"[\w.@+\- ]{1,64}")


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    username: str
    password_hash: str
    is_admin: bool
    disabled: bool
    token_version: int
    created_at: float
    library_ids: tuple[int, ...]

    def to_api(self) -> dict[str, object]:
        return {
            "id": self.id,
            "username": self.username,
            "is_admin": self.is_admin,
            "disabled": self.disabled,
            "library_ids": list(self.library_ids),
        }

    def principal(self) -> Principal:
        return Principal(
            id=self.id,
            username=self.username,
            is_admin=self.is_admin,
            disabled=self.disabled,
            version=self.token_version,
            library_ids=frozenset(self.library_ids),
        )


def username_key(name: str) -> str:
    """The form two usernames are compared in: NFKC, case-folded (``"Ärger"`` and
    ``"ärger"`` are one user). Computed here, never by the database: SQLite's ``lower()``
    folds ASCII only, so Python and SQL would disagree on any other letter."""
    return unicodedata.normalize("NFKC", name.strip()).casefold()


def validate_username(name: str) -> str:
    name = name.strip()
    if not _USERNAME.fullmatch(name):
        raise Unprocessable(
            "A username is 1 to 64 letters, digits, spaces or . @ + - _ characters."
        )
    return name


def count_users(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(users)).scalar_one())


def _grants(conn: Connection, user_ids: Iterable[int] | None = None) -> dict[int, list[int]]:
    query = select(user_libraries.c.user_id, user_libraries.c.library_id).order_by(
        user_libraries.c.library_id
    )
    if user_ids is not None:
        query = query.where(user_libraries.c.user_id.in_(list(user_ids)))
    out: dict[int, list[int]] = {}
    for user_id, library_id in conn.execute(query):
        out.setdefault(user_id, []).append(library_id)
    return out


def _records(conn: Connection, where: object | None = None) -> list[UserRecord]:
    query = select(users).order_by(users.c.id)
    if where is not None:
        query = query.where(where)  # type: ignore[arg-type]
    rows = conn.execute(query).mappings().all()
    # Asked even for no rows: a login costs the same round trips whether or not the user
    # exists (on a networked database they are a timing signal).
    grants = _grants(conn, [r["id"] for r in rows])
    return [
        UserRecord(
            id=r["id"],
            username=r["username"],
            password_hash=r["password_hash"],
            is_admin=bool(r["is_admin"]),
            disabled=bool(r["disabled"]),
            token_version=r["token_version"],
            created_at=r["created_at"],
            library_ids=tuple(grants.get(r["id"], ())),
        )
        for r in rows
    ]


def get_user(conn: Connection, user_id: int) -> UserRecord | None:
    found = _records(conn, users.c.id == user_id)
    return found[0] if found else None


def find_by_username(conn: Connection, username: str) -> UserRecord | None:
    if "\x00" in username:
        return None  # no valid username has one (and PostgreSQL's text can't hold it)
    found = _records(conn, users.c.username_key == username_key(username))
    return found[0] if found else None


def list_users(conn: Connection) -> list[UserRecord]:
    return _records(conn)


def load_principals(conn: Connection) -> list[Principal]:
    """Every user as the auth table holds them (loaded once at start)."""
    return [r.principal() for r in _records(conn)]


def _check_libraries(conn: Connection, library_ids: Iterable[int]) -> list[int]:
    wanted = sorted(set(library_ids))
    if not wanted:
        return []
    found = set(conn.execute(select(libraries.c.id).where(libraries.c.id.in_(wanted))).scalars())
    missing = [i for i in wanted if i not in found]
    if missing:
        raise Unprocessable(f"No such libraries: {missing}.")
    return wanted


def _set_grants(conn: Connection, user_id: int, library_ids: list[int]) -> None:
    conn.execute(delete(user_libraries).where(user_libraries.c.user_id == user_id))
    if library_ids:
        conn.execute(
            insert(user_libraries),
            [{"user_id": user_id, "library_id": lib} for lib in library_ids],
        )


def _name_taken(conn: Connection, username: str, except_id: int | None = None) -> bool:
    query = select(users.c.id).where(users.c.username_key == username_key(username))
    if except_id is not None:
        query = query.where(users.c.id != except_id)
    return conn.execute(query.limit(1)).first() is not None


def create_user(
    conn: Connection,
    *,
    username: str,
    password_hash: str,
    is_admin: bool,
    library_ids: Iterable[int],
    now: float,
    only_if_empty: bool = False,
) -> UserRecord:
    """Insert a user; with ``only_if_empty`` (first-run setup) 409 once any user exists."""
    username = validate_username(username)
    if only_if_empty:
        dialect.lock(conn, USERS)  # two concurrent setups: the second sees the first
    if only_if_empty and count_users(conn):
        raise Conflict("Setup is already done: a user exists. Log in instead.")
    if _name_taken(conn, username):
        raise Conflict(f"The username {username!r} is taken.")
    grants = _check_libraries(conn, library_ids)
    try:
        user_id = conn.execute(
            insert(users)
            .values(
                username=username,
                username_key=username_key(username),
                password_hash=password_hash,
                is_admin=is_admin,
                disabled=False,
                token_version=0,
                created_at=now,
            )
            .returning(users.c.id)
        ).scalar_one()
    except IntegrityError as exc:
        raise Conflict(f"The username {username!r} is taken.") from exc
    _set_grants(conn, user_id, grants)
    record = get_user(conn, user_id)
    assert record is not None
    return record


def _other_enabled_admins(conn: Connection, user_id: int) -> int:
    # Two admins demoting each other at once must not both see the other one enabled.
    dialect.lock(conn, USERS)
    query = (
        select(func.count())
        .select_from(users)
        .where(users.c.is_admin.is_(True), users.c.disabled.is_(False), users.c.id != user_id)
    )
    return int(conn.execute(query).scalar_one())


def update_user(
    conn: Connection,
    user_id: int,
    *,
    username: str | None = None,
    password_hash: str | None = None,
    is_admin: bool | None = None,
    disabled: bool | None = None,
    library_ids: Iterable[int] | None = None,
    bump_version: bool = False,
) -> UserRecord:
    """Change a user; ``bump_version`` (or a new password, or disabling) revokes its tokens."""
    current = get_user(conn, user_id)
    if current is None:
        raise NotFound("No such user.")
    values: dict[str, object] = {}
    if username is not None:
        username = validate_username(username)
        if _name_taken(conn, username, except_id=user_id):
            raise Conflict(f"The username {username!r} is taken.")
        values["username"] = username
        values["username_key"] = username_key(username)
    if password_hash is not None:
        values["password_hash"] = password_hash
        bump_version = True
    if is_admin is not None:
        values["is_admin"] = is_admin
    if disabled is not None:
        values["disabled"] = disabled
        if disabled and not current.disabled:
            bump_version = True
    loses_admin = (
        current.is_admin and not current.disabled and (is_admin is False or disabled is True)
    )
    if loses_admin and not _other_enabled_admins(conn, user_id):
        raise Conflict("This is the last enabled admin; make another admin first.")
    if bump_version:
        values["token_version"] = users.c.token_version + 1
    if values:
        try:
            conn.execute(update(users).where(users.c.id == user_id).values(**values))
        except IntegrityError as exc:
            raise Conflict("The username is taken.") from exc
    if library_ids is not None:
        _set_grants(conn, user_id, _check_libraries(conn, library_ids))
    record = get_user(conn, user_id)
    assert record is not None
    return record


def bump_token_version(conn: Connection, user_id: int) -> int:
    """Revoke every token of ``user_id``; returns the new version."""
    new = conn.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(token_version=users.c.token_version + 1)
        .returning(users.c.token_version)
    ).scalar_one_or_none()
    if new is None:
        raise NotFound("No such user.")
    return int(new)


def delete_user(conn: Connection, user_id: int) -> None:
    current = get_user(conn, user_id)
    if current is None:
        raise NotFound("No such user.")
    if current.is_admin and not current.disabled and not _other_enabled_admins(conn, user_id):
        raise Conflict("This is the last enabled admin; make another admin first.")
    conn.execute(delete(users).where(users.c.id == user_id))


def store_rehash(conn: Connection, user_id: int, old_hash: str, new_hash: str) -> None:
    """Replace a hash made with older parameters (same password: no version bump)."""
    conn.execute(
        update(users)
        .where(users.c.id == user_id, users.c.password_hash == old_hash)
        .values(password_hash=new_hash)
    )
