"""Transcode slots: a priority queue with a timeout, not ``try_acquire``.

A slot is permission for one *running* ffmpeg (DESIGN.md principle 5). Waiters queue by
:class:`Priority` (a viewer staring at a spinner beats look-ahead, which beats a paused run
catching up), first come first served within a priority. A waiter that gets no slot within
``timeout_s`` raises :class:`~ferrite.errors.Overloaded` carrying ``retry_after`` (the HTTP
layer answers 503 with ``Retry-After``). The time each waiter spent queued is observed in
``transcode_queue_wait_ms{priority}``.

Two ways in:

- ``async with admission.slot(priority):`` -- hold a slot for a block (the progressive
  stream holds one for its whole life);
- ``ticket = admission.ticket(priority)``; ``lease = await ticket.wait()``;
  ``lease.release()`` -- for an owner whose need changes while it waits: a transcode run
  queued for look-ahead that a viewer now waits for calls ``ticket.escalate(PLAYBACK)``,
  which moves it up (keeping its place in arrival order) and restarts its timeout.

Paused runs give their slot back (see ``ferrite.transcode.runs``), so a slot count bounds
the CPU actually being spent, not the number of viewers; and :meth:`Admission.listen_contention`
lets the run manager pause look-ahead work when a viewer has to queue.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from ferrite import metrics
from ferrite.errors import Overloaded
from ferrite.media.priority import Priority

__all__ = ["Admission", "Lease", "Priority", "Ticket"]

Clock = Callable[[], float]


class Lease:
    """One granted slot. ``release()`` is idempotent."""

    __slots__ = ("_admission", "_released")

    def __init__(self, admission: Admission) -> None:
        self._admission = admission
        self._released = False

    @property
    def released(self) -> bool:
        return self._released

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._admission._release()


class Ticket:
    """A place in the queue. Await :meth:`wait` once; :meth:`escalate` from anywhere."""

    __slots__ = ("_admission", "_entry", "_future", "_started", "_timeout", "priority", "seq")

    def __init__(self, admission: Admission, priority: Priority, seq: int) -> None:
        self._admission = admission
        self.priority = priority
        self.seq = seq
        self._future: asyncio.Future[Lease] = asyncio.get_running_loop().create_future()
        self._entry: list[object] | None = None
        self._timeout: asyncio.Timeout | None = None
        self._started = admission._clock()

    @property
    def pending(self) -> bool:
        return not self._future.done()

    def escalate(self, priority: Priority) -> None:
        """Wait at ``priority`` from now on if that is more urgent, with a fresh timeout."""
        if priority >= self.priority or self._future.done():
            return
        self.priority = priority
        self._admission._requeue(self)
        self._admission._contended(priority)
        if self._timeout is not None:
            loop = asyncio.get_running_loop()
            self._timeout.reschedule(loop.time() + self._admission.timeout_s)

    async def wait(self) -> Lease:
        """The granted slot; :class:`Overloaded` after the timeout. Cancelling the caller
        leaves the queue (a slot granted in the same instant is given back)."""
        adm = self._admission
        try:
            async with asyncio.timeout(adm.timeout_s) as cm:
                self._timeout = cm
                lease = await self._future
        except TimeoutError:
            self._abandon()
            self._observe()
            raise Overloaded(
                f"all {adm.slots} transcode slots are busy", retry_after=adm.retry_after_s
            ) from None
        except BaseException:
            self._abandon()
            raise
        self._observe()
        return lease

    def cancel(self) -> None:
        """Leave the queue without waiting (the owner no longer needs a slot)."""
        self._abandon()

    def _abandon(self) -> None:
        self._admission._drop(self)
        fut = self._future
        if fut.done():
            if not fut.cancelled():
                fut.result().release()  # granted just as we gave up: give it back
        else:
            fut.cancel()

    def _observe(self) -> None:
        waited_ms = (self._admission._clock() - self._started) * 1000
        metrics.TRANSCODE_QUEUE_WAIT.labels(priority=self.priority.name.lower()).observe(waited_ms)


class Admission:
    """``slots`` concurrent transcodes; waiters ordered by (priority, arrival)."""

    def __init__(
        self,
        slots: int,
        timeout_s: float,
        *,
        clock: Clock = time.monotonic,
        retry_after_s: float | None = None,
    ) -> None:
        if slots < 1:
            raise ValueError("at least one transcode slot is needed")
        self.slots = slots
        self.timeout_s = timeout_s
        #: What a 503 tells the client: roughly how long a slot takes to free up (a
        #: segment's worth of work, or a paused run yielding), never less than a second.
        self.retry_after_s = (
            retry_after_s if retry_after_s is not None else max(1.0, min(timeout_s / 4, 10.0))
        )
        self._clock = clock
        self._in_use = 0
        self._heap: list[list[object]] = []  # [priority, seq, ticket | None]
        self._waiting = 0
        self._seq = itertools.count()
        self._on_contention: list[Callable[[Priority], None]] = []

    def listen_contention(self, listener: Callable[[Priority], None]) -> Callable[[], None]:
        """Call ``listener(priority)`` whenever a waiter has to queue (or moves up): the
        owner of running work may free a slot for it (the run manager pauses the run
        furthest ahead of its viewers when a viewer waits). Returns the remover."""
        self._on_contention.append(listener)
        return lambda: self._on_contention.remove(listener)

    @property
    def in_use(self) -> int:
        return self._in_use

    @property
    def free(self) -> int:
        return self.slots - self._in_use

    @property
    def waiting(self) -> int:
        return self._waiting

    def ticket(self, priority: Priority) -> Ticket:
        """Join the queue now (granted at once if a slot is free and nobody waits)."""
        ticket = Ticket(self, priority, next(self._seq))
        if self._in_use < self.slots and self._waiting == 0:
            self._in_use += 1
            ticket._future.set_result(Lease(self))
        else:
            self._push(ticket)
            self._contended(priority)
        return ticket

    async def acquire(self, priority: Priority) -> Lease:
        return await self.ticket(priority).wait()

    @asynccontextmanager
    async def slot(self, priority: Priority) -> AsyncIterator[Lease]:
        lease = await self.acquire(priority)
        try:
            yield lease
        finally:
            lease.release()

    # -- internals (a heap with lazy deletion: O(log n) push, pop, re-prioritise) --------

    def _push(self, ticket: Ticket) -> None:
        entry: list[object] = [int(ticket.priority), ticket.seq, ticket]
        ticket._entry = entry
        heapq.heappush(self._heap, entry)
        self._waiting += 1

    def _contended(self, priority: Priority) -> None:
        for listener in self._on_contention:
            listener(priority)

    def _requeue(self, ticket: Ticket) -> None:
        if ticket._entry is None:
            return
        ticket._entry[2] = None
        self._waiting -= 1
        self._push(ticket)

    def _drop(self, ticket: Ticket) -> None:
        if ticket._entry is not None:
            ticket._entry[2] = None
            ticket._entry = None
            self._waiting -= 1

    def _release(self) -> None:
        self._in_use -= 1
        while self._heap and self._in_use < self.slots:
            entry = heapq.heappop(self._heap)
            ticket = entry[2]
            if not isinstance(ticket, Ticket):
                continue  # dropped or re-prioritised
            ticket._entry = None
            self._waiting -= 1
            if ticket._future.done():
                continue
            self._in_use += 1
            ticket._future.set_result(Lease(self))
