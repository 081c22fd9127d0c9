"""One transcode run: an ffmpeg process (or the wait for its admission slot) producing
segments ``start .. stop-1`` of one :class:`~ferrite.transcode.run_key.RenditionKey`, and
the bookkeeping of those segments -- who waits for which, which are made and not yet
handed out, how fast the run goes.

Readiness is event-driven: each csv line ffmpeg prints (``-segment_list pipe:1``) completes
that segment's future; nothing polls files or playlists. ffmpeg prints the last segment's
line only when it exits, which is simply when that future completes. Segment files live
in ``<data_dir>/transcode/<run id>/``; the directory is removed with the run.

The run does what its :class:`RunOwner` (the :class:`~ferrite.transcode.runs.RunManager`)
decides: pause, resume, retire; the rule is :mod:`ferrite.transcode.throttle`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ferrite import metrics
from ferrite.errors import FerriteError, Overloaded, TranscodeError
from ferrite.transcode import throttle
from ferrite.transcode.admission import Admission, Lease, Priority, Ticket
from ferrite.transcode.argv import parse_segment_line, transcode_argv
from ferrite.transcode.encoders import should_fall_back, software_fallback
from ferrite.transcode.job import TranscodeJob
from ferrite.transcode.process import FfmpegProcess
from ferrite.transcode.run_key import RenditionKey
from ferrite.transcode.throttle import RunState

__all__ = ["ProducerDied", "Run", "RunInfo", "RunOwner", "Waiter"]

log = logging.getLogger(__name__)


class RunOwner(Protocol):
    """What a run needs of the manager that owns it."""

    #: Set by a run whose hardware encoder failed to open: later runs go to software.
    hw_failed: bool

    @property
    def admission(self) -> Admission: ...

    def now(self) -> float: ...

    def evaluate(self, run: Run) -> None:
        """Run, pause, resume or drop ``run`` (after its waiters or playheads changed)."""

    def retire(self, run: Run) -> object:
        """Take ``run`` out of service and stop it."""

    def on_failure(self, run: Run, err: TranscodeError) -> None:
        """``run``'s ffmpeg died short of its plan with ``err``."""


@dataclass(frozen=True, slots=True)
class RunInfo:
    """A snapshot of one run (for tests, ``/metrics`` debugging and the admin page)."""

    id: str
    key: RenditionKey
    start: int
    stop: int
    next: int
    state: RunState
    pid: int | None
    viewers: int
    ready: int
    attempt: int
    dir: Path


class ProducerDied(Exception):
    """The producer of a segment died; look for (or start) another."""


class Waiter:
    """Requests waiting for one segment of one run (they share one future)."""

    __slots__ = ("count", "future", "priority")

    def __init__(self, future: asyncio.Future[bytes], priority: Priority) -> None:
        self.future = future
        self.count = 0
        self.priority = priority


def _consume(fut: asyncio.Future[bytes]) -> None:
    if not fut.cancelled():
        fut.exception()  # retrieved: no "never retrieved" noise when every waiter left


def _read(path: Path) -> bytes:
    return path.read_bytes()


