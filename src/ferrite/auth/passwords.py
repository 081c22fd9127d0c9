"""Password hashing with argon2id, off the event loop.

Parameters: RFC 9106's second recommended option scaled to a home server's budget —
argon2id, 19 MiB memory, 2 passes, 1 lane (OWASP's current minimum), which costs about
20–40 ms per hash on one core. Hashing and verification run in a small dedicated thread
pool: the loop never blocks, and at most ``workers`` hashes (each holding its memory)
run at once however many logins arrive, so a login flood queues instead of eating RAM
(the login rate limit bounds the queue per user and address).

Hashes made with older parameters keep verifying; :meth:`Passwords.needs_rehash` says when
to re-hash after a successful login.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ferrite.errors import Unprocessable

#: Passwords longer than this are refused: hashing cost must not scale with input an
#: attacker chooses, and nobody types 1 KiB passwords.
MAX_PASSWORD_LENGTH = 1024
MIN_PASSWORD_LENGTH = 1


class Passwords:
    """Hash and verify passwords with argon2id (blocking and async forms)."""

    def __init__(
        self,
        *,
        time_cost: int = 2,
        memory_cost_kib: int = 19 * 1024,
        parallelism: int = 1,
        workers: int = 2,
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost_kib,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="argon2")
        # Verified against when the username is unknown, so "no such user" costs the same
        # argon2 work as "wrong password" and the two cannot be told apart by timing.
        self._dummy_hash = self._hasher.hash("ferrite: not a real password")

    @staticmethod
    def validate(password: str) -> None:
        if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
            raise Unprocessable(
                f"A password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters."
            )

    # -- blocking ---------------------------------------------------------------------
    def hash_sync(self, password: str) -> str:
        self.validate(password)
        return self._hasher.hash(password)

    def verify_sync(self, password_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches; ``password_hash=None`` burns the same time, False."""
        if len(password) > MAX_PASSWORD_LENGTH:
            password = password[:MAX_PASSWORD_LENGTH]  # still do the work: same timing
            password_hash = None
        target = self._dummy_hash if password_hash is None else password_hash
        try:
            ok = self._hasher.verify(target, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return ok and password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    # -- async (in the hashing pool) ---------------------------------------------------
    async def hash(self, password: str) -> str:
        self.validate(password)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.verify_sync, password_hash, password)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
