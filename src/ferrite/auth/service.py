"""The auth service: login, logout, first-run setup and user management.

It owns the token-version table (:class:`~ferrite.auth.tokens.AuthTable`) and keeps it
equal to the ``users`` table: every change the server makes to a user goes through here,
writes the database, then updates the table, under one lock so a concurrent login can
never put back an entry a logout, password change or deletion just replaced.

Users created by ``ferrite user add`` while the server runs are not in the table yet;
their first login reads them from the database (a login is not a hot path) and adds them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ferrite.auth import users
from ferrite.auth.passwords import Passwords
from ferrite.auth.ratelimit import LoginRateLimiter
from ferrite.auth.tokens import (
    AccessTokens,
    AuthTable,
    Clock,
    IssuedToken,
    Principal,
    StreamClaims,
    StreamTokens,
)
from ferrite.auth.users import UserRecord
from ferrite.config import Settings
from ferrite.db.engine import Database
from ferrite.errors import Forbidden, InvalidCredentials


@dataclass(frozen=True, slots=True)
class Login:
    token: IssuedToken
    user: UserRecord


class AuthService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        secret: bytes,
        *,
        clock: Clock,
        passwords: Passwords,
    ) -> None:
        self.db = db
        self.clock = clock
        self.passwords = passwords
        self.table = AuthTable()
        self.tokens = AccessTokens(
            secret, self.table, ttl_s=settings.access_token_ttl_s, clock=clock
        )
        self.streams = StreamTokens(secret, clock=clock)
        self.limiter = LoginRateLimiter(
            attempts=settings.login_attempts, window_s=settings.login_window_s, clock=clock
        )
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        """Fill the token-version table from the database (once, at start)."""
        self.table.replace_all(await self.db.read(users.load_principals))

    # -- the hot path ----------------------------------------------------------------
    def authenticate(self, authorization: str | None) -> Principal:
        """The caller behind an ``Authorization`` header; no I/O, no database."""
        return self.tokens.verify_header(authorization)

    def sign_stream_token(
        self, session_id: str, item_id: int, user_id: int, expires_at: float
    ) -> str:
        return self.streams.sign_stream_token(session_id, item_id, user_id, expires_at)

    def verify_stream_token(self, token: str, session_id: str) -> StreamClaims:
        return self.streams.verify_stream_token(token, session_id)

    # -- login / logout -----------------------------------------------------------------
    async def login(self, username: str, password: str, address: str | None) -> Login:
        self.limiter.check(username, address)
        record = await self.db.read(users.find_by_username, username)
        # Unknown users verify against a dummy hash: same work, same answer, same timing.
        ok = await self.passwords.verify(record.password_hash if record else None, password)
        if not ok or record is None:
            self.limiter.record_failure(username, address)
            raise InvalidCredentials()
        self.limiter.record_success(username, address)
        async with self._lock:
            principal = self.table.get(record.id)
            if principal is None:  # created outside this server (CLI) since start
                fresh = await self.db.read(users.get_user, record.id)
                if fresh is None:
                    raise InvalidCredentials()
                principal = fresh.principal()
                self.table.put(principal)
        if principal.version != record.token_version:
            # The password changed (or the user was revoked) while we were verifying.
            raise InvalidCredentials()
        if principal.disabled:
            raise Forbidden("This account is disabled; ask an admin.")
        if self.passwords.needs_rehash(record.password_hash):
            new_hash = await self.passwords.hash(password)
            await self.db.write(users.store_rehash, record.id, record.password_hash, new_hash)
        return Login(self.tokens.issue(principal), record)

    async def logout(self, user_id: int) -> None:
        """Revoke every token of ``user_id`` (all devices)."""
        async with self._lock:
            version = await self.db.write(users.bump_token_version, user_id)
            self.table.update(user_id, version=version)

    # -- user management -----------------------------------------------------------------
    async def setup(self, username: str, password: str) -> UserRecord:
        """Create the first admin; 409 once any user exists."""
        password_hash = await self.passwords.hash(password)
        return await self._store(
            users.create_user,
            username=username,
            password_hash=password_hash,
            is_admin=True,
            library_ids=(),
            now=self.clock(),
            only_if_empty=True,
        )

    async def create_user(
        self, username: str, password: str, *, is_admin: bool, library_ids: Iterable[int]
    ) -> UserRecord:
        users.validate_username(username)  # fail fast, before paying for a hash
        password_hash = await self.passwords.hash(password)
        return await self._store(
            users.create_user,
            username=username,
            password_hash=password_hash,
            is_admin=is_admin,
            library_ids=list(library_ids),
            now=self.clock(),
        )

    async def update_user(
        self,
        user_id: int,
        *,
        username: str | None = None,
        password: str | None = None,
        is_admin: bool | None = None,
        disabled: bool | None = None,
        library_ids: Iterable[int] | None = None,
    ) -> UserRecord:
        password_hash = None if password is None else await self.passwords.hash(password)
        return await self._store(
            users.update_user,
            user_id,
            username=username,
            password_hash=password_hash,
            is_admin=is_admin,
            disabled=disabled,
            library_ids=None if library_ids is None else list(library_ids),
        )

    async def delete_user(self, user_id: int) -> None:
        async with self._lock:
            await self.db.write(users.delete_user, user_id)
            self.table.remove(user_id)

    async def list_users(self) -> list[UserRecord]:
        return await self.db.read(users.list_users)

    async def get_user(self, user_id: int) -> UserRecord | None:
        return await self.db.read(users.get_user, user_id)

    def library_deleted(self, library_id: int) -> None:
        self.table.drop_library(library_id)

    async def _store(self, fn: Callable[..., UserRecord], *args: Any, **kwargs: Any) -> UserRecord:
        async with self._lock:
            record = await self.db.write(lambda conn: fn(conn, *args, **kwargs))
            self.table.put(record.principal())
            return record

    def close(self) -> None:
        self.passwords.close()
