"""A node's edges: whether it is ready for traffic (``/readyz``), its drain on SIGTERM, and
the ``X-Ferrite-Node`` header on every response.

They exist on a single node too (harmless: readyz answers, the header names the node,
``drain_s`` = 0 keeps SIGTERM as it was). In a cluster, readyz is what an orchestrator or
a health-checking front polls: 503 while the database does not answer, while Redis is
configured but not linked, or while the node drains; a draining node keeps serving what
comes (live players finish their segments, the front moves them elsewhere on its own
schedule) for ``drain_s`` seconds, then uvicorn's graceful shutdown lets in-flight
requests finish.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from types import FrameType

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DrainingServer", "NodeHeaderMiddleware", "NodeState", "unready_reasons"]

HEADER = "X-Ferrite-Node"


@dataclass
class NodeState:
    """What readiness knows about this node besides its services."""

    name: str
    draining: bool = False


def unready_reasons(*, database: bool, redis: bool | None, draining: bool) -> list[str]:
    """Why the node should get no new traffic (empty: ready). ``redis``: None when no
    Redis is configured (a single node), else whether the node is linked to it."""
    reasons = []
    if not database:
        reasons.append("database: not answering")
    if redis is False:
        reasons.append("redis: not linked")
    if draining:
        reasons.append("draining: the node is shutting down")
    return reasons


class NodeHeaderMiddleware:
    """``X-Ferrite-Node: <name>`` on every HTTP response (which node answered, behind a
    front). Pure ASGI: no body buffering, streams pass through."""

    def __init__(self, app: ASGIApp, *, name: str) -> None:
        self.app = app
        self._header = (HEADER.lower().encode(), name.encode("latin-1", "replace"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), self._header]
            await send(message)

        await self.app(scope, receive, send_with_header)


class DrainingServer(uvicorn.Server):
    """uvicorn's server with a drain: the first SIGTERM marks the node draining (readyz
    503) and keeps serving for ``drain_s`` seconds before the usual graceful shutdown; a
    second signal (or SIGINT) stops at once as before."""

    def __init__(self, config: uvicorn.Config, node: NodeState, drain_s: float) -> None:
        super().__init__(config)
        self.node = node
        self.drain_s = drain_s
        self._drain_until: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.node.draining = True
        if sig == signal.SIGTERM and self.drain_s > 0 and self._drain_until is None:
            self._drain_until = time.monotonic() + self.drain_s
            self._captured_signals.append(sig)  # re-raised by uvicorn once it has stopped
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self._drain_until is not None and time.monotonic() >= self._drain_until:
            self.should_exit = True
        return await super().on_tick(counter)
