"""Signatures of node-to-node requests (``/internal/``): an HMAC of the shared install
secret over the method, the path, an expiry and the body's hash.

Pure: the caller gives the time. The key is derived for this purpose only
(``auth.tokens.derive_key``), so an internal signature is never a valid token of another
kind, and a node without the cluster's secret gets 401 on every internal route.
"""

from __future__ import annotations

import hashlib
import hmac

from ferrite.auth.tokens import derive_key

#: The header an internal request carries: ``<expires at, epoch s>.<hex mac>``.
HEADER = "X-Ferrite-Internal"
#: How long a signature is good for: a request is sent right after it is signed.
TTL_S = 60


def internal_key(secret: bytes) -> bytes:
    return derive_key(secret, "internal")


def _mac(key: bytes, method: str, path: str, expires: int, body: bytes) -> str:
    digest = hashlib.sha256(body).hexdigest()
    message = f"{method.upper()}\n{path}\n{expires}\n{digest}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign(key: bytes, method: str, path: str, body: bytes, *, now: float) -> str:
    """The header value for a request sent now."""
    expires = int(now) + TTL_S
    return f"{expires}.{_mac(key, method, path, expires, body)}"


def verify(
    key: bytes, method: str, path: str, body: bytes, value: str | None, *, now: float
) -> bool:
    """Whether ``value`` (the header, or None) signs this request and has not expired."""
    if not value:
        return False
    expires_text, _, mac = value.partition(".")
    if not expires_text.isdigit() or len(expires_text) > 12 or not mac:
        return False
    expires = int(expires_text)
    if expires < now or expires > now + 2 * TTL_S:
        return False
    return hmac.compare_digest(mac, _mac(key, method, path, expires, body))
