"""What a node shares about a playback session so any node can serve it (a cluster).

A session is rebuilt anywhere from its :class:`SessionDescriptor`: the request that made
it (item, device profile as given, choices, caps) plus its identity (id, user, times).
The decision and the stream set are pure functions of the probed file and that request,
so every node that rebuilds it gets the same renditions and the same URLs.

:class:`SharedSessions` is what the playback service needs from the cluster; the Redis
implementation is ``ferrite.cluster.sessions`` (this layer never imports it). On a single
node there is none and nothing here runs. Pure: the record and its JSON form.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

#: Bump when the descriptor's fields change: a node never rebuilds from a form it
#: doesn't know (it answers 404, as for an ended session).
VERSION = 1


@dataclass(frozen=True, slots=True)
class SessionDescriptor:
    id: str
    user_id: int
    item_id: int
    file_id: int
    library_id: int | None
    user_version: int | None
    created_at: float
    expires_at: float
    device: str | dict[str, Any]
    start_s: float
    audio_stream: int | None = None
    subtitle_stream: int | None = None
    max_bitrate: int | None = None
    max_height: int | None = None
    protocol: str | None = None

    def to_json(self) -> str:
        return json.dumps({"v": VERSION, **asdict(self)}, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> SessionDescriptor | None:
        """The descriptor, or None for a form this node can't read (another version,
        damaged): never raises on what is in the store."""
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or data.pop("v", None) != VERSION:
                return None
            descriptor = cls(**data)
        except (ValueError, TypeError):
            return None
        ints = (descriptor.user_id, descriptor.item_id, descriptor.file_id)
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in ints):
            return None
        if not isinstance(descriptor.device, str | dict):
            return None
        return descriptor


class SharedSessions(Protocol):
    """The cluster's session registry, as the playback service uses it. Every method
    raises :class:`~ferrite.errors.ClusterUnavailable` when the store can't be reached
    (within a short timeout), except :meth:`refresh` (best effort)."""

    @property
    def available(self) -> bool:
        """Whether this node is linked to the store now (new sessions need it)."""
        ...

    async def put(self, descriptor: SessionDescriptor, ttl_s: float) -> None: ...

    async def get(self, session_id: str) -> SessionDescriptor | None: ...

    async def refresh(self, session_id: str, ttl_s: float) -> None:
        """Keep the session alive in the store (a heartbeat or segment); never raises."""
        ...

    async def end(self, session_id: str) -> None:
        """Delete it and tell every other node to drop its local copy (best effort)."""
        ...

    def start(self, drop: Callable[[str], Awaitable[None]]) -> None:
        """Listen for other nodes' stops: ``drop(session_id)`` ends this node's copy."""
        ...

    async def aclose(self) -> None: ...
