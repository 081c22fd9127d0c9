"""Access tokens (JWT), stream tokens (compact HMAC) and the in-memory token-version table.

Nothing here reads the database on a request. The install's secret (``secret.key`` in
the data directory, 32 random bytes written 0600 at first start) keys two independent
derived keys, one for JWTs and one for stream tokens.

**Access tokens** are HS256 JWTs with ``sub`` (user id), ``ver`` (the user's token
version when issued), ``adm``, ``iat``, ``exp`` and ``jti``. A token is valid while its
signature checks, it has not expired (by the injected clock) and ``ver`` equals the
user's current version in the :class:`AuthTable`. Logout, a password change, disabling or
deleting a user bump or drop the entry, which revokes every token issued before at once.

**The auth table** is loaded from ``users`` at start and updated by every change the
server makes to a user (``ferrite.auth.service``). Besides the version it holds what
requests need to know about the caller: username, admin flag, disabled flag and the
granted library ids. Grants live in the table rather than in the token so that granting
or revoking a library takes effect on the next request without logging the user out, and
tokens stay small. ``adm`` in the token is informational; the table is authoritative.

**Verified-token cache**: a bounded map from the exact token string to its verified
claims, so a client's repeated requests (a player's range requests) skip the JWT decode;
expiry and version are still checked on every call.

**Stream tokens** are for URLs players fetch without headers (HLS segments, direct play):
``<item>.<user>.<expires_at>.<mac>`` where ``mac`` is HMAC-SHA256 over the session id and
those fields, truncated to 128 bits, base64url. Verifying is one HMAC, a constant-time
compare and an integer comparison — no JSON, no base64 of a payload, no database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jwt

from ferrite.errors import StorageError, TokenExpired, TokenInvalid

log = logging.getLogger(__name__)

Clock = Callable[[], float]

SECRET_FILE = "secret.key"
_SECRET_BYTES = 32


# -- the install secret -----------------------------------------------------------------
def load_or_create_secret(data_dir: Path) -> bytes:
    """The install's secret from ``data_dir/secret.key``, created 0600 on first start."""
    path = data_dir / SECRET_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        secret = secrets.token_bytes(_SECRET_BYTES)
        try:
            os.write(fd, secret.hex().encode("ascii") + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        return secret
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s was readable by others (mode %o); restricting it to 0600", path, mode)
        path.chmod(0o600)
    text = path.read_text(encoding="ascii", errors="replace").strip()
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        secret = b""
    if len(secret) < _SECRET_BYTES:
        raise StorageError(
            f"{path} is corrupt; delete it to generate a new secret (this logs everyone out)."
        )
    return secret


def derive_key(secret: bytes, purpose: str) -> bytes:
    return hmac.new(secret, f"ferrite/{purpose}".encode(), hashlib.sha256).digest()


# -- the token-version table --------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Principal:
    """What a request knows about its caller, straight from the auth table."""

    id: int
    username: str
    is_admin: bool
    disabled: bool
    version: int
    library_ids: frozenset[int]

    @property
    def libraries(self) -> frozenset[int] | None:
        """Library ids this caller may see; ``None`` means all (admins)."""
        return None if self.is_admin else self.library_ids


class AuthTable:
    """user id -> :class:`Principal`; the token-version table. Mutated only on the loop.

    Entries are immutable values replaced whole, so a reader never sees half an update.
    """

    def __init__(self, entries: Iterable[Principal] = ()) -> None:
        self._by_id: dict[int, Principal] = {p.id: p for p in entries}

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Principal]:
        return iter(list(self._by_id.values()))

    def get(self, user_id: int) -> Principal | None:
        return self._by_id.get(user_id)

    def put(self, principal: Principal) -> None:
        self._by_id[principal.id] = principal

    def update(self, user_id: int, **changes: Any) -> Principal | None:
        current = self._by_id.get(user_id)
        if current is None:
            return None
        new = replace(current, **changes)
        self._by_id[user_id] = new
        return new

    def remove(self, user_id: int) -> None:
        self._by_id.pop(user_id, None)

    def drop_library(self, library_id: int) -> None:
        """Forget a deleted library in every grant."""
        for p in list(self._by_id.values()):
            if library_id in p.library_ids:
                self._by_id[p.id] = replace(p, library_ids=p.library_ids - {library_id})

    def replace_all(self, entries: Iterable[Principal]) -> None:
        self._by_id = {p.id: p for p in entries}


# -- access tokens (JWT) --------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_in: int
    expires_at: int


_REQUIRED = ["sub", "ver", "exp", "iat", "jti"]


