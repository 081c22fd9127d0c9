"""Which ``Host`` headers the server answers: a guard against DNS rebinding.

A web page on ``evil.example`` can make the browser's DNS answer 127.0.0.1 (or the NAS's
LAN address) and then talk to Ferrite *as the same origin*: on a fresh install it could
POST ``/api/setup`` and become the admin, or read ``/metrics`` that loopback may open.
The browser still sends ``Host: evil.example``, so the server refuses names it does not
know: allowed are IP literals, ``localhost``, this machine's own name (and ``.local``),
and the names listed in ``allowed_hosts`` (``*`` turns the check off, e.g. behind a
reverse proxy that checks names itself). :func:`host_allowed` is pure.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from ferrite.api.errors import envelope


def host_name(header: str) -> str:
    """The name in a ``Host`` header: without the port, brackets or a trailing dot."""
    header = header.strip().lower()
    if header.startswith("["):  # [::1]:8420
        return header[1:].partition("]")[0]
    if header.count(":") == 1:
        header = header.partition(":")[0]
    return header.rstrip(".")


def host_allowed(header: str | None, allowed: frozenset[str]) -> bool:
    if header is None or "*" in allowed:
        return True  # HTTP/1.0 clients send none; browsers always do
    name = host_name(header)
    return _is_ip(name) or name == "localhost" or name.endswith(".localhost") or name in allowed


def allowed_names(configured: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The configured names plus this machine's (``name``, ``name.local``, its FQDN)."""
    names = {n.strip().lower().rstrip(".") for n in configured.split(",") if n.strip()}
    for own in (socket.gethostname(), socket.getfqdn(), *extra):
        own = own.strip().lower().rstrip(".")
        if own and not _is_ip(own):
            names |= {own, own.split(".")[0] + ".local"}
    return frozenset(names)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostCheckMiddleware:
    def __init__(self, app: ASGIApp, *, allowed: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            header = next((v for k, v in scope.get("headers", ()) if k == b"host"), None)
            text = None if header is None else header.decode("latin-1")
            if not host_allowed(text, self.allowed):
                response = envelope(
                    400,
                    "host_not_allowed",
                    "This server does not answer to that host name; add it to allowed_hosts.",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
