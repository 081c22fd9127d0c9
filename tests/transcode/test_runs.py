"""Transcode runs against real ffmpeg: sharing, seeking, throttling, idle reaping, slots.

Every test drives a real :class:`RunManager` over a generated 30 s clip (320x180 H.264,
1 s GOPs, so 30 one-second plan segments) transcoded to a 160x90 rung, decodes what it
gets with PyAV, and ends by checking that no ffmpeg child and no run directory is left.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ferrite.errors import NotFound, Overloaded
from ferrite.transcode.admission import Priority
from ferrite.transcode.runs import RunManager
from ferrite.transcode.throttle import retire_order
from tests import media
from tests.fakes import FakeClock
from tests.transcode.runs_support import (
    LONG,
    Source,
    check_segment,
    drive,
    ffmpeg_children,
    gauge,
    only_run,
    paced_ffmpeg,
    proc_stat,
    proc_state,
    spawns,
    starts,
    wait_until,
)

__all__ = ["spawns"]  # a fixture


@pytest.fixture(scope="module")
def src(clip: Callable[..., Path], media_root: Path) -> Source:
    """The 30 s clip, transcoded by ffmpeg paced to ~4x real time."""
    return Source.of(clip("runs-long", LONG), ffmpeg=paced_ffmpeg(media_root))


# --- the tests ---------------------------------------------------------------------------


def test_a_rung_from_segment_0_is_cut_on_the_plan_by_one_ffmpeg(
    src: Source, tmp_path: Path, spawns: list[list[str]]
) -> None:
    key, factory = src.key(), src.factory(ffmpeg=media.FFMPEG)  # unpaced: a full pass
    assert len(src.plan) == 30

    async def body(mgr: RunManager) -> None:
        for i in range(len(src.plan)):
            check_segment(src, i, await mgr.segment(factory, key, i, session="a"))
        with pytest.raises(NotFound):
            await mgr.segment(factory, key, len(src.plan), session="a")

    drive(tmp_path, body)
    assert starts(spawns) == [0]


def test_concurrent_requests_for_one_segment_share_one_ffmpeg(
    src: Source, tmp_path: Path, spawns: list[list[str]]
) -> None:
    key, factory = src.key(), src.factory()

    async def body(mgr: RunManager) -> None:
        results = await asyncio.gather(
            *(mgr.segment(factory, key, 3, session=s) for s in ("a", "b", "c")),
            mgr.segment(factory, key, 5, session="d"),  # within reach of the same run
        )
        assert results[0] == results[1] == results[2]
        check_segment(src, 3, results[0])
        check_segment(src, 5, results[3])
        # A viewer of another rendition (different spec) never shares.
        other = src.key(crf=30)
        assert other != key
        check_segment(src, 3, await mgr.segment(src.factory(crf=30), other, 3, session="a"))

    drive(tmp_path, body)
    assert starts(spawns) == [3, 3]


def test_a_far_request_starts_a_second_run_and_the_first_keeps_serving(
    src: Source, tmp_path: Path, spawns: list[list[str]]
) -> None:
    key, factory = src.key(), src.factory()

    async def body(mgr: RunManager) -> None:
        for i in (0, 1):
            check_segment(src, i, await mgr.segment(factory, key, i, session="a"))
        # B starts (or seeks) far ahead: a run of its own, A's is left alone.
        check_segment(src, 20, await mgr.segment(factory, key, 20, session="b"))
        assert sorted(r.start for r in mgr.runs(key)) == [0, 20]
        for i in range(2, 8):
            check_segment(src, i, await mgr.segment(factory, key, i, session="a"))
        check_segment(src, 21, await mgr.segment(factory, key, 21, session="b"))
        # A seeks to 25: joins B's run (B's run will reach it soon) rather than a third.
        check_segment(src, 25, await mgr.segment(factory, key, 25, session="a"))
        # A's old run has no viewer left ahead of it: paused (no CPU, no slot).
        old = next(r for r in mgr.runs(key) if r.start == 0)
        if old.state != "done":
            assert old.state == "paused"

    drive(tmp_path, body, transcode_ahead_s=3.0)
    assert starts(spawns) == [0, 20]


def test_a_seek_ahead_of_a_slow_run_starts_its_own_run_at_once(
    clip: Callable[..., Path], media_root: Path, tmp_path: Path, spawns: list[list[str]]
) -> None:
    """A run making media at real time would take 6 s to reach a segment 6 s ahead: the
    seek gets a run of its own instead of waiting (the join horizon is in wall time, from
    the run's measured speed, not a count of segments)."""
    slow = Source.of(clip("runs-long", LONG), ffmpeg=paced_ffmpeg(media_root, rate=1.0))
    key, factory = slow.key(), slow.factory()

    async def body(mgr: RunManager) -> None:
        for i in (0, 1, 2):
            check_segment(slow, i, await mgr.segment(factory, key, i, session="a"))
        check_segment(slow, 9, await mgr.segment(factory, key, 9, session="b"))
        assert sorted(r.start for r in mgr.runs(key)) == [0, 9]
        # The next segment of a running run is always joined.
        check_segment(slow, 3, await mgr.segment(factory, key, 3, session="a"))

    drive(tmp_path, body, transcode_ahead_s=30.0)
    assert starts(spawns) == [0, 9]


def test_a_run_far_ahead_of_its_viewer_pauses_and_resumes_when_it_approaches(
    src: Source, tmp_path: Path, spawns: list[list[str]]
) -> None:
    key, factory = src.key(), src.factory()
    ahead = 3.0

    async def body(mgr: RunManager) -> None:
        paused_before = gauge("paused")
        check_segment(src, 0, await mgr.segment(factory, key, 0, session="a"))
        await wait_until(lambda: only_run(mgr).state == "paused")
        run = only_run(mgr)
        pid = run.pid
        assert pid is not None
        # SIGSTOPped (the kernel stops it the next time it is scheduled).
        await wait_until(lambda: proc_state(pid) == "T")
        assert mgr.admission.in_use == 0  # a paused run gives its slot back
        assert gauge("paused") == paused_before + 1
        # Far enough ahead, but not much further (the pause is prompt).
        n = run.next
        assert ahead < src.plan.start(n) - src.plan.start(0) <= ahead + 3
        stat = proc_stat(pid)
        assert stat is not None
        await asyncio.sleep(0.3)
        assert proc_stat(pid) == stat  # still stopped, no CPU spent

        # The viewer plays on: segments the run already made are served while it stays
        # paused, until the viewer comes within ahead/2 of its head.
        for i in range(1, n):
            check_segment(src, i, await mgr.segment(factory, key, i, session="a"))
            if src.plan.start(n) - src.plan.start(i) > ahead / 2:
                assert only_run(mgr).state == "paused"
        await wait_until(lambda: only_run(mgr).next > n)  # resumed and producing
        assert only_run(mgr).pid == run.pid  # the same process, continued
        # ... and it pauses again once it is far enough ahead once more.
        await wait_until(lambda: only_run(mgr).state == "paused")
        await wait_until(lambda: proc_state(pid) == "T")
        for i in range(n, n + 4):
            check_segment(src, i, await mgr.segment(factory, key, i, session="a"))

    drive(tmp_path, body, transcode_ahead_s=ahead)
    assert starts(spawns) == [0]


def test_an_idle_run_is_killed_by_the_reaper(src: Source, tmp_path: Path) -> None:
    key, factory = src.key(), src.factory()
    clock = FakeClock(1000.0)

    async def body(mgr: RunManager) -> None:
        check_segment(src, 0, await mgr.segment(factory, key, 0, session="a"))
        await wait_until(lambda: only_run(mgr).state == "paused")
        run = only_run(mgr)
        assert run.pid is not None
        assert run.dir.is_dir()
        assert run.ready >= 3  # segments 1, 2, 3 ... made ahead, on disk
        # The viewer skips to 3: 1 and 2 are behind every viewer of the run, so the
        # reaper deletes them (the run directory never keeps what nobody will ask for).
        check_segment(src, 3, await mgr.segment(factory, key, 3, session="a"))
        await wait_until(lambda: not (run.dir / "1.ts").exists())
        assert not (run.dir / "2.ts").exists()
        assert not (run.dir / "3.ts").exists()  # handed out, then deleted
        # (The viewer came within ahead/2 of the head: the run resumed; it pauses again.)
        await wait_until(lambda: only_run(mgr).state == "paused")
        pid = run.pid
        await wait_until(lambda: proc_state(pid) == "T")
        clock.advance(4.0)
        await asyncio.sleep(0.2)  # several reaper ticks: not idle long enough yet
        assert mgr.runs(key)
        assert proc_state(pid) == "T"
        clock.advance(2.0)
        await wait_until(lambda: not mgr.runs(key))
        await wait_until(lambda: proc_state(pid) is None)  # killed and reaped (no zombie)
        await wait_until(lambda: not run.dir.exists())

    drive(
        tmp_path,
        body,
        clock=clock,
        reap_interval_s=0.02,
        transcode_idle_s=5.0,
        transcode_ahead_s=3.0,
    )


def test_slots_paused_runs_yield_priorities_order_and_timeouts_answer_overloaded(
    src: Source, tmp_path: Path, spawns: list[list[str]]
) -> None:
    key, factory = src.key(), src.factory()

    async def body(mgr: RunManager) -> None:
        adm = mgr.admission
        check_segment(src, 0, await mgr.segment(factory, key, 0, session="a"))
        await wait_until(lambda: adm.in_use == 0)  # A's run paused: slot free
        # B gets the only slot although A's ffmpeg still lives (paused).
        check_segment(src, 10, await mgr.segment(factory, key, 10, session="b"))
        await wait_until(lambda: adm.in_use == 0)
        assert {r.state for r in mgr.runs(key)} == {"paused"}

        held = await adm.acquire(Priority.PLAYBACK)  # someone else is transcoding
        began = time.monotonic()
        with pytest.raises(Overloaded) as caught:
            await mgr.segment(factory, key, 20, session="c")
        assert time.monotonic() - began >= 0.9
        assert caught.value.retry_after >= 1
        assert caught.value.status == 503
        assert sorted(r.start for r in mgr.runs(key)) == [0, 10]  # nothing left queued

        # Look-ahead queued first, then a viewer's first segment: the viewer goes first.
        prefetch = asyncio.create_task(
            mgr.segment(factory, key, 20, priority=Priority.PREFETCH, session="d")
        )
        await wait_until(lambda: adm.waiting == 1)
        viewer = asyncio.create_task(mgr.segment(factory, key, 28, session="e"))
        await wait_until(lambda: adm.waiting == 2)
        held.release()
        check_segment(src, 28, await viewer)
        check_segment(src, 20, await prefetch)

    drive(tmp_path, body, transcode_slots=1, transcode_queue_timeout_s=1.0, transcode_ahead_s=1.0)
    assert starts(spawns) == [0, 10, 28, 20]


def test_a_viewer_queued_for_a_slot_pauses_the_run_furthest_ahead(
    src: Source, tmp_path: Path, spawns: list[list[str]]
) -> None:
    key, factory = src.key(), src.factory()
    ahead = 12.0  # a run yields its slot once it is min(10, 12 / 2) = 6 s ahead

    async def body(mgr: RunManager) -> None:
        check_segment(src, 0, await mgr.segment(factory, key, 0, session="a"))
        # A's run builds look-ahead with the only slot (not yet far enough to pause).
        await wait_until(lambda: only_run(mgr).next >= 8)
        assert only_run(mgr).state == "running"
        mgr._preempt(Priority.PREFETCH)  # queued look-ahead never preempts anyone
        mgr._preempt(Priority.BACKGROUND)
        assert only_run(mgr).state == "running"
        # B's first segment doesn't wait for A's run to get 12 s ahead: A yields now.
        check_segment(src, 20, await mgr.segment(factory, key, 20, session="b"))
        a = next(r for r in mgr.runs(key) if r.start == 0)
        assert a.state == "paused"
        assert src.plan.start(a.next) - src.plan.start(0) < ahead  # preempted, not throttled
        assert a.pid is not None
        # A's viewer plays on through what A made, then A gets a slot back.
        for i in range(1, a.next + 2):
            check_segment(src, i, await mgr.segment(factory, key, i, session="a"))
        assert next(r for r in mgr.runs(key) if r.start == 0).pid == a.pid  # same ffmpeg

    drive(tmp_path, body, transcode_slots=1, transcode_ahead_s=ahead)
    assert starts(spawns) == [0, 20]


def test_close_kills_running_and_paused_runs_and_removes_their_directories(
    src: Source, tmp_path: Path
) -> None:
    key, factory = src.key(), src.factory()
    pids: list[int] = []

    async def body(mgr: RunManager) -> None:
        await mgr.segment(factory, key, 0, session="a")
        await mgr.segment(factory, key, 15, session="b")
        await wait_until(lambda: all(r.state == "paused" for r in mgr.runs(key)))
        # A third run is still working when the server stops.
        waiter = asyncio.create_task(mgr.segment(factory, key, 25, session="c"))
        await wait_until(lambda: len(mgr.runs(key)) == 3)
        pids.extend(r.pid for r in mgr.runs(key) if r.pid is not None)
        dirs = [r.dir for r in mgr.runs(key)]
        assert any(d.is_dir() for d in dirs)
        await mgr.aclose()
        assert not mgr.runs()
        assert not any(d.exists() for d in dirs)
        await asyncio.gather(waiter, return_exceptions=True)

    drive(tmp_path, body, transcode_ahead_s=3.0)
    assert pids
    assert all(not Path(f"/proc/{pid}").exists() for pid in pids)
    assert os.getpid() not in pids


def test_live_runs_are_bounded_and_the_least_useful_paused_run_goes_first(
    src: Source, tmp_path: Path, spawns: list[list[str]]
) -> None:
    key, factory = src.key(), src.factory()

    async def body(mgr: RunManager) -> None:
        for n, start in enumerate((0, 10, 20)):  # viewers too far apart to share a run
            check_segment(src, start, await mgr.segment(factory, key, start, session=f"s{n}"))
            await wait_until(lambda: all(r.state != "running" for r in mgr.runs(key)))
            assert len(ffmpeg_children()) <= 2  # processes, running or stopped
            assert len(mgr.runs(key)) <= 2
        # A retired run's viewer simply gets a new run where it is.
        check_segment(src, 1, await mgr.segment(factory, key, 1, session="s0"))

    drive(tmp_path, body, transcode_slots=1, transcode_max_runs=2, transcode_ahead_s=3.0)
    assert starts(spawns)[:3] == [0, 10, 20]


@dataclass
class _PausedRun:
    """What retire_order looks at."""

    name: str
    lead: float | None
    last_used: float

    def lead_s(self) -> float | None:
        return self.lead


def test_retire_order_least_useful_first() -> None:
    runs = [
        _PausedRun("near", 5.0, 100.0),
        _PausedRun("far", 50.0, 100.0),
        _PausedRun("orphan", None, 200.0),
        _PausedRun("near-stale", 5.0, 10.0),
    ]
    ordered = retire_order(runs)
    assert [r.name for r in ordered] == ["orphan", "far", "near-stale", "near"]