def _unlink(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


class Run:
    """One ffmpeg process (or the wait for its slot) producing ``start .. stop-1``."""

    def __init__(
        self,
        mgr: RunOwner,
        run_id: str,
        key: RenditionKey,
        job: TranscodeJob,
        attempt: int,
        now: float,
    ) -> None:
        self.mgr = mgr
        self.id = run_id
        self.key = key
        self.job = job
        self.dir = Path(job.out_dir)
        self.start = job.start_index
        self.end = job.stop_index  # exclusive
        self.next = self.start
        self.attempt = attempt
        self.state: RunState = "queued"
        self.proc: FfmpegProcess | None = None
        self.lease: Lease | None = None
        self.ticket: Ticket | None = None
        self.ready: dict[int, Path] = {}
        self.waits: dict[int, Waiter] = {}
        self.viewers: dict[str | None, int] = {}
        self.last_used = now
        self.failure: FerriteError | None = None
        self.replaced = False  # a crashed run that was restarted (or must not be)
        self.stopping = False
        self.empty_at: int | None = None  # ffmpeg reported this segment without data
        self.tasks: set[asyncio.Task[None]] = set()
        self._gen_since: float | None = None
        self._media_s = 0.0  # media made while running, for speed()
        self._busy_s = 0.0  # wall time that took

    # -- bookkeeping ------------------------------------------------------------------

    def info(self) -> RunInfo:
        return RunInfo(
            id=self.id,
            key=self.key,
            start=self.start,
            stop=self.end,
            next=self.next,
            state=self.state,
            pid=self.proc.pid if self.proc is not None and self.proc.running else None,
            viewers=len(self.viewers),
            ready=len(self.ready),
            attempt=self.attempt,
            dir=self.dir,
        )

    def _task(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=f"run-{self.id}-{name}")
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("run %s: task failed", self.id, exc_info=task.exception())

    def _set_state(self, state: RunState) -> None:
        old, self.state = self.state, state
        if old == state:
            return
        if old in ("running", "paused"):
            metrics.ACTIVE_TRANSCODES.labels(state=old).dec()
        if state in ("running", "paused"):
            metrics.ACTIVE_TRANSCODES.labels(state=state).inc()

    @property
    def live(self) -> bool:
        """Still going to produce segments (queued, running or paused)."""
        return self.state != "done" and not self.stopping

    def will_reach(self, index: int, horizon_s: float) -> bool:
        """A live run whose next segment is ``index``, or which should make ``index``
        within ``horizon_s`` seconds."""
        return self.live and throttle.will_reach(
            self.job.boundaries, self.next, self.end, index, speed=self.speed(), horizon_s=horizon_s
        )

    def speed(self) -> float:
        """Media seconds this run makes per wall second (:func:`throttle.speed`)."""
        return throttle.speed(
            running=self.state == "running", media_s=self._media_s, busy_s=self._busy_s
        )

    def urgent_priority(self) -> Priority | None:
        """The most urgent priority among requests waiting for a segment not yet made."""
        best: Priority | None = None
        for index, w in self.waits.items():
            if index >= self.next and w.count > 0 and not w.future.done():
                best = w.priority if best is None else min(best, w.priority)
        return best

    def lead_s(self) -> float | None:
        """How far (seconds of media) the run is ahead of its furthest playhead; None
        without playheads."""
        furthest = max(self.viewers.values()) if self.viewers else None
        return throttle.lead_s(self.job.boundaries, self.next, furthest)

    # -- waiting for a segment -----------------------------------------------------------

    def wait_for(self, index: int, priority: Priority) -> Waiter:
        w = self.waits.get(index)
        if w is None:
            fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
            fut.add_done_callback(_consume)
            w = Waiter(fut, priority)
            self.waits[index] = w
            path = self.ready.pop(index, None)
            if path is not None:
                self._task(self._deliver(index, path, w), f"deliver-{index}")
        w.count += 1
        w.priority = min(w.priority, priority)
        return w

    def unwait(self, index: int, w: Waiter) -> None:
        w.count -= 1
        if w.count <= 0 and self.waits.get(index) is w:
            del self.waits[index]

    async def _deliver(self, index: int, path: Path, w: Waiter) -> None:
        try:
            data = await asyncio.get_running_loop().run_in_executor(None, _read, path)
            if not data:
                raise OSError("empty file")
        except OSError as exc:
            if not w.future.done():
                w.future.set_exception(
                    TranscodeError(
                        f"segment {index} of run {self.id} is unreadable", detail=str(exc)
                    )
                )
            return
        if w.count > 0 or self.waits.get(index) is w:
            if not w.future.done():
                w.future.set_result(data)
            await asyncio.to_thread(_unlink, path)
        elif not self.stopping:
            self.ready.setdefault(index, path)  # everyone left meanwhile: keep it

    # -- slot, process, pause/resume ------------------------------------------------------

    def want_running(self, priority: Priority) -> None:
        if self.state in ("running", "done") or self.stopping:
            return
        if self.ticket is not None:
            self.ticket.escalate(priority)
            return
        self.ticket = self.mgr.admission.ticket(priority)
        self._task(self._acquire(self.ticket), "acquire")

    def drop_ticket(self) -> None:
        if self.ticket is not None:
            self.ticket.cancel()
            self.ticket = None

    async def _acquire(self, ticket: Ticket) -> None:
        try:
            lease = await ticket.wait()
        except Overloaded as exc:
            if self.ticket is ticket:
                self.ticket = None
            self.fail_waiters(exc)
            if self.state == "queued":
                self.mgr.retire(self)
            return
        except asyncio.CancelledError:
            if self.ticket is ticket:
                self.ticket = None
            raise
        if self.ticket is ticket:
            self.ticket = None
        if self.stopping or self.state in ("running", "done"):
            lease.release()
            return
        self.lease = lease
        if self.proc is None:
            await self._spawn()
        else:
            self.proc.resume()
            self._gen_since = self.mgr.now()
            self._set_state("running")
        self.mgr.evaluate(self)

    async def _spawn(self) -> None:
        try:
            argv = transcode_argv(self.job)
            self.dir.mkdir(parents=True, exist_ok=True)
            proc = await FfmpegProcess.spawn(argv, on_line=self._on_line)
        except (TranscodeError, ValueError, OSError) as exc:
            err = (
                exc
                if isinstance(exc, TranscodeError)
                else TranscodeError(
                    f"cannot start the transcode of {self.key.rendition}", detail=str(exc)
                )
            )
            self._release()
            self.failure = err
            self.replaced = True  # a restart would fail the same way
            self._set_state("done")
            self.fail_waiters(err)
            return
        if self.stopping:  # stopped while spawning
            await proc.kill()
            self._release()
            return
        self.proc = proc
        self._gen_since = self.mgr.now()
        self._set_state("running")
        self._task(self._watch(proc), "watch")

    def pause(self) -> None:
        if self.state != "running" or self.proc is None:
            return
        self.proc.pause()
        self._release()
        self._gen_since = None
        self._set_state("paused")

    def _release(self) -> None:
        if self.lease is not None:
            self.lease.release()
            self.lease = None

    # -- events from ffmpeg -----------------------------------------------------------

    def _on_line(self, text: str) -> None:
        text = text.strip()
        if not text:
            return
        try:
            line = parse_segment_line(text)
        except ValueError:
            log.warning("run %s: unexpected ffmpeg output %r", self.id, text)
            return
        index = line.index
        if index < self.next:
            return
        if not self.start <= index < self.end or line.end_s <= self.job.boundaries[index]:
            # "N.ts,0.000000,0.000000" and an empty file: ffmpeg had no packet for it
            # (the source ends before it). Not produced; the exit handler fails it.
            self.empty_at = index
            return
        for skipped in range(self.next, index):  # never seen; a waiter must not hang
            w = self.waits.get(skipped)
            if w is not None and not w.future.done():
                w.future.set_exception(TranscodeError(f"ffmpeg skipped segment {skipped}"))
        now = self.mgr.now()
        if self._gen_since is not None:
            metrics.SEGMENT_GENERATION.labels(mode="transcode").observe(
                (now - self._gen_since) * 1000
            )
            b = self.job.boundaries
            end = b[index + 1] if index + 1 < len(b) else line.end_s
            self._media_s += max(0.0, end - b[self.next])
            self._busy_s += now - self._gen_since
        self._gen_since = now
        self.next = index + 1
        path = self.dir / line.filename
        w = self.waits.get(index)
        if w is not None and not w.future.done():
            self._task(self._deliver(index, path, w), f"deliver-{index}")
        else:
            self.ready[index] = path
        self.mgr.evaluate(self)

    async def _watch(self, proc: FfmpegProcess) -> None:
        rc = await proc.wait()
        if proc is not self.proc or self.stopping or proc.killed:
            return
        done = self.next - self.start
        if rc == 0 and self.next >= self.end:
            self.drop_ticket()
            self._release()
            self._set_state("done")
            return
        stderr = proc.stderr_tail
        if should_fall_back(self.job, rc, stderr, done):
            log.warning(
                "run %s: %s encoder failed to open, falling back to software: %s",
                self.id, self.job.hwaccel, proc.error_summary(),
            )  # fmt: skip
            self.mgr.hw_failed = True
            self.job = software_fallback(self.job)
            self.proc = None
            self._set_state("queued")
            if self.lease is None:
                self.want_running(Priority.PLAYBACK)
            else:
                await self._spawn()
            return
        if self.empty_at is not None and rc == 0:
            why = f"found no data for segment {self.empty_at} (the source ends early?)"
        elif rc == 0:
            why = f"stopped at segment {self.next} of {self.end} (the source ends early?)"
        elif rc < 0:
            why = f"was killed by signal {-rc} at segment {self.next}"
        else:
            why = f"exited with code {rc} at segment {self.next}"
        err = TranscodeError(
            f"transcoding {self.key.rendition} failed: ffmpeg {why}", detail=proc.error_summary()
        )
        log.warning("run %s: %s: %s", self.id, err.message, err.detail)
        self.drop_ticket()
        self._release()
        self.failure = err
        self._set_state("done")
        self.mgr.on_failure(self, err)

    def fail_waiters(self, exc: BaseException) -> None:
        """Fail every request waiting for a segment this run hasn't made."""
        for index, w in self.waits.items():
            if index >= self.next and not w.future.done():
                w.future.set_exception(exc)

    async def stop(self) -> None:
        """Kill the process (if any), give back the slot, end every task; idempotent."""
        self.stopping = True
        self.drop_ticket()
        if self.proc is not None:
            await self.proc.kill()
        self._release()
        self._set_state("done")
        self.fail_waiters(TranscodeError("the transcode was stopped"))
        current = asyncio.current_task()
        tasks = [t for t in self.tasks if t is not current]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
