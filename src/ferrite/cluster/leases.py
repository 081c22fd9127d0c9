"""Short leases on expensive productions (a transcode run), so a segment is made once
cluster-wide.

``SET ferrite:lease:{name} {node}:{nonce} NX PX ttl`` takes a lease; its holder renews
it every ``ttl / 3`` while the run lives (a compare-and-expire script: only the holder's
token renews) and releases it when the run stops (compare-and-delete). A holder that
dies stops renewing: after at most ``ttl`` the key expires and the next node to ask takes
it over. The run manager's rule when another node holds it is in
``ferrite.transcode.runs`` (wait, bounded, then 503 + Retry-After).

Redis away: :meth:`RedisLeases.claim` hands out an unshared lease (the run goes on
locally; availability over a rare duplicate production) -- see docs/scale-out.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

KEY = "ferrite:lease:"
TTL_S = 5.0
OP_TIMEOUT_S = 1.0

# KEYS[1] = the lease, ARGV[1] = the holder's token, ARGV[2] = ttl in ms.
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class Unshared:
    """The lease of a run started while Redis was away: nothing to renew or release."""

    async def release(self) -> None:
        return None


class RedisLease:
    """One held lease; renewed in the background until :meth:`release`."""

    def __init__(self, redis: Redis, key: str, token: str, ttl_s: float) -> None:
        self._redis = redis
        self.key = key
        self.token = token
        self._ttl_ms = int(ttl_s * 1000)
        self._every_s = ttl_s / 3
        self._task = asyncio.get_running_loop().create_task(self._renew(), name=f"lease {key}")
        self.lost = False

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self._every_s)
            try:
                kept = await asyncio.wait_for(
                    self._redis.eval(_RENEW, 1, self.key, self.token, self._ttl_ms),
                    OP_TIMEOUT_S,
                )
            except (RedisError, OSError, TimeoutError) as exc:
                log.debug("lease %s not renewed (retrying): %s", self.key, exc)
                continue
            if not kept:
                # Expired while this node was stalled, and maybe taken over: the run goes
                # on (its viewers wait on it), but the lease is no longer ours to keep.
                log.warning("lease %s lost to another holder", self.key)
                self.lost = True
                return

    async def release(self) -> None:
        if self._task.done() and self.lost:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        try:
            await asyncio.wait_for(
                self._redis.eval(_RELEASE, 1, self.key, self.token), OP_TIMEOUT_S
            )
        except (RedisError, OSError, TimeoutError) as exc:
            log.debug("lease %s not released (it expires): %s", self.key, exc)


class RedisLeases:
    """:class:`~ferrite.transcode.claims.Claims` on Redis."""

    def __init__(self, redis: Redis, *, node: str, ttl_s: float = TTL_S) -> None:
        self._redis = redis
        self._node = node
        self.ttl_s = ttl_s

    async def claim(self, name: str) -> RedisLease | Unshared | None:
        key = KEY + name
        token = f"{self._node}:{secrets.token_hex(8)}"
        try:
            taken = await asyncio.wait_for(
                self._redis.set(key, token, nx=True, px=int(self.ttl_s * 1000)), OP_TIMEOUT_S
            )
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("lease %s: Redis unavailable, producing unshared: %s", name, exc)
            return Unshared()
        return RedisLease(self._redis, key, token, self.ttl_s) if taken else None

    async def holder(self, name: str) -> str | None:
        """The node holding ``name`` now (None: free), for logs and tests."""
        raw = await asyncio.wait_for(self._redis.get(KEY + name), OP_TIMEOUT_S)
        if raw is None:
            return None
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        return text.rpartition(":")[0]
