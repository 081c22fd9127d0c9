"""Production leases on a real redis-server: one winner among concurrent claims from two
nodes, renewal past the TTL while the holder lives, release, take-over of an expired
lease (its holder died), and an unshared lease when Redis is away."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from redis.asyncio import Redis

from ferrite.cluster.leases import RedisLease, RedisLeases, Unshared
from tests.cluster.redisserver import RedisServer, free_port


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@asynccontextmanager
async def two_nodes(url: str, ttl_s: float) -> AsyncIterator[tuple[RedisLeases, RedisLeases]]:
    a = Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=2)
    b = Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=2)
    try:
        yield RedisLeases(a, node="n1", ttl_s=ttl_s), RedisLeases(b, node="n2", ttl_s=ttl_s)
    finally:
        await a.aclose()
        await b.aclose()


def test_concurrent_claims_from_two_nodes_have_one_winner(redis_server: RedisServer) -> None:
    async def run() -> None:
        async with two_nodes(redis_server.url, ttl_s=5.0) as (n1, n2):
            claims = await asyncio.gather(
                *[(n1 if i % 2 else n2).claim("fv/plan/720p/spec/0") for i in range(20)]
            )
            won = [c for c in claims if c is not None]
            assert len(won) == 1
            assert isinstance(won[0], RedisLease)
            winner = "n1" if won[0].token.startswith("n1:") else "n2"
            assert await n1.holder("fv/plan/720p/spec/0") == winner
            # Another key is free.
            other = await n2.claim("fv/plan/720p/spec/5")
            assert other is not None
            await other.release()
            await won[0].release()
            assert await n1.holder("fv/plan/720p/spec/0") is None

    asyncio.run(run())


def test_a_lease_is_renewed_while_held_and_free_once_released(redis_server: RedisServer) -> None:
    async def run() -> None:
        async with two_nodes(redis_server.url, ttl_s=0.3) as (n1, n2):
            held = await n1.claim("k")
            assert held is not None
            await asyncio.sleep(1.0)  # three TTLs: renewed, still n1's
            assert await n2.claim("k") is None
            assert await n2.holder("k") == "n1"
            await held.release()
            again = await n2.claim("k")
            assert again is not None
            await held.release()  # twice, and after another node took it: harmless
            assert await n1.holder("k") == "n2"
            await again.release()

    asyncio.run(run())


def test_an_expired_lease_is_taken_over(redis_server: RedisServer) -> None:
    async def run() -> None:
        async with two_nodes(redis_server.url, ttl_s=0.3) as (n1, n2):
            dead = await n1.claim("k")
            assert isinstance(dead, RedisLease)
            dead._task.cancel()  # the holder died: nobody renews, nobody releases
            assert await n2.claim("k") is None
            await asyncio.sleep(0.45)
            taken = await n2.claim("k")
            assert taken is not None
            assert await n1.holder("k") == "n2"
            # The old holder's release can't free the new holder's lease.
            await dead.release()
            assert await n1.holder("k") == "n2"
            await taken.release()

    asyncio.run(run())


def test_without_redis_a_claim_is_unshared_and_fast() -> None:
    async def run() -> None:
        client = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            claim = await RedisLeases(client, node="n1").claim("k")
            assert isinstance(claim, Unshared)
            assert loop.time() - started < 1.5
            await claim.release()
        finally:
            await client.aclose()

    asyncio.run(run())