class AccessTokens:
    """Issue and verify access tokens against an :class:`AuthTable`, without the database."""

    def __init__(
        self,
        secret: bytes,
        table: AuthTable,
        *,
        ttl_s: int,
        clock: Clock,
        cache_size: int = 4096,
    ) -> None:
        self._key = derive_key(secret, "jwt")
        self.table = table
        self.ttl_s = ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[int, int, int]] = {}  # token -> (user id, ver, exp)
        self._cache_size = cache_size

    def issue(self, principal: Principal) -> IssuedToken:
        now = int(self._clock())
        exp = now + self.ttl_s
        claims = {
            "sub": str(principal.id),
            "ver": principal.version,
            "adm": principal.is_admin,
            "iat": now,
            "exp": exp,
            "jti": secrets.token_urlsafe(12),
        }
        token = jwt.encode(claims, self._key, algorithm="HS256")
        return IssuedToken(token, self.ttl_s, exp)

    def _decode(self, token: str) -> tuple[int, int, int]:
        try:
            claims: Mapping[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                # Expiry is checked below against the injected clock, not PyJWT's.
                options={"verify_exp": False, "verify_iat": False, "require": _REQUIRED},
            )
        except jwt.PyJWTError as exc:
            raise TokenInvalid() from exc
        sub, ver, exp = claims["sub"], claims["ver"], claims["exp"]
        if not (
            isinstance(sub, str)
            and sub.isascii()
            and sub.isdigit()
            and len(sub) < 19
            and type(ver) is int
            and type(exp) is int
        ):
            raise TokenInvalid()
        return int(sub), ver, exp

    def verify(self, token: str) -> Principal:
        """The caller a token stands for; :class:`TokenExpired` or :class:`TokenInvalid`."""
        cached = self._cache.get(token)
        if cached is None:
            cached = self._decode(token)
            if self._cache_size > 0:
                if len(self._cache) >= self._cache_size:
                    # FIFO eviction: O(1), and a re-verified token costs one decode.
                    del self._cache[next(iter(self._cache))]
                self._cache[token] = cached
        user_id, ver, exp = cached
        if self._clock() >= exp:
            raise TokenExpired()
        principal = self.table.get(user_id)
        if principal is None or principal.disabled or principal.version != ver:
            raise TokenInvalid("The token has been revoked; log in again.")
        return principal

    def verify_header(self, authorization: str | None) -> Principal:
        """Verify an ``Authorization: Bearer <token>`` header value."""
        if not authorization:
            raise TokenInvalid("Missing Authorization: Bearer token.")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise TokenInvalid("Expected Authorization: Bearer <token>.")
        return self.verify(token.strip())


# -- stream tokens (compact HMAC) ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StreamClaims:
    session_id: str
    item_id: int
    user_id: int
    expires_at: int
    #: the user's token version when the token was made, and the item's library (None in
    #: a token made without them): what lets a node judge the token with its auth table
    #: alone, without the session (the front's ``auth_request``)
    user_version: int | None = None
    library_id: int | None = None


def b64url(data: bytes) -> str:
    """Unpadded URL-safe base64 (token parts)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def parse_uint(text: str) -> int:
    """A positive decimal token field, or TokenInvalid (no signs, no huge numbers)."""
    if not (0 < len(text) <= 18 and text.isascii() and text.isdigit()):
        raise TokenInvalid()
    return int(text)


class StreamTokens:
    """``sign_stream_token`` / ``verify_stream_token`` for playback URLs (HMAC only)."""

    def __init__(self, secret: bytes, *, clock: Clock) -> None:
        self._mac = hmac.new(derive_key(secret, "stream"), digestmod=hashlib.sha256)
        self._clock = clock

    def _sign(self, session_id: str, payload: str) -> str:
        mac = self._mac.copy()
        mac.update(f"{len(session_id)}:{session_id}|{payload}".encode())
        return b64url(mac.digest()[:16])

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
        """A URL-safe token for ``session_id`` granting ``item_id`` to ``user_id``; with
        ``user_version`` and ``library_id`` it also says which token version and library
        it was granted under (``item.user.exp[.version.library].mac``)."""
        payload = f"{int(item_id)}.{int(user_id)}.{int(expires_at)}"
        if user_version is not None and library_id is not None:
            payload += f".{int(user_version)}.{int(library_id)}"
        return f"{payload}.{self._sign(session_id, payload)}"

    def verify_stream_token(self, token: str, session_id: str) -> StreamClaims:
        """The claims of ``token`` if it was signed for ``session_id`` and has not expired."""
        parts = token.split(".")
        if len(parts) not in (4, 6):
            raise TokenInvalid()
        fields = [parse_uint(p) for p in parts[:-1]]
        expected = self._sign(session_id, token[: -len(parts[-1]) - 1])
        if not hmac.compare_digest(expected.encode(), parts[-1].encode("ascii", "replace")):
            raise TokenInvalid()
        item_id, user_id, expires_at = fields[:3]
        if self._clock() >= expires_at:
            raise TokenExpired()
        version, library = (fields[3], fields[4]) if len(fields) == 5 else (None, None)
        return StreamClaims(session_id, item_id, user_id, expires_at, version, library)
