"""Transcode runs: one ffmpeg per (file, rendition, starting segment), shared by viewers.

A segment is a pure function of (file, rendition, index) (DESIGN.md principle 1), so runs
are keyed by :class:`RenditionKey` -- file fingerprint, plan key, rendition id and a hash
of everything else that changes the bytes -- never by viewer. The HLS layer asks
:meth:`RunManager.segment` for segment ``i`` of a key and gets the finished MPEG-TS bytes.

Finding the producer (:meth:`RunManager.segment`)
    1. a run of that key already holds ``i`` (produced, not yet handed out) -> its bytes;
    2. a live run will produce ``i`` soon: ``i`` is its next segment, or it should get
       there within ``JOIN_HORIZON_S`` at its measured speed -> await ``i``'s future (two
       viewers, one ffmpeg);
    3. otherwise a new run starts at ``i`` (a seek, or a second viewer far away). Other
       runs of the key keep serving their viewers; one whose viewer moved elsewhere has
       nobody ahead of it, pauses at once, and is reaped when idle.
    A segment is handed out once and its file deleted: the caller's cache shares the past
    between viewers, runs share the future.

Readiness is event-driven: each csv line ffmpeg prints (``-segment_list pipe:1``) completes
that segment's future; nothing polls files or playlists. ffmpeg prints the last segment's
line only when it exits, which is simply when that future completes. Segment files live
in ``<data_dir>/transcode/<run id>/``; the directory is removed with the run.

Throttling
    A session's *playhead* (per key) is the last segment it requested (or reported with
    :meth:`RunManager.note_position`); look-ahead requests (``Priority.PREFETCH``) don't
    move it. A run with nobody waiting on it that is more than ``transcode_ahead_s`` ahead
    of every playhead attached to it (or has none) is paused with ``SIGSTOP`` -- any
    encoder, zero CPU -- and **gives its admission slot back**, so a viewer who paused the
    film doesn't block a new viewer's first segment. Likewise, when a viewer has to queue
    for a slot, the running run furthest ahead of its viewers (at least ``min(10 s,
    ahead_s / 2)``, nobody waiting on it) is paused for it: look-ahead never holds a slot
    a first segment or a seek needs. It resumes (``SIGCONT``) when the
    furthest playhead comes within half of that (hysteresis: no stop/continue per
    segment), re-acquiring a slot at ``BACKGROUND`` priority (it still has a buffer to
    serve), or at once at the waiter's priority when someone waits for a segment it hasn't
    made yet.

Bounded
    A paused run still holds its ffmpeg (a decoder and an encoder in memory), so runs that
    hold or will hold one -- queued, running, paused -- are capped by ``max_runs``
    (``transcode_max_runs``): a new run beyond the cap retires paused runs, least useful
    first (:func:`retire_order`: nobody watching, then furthest ahead of its viewers, then
    longest unused). Random seeks and stops cannot pile up stopped ffmpegs.

Idle
    One reaper task (owned by the manager, cancelled by :meth:`RunManager.aclose`) kills
    runs nobody asked anything of for ``transcode_idle_s`` and drops finished runs with
    nothing left to hand out.

Failures
    - A hardware encoder that fails to open (:func:`~ferrite.transcode.argv.should_fall_back`)
      is retried in place on the CPU (:func:`~ferrite.transcode.argv.software_fallback`),
      and later runs go straight to software.
    - An ffmpeg that dies mid-run (non-zero exit, a signal we didn't send, or exit 0 short
      of the plan) makes its waiters look again; the first of them starts a replacement
      run at the segment it wants -- a *restart*, counted in ``ffmpeg_restarts_total``.
      Without waiters, the next request for a segment the dead run would have made is the
      restart. A restart that dies again without producing its first segment marks that
      segment bad for a while: its requests fail with a clear
      :class:`~ferrite.errors.TranscodeError`, and requests past it start a new run there
      (an undecodable stretch in the middle of a file costs only its own segments).
    - No slot within ``transcode_queue_timeout_s`` -> :class:`~ferrite.errors.Overloaded`.

Use from the HLS layer (one manager per server, closed at shutdown)::

    runs = RunManager(settings)                      # async with, or await runs.aclose()
    key = RenditionKey.for_job(file.fingerprint, plan.key, rung.id, job_factory(0))

    def job_factory(k: int) -> TranscodeJob:         # pure: called when a run starts at k
        return TranscodeJob(input=path, boundaries=starts, start_index=k, out_dir="",
                            video=VideoJob.for_stream(info.video, rung), ...)

    data = await runs.segment(job_factory, key, n, session=session.id)   # MPEG-TS bytes
    # look-ahead: priority=Priority.PREFETCH (doesn't move the playhead)
    # on session stop / rendition switch: runs.forget(session.id[, key])
    # Overloaded -> 503 + Retry-After; TranscodeError -> 500; NotFound -> 404
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import os
import shutil
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from ferrite import metrics
from ferrite.config import Settings
from ferrite.errors import FerriteError, NotFound, Overloaded, TranscodeError
from ferrite.transcode.admission import Admission, Lease, Priority, Ticket
from ferrite.transcode.argv import (
    TranscodeJob,
    parse_segment_line,
    should_fall_back,
    software_fallback,
    transcode_argv,
)
from ferrite.transcode.process import FfmpegProcess

__all__ = ["JobFactory", "Priority", "RenditionKey", "RunInfo", "RunManager", "spec_hash"]

log = logging.getLogger(__name__)

Clock = Callable[[], float]
#: ``job_factory(start_index)`` -> the run's job (any ``out_dir``: the manager sets it).
JobFactory = Callable[[int], TranscodeJob]
RunState = Literal["queued", "running", "paused", "done"]

#: A request joins a live run when that run should make its segment within this many
#: seconds (at the run's measured speed); otherwise a new run starts at the segment: about
#: what a new run takes to make its first segment, so a seek never waits for a run
#: crawling towards it (10 s segments once made a seek wait 18 s).
JOIN_HORIZON_S = 2.5
#: Media seconds per wall second assumed of a run before it has measured its own speed.
ASSUMED_SPEED = 1.0
#: A new run for a segment at most this many past where a crashed run stopped is that
#: run's restart (counted, and given up after repeated failures).
RESTART_WINDOW = 5
#: A paused run resumes when the furthest playhead is within this fraction of ahead_s.
RESUME_FRACTION = 0.5
#: A running run at least this far ahead of its viewers (capped at ahead_s / 2) yields its
#: slot to a viewer who has to queue: look-ahead never blocks a first segment.
PREEMPT_LEAD_S = 10.0
#: How long a segment that failed twice answers with its error without a new attempt.
BAD_SEGMENT_TTL_S = 60.0
_BAD_SEGMENTS_MAX = 1024
#: A request looks for a producer at most this many times (each look follows a crash).
_MAX_LOOKS = 4


@dataclass(frozen=True, slots=True)
class RenditionKey:
    """What a run produces, independent of who watches: the file (content fingerprint),
    its segment plan (``SegmentPlan.key``), the rendition id (``"720p"``, ``"aac-2ch"``)
    and :func:`spec_hash` of the job (rung, tone mapping, deinterlace, burn-in, audio
    target, encoder quality)."""

    fingerprint: str
    plan_key: str
    rendition: str
    spec: str

    @classmethod
    def for_job(
        cls, fingerprint: str, plan_key: str, rendition: str, job: TranscodeJob
    ) -> RenditionKey:
        return cls(fingerprint, plan_key, rendition, spec_hash(job))

    def __str__(self) -> str:
        return f"{self.fingerprint[:8]}/{self.plan_key[:8]}/{self.rendition}/{self.spec[:8]}"


def spec_hash(job: TranscodeJob) -> str:
    """16 hex digits over what decides a run's output bytes, minus where it runs: the
    input path, plan, start/end, output directory, ffmpeg binary, hardware device and
    thread count are left out (hardware and software encodes of one rung cut at the same
    times are interchangeable segments)."""
    neutral = replace(
        job,
        input="",
        boundaries=(),
        start_index=0,
        end_index=None,
        out_dir="",
        source_start_s=0.0,
        ffmpeg="",
        hwaccel="none",
        vaapi_device="",
        threads=None,
    )
    return hashlib.sha256(repr(neutral).encode()).hexdigest()[:16]


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


class _Retry(Exception):
    """The producer of a segment died; look for (or start) another."""


class _Waiter:
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


def _unlink_all(paths: list[Path]) -> None:
    for path in paths:
        _unlink(path)


class _Run:
    """One ffmpeg process (or the wait for its slot) producing ``start .. stop-1``."""

    def __init__(
        self,
        mgr: RunManager,
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
        self.waits: dict[int, _Waiter] = {}
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
        if not (self.live and self.next <= index < self.end):
            return False
        if index == self.next:
            return True
        b = self.job.boundaries
        media_s = b[index] - b[self.next]
        return media_s / self.speed() <= horizon_s

    def speed(self) -> float:
        """Media seconds this run makes per wall second: measured while it runs; a queued
        or paused run must first get a slot back, so it is assumed slow."""
        if self.state != "running" or self._media_s < 1.0 or self._busy_s < 0.2:
            return ASSUMED_SPEED
        return self._media_s / self._busy_s

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
        if not self.viewers:
            return None
        b = self.job.boundaries
        head = max(self.viewers.values())
        nxt = min(self.next, len(b) - 1)
        return b[nxt] - b[min(head, len(b) - 1)]

    # -- waiting for a segment -----------------------------------------------------------

    def wait_for(self, index: int, priority: Priority) -> _Waiter:
        w = self.waits.get(index)
        if w is None:
            fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
            fut.add_done_callback(_consume)
            w = _Waiter(fut, priority)
            self.waits[index] = w
            path = self.ready.pop(index, None)
            if path is not None:
                self._task(self._deliver(index, path, w), f"deliver-{index}")
        w.count += 1
        w.priority = min(w.priority, priority)
        return w

    def unwait(self, index: int, w: _Waiter) -> None:
        w.count -= 1
        if w.count <= 0 and self.waits.get(index) is w:
            del self.waits[index]

    async def _deliver(self, index: int, path: Path, w: _Waiter) -> None:
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
                self.mgr._retire(self)
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
            self._gen_since = self.mgr._clock()
            self._set_state("running")
        self.mgr._evaluate(self)

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
        self._gen_since = self.mgr._clock()
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
        now = self.mgr._clock()
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
        self.mgr._evaluate(self)

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
            self.mgr._hw_failed = True
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
        self.mgr._on_failure(self, err)

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


def retire_order(runs: list[_Run]) -> list[_Run]:
    """Paused runs from least to most useful: without viewers first (nobody will come
    back to them), then the furthest ahead of their viewers, then the longest unused."""

    def key(run: _Run) -> tuple[bool, float, float]:
        lead = run.lead_s()
        return (lead is not None, -(lead or 0.0), run.last_used)

    return sorted(runs, key=key)


@dataclass(slots=True)
class _Playhead:
    index: int
    run: _Run


class RunManager:
    """Every transcode run of the server. Use as ``async with RunManager(settings):`` or
    call :meth:`aclose`."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = time.monotonic,
        admission: Admission | None = None,
        join_horizon_s: float = JOIN_HORIZON_S,
        reap_interval_s: float | None = None,
    ) -> None:
        self._clock = clock
        self.admission = admission or Admission(
            settings.transcode_slots, settings.transcode_queue_timeout_s, clock=clock
        )
        self.idle_s = settings.transcode_idle_s
        self.ahead_s = settings.transcode_ahead_s
        self.join_horizon_s = join_horizon_s
        self.max_runs = settings.max_runs
        self.reap_interval_s = (
            reap_interval_s if reap_interval_s is not None else min(max(self.idle_s / 4, 0.05), 5.0)
        )
        self.preempt_lead_s = min(PREEMPT_LEAD_S, self.ahead_s / 2)
        self.admission.on_contention = self._preempt
        self.root = Path(settings.data_dir) / "transcode"
        self._runs: dict[RenditionKey, list[_Run]] = {}
        self._playheads: dict[tuple[str | None, RenditionKey], _Playhead] = {}
        self._by_session: dict[str | None, set[RenditionKey]] = {}
        self._bad: OrderedDict[tuple[RenditionKey, int], tuple[float, TranscodeError]] = (
            OrderedDict()
        )
        self._hw_failed = False
        self._ids = itertools.count(1)
        self._prefix = f"{os.getpid()}-"
        self._reaper: asyncio.Task[None] | None = None
        self._stops: dict[_Run, asyncio.Task[None]] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        self._closed = False
        self._remove_stale_dirs()

    async def __aenter__(self) -> RunManager:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- the API ----------------------------------------------------------------------

    async def segment(
        self,
        job_factory: JobFactory,
        key: RenditionKey,
        index: int,
        *,
        priority: Priority = Priority.PLAYBACK,
        session: str | None = None,
    ) -> bytes:
        """The MPEG-TS bytes of segment ``index`` of ``key``.

        ``job_factory(k)`` builds the job of a run starting at segment ``k`` (called only
        when a run must start). ``session`` identifies the viewer for throttling (one
        anonymous viewer per key when None); ``Priority.PREFETCH`` marks look-ahead, which
        neither moves the viewer's playhead nor beats a viewer's first segment to a slot.

        Raises :class:`~ferrite.errors.Overloaded` (no slot in time),
        :class:`~ferrite.errors.TranscodeError` (ffmpeg failed on this segment twice, or
        the server is shutting down), :class:`~ferrite.errors.NotFound` (index not in the
        plan).
        """
        if self._closed:
            raise TranscodeError("the transcoder is shutting down")
        self._start_reaper()
        for _ in range(_MAX_LOOKS):
            self._check_bad(key, index)
            run = self._locate(key, index) or self._new_run(job_factory, key, index)
            run.last_used = self._clock()
            if priority != Priority.PREFETCH:
                self._move_playhead(session, key, index, run)
            w = run.wait_for(index, priority)
            try:
                self._evaluate(run)
                return await asyncio.shield(w.future)
            except _Retry:
                continue
            finally:
                run.unwait(index, w)
                if not run.stopping:
                    self._evaluate(run)
        raise TranscodeError(f"transcoding {key.rendition} keeps failing at segment {index}")

    def note_position(self, key: RenditionKey, index: int, *, session: str | None = None) -> None:
        """A viewer is at segment ``index`` of ``key`` (e.g. from a player heartbeat), so
        runs ahead of it may need to resume or may pause. Never starts a run."""
        ph = self._playheads.get((session, key))
        run = self._locate(key, index)
        if run is None and ph is not None and ph.run.start <= index < ph.run.end:
            run = ph.run
        if run is None:
            return
        run.last_used = self._clock()
        self._move_playhead(session, key, index, run)
        self._evaluate(run)

    def forget(self, session: str | None, key: RenditionKey | None = None) -> None:
        """A session stopped (or left ``key``, e.g. an ABR switch): its playheads no longer
        hold runs going."""
        keys = [key] if key is not None else list(self._by_session.get(session, ()))
        for k in keys:
            ph = self._playheads.pop((session, k), None)
            self._session_keys_discard(session, k)
            if ph is not None:
                ph.run.viewers.pop(session, None)
                self._evaluate(ph.run)

    def runs(self, key: RenditionKey | None = None) -> list[RunInfo]:
        """Snapshots of the runs (of ``key``, or all)."""
        groups = [self._runs.get(key, [])] if key is not None else list(self._runs.values())
        return [run.info() for runs in groups for run in runs]

    async def reap(self) -> int:
        """One reaper tick: stop idle runs, drop finished ones with nothing left to hand
        out, forget expired bad segments. Returns how many runs were removed."""
        now = self._clock()
        doomed: list[_Run] = []
        for run in self._all_runs():
            if any(w.count > 0 for w in run.waits.values()):
                continue
            idle = now - run.last_used >= self.idle_s
            spent = run.state == "done" and not run.ready and (run.failure is None or run.replaced)
            if idle or spent:
                doomed.append(run)
            elif run.viewers and run.ready:
                # Segments every viewer of the run has passed: nobody will ask this run.
                low = min(run.viewers.values())
                stale = [run.ready.pop(i) for i in [i for i in run.ready if i < low]]
                if stale:
                    await asyncio.to_thread(_unlink_all, stale)
        for run in doomed:
            await self._remove(run)  # shielded: a cancelled tick still finishes the kill
        while self._bad and next(iter(self._bad.values()))[0] <= now:
            self._bad.popitem(last=False)
        return len(doomed)

    async def aclose(self) -> None:
        """Kill every ffmpeg, wait for them, remove every run directory."""
        self._closed = True
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
            self._reaper = None
        for run in list(self._all_runs()):
            self._retire(run)
        while self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)
        self._playheads.clear()
        self._by_session.clear()

    # -- finding and starting runs ------------------------------------------------------

    def _all_runs(self) -> Iterator[_Run]:
        for runs in list(self._runs.values()):
            yield from list(runs)

    def _locate(self, key: RenditionKey, index: int) -> _Run | None:
        best: _Run | None = None
        for run in self._runs.get(key, ()):
            if index in run.ready or (index in run.waits and run.live):
                return run
            if run.will_reach(index, self.join_horizon_s) and (
                best is None or run.next > best.next
            ):
                best = run
        return best

    def _new_run(self, job_factory: JobFactory, key: RenditionKey, index: int) -> _Run:
        runs = self._runs.setdefault(key, [])
        attempt = 0
        for old in runs:
            if (
                old.failure is not None
                and not old.replaced
                and old.next <= index < old.end
                and index <= old.next + RESTART_WINDOW
            ):
                # The dead run would have made this segment: this run is its restart.
                attempt = old.attempt + 1
                old.replaced = True
                metrics.FFMPEG_RESTARTS.inc()
                break
        run_id = f"{self._prefix}{next(self._ids)}"
        try:
            job = job_factory(index)
        except (ValueError, IndexError) as exc:
            raise NotFound(f"no segment {index} in {key.rendition}: {exc}") from exc
        if not 0 <= index < len(job.boundaries) or job.start_index != index:
            raise NotFound(f"no segment {index} in {key.rendition}")
        job = replace(job, out_dir=str(self.root / run_id))
        if self._hw_failed and job.hwaccel != "none":
            job = software_fallback(job)
        try:
            transcode_argv(job)  # validate now: a bad job is the caller's error, not a crash
        except ValueError as exc:
            raise TranscodeError(f"cannot transcode {key.rendition}: {exc}") from exc
        run = _Run(self, run_id, key, job, attempt, self._clock())
        runs.append(run)
        log.debug("run %s: %s from segment %d (attempt %d)", run_id, key, index, attempt)
        self._bound_live()
        return run

    def _bound_live(self) -> None:
        """Retire paused runs, least useful first, while more than ``max_runs`` runs hold
        (or are about to hold) an ffmpeg."""
        live = [r for r in self._all_runs() if r.live]
        excess = len(live) - self.max_runs
        if excess <= 0:
            return
        paused = [r for r in live if r.state == "paused" and r.urgent_priority() is None]
        for run in retire_order(paused)[:excess]:
            log.debug("run %s: retired, %d live runs at most", run.id, self.max_runs)
            self._retire(run)

    def _on_failure(self, run: _Run, err: TranscodeError) -> None:
        if run.next == run.start and (run.attempt >= 1 or run.empty_at == run.start):
            # A restart that couldn't make its first segment, or a clean exit with nothing
            # to put in it (the readable source ends before it): that segment is bad.
            self._mark_bad(run.key, run.start, err)
            run.replaced = True
        run.fail_waiters(_Retry())

    def _mark_bad(self, key: RenditionKey, index: int, err: TranscodeError) -> None:
        self._bad[key, index] = (self._clock() + BAD_SEGMENT_TTL_S, err)
        self._bad.move_to_end((key, index))
        while len(self._bad) > _BAD_SEGMENTS_MAX:
            self._bad.popitem(last=False)

    def _check_bad(self, key: RenditionKey, index: int) -> None:
        entry = self._bad.get((key, index))
        if entry is None:
            return
        until, err = entry
        if until <= self._clock():
            del self._bad[key, index]
            return
        raise TranscodeError(err.message, detail=err.detail)

    # -- playheads and throttling ---------------------------------------------------------

    def _move_playhead(self, session: str | None, key: RenditionKey, index: int, run: _Run) -> None:
        ph = self._playheads.get((session, key))
        if ph is None:
            self._playheads[session, key] = _Playhead(index, run)
            self._by_session.setdefault(session, set()).add(key)
        else:
            old = ph.run
            ph.index, ph.run = index, run
            if old is not run:
                old.viewers.pop(session, None)
                self._evaluate(old)
        run.viewers[session] = index

    def _session_keys_discard(self, session: str | None, key: RenditionKey) -> None:
        keys = self._by_session.get(session)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_session[session]

    def _evaluate(self, run: _Run) -> None:
        """Run, pause, resume or drop ``run`` according to who waits and who watches."""
        if not run.live:
            return
        urgent = run.urgent_priority()
        if urgent is not None:
            run.want_running(urgent)
            return
        lead = run.lead_s()
        if run.state == "queued":
            if lead is None or lead > self.ahead_s:
                # Nobody wants it any more and it never started: nothing to keep.
                self._retire(run)
            return
        if run.state == "running":
            # A run that has made its last segment is exiting by itself: a SIGSTOP now
            # would keep its ffmpeg stopped until the idle reaper comes.
            if (lead is None or lead > self.ahead_s) and run.next < run.end:
                run.pause()
        elif run.state == "paused":
            if lead is not None and lead <= self.ahead_s * RESUME_FRACTION:
                run.want_running(Priority.BACKGROUND)
            elif run.ticket is not None and (lead is None or lead > self.ahead_s):
                run.drop_ticket()

    def _preempt(self, priority: Priority) -> None:
        """A viewer has to queue for a slot: pause the running run that is furthest ahead
        of its viewers (and that nobody waits on), which hands its slot to the queue. It
        resumes like any paused run (``BACKGROUND`` as its viewers approach, at once at
        their priority if one of them waits)."""
        if priority != Priority.PLAYBACK:
            return
        best: _Run | None = None
        best_lead = 0.0
        for run in self._all_runs():
            if run.state != "running" or run.urgent_priority() is not None or run.next >= run.end:
                continue
            lead = run.lead_s()
            lead = float("inf") if lead is None else lead
            if lead >= self.preempt_lead_s and (best is None or lead > best_lead):
                best, best_lead = run, lead
        if best is not None:
            log.debug("run %s: paused for a waiting viewer (%.1f s ahead)", best.id, best_lead)
            best.pause()

    # -- removal, the reaper, the directory ----------------------------------------------

    async def _remove(self, run: _Run) -> None:
        await asyncio.shield(self._retire(run))

    def _retire(self, run: _Run) -> asyncio.Task[None]:
        """Take ``run`` out of service now; stopping it (kill, reap, remove its directory)
        is a task the manager owns, so it completes even if the caller is cancelled, and
        :meth:`aclose` waits for it."""
        run.stopping = True
        run.drop_ticket()
        runs = self._runs.get(run.key)
        if runs is not None and run in runs:
            runs.remove(run)
            if not runs:
                del self._runs[run.key]
        for session in list(run.viewers):
            ph = self._playheads.get((session, run.key))
            if ph is not None and ph.run is run:
                del self._playheads[session, run.key]
                self._session_keys_discard(session, run.key)
        run.viewers.clear()
        task = self._stops.get(run)
        if task is None:
            task = asyncio.create_task(self._stop(run), name=f"run-{run.id}-stop")
            self._stops[run] = task
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)
        return task

    async def _stop(self, run: _Run) -> None:
        try:
            await run.stop()
            run.ready.clear()
            await asyncio.to_thread(shutil.rmtree, run.dir, True)
        finally:
            self._stops.pop(run, None)

    def _start_reaper(self) -> None:
        if self._reaper is None:
            self._reaper = asyncio.create_task(self._reap_forever(), name="transcode-reaper")

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(self.reap_interval_s)
            try:
                await self.reap()
            except Exception:
                log.exception("transcode reaper tick failed")

    def _remove_stale_dirs(self) -> None:
        """Run directories of a previous server process (named ``<pid>-<n>``) that is gone."""
        if not self.root.is_dir():
            return
        for entry in self.root.iterdir():
            pid, _, _ = entry.name.partition("-")
            if entry.is_dir() and pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
