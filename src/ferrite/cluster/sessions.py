"""The shared playback-session registry (Redis): a session made on one node plays on any.

``ferrite:session:{sid}`` holds the session's descriptor
(:class:`~ferrite.playback.shared.SessionDescriptor`) with a TTL of the session idle
time; the nodes serving it refresh the TTL (throttled by the playback service). A node
that gets a request for a session it doesn't hold reads the descriptor and rebuilds the
session itself. A stop deletes the key and is published on ``ferrite:sessions`` so every
other node drops its copy. A stop a node missed while away from Redis is not replayed:
its copy ends when idle (no player uses a stopped session). Copies are never dropped
because their key is gone -- a restarted Redis without persistence would otherwise end
every live session.

Redis away: every call is bounded (:data:`OP_TIMEOUT_S`); ``put``/``get`` raise
:class:`~ferrite.errors.ClusterUnavailable` (503 + Retry-After) and ``refresh``/``end``
only log -- the sessions a node holds keep streaming from its local copies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ferrite.errors import ClusterUnavailable
from ferrite.playback.shared import SessionDescriptor

log = logging.getLogger(__name__)

KEY = "ferrite:session:"
CHANNEL = "ferrite:sessions"
#: No request waits longer than this on Redis (connection refused is much faster).
OP_TIMEOUT_S = 1.0
_BACKOFF_S = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)


def ttl_ms(ttl_s: float) -> int:
    return max(1000, int(ttl_s * 1000))


class RedisSessions:
    """:class:`~ferrite.playback.shared.SharedSessions` on Redis. ``connected()`` says
    whether this node is linked (the auth fan-out's subscription)."""

    def __init__(
        self,
        redis: Redis,
        *,
        node: str,
        connected: Callable[[], bool],
        channel: str = CHANNEL,
    ) -> None:
        self._redis = redis
        self._node = node
        self._connected = connected
        self._channel = channel
        self._task: asyncio.Task[None] | None = None

    @property
    def available(self) -> bool:
        return self._connected()

    async def _call(self, what: str, op: Awaitable[object]) -> object:
        try:
            return await asyncio.wait_for(op, OP_TIMEOUT_S)
        except (RedisError, OSError, TimeoutError) as exc:
            raise ClusterUnavailable(
                "The playback registry is unavailable right now.", detail=f"{what}: {exc}"
            ) from exc

    async def put(self, descriptor: SessionDescriptor, ttl_s: float) -> None:
        op = self._redis.set(KEY + descriptor.id, descriptor.to_json(), px=ttl_ms(ttl_s))
        await self._call("put", op)

    async def get(self, session_id: str) -> SessionDescriptor | None:
        raw = await self._call("get", self._redis.get(KEY + session_id))
        if not isinstance(raw, str | bytes):
            return None
        descriptor = SessionDescriptor.from_json(raw)
        if descriptor is None or descriptor.id != session_id:
            log.warning("session %s: unreadable descriptor in the registry", session_id)
            return None
        return descriptor

    async def refresh(self, session_id: str, ttl_s: float) -> None:
        try:
            await self._call("refresh", self._redis.pexpire(KEY + session_id, ttl_ms(ttl_s)))
        except ClusterUnavailable as exc:
            log.debug("session %s not refreshed: %s", session_id, exc.detail)

    async def end(self, session_id: str) -> None:
        message = json.dumps({"node": self._node, "session": session_id})
        try:
            await self._call("end", self._redis.delete(KEY + session_id))
            await self._call("end", self._redis.publish(self._channel, message))
        except ClusterUnavailable as exc:
            # The other nodes' copies end when idle; the key's TTL ends the entry.
            log.warning("session %s: stop not shared: %s", session_id, exc.detail)

    def start(self, drop: Callable[[str], Awaitable[None]]) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._listen(drop), name="session-stops"
        )

    async def _listen(self, drop: Callable[[str], Awaitable[None]]) -> None:
        attempt = 0
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    attempt = 0
                    while True:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=5.0
                        )
                        if message is not None:
                            sid = self._stopped_elsewhere(message.get("data"))
                            if sid is not None:
                                await drop(sid)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if attempt == 0:
                    log.warning("session stops: lost Redis: %s", exc)
                await asyncio.sleep(_BACKOFF_S[min(attempt, len(_BACKOFF_S) - 1)])
                attempt += 1
            except Exception:  # never die: a failing drop is logged, the loop goes on
                log.exception("session stops: listener failed; retrying")
                await asyncio.sleep(_BACKOFF_S[-1])

    def _stopped_elsewhere(self, data: object) -> str | None:
        return stopped_elsewhere(data, self._node)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def stopped_elsewhere(data: object, node: str) -> str | None:
    """The session id of a stop message another node published (None: ours, or not a
    stop message). Pure."""
    try:
        payload = json.loads(data) if isinstance(data, str | bytes) else None
        if not isinstance(payload, dict):
            return None
        sender, sid = payload["node"], payload["session"]
    except (ValueError, KeyError):
        return None
    if sender == node or not isinstance(sid, str) or not sid:
        return None
    return sid
