"""Transcode runs: one ffmpeg per (file, rendition, starting segment), shared by viewers.

A segment is a pure function of (file, rendition, index) (DESIGN.md principle 1), so runs
are keyed by :class:`~ferrite.transcode.run_key.RenditionKey` -- file fingerprint, plan
key, rendition id and a hash of everything else that changes the bytes -- never by viewer.
The HLS layer asks :meth:`RunManager.segment` for segment ``i`` of a key and gets the
finished MPEG-TS bytes.

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

The run itself (one ffmpeg and its segments) is :mod:`ferrite.transcode.run`; its key
:mod:`ferrite.transcode.run_key`; when runs pause, resume, yield their slot or retire
(``transcode_ahead_s``, ``transcode_max_runs``) is the pure rule in
:mod:`ferrite.transcode.throttle`.

Idle
    One reaper task (owned by the manager, cancelled by :meth:`RunManager.aclose`) kills
    runs nobody asked anything of for ``transcode_idle_s`` and drops finished runs with
    nothing left to hand out.

Failures
    - A hardware encoder that fails to open (:func:`~ferrite.transcode.encoders.should_fall_back`)
      is retried in place on the CPU (:func:`~ferrite.transcode.encoders.software_fallback`),
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

Cluster
    A new run first claims its key + first segment (``claims``; the rule, a bounded wait
    then 503, is :class:`~ferrite.transcode.claims.ClaimBook`'s).

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

A little over 500 lines on purpose: the manager is the one owner of every run's life
(finding, starting, restarting, reaping); the pure parts already live apart (the key,
the run, the throttle rule, the claims).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import shutil
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from ferrite import metrics
from ferrite.config import Settings
from ferrite.errors import NotFound, TranscodeError
from ferrite.transcode import throttle
from ferrite.transcode.admission import Admission, Priority
from ferrite.transcode.argv import transcode_argv
from ferrite.transcode.claims import ClaimBook, Claims, claim_name
from ferrite.transcode.encoders import software_fallback
from ferrite.transcode.job import TranscodeJob
from ferrite.transcode.run import ProducerDied, Run, RunInfo
from ferrite.transcode.run_key import RenditionKey
from ferrite.transcode.throttle import JOIN_HORIZON_S, Action, retire_order

__all__ = ["JobFactory", "RunManager"]

log = logging.getLogger(__name__)

Clock = Callable[[], float]
#: ``job_factory(start_index)`` -> the run's job (any ``out_dir``: the manager sets it).
JobFactory = Callable[[int], TranscodeJob]

#: A new run for a segment at most this many past where a crashed run stopped is that
#: run's restart (counted, and given up after repeated failures).
RESTART_WINDOW = 5
#: How long a segment that failed twice answers with its error without a new attempt.
BAD_SEGMENT_TTL_S = 60.0
_BAD_SEGMENTS_MAX = 1024
#: A request looks for a producer at most this many times (each look follows a crash).
_MAX_LOOKS = 4


def unlink_all(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()


@dataclass(slots=True)
class _Playhead:
    index: int
    run: Run


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
        claims: Claims | None = None,
    ) -> None:
        self._clock = clock
        self._claims = (
            ClaimBook[Run](claims, settings.transcode_queue_timeout_s) if claims else None
        )
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
        self.preempt_lead_s = throttle.preempt_lead_s(self.ahead_s)
        self.admission.listen_contention(self._preempt)
        self.root = Path(settings.data_dir) / "transcode"
        self._runs: dict[RenditionKey, list[Run]] = {}
        self._playheads: dict[tuple[str | None, RenditionKey], _Playhead] = {}
        self._by_session: dict[str | None, set[RenditionKey]] = {}
        self._bad: OrderedDict[tuple[RenditionKey, int], tuple[float, TranscodeError]] = (
            OrderedDict()
        )
        self.hw_failed = False
        self._ids = itertools.count(1)
        self._prefix = f"{os.getpid()}-"
        self._reaper: asyncio.Task[None] | None = None
        self._stops: dict[Run, asyncio.Task[None]] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        self._closed = False
        self._remove_stale_dirs()

    def now(self) -> float:
        return self._clock()

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
            run = self._locate(key, index) or await self._start_run(job_factory, key, index)
            run.last_used = self._clock()
            if priority != Priority.PREFETCH:
                self._move_playhead(session, key, index, run)
            w = run.wait_for(index, priority)
            try:
                self.evaluate(run)
                return await asyncio.shield(w.future)
            except ProducerDied:
                continue
            finally:
                run.unwait(index, w)
                if not run.stopping:
                    self.evaluate(run)
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
        self.evaluate(run)

    def forget(self, session: str | None, key: RenditionKey | None = None) -> None:
        """A session stopped (or left ``key``, e.g. an ABR switch): its playheads no longer
        hold runs going."""
        keys = [key] if key is not None else list(self._by_session.get(session, ()))
        for k in keys:
            ph = self._playheads.pop((session, k), None)
            self._session_keys_discard(session, k)
            if ph is not None:
                ph.run.viewers.pop(session, None)
                self.evaluate(ph.run)

    def runs(self, key: RenditionKey | None = None) -> list[RunInfo]:
        """Snapshots of the runs (of ``key``, or all)."""
        groups = [self._runs.get(key, [])] if key is not None else list(self._runs.values())
        return [run.info() for runs in groups for run in runs]

    async def reap(self) -> int:
        """One reaper tick: stop idle runs, drop finished ones with nothing left to hand
        out, forget expired bad segments. Returns how many runs were removed."""
        now = self._clock()
        doomed: list[Run] = []
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
                    await asyncio.to_thread(unlink_all, stale)
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
            self.retire(run)
        while self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)
        self._playheads.clear()
        self._by_session.clear()

    # -- finding and starting runs ------------------------------------------------------

    def _all_runs(self) -> Iterator[Run]:
        for runs in list(self._runs.values()):
            yield from list(runs)

    def _locate(self, key: RenditionKey, index: int) -> Run | None:
        best: Run | None = None
        for run in self._runs.get(key, ()):
            if index in run.ready or (index in run.waits and run.live):
                return run
            if run.will_reach(index, self.join_horizon_s) and (
                best is None or run.next > best.next
            ):
                best = run
        return best

    def _new_run(self, job_factory: JobFactory, key: RenditionKey, index: int) -> Run:
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
        if self.hw_failed and job.hwaccel != "none":
            job = software_fallback(job)
        try:
            transcode_argv(job)  # validate now: a bad job is the caller's error, not a crash
        except ValueError as exc:
            raise TranscodeError(f"cannot transcode {key.rendition}: {exc}") from exc
        run = Run(self, run_id, key, job, attempt, self._clock())
        runs.append(run)
        log.debug("run %s: %s from segment %d (attempt %d)", run_id, key, index, attempt)
        self._bound_live()
        return run

    async def _start_run(self, job_factory: JobFactory, key: RenditionKey, index: int) -> Run:
        """A new run at ``index``, under a claim in a cluster (see the module docstring)."""
        if self._claims is None:
            return self._new_run(job_factory, key, index)
        return await self._claims.start(
            claim_name(key, index),
            locate=lambda: self._locate(key, index),
            start=lambda: self._new_run(job_factory, key, index),
            closed=lambda: self._closed,
            what=key.rendition,
        )

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
            self.retire(run)

    def on_failure(self, run: Run, err: TranscodeError) -> None:
        if run.next == run.start and (run.attempt >= 1 or run.empty_at == run.start):
            # A restart that couldn't make its first segment, or a clean exit with nothing
            # to put in it (the readable source ends before it): that segment is bad.
            self._mark_bad(run.key, run.start, err)
            run.replaced = True
        run.fail_waiters(ProducerDied())

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

    def _move_playhead(self, session: str | None, key: RenditionKey, index: int, run: Run) -> None:
        ph = self._playheads.get((session, key))
        if ph is None:
            self._playheads[session, key] = _Playhead(index, run)
            self._by_session.setdefault(session, set()).add(key)
        else:
            old = ph.run
            ph.index, ph.run = index, run
            if old is not run:
                old.viewers.pop(session, None)
                self.evaluate(old)
        run.viewers[session] = index

    def _session_keys_discard(self, session: str | None, key: RenditionKey) -> None:
        keys = self._by_session.get(session)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_session[session]

    def evaluate(self, run: Run) -> None:
        """Run, pause, resume or drop ``run`` according to who waits and who watches
        (:func:`~ferrite.transcode.throttle.decide`)."""
        if not run.live:
            return
        urgent = run.urgent_priority()
        action = throttle.decide(
            run.state,
            waited_on=urgent is not None,
            lead=run.lead_s(),
            ahead_s=self.ahead_s,
            finished=run.next >= run.end,
            queued_for_slot=run.ticket is not None,
        )
        if action is Action.RUN and urgent is not None:
            run.want_running(urgent)
        elif action is Action.RESUME:
            run.want_running(Priority.BACKGROUND)
        elif action is Action.PAUSE:
            run.pause()
        elif action is Action.RETIRE:
            self.retire(run)
        elif action is Action.DROP_TICKET:
            run.drop_ticket()

    def _preempt(self, priority: Priority) -> None:
        """A viewer has to queue for a slot: pause the running run that is furthest ahead
        of its viewers (and that nobody waits on), which hands its slot to the queue. It
        resumes like any paused run (``BACKGROUND`` as its viewers approach, at once at
        their priority if one of them waits)."""
        if priority != Priority.PLAYBACK:
            return
        candidates = (
            (run, run.lead_s())
            for run in self._all_runs()
            if run.state == "running" and run.urgent_priority() is None and run.next < run.end
        )
        pick = throttle.preempt_pick(candidates, self.preempt_lead_s)
        if pick is not None:
            best, best_lead = pick
            log.debug("run %s: paused for a waiting viewer (%.1f s ahead)", best.id, best_lead)
            best.pause()

    # -- removal, the reaper, the directory ----------------------------------------------

    async def _remove(self, run: Run) -> None:
        await asyncio.shield(self.retire(run))

    def retire(self, run: Run) -> asyncio.Task[None]:
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

    async def _stop(self, run: Run) -> None:
        try:
            await run.stop()
            run.ready.clear()
            await asyncio.to_thread(shutil.rmtree, run.dir, True)
        finally:
            self._stops.pop(run, None)
            if self._claims is not None:
                await self._claims.release(run)

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
