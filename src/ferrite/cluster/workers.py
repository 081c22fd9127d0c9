"""The registry of live transcode workers in Redis, and the rule that picks one.

A node with ``role=worker`` keeps a hash ``ferrite:worker:{node}`` (advertise URL, slots,
busy) whose short TTL it refreshes every second: the key existing *is* the liveness, so
a worker that dies (even SIGKILL) drops out within :data:`TTL_MS`.

:func:`choose` is pure: rendezvous (highest random weight) hashing of a production key
over the live workers, weighted by their slots. The same key goes to the same worker
while the set of workers is unchanged -- its transcode runs are shared by every playback
node -- and a worker joining or leaving moves only its share of the keys. The weight is
the worker's *capacity*, not its free slots: a worker busy with a rendition's run would
otherwise lose that rendition's next segment to another worker, which would start a
second run of it (a full worker queues the request; its 503 sends the playback node to
the runner-up). Free slots break ties and order the fallbacks after the ranking.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

PREFIX = "ferrite:worker:"
#: A worker's key lives this long unless refreshed (the refresh runs every INTERVAL_S).
TTL_MS = 3000
INTERVAL_S = 1.0


@dataclass(frozen=True, slots=True)
class Worker:
    node: str
    url: str  # advertise_url: where other nodes reach it
    slots: int
    busy: int = 0

    @property
    def free(self) -> int:
        return max(self.slots - self.busy, 0)


def score(key: str, worker: Worker) -> float:
    """Weighted rendezvous score of ``worker`` for ``key``: ``-w / ln(h)`` with ``h`` a
    uniform hash in (0, 1) of (key, node), so a worker's share of keys is its weight's."""
    digest = hashlib.sha256(f"{key}\0{worker.node}".encode()).digest()
    h = (int.from_bytes(digest[:8], "big") + 1) / (2**64 + 2)
    return -max(worker.slots, 1) / math.log(h)


def choose(key: str, workers: Sequence[Worker]) -> list[Worker]:
    """``workers`` best first for production key ``key`` (best, runner-up, ...)."""
    return sorted(workers, key=lambda w: (score(key, w), w.free, w.node), reverse=True)


def parse(node: str, fields: dict[bytes, bytes]) -> Worker | None:
    """A registry hash as a :class:`Worker` (None when incomplete or malformed)."""
    try:
        return Worker(
            node=node,
            url=fields[b"url"].decode(),
            slots=int(fields[b"slots"]),
            busy=int(fields.get(b"busy", b"0")),
        )
    except (KeyError, ValueError, UnicodeDecodeError):
        return None


class WorkerRegistry:
    """Read side (every cluster node) and write side (a worker) of the registry."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def heartbeat(self, worker: Worker) -> None:
        """Write ``worker`` with a fresh TTL (one round trip)."""
        key = PREFIX + worker.node
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"url": worker.url, "slots": worker.slots, "busy": worker.busy})
            pipe.pexpire(key, TTL_MS)
            await pipe.execute()

    async def remove(self, node: str) -> None:
        await self._redis.delete(PREFIX + node)

    async def keep_registered(self, current: Callable[[], Worker]) -> None:
        """Refresh ``current()`` every :data:`INTERVAL_S` until cancelled; Redis away
        just skips beats (the worker reappears when it is back)."""
        while True:
            try:
                await self.heartbeat(current())
            except (RedisError, OSError) as exc:
                log.warning("worker heartbeat failed: %s", exc)
            await asyncio.sleep(INTERVAL_S)

    async def live(self) -> list[Worker]:
        """Every registered worker whose key has not expired."""
        nodes = [
            key.decode()[len(PREFIX) :]
            async for key in self._redis.scan_iter(match=PREFIX + "*", count=100)
        ]
        if not nodes:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for node in nodes:
                pipe.hgetall(PREFIX + node)
            rows = await pipe.execute()
        found = (parse(node, row) for node, row in zip(nodes, rows, strict=True) if row)
        return [w for w in found if w is not None]
