"""Access changes fanned out to every node of a cluster over Redis pub/sub.

The database is the source of truth; each node keeps its own token-version table (the
hot path never leaves memory). A node that changes a user's entry (login of a user it
didn't know, logout, password, disabling, deletion, a grant) has written the database
already; it then publishes the user's id. Every other node re-reads that user from the
shared database into its table and re-checks the user's sessions there. Messages carry
no state, so a late or reordered message can never install a stale entry: the read that
follows it sees the newest row.

Pub/sub delivers only to subscribers connected at the time, so on every (re)subscribe a
node re-reads the whole table: what it missed while disconnected is in the database.
While disconnected a node cannot hear revocations from other nodes; :attr:`connected`
says so (readiness, and the refusal of new logins and sessions, use it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

CHANNEL = "ferrite:auth"
_BACKOFF_S = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)


class AuthFanout:
    """Publishes this node's user changes; applies the other nodes' ones.

    ``refresh(user_id)`` re-reads one user, ``reload()`` the whole table (both are
    :class:`~ferrite.auth.service.AuthService` methods in the server).
    """

    def __init__(
        self,
        redis: Redis,
        *,
        node: str,
        refresh: Callable[[int], Awaitable[None]],
        reload: Callable[[], Awaitable[None]],
        channel: str = CHANNEL,
    ) -> None:
        self._redis = redis
        self._node = node
        self._refresh = refresh
        self._reload = reload
        self._channel = channel
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self, timeout_s: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout_s)
        return self.connected

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._listen(), name="auth-fanout")

    def announce(self, user_id: int) -> None:
        """A ``listen_change`` listener: tell the other nodes (in the background; the change
        is already in the database and in this node's table)."""
        task = asyncio.get_running_loop().create_task(self._publish(user_id))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _publish(self, user_id: int) -> None:
        message = json.dumps({"node": self._node, "user": user_id})
        for delay in (*_BACKOFF_S, None):
            try:
                await self._redis.publish(self._channel, message)
                return
            except (RedisError, OSError) as exc:
                if delay is None:
                    # Every subscriber lost its connection too: each re-reads its whole
                    # table when it resubscribes, so nothing is lost for good.
                    log.warning("user change %d not published: %s", user_id, exc)
                    return
                await asyncio.sleep(delay)

    async def _listen(self) -> None:
        attempt = 0
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    # Subscribed first, then read: a change made in between is both in
                    # what we read and in a message we'll get (applied twice, harmlessly).
                    await self._reload()
                    self._connected.set()
                    if attempt:
                        log.info("auth fan-out reconnected; table re-read")
                    attempt = 0
                    while True:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=5.0
                        )
                        if message is not None:
                            await self._apply(message.get("data"))
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self._connected.is_set() or attempt == 0:
                    log.warning("auth fan-out lost Redis: %s", exc)
                self._connected.clear()
                await asyncio.sleep(_BACKOFF_S[min(attempt, len(_BACKOFF_S) - 1)])
                attempt += 1
            except Exception:  # a database error while re-reading: try again, never die
                log.exception("auth fan-out failed; retrying")
                self._connected.clear()
                await asyncio.sleep(_BACKOFF_S[-1])

    async def _apply(self, data: object) -> None:
        try:
            payload = json.loads(data) if isinstance(data, str | bytes) else {}
            node, user_id = payload["node"], int(payload["user"])
        except (ValueError, TypeError, KeyError):
            log.warning("auth fan-out: ignored a malformed message")
            return
        if node != self._node:
            await self._refresh(user_id)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._pending):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 1.0)
        self._connected.clear()
