"""One bounded cache for init segments, media segments and playlists.

LRU over an ``OrderedDict`` (O(1) hit, insert and eviction), bounded in bytes with exact
accounting (the size of a value is ``len(value)``, added on insert and subtracted on
eviction or replacement, so the counter cannot drift), and an in-flight map: concurrent
requests for a key nobody has made yet wait for one producer instead of all doing the
work. The producer runs as a task owned by the cache, so a viewer who disconnects mid-wait
does not cancel work another viewer is waiting for.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    inflight_waits: int = 0
    evictions: int = 0
    bytes: int = 0
    entries: int = 0


class ByteCache:
    def __init__(
        self, max_bytes: int, *, on_evict: Callable[[Hashable, int], None] | None = None
    ) -> None:
        self.max_bytes = max_bytes
        self._data: OrderedDict[Hashable, bytes] = OrderedDict()
        self._inflight: dict[Hashable, asyncio.Task[bytes]] = {}
        self._on_evict = on_evict
        self.stats = CacheStats()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data

    def peek(self, key: Hashable) -> bytes | None:
        """Look up without counting or touching recency."""
        return self._data.get(key)

    def get(self, key: Hashable) -> bytes | None:
        value = self._data.get(key)
        if value is None:
            return None
        self._data.move_to_end(key)
        self.stats.hits += 1
        return value

    def put(self, key: Hashable, value: bytes) -> None:
        size = len(value)
        old = self._data.pop(key, None)
        if old is not None:
            self.stats.bytes -= len(old)
        if size > self.max_bytes:
            self.stats.entries = len(self._data)
            return  # larger than the whole budget: serve it, don't keep it
        self._data[key] = value
        self.stats.bytes += size
        while self.stats.bytes > self.max_bytes:
            old_key, old_value = self._data.popitem(last=False)
            self.stats.bytes -= len(old_value)
            self.stats.evictions += 1
            if self._on_evict is not None:
                self._on_evict(old_key, len(old_value))
        self.stats.entries = len(self._data)

    def inflight(self, key: Hashable) -> bool:
        return key in self._inflight

    async def get_or_create(
        self, key: Hashable, produce: Callable[[], Awaitable[bytes]]
    ) -> tuple[bytes, str]:
        """Return ``(value, how)`` where how is ``hit``, ``wait`` (joined a producer) or
        ``miss`` (this call started the producer)."""
        value = self.get(key)
        if value is not None:
            return value, "hit"
        task = self._inflight.get(key)
        how = "wait"
        if task is None:
            how = "miss"
            self.stats.misses += 1
            task = asyncio.ensure_future(self._produce(key, produce))
            self._inflight[key] = task
        else:
            self.stats.inflight_waits += 1
        # shield: cancelling this waiter must not cancel the shared producer.
        return await asyncio.shield(task), how

    def prefetch(self, key: Hashable, produce: Callable[[], Awaitable[bytes]]) -> None:
        """Start producing ``key`` in the background unless cached or already under way."""
        if key in self._data or key in self._inflight:
            return
        self.stats.misses += 1
        task = asyncio.ensure_future(self._produce(key, produce))
        task.add_done_callback(_consume_exception)
        self._inflight[key] = task

    async def _produce(self, key: Hashable, produce: Callable[[], Awaitable[bytes]]) -> bytes:
        try:
            value = await produce()
            self.put(key, value)
            return value
        finally:
            self._inflight.pop(key, None)

    def discard(self, predicate: Callable[[Hashable], bool]) -> int:
        """Drop every entry whose key matches (e.g. a file that changed). O(n), rare."""
        doomed = [k for k in self._data if predicate(k)]
        for k in doomed:
            self.stats.bytes -= len(self._data.pop(k))
        self.stats.entries = len(self._data)
        return len(doomed)

    async def aclose(self) -> None:
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._inflight.clear()


def _consume_exception(task: asyncio.Task[bytes]) -> None:
    # A failed prefetch is retried by the real request; don't log "exception never retrieved".
    if not task.cancelled():
        task.exception()
