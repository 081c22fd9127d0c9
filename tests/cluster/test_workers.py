"""The worker choice rule (pure), the internal signatures and the job's wire form (pure),
and the registry on a real redis-server."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from fractions import Fraction
from pathlib import Path

from redis.asyncio import Redis

from ferrite.cluster import signing
from ferrite.cluster.jobwire import from_wire, to_wire
from ferrite.cluster.workers import Worker, WorkerRegistry, choose
from ferrite.media.renditions import Rung
from ferrite.transcode.argv import transcode_argv
from ferrite.transcode.job import BurnIn, TranscodeJob, VideoJob
from ferrite.transcode.run_key import spec_hash
from tests.cluster.redisserver import RedisServer

W = [Worker("w1", "http://a", 2), Worker("w2", "http://b", 2), Worker("w3", "http://c", 2)]
KEYS = [f"file{i}/plan/720p/spec" for i in range(600)]


def test_the_same_key_goes_to_the_same_worker_and_the_order_covers_every_worker() -> None:
    for key in KEYS[:20]:
        order = choose(key, W)
        assert sorted(w.node for w in order) == ["w1", "w2", "w3"]
        assert choose(key, list(reversed(W))) == order  # independent of listing order


def test_busy_counts_do_not_move_a_key() -> None:
    # A worker busy with a rendition's run keeps that rendition (no second run elsewhere).
    for key in KEYS[:50]:
        best = choose(key, W)[0]
        busy = [Worker(w.node, w.url, w.slots, busy=w.slots) if w == best else w for w in W]
        assert choose(key, busy)[0].node == best.node


def test_keys_spread_by_slots() -> None:
    counts = Counter(choose(k, W)[0].node for k in KEYS)
    assert all(150 <= n <= 250 for n in counts.values()), counts
    weighted = [Worker("w1", "http://a", 6), *W[1:]]  # 6 of 10 slots
    heavy = Counter(choose(k, weighted)[0].node for k in KEYS)["w1"]
    assert 0.5 * len(KEYS) <= heavy <= 0.7 * len(KEYS)


def test_a_worker_leaving_moves_only_its_own_keys() -> None:
    before = {k: choose(k, W)[0].node for k in KEYS}
    after = {k: choose(k, W[:2])[0].node for k in KEYS}
    moved = [k for k in KEYS if before[k] != after[k]]
    assert moved
    assert all(before[k] == "w3" for k in moved)
    # ...and the runner-up it had is where it goes.
    assert all(after[k] == choose(k, W)[1].node for k in moved)


def test_signatures_cover_method_path_body_and_expiry() -> None:
    key = signing.internal_key(b"s" * 32)
    value = signing.sign(key, "POST", "/internal/x", b"body", now=1000)
    assert signing.verify(key, "POST", "/internal/x", b"body", value, now=1000)
    assert signing.verify(key, "POST", "/internal/x", b"body", value, now=1000 + signing.TTL_S)
    assert not signing.verify(key, "POST", "/internal/x", b"body", value, now=1001 + signing.TTL_S)
    assert not signing.verify(key, "POST", "/internal/x", b"bodz", value, now=1000)
    assert not signing.verify(key, "POST", "/internal/y", b"body", value, now=1000)
    assert not signing.verify(key, "GET", "/internal/x", b"body", value, now=1000)
    other = signing.internal_key(b"t" * 32)
    assert not signing.verify(other, "POST", "/internal/x", b"body", value, now=1000)
    for bad in (None, "", "x", "1060.", ".abc", "99999999999999.ab"):
        assert not signing.verify(key, "POST", "/internal/x", b"body", bad, now=1000)


def test_a_job_crosses_the_wire_unchanged() -> None:
    rung = Rung("720p", "h264", 1280, 720, 3_000_000, 3_500_000, 6_000_000, Fraction(24000, 1001),
                profile="high", level=31)  # fmt: skip
    job = TranscodeJob(
        input="/media/film.mkv",
        boundaries=(0.0, 2.002, 4.004, 6.006),
        start_index=0,
        end_index=3,
        out_dir="",
        video=VideoJob(
            stream_index=0,
            rung=rung,
            source_frame_rate=Fraction(30000, 1001),
            tone_map=True,
            burn=BurnIn("text", stream_index=3, ordinal=1),
            color_transfer="smpte2084",
        ),
        source_start_s=1.4,
        ffmpeg="/usr/bin/ffmpeg",
        preset="ultrafast",
    )
    back = from_wire(json.loads(json.dumps(to_wire(job))))
    assert back == job
    assert spec_hash(back) == spec_hash(job)
    assert transcode_argv(back) == transcode_argv(job)


def test_the_registry_lists_live_workers_and_forgets_dead_ones(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()
    try:
        asyncio.run(_registry(server.url))
    finally:
        server.stop()


async def _registry(url: str) -> None:
    redis = Redis.from_url(url)
    registry = WorkerRegistry(redis)
    try:
        assert await registry.live() == []
        w1 = Worker("w1", "http://127.0.0.1:1", 2, busy=1)
        beating = asyncio.create_task(registry.keep_registered(lambda: w1))
        await registry.heartbeat(Worker("w2", "http://127.0.0.1:2", 4))
        await asyncio.sleep(0.1)
        assert sorted(await registry.live(), key=lambda w: w.node) == [
            w1,
            Worker("w2", "http://127.0.0.1:2", 4),
        ]
        # w2 stops beating: its key expires (the TTL is the liveness); w1 keeps its.
        started = time.monotonic()
        while len(await registry.live()) > 1:
            assert time.monotonic() - started < 6, "a dead worker stayed listed"
            await asyncio.sleep(0.1)
        assert [w.node for w in await registry.live()] == ["w1"]
        beating.cancel()
        await registry.remove("w1")
        assert await registry.live() == []
    finally:
        await redis.aclose()
