"""The auth service: login, logout, first-run setup and user management.

It owns the token-version table (:class:`~ferrite.auth.tokens.AuthTable`) and keeps it
equal to the ``users`` table: every change the server makes to a user goes through here,
writes the database, then updates the table, under one lock so a concurrent login can
never put back an entry a logout, password change or deletion just replaced.

Users created by ``ferrite user add`` while the server runs are not in the table yet;
their first login reads them from the database (a login is not a hot path) and adds them.

Logins are counted by the rate limiter before the first ``await`` (so concurrent attempts
cannot all pass its check), and password checks of one username run one at a time (the
per-user gate): guessing one account from many addresses is slowed to argon2's pace
without ever refusing the right password. First-run setup checks that it is still open
*before* hashing and is rate-limited like a login, so a flood of it cannot keep the
hashing pool busy.

Changes that revoke access (logout, disabling, deleting, a password change, a changed
library grant) are announced to ``listen_revoke`` listeners (playback ends the user's
sessions). Every change this server makes to a user's entry is announced to
``listen_change`` listeners (a cluster's fan-out tells the other nodes, which
:meth:`refresh_user`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
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
from ferrite.errors import Conflict, Forbidden, InvalidCredentials, Unprocessable


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
        self.min_password_length = settings.password_min_length
        self._gates: dict[str, asyncio.Lock] = {}  # lower-cased username -> password checks
        self._on_revoke: list[Callable[[int], None]] = []
        self._on_change: list[Callable[[int], None]] = []

    async def load(self) -> None:
        """Fill the token-version table from the database (at start)."""
        self.table.replace_all(await self.db.read(users.load_principals))

    async def reload(self) -> None:
        """Re-read the whole table (a cluster node that may have missed changes made by
        others); users whose entry changed are treated as revoked: their sessions are
        re-checked."""
        async with self._lock:
            before = {p.id: p for p in self.table}
            self.table.replace_all(await self.db.read(users.load_principals))
            after = {p.id: p for p in self.table}
        for user_id in sorted(before.keys() | after.keys()):
            if before.get(user_id) != after.get(user_id):
                self._revoked(user_id)

    async def refresh_user(self, user_id: int) -> None:
        """Re-read one user (another node changed it) and re-check its sessions."""
        async with self._lock:
            record = await self.db.read(users.get_user, user_id)
            if record is None:
                self.table.remove(user_id)
            else:
                self.table.put(record.principal())
        self._revoked(user_id)

    # -- the hot path ----------------------------------------------------------------
    def authenticate(self, authorization: str | None) -> Principal:
        """The caller behind an ``Authorization`` header; no I/O, no database."""
        return self.tokens.verify_header(authorization)

    def sign_stream_token(
        self,
        session_id: str,
        item_id: int,
        user_id: int,
        expires_at: float,
        *,
        user_version: int | None = None,
        library_id: int | None = None,
    ) -> str:
        return self.streams.sign_stream_token(
            session_id,
            item_id,
            user_id,
            expires_at,
            user_version=user_version,
            library_id=library_id,
        )

    def verify_stream_token(self, token: str, session_id: str) -> StreamClaims:
        return self.streams.verify_stream_token(token, session_id)

    # -- login / logout -----------------------------------------------------------------
    async def login(self, username: str, password: str, address: str | None) -> Login:
        attempt = self.limiter.begin(username, address)  # counted before any await
        async with self._gate(username):
            record = await self.db.read(users.find_by_username, username)
            # Unknown users verify against a dummy hash: same work, same answer, same timing.
            ok = await self.passwords.verify(record.password_hash if record else None, password)
        if not ok or record is None:
            raise InvalidCredentials()
        self.limiter.succeeded(attempt)
        async with self._lock:
            principal = self.table.get(record.id)
            if principal is None:  # created outside this server (CLI) since start
                fresh = await self.db.read(users.get_user, record.id)
                if fresh is None:
                    raise InvalidCredentials()
                principal = fresh.principal()
                self.table.put(principal)
                self._changed(principal.id)
        if principal.version != record.token_version:
            # The password changed (or the user was revoked) while we were verifying.
            raise InvalidCredentials()
        if principal.disabled:
            raise Forbidden("This account is disabled; ask an admin.")
        if self.passwords.needs_rehash(record.password_hash):
            new_hash = await self.passwords.hash(password)
            await self.db.write(users.store_rehash, record.id, record.password_hash, new_hash)
        return Login(self.tokens.issue(principal), record)

    @contextlib.asynccontextmanager
    async def _gate(self, username: str) -> AsyncIterator[None]:
        """One password check at a time per username (the lock exists only while used)."""
        key = users.username_key(username)
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = asyncio.Lock()
        try:
            async with gate:
                yield
        finally:
            if not gate.locked() and self._gates.get(key) is gate:
                del self._gates[key]

    def check_new_password(self, password: str) -> None:
        """Refuse a new password shorter than ``password_min_length`` (before hashing)."""
        if len(password) < self.min_password_length:
            raise Unprocessable(
                f"A password must be at least {self.min_password_length} characters."
            )

    def listen_revoke(self, listener: Callable[[int], None]) -> Callable[[], None]:
        """Call ``listener(user_id)`` after a change that revokes some of the user's
        access; returns the function that removes it."""
        self._on_revoke.append(listener)
        return lambda: self._on_revoke.remove(listener)

    def listen_change(self, listener: Callable[[int], None]) -> Callable[[], None]:
        """Call ``listener(user_id)`` after this server changed the user's entry in any
        way; returns the function that removes it."""
        self._on_change.append(listener)
        return lambda: self._on_change.remove(listener)

    def _revoked(self, user_id: int) -> None:
        for fn in self._on_revoke:
            fn(user_id)

    def _changed(self, user_id: int) -> None:
        for fn in self._on_change:
            fn(user_id)

    async def logout(self, user_id: int) -> None:
        """Revoke every token of ``user_id`` (all devices)."""
        async with self._lock:
            version = await self.db.write(users.bump_token_version, user_id)
            self.table.update(user_id, version=version)
        self._changed(user_id)
        self._revoked(user_id)

    # -- user management -----------------------------------------------------------------
    async def setup(self, username: str, password: str, address: str | None = None) -> UserRecord:
        """Create the first admin; 409 once any user exists -- decided before hashing, and
        rate-limited like a login so a flood cannot keep the hashing pool busy."""
        self.limiter.check(username, address)
        if await self.db.read(users.count_users):
            self.limiter.record_failure(username, address)
            raise Conflict("Setup is already done: a user exists. Log in instead.")
        users.validate_username(username)
        self.check_new_password(password)
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
        self.check_new_password(password)
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
        if password is not None:
            self.check_new_password(password)
        password_hash = None if password is None else await self.passwords.hash(password)
        record = await self._store(
            users.update_user,
            user_id,
            username=username,
            password_hash=password_hash,
            is_admin=is_admin,
            disabled=disabled,
            library_ids=None if library_ids is None else list(library_ids),
        )
        if password is not None or disabled or library_ids is not None or is_admin is False:
            self._revoked(user_id)
        return record

    async def delete_user(self, user_id: int) -> None:
        async with self._lock:
            await self.db.write(users.delete_user, user_id)
            self.table.remove(user_id)
        self._changed(user_id)
        self._revoked(user_id)

    async def list_users(self) -> list[UserRecord]:
        return await self.db.read(users.list_users)

    async def get_user(self, user_id: int) -> UserRecord | None:
        return await self.db.read(users.get_user, user_id)

    def library_deleted(self, library_id: int) -> None:
        granted = [p.id for p in self.table if library_id in p.library_ids]
        self.table.drop_library(library_id)
        for user_id in granted:
            self._changed(user_id)

    async def _store(self, fn: Callable[..., UserRecord], *args: Any, **kwargs: Any) -> UserRecord:
        async with self._lock:
            record = await self.db.write(lambda conn: fn(conn, *args, **kwargs))
            self.table.put(record.principal())
        self._changed(record.id)
        return record

    def close(self) -> None:
        self.passwords.close()
