"""The transcode slot queue: priorities, FIFO within a priority, timeout -> Overloaded,
escalation, cancellation, and the queue-wait metric. No processes involved."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

import pytest
from prometheus_client import REGISTRY

from ferrite.errors import Overloaded
from ferrite.transcode.admission import Admission, Lease, Priority
from tests.fakes import FakeClock


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coro)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def wait_stats(priority: str) -> tuple[float, float]:
    labels = {"priority": priority}
    count = REGISTRY.get_sample_value("transcode_queue_wait_ms_count", labels) or 0.0
    total = REGISTRY.get_sample_value("transcode_queue_wait_ms_sum", labels) or 0.0
    return count, total


def test_a_viewer_jumps_look_ahead_and_equal_priorities_are_first_come_first_served() -> None:
    async def main() -> None:
        adm = Admission(1, timeout_s=5)
        first = await adm.acquire(Priority.PLAYBACK)
        assert (adm.in_use, adm.free) == (1, 0)
        order: list[str] = []

        async def want(name: str, priority: Priority) -> None:
            lease = await adm.acquire(priority)
            order.append(name)
            await asyncio.sleep(0.01)
            lease.release()

        tasks = []
        for name, priority in (
            ("resume", Priority.BACKGROUND),
            ("prefetch-1", Priority.PREFETCH),
            ("prefetch-2", Priority.PREFETCH),
            ("viewer-1", Priority.PLAYBACK),
            ("viewer-2", Priority.PLAYBACK),
        ):
            tasks.append(asyncio.create_task(want(name, priority)))
            await settle()
        assert adm.waiting == 5
        first.release()
        await asyncio.gather(*tasks)
        assert order == ["viewer-1", "viewer-2", "prefetch-1", "prefetch-2", "resume"]
        assert (adm.in_use, adm.waiting) == (0, 0)

    run(main())


def test_no_slot_within_the_timeout_is_overloaded_with_retry_after() -> None:
    async def main() -> None:
        adm = Admission(2, timeout_s=0.2)
        leases = [await adm.acquire(Priority.PLAYBACK) for _ in range(2)]
        before = wait_stats("prefetch")[0]
        began = time.monotonic()
        with pytest.raises(Overloaded) as caught:
            await adm.acquire(Priority.PREFETCH)
        assert time.monotonic() - began >= 0.19
        assert caught.value.status == 503
        assert caught.value.code == "overloaded"
        assert caught.value.retry_after >= 1
        assert "2 transcode slots" in caught.value.message
        assert wait_stats("prefetch")[0] == before + 1  # timed-out waits are observed too
        assert (adm.in_use, adm.waiting) == (2, 0)
        for lease in leases:
            lease.release()
        lease = await adm.acquire(Priority.PREFETCH)  # the queue still works
        lease.release()
        assert adm.in_use == 0
        assert Admission(1, 5, retry_after_s=7).retry_after_s == 7

    run(main())


def test_escalation_moves_a_waiter_up_keeping_its_place_and_restarts_its_timeout() -> None:
    async def main() -> None:
        adm = Admission(1, timeout_s=0.5)
        held = await adm.acquire(Priority.PLAYBACK)
        early = adm.ticket(Priority.PREFETCH)  # look-ahead, queued first (t=0)
        early_wait = asyncio.create_task(early.wait())
        await asyncio.sleep(0.25)
        late = asyncio.create_task(adm.acquire(Priority.PLAYBACK))  # t=0.25
        await asyncio.sleep(0.15)
        early.escalate(Priority.PLAYBACK)  # t=0.4: a viewer now waits for it
        early.escalate(Priority.BACKGROUND)  # never moves down
        await asyncio.sleep(0.2)  # t=0.6: past its first deadline, alive on the new one
        assert not early_wait.done()
        held.release()
        lease = await early_wait  # same priority as `late`, but it queued first
        assert not late.done()
        lease.release()
        (await late).release()
        assert (adm.in_use, adm.waiting) == (0, 0)

    run(main())


def test_a_cancelled_waiter_leaves_the_queue_and_a_slot_granted_as_it_leaves_comes_back() -> None:
    async def main() -> None:
        adm = Admission(1, timeout_s=5)
        held = await adm.acquire(Priority.PLAYBACK)
        gone = asyncio.create_task(adm.acquire(Priority.PLAYBACK))
        await settle()
        gone.cancel()
        await asyncio.gather(gone, return_exceptions=True)
        assert adm.waiting == 0
        # Granted and cancelled in the same loop iteration: the slot must not leak.
        racing = asyncio.create_task(adm.acquire(Priority.PLAYBACK))
        await settle()
        held.release()  # grants `racing` ...
        racing.cancel()  # ... which is cancelled before it runs
        await asyncio.gather(racing, return_exceptions=True)
        assert (adm.in_use, adm.waiting) == (0, 0)
        # A ticket given up without waiting leaves the queue as well.
        held = await adm.acquire(Priority.PLAYBACK)
        ticket = adm.ticket(Priority.PREFETCH)
        assert ticket.pending
        ticket.cancel()
        assert adm.waiting == 0
        held.release()
        assert adm.in_use == 0

    run(main())


def test_slot_context_releases_on_error_and_release_is_idempotent() -> None:
    async def main() -> None:
        adm = Admission(1, timeout_s=5)

        async def fail_inside() -> None:
            async with adm.slot(Priority.PLAYBACK) as held:
                assert isinstance(held, Lease)
                assert adm.in_use == 1
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            await fail_inside()
        assert adm.in_use == 0
        lease = await adm.acquire(Priority.PLAYBACK)
        lease.release()
        lease.release()
        assert lease.released
        assert adm.in_use == 0
        with pytest.raises(ValueError, match="at least one"):
            Admission(0, 5)

    run(main())


def test_queue_wait_is_measured_with_the_injected_clock() -> None:
    async def main() -> None:
        clock = FakeClock(1000.0)
        adm = Admission(1, timeout_s=5, clock=clock)
        count, total = wait_stats("background")
        held = await adm.acquire(Priority.PLAYBACK)
        waiter = asyncio.create_task(adm.acquire(Priority.BACKGROUND))
        await settle()
        clock.advance(2.5)
        held.release()
        (await waiter).release()
        new_count, new_total = wait_stats("background")
        assert new_count == count + 1
        assert new_total - total == pytest.approx(2500.0)

    run(main())


def test_the_owner_hears_when_a_waiter_has_to_queue() -> None:
    async def main() -> None:
        adm = Admission(1, timeout_s=5)
        heard: list[Priority] = []
        stop_hearing = adm.listen_contention(heard.append)
        held = await adm.acquire(Priority.PREFETCH)  # free slot: no contention
        assert heard == []
        ticket = adm.ticket(Priority.BACKGROUND)
        ticket.escalate(Priority.PLAYBACK)
        assert heard == [Priority.BACKGROUND, Priority.PLAYBACK]
        # The owner frees a slot from inside the callback: the head of the queue (the
        # escalated ticket, queued before this viewer) gets it.
        stop_hearing()
        adm.listen_contention(lambda _p: held.release())
        viewer = adm.ticket(Priority.PLAYBACK)
        assert not ticket.pending
        assert viewer.pending
        (await ticket.wait()).release()
        (await viewer.wait()).release()
        assert (adm.in_use, adm.waiting) == (0, 0)

    run(main())
