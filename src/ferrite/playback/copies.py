"""This node's side of a cluster's session registry: keeping shared entries alive while
the node serves them, and rebuilding a session another node made (once, however many
requests ask for it at the same time).

Used by :class:`~ferrite.playback.service.PlaybackService` when it has a
:class:`~ferrite.playback.shared.SharedSessions`; on a single node there is none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ferrite.errors import NotFound
from ferrite.playback.sessions import Session
from ferrite.playback.shared import SessionDescriptor, SharedSessions

Clock = Callable[[], float]


class SharedCopies:
    """``rebuild(descriptor)`` makes this node's copy of a session (the service's own
    creation code); ``idle_s`` is the entries' TTL."""

    def __init__(
        self,
        shared: SharedSessions,
        *,
        idle_s: float,
        clock: Clock,
        rebuild: Callable[[SessionDescriptor], Awaitable[Session]],
    ) -> None:
        self.shared = shared
        self.idle_s = idle_s
        self._clock = clock
        self._rebuild = rebuild
        # A heartbeat refreshes the shared entry at most this often per session and node.
        self.refresh_every_s = max(0.5, min(5.0, idle_s / 4))
        self._refreshed: dict[str, float] = {}
        self._refreshing: set[asyncio.Task[None]] = set()
        self._adopting: dict[str, asyncio.Task[Session]] = {}

    async def put(self, descriptor: SessionDescriptor) -> None:
        await self.shared.put(descriptor, self.idle_s)
        self._refreshed[descriptor.id] = self._clock()

    def refresh(self, session: Session) -> None:
        """Keep the shared entry alive while this node serves the session (throttled,
        in the background, best effort: a registry away costs nothing here)."""
        now = self._clock()
        if now - self._refreshed.get(session.id, float("-inf")) < self.refresh_every_s:
            return
        self._refreshed[session.id] = now
        task = asyncio.create_task(
            self.shared.refresh(session.id, self.idle_s), name=f"refresh-{session.id}"
        )
        self._refreshing.add(task)
        task.add_done_callback(self._refreshing.discard)

    async def adopt(self, session_id: str) -> Session:
        """This node's copy of another node's session, rebuilt from its descriptor.
        Raises :class:`NotFound` (no such session, or expired) and
        :class:`~ferrite.errors.ClusterUnavailable` (the registry is away)."""
        task = self._adopting.get(session_id)
        if task is None:
            task = asyncio.create_task(self._adopt(session_id), name=f"adopt-{session_id}")
            self._adopting[session_id] = task
            task.add_done_callback(lambda _t: self._adopting.pop(session_id, None))
        # Shielded: one caller going away doesn't cancel a rebuild others wait for.
        return await asyncio.shield(task)

    async def _adopt(self, session_id: str) -> Session:
        d = await self.shared.get(session_id)
        if d is None or d.expires_at < self._clock():
            raise NotFound("No such playback session (it ended or expired).")
        session = await self._rebuild(d)
        self._refreshed[session_id] = self._clock()
        return session

    async def ended(self, session: Session, *, everywhere: bool) -> None:
        """This node's copy ended; ``everywhere``: the session too (stop, replace,
        revoke), so the entry goes and the other nodes drop their copies."""
        self._refreshed.pop(session.id, None)
        if everywhere:
            await self.shared.end(session.id)

    def cancel(self) -> None:
        for task in [*self._refreshing, *self._adopting.values()]:
            task.cancel()
