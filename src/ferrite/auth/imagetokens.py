"""Image tokens: how an ``<img src>`` proves who is asking without an Authorization header.

Browsers send no headers of ours with ``<img>`` requests, and putting the 30-day access
token in image URLs would write a full-power credential into every access log, the
browser history and the HTTP cache. Instead the UI asks once for an *image token*
(``GET /api/image-token`` with its bearer token) and appends ``?token=<image token>`` to
``artwork_url``. The token:

- grants only what the ``ImageUser`` dependency guards (artwork), never the API;
- is ``<user id>.<token version>.<expires_at>.<mac>``, ``mac`` = HMAC-SHA256 under a key
  derived from the install secret for this one purpose, truncated to 128 bits: checking it
  is one HMAC plus a lookup in the in-memory token-version table (no database);
- is revoked with the user's access tokens (logout, password change, disabling, deleting
  bump or drop the version it carries);
- expires at a UTC day boundary 1-2 days ahead, so every token issued on one day is the
  same string: image URLs stay stable for a day and the browser's cache keeps hitting.
"""

from __future__ import annotations

import hashlib
import hmac

from ferrite.auth.tokens import AuthTable, Clock, Principal, b64url, derive_key, parse_uint
from ferrite.errors import TokenExpired, TokenInvalid

DAY_S = 86_400


class ImageTokens:
    def __init__(self, secret: bytes, table: AuthTable, *, clock: Clock) -> None:
        self._key = derive_key(secret, "image")
        self._table = table
        self._clock = clock

    def _mac(self, payload: str) -> str:
        return b64url(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest()[:16])

    def expires_at(self) -> int:
        """The end of tomorrow (UTC): a token is valid 24 to 48 hours."""
        return (int(self._clock()) // DAY_S + 2) * DAY_S

    def issue(self, principal: Principal) -> tuple[str, int]:
        expires_at = self.expires_at()
        payload = f"{principal.id}.{principal.version}.{expires_at}"
        return f"{payload}.{self._mac(payload)}", expires_at

    def verify(self, token: str) -> Principal:
        parts = token.split(".")
        if len(parts) != 4:
            raise TokenInvalid("Malformed image token.")
        user_id, version, expires_at = (parse_uint(p) for p in parts[:3])
        payload = token[: -len(parts[3]) - 1]
        given = parts[3].encode("ascii", "replace")
        if not hmac.compare_digest(self._mac(payload).encode(), given):
            raise TokenInvalid("Forged image token.")
        if self._clock() >= expires_at:
            raise TokenExpired("The image token has expired; get a new one.")
        principal = self._table.get(user_id)
        if principal is None or principal.disabled or principal.version != version:
            raise TokenInvalid("The image token has been revoked; log in again.")
        return principal
