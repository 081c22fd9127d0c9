from __future__ import annotations

import asyncio

import pytest

from ferrite.cache import ByteCache


def test_lru_evicts_oldest_and_accounts_bytes_exactly() -> None:
    evicted: list[object] = []
    cache = ByteCache(10, on_evict=lambda k, n: evicted.append(k))
    cache.put("a", b"1234")
    cache.put("b", b"1234")
    assert cache.get("a") == b"1234"  # a is now most recent
    cache.put("c", b"1234")  # 12 bytes > 10: evicts b, the least recent
    assert evicted == ["b"]
    assert cache.stats.bytes == 8
    assert cache.peek("b") is None
    cache.put("a", b"12")  # replacement adjusts the counter
    assert cache.stats.bytes == 6
    cache.put("huge", b"x" * 11)  # over the whole budget: not kept
    assert "huge" not in cache
    assert cache.stats.bytes == sum(len(cache.peek(k) or b"") for k in ("a", "c"))


def test_concurrent_requests_share_one_producer() -> None:
    calls = 0

    async def main() -> list[tuple[bytes, str]]:
        cache = ByteCache(1000)
        gate = asyncio.Event()

        async def produce() -> bytes:
            nonlocal calls
            calls += 1
            await gate.wait()
            return b"segment"

        waiters = [asyncio.ensure_future(cache.get_or_create("k", produce)) for _ in range(20)]
        await asyncio.sleep(0)
        gate.set()
        results = await asyncio.gather(*waiters)
        results.append(await cache.get_or_create("k", produce))
        return results

    results = asyncio.run(main())
    assert calls == 1
    assert [how for _, how in results].count("miss") == 1
    assert [how for _, how in results].count("wait") == 19
    assert results[-1] == (b"segment", "hit")


def test_cancelled_waiter_does_not_cancel_shared_work() -> None:
    async def main() -> bytes:
        cache = ByteCache(1000)
        gate = asyncio.Event()

        async def produce() -> bytes:
            await gate.wait()
            return b"ok"

        first = asyncio.ensure_future(cache.get_or_create("k", produce))
        second = asyncio.ensure_future(cache.get_or_create("k", produce))
        await asyncio.sleep(0)
        first.cancel()
        gate.set()
        value, _ = await second
        return value

    assert asyncio.run(main()) == b"ok"


def test_failed_producer_propagates_and_is_not_cached() -> None:
    async def main() -> None:
        cache = ByteCache(1000)

        async def boom() -> bytes:
            raise ValueError("bad segment")

        with pytest.raises(ValueError, match="bad segment"):
            await cache.get_or_create("k", boom)
        assert "k" not in cache
        assert not cache.inflight("k")

        async def good() -> bytes:
            return b"fine"

        assert await cache.get_or_create("k", good) == (b"fine", "miss")

    asyncio.run(main())
