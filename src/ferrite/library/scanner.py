"""Scanning library folders into the database, incrementally.

A scan walks the library's folders, or only the ``paths`` it is given
(:mod:`~ferrite.library.walk`), sorts what it found against what the database holds
(:mod:`~ferrite.library.reconcile`: a video file's ``(size, mtime_ns)``, inode and sidecar
subtitles), and probes only what is new or changed -- on a thread pool of
``settings.scan_workers`` threads -- writing each result in its own transaction through
the database's single writer. Files that vanished are removed and items they leave empty
are pruned; a new path whose content fingerprint matches a file whose old path is gone is
a *move*: the file row (and its item) are kept and nothing is probed. The result is a
:class:`ScanReport`; ``ferrite scan`` prints it (:mod:`ferrite.cli`).

Concurrency: scans of one library never run at the same time. A full-scan request that
arrives while another full scan of the same library is queued or running is *coalesced*:
it waits for that scan and returns its report (``report.coalesced``). Path scans (from
the watcher) queue behind whatever runs.

Safety: a library folder that can't be read (an unmounted disk) is reported in
``report.errors`` and its files are *not* removed. Symbolic links whose target lies outside
the library folder are skipped (and reported) unless ``follow_links_outside_library`` is
set (the rules are in :mod:`~ferrite.library.walk`).

Blocking: call :meth:`Scanner.scan_library` from a worker thread or the CLI, never on the
event loop (``await asyncio.to_thread(scanner.scan_library, ...)``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from ferrite import metrics
from ferrite.config import Settings
from ferrite.db.engine import Database
from ferrite.errors import FerriteError, ProbeError
from ferrite.library import libraries, store
from ferrite.library.artwork import refresh_artwork
from ferrite.library.files import FileFacts, FileRecord
from ferrite.library.fingerprint import StatSignature, fingerprint, stat_signature
from ferrite.library.naming import LibraryKind, parse_path
from ferrite.library.probe import ProbeTimings, probe_timed
from ferrite.library.reconcile import Found, compare, match_moves
from ferrite.library.walk import printable, walk_paths, walk_roots
from ferrite.media.info import MediaInfo

log = logging.getLogger(__name__)

#: ``progress(done, total)`` -- called as files are handled; ``total`` is known after the walk.
ProgressFn = Callable[[int, int], None]
#: The probe the scanner calls; tests wrap it to count calls.
ProbeFn = Callable[..., tuple[MediaInfo, ProbeTimings]]


@dataclass
class ScanReport:
    """What a scan did. Paths are absolute strings."""

    library_ids: tuple[int, ...]
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    moved: list[tuple[str, str]] = field(default_factory=list)  # (old path, new path)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason) probed now
    probed: list[str] = field(default_factory=list)  # every path probed by this scan
    errors: list[str] = field(default_factory=list)  # folders that could not be read
    timings: list[ProbeTimings] = field(default_factory=list)
    duration_s: float = 0.0
    coalesced: bool = False  # this request joined a scan that was already under way

    def counts(self) -> dict[str, int]:
        return {
            "new": len(self.new),
            "changed": len(self.changed),
            "unchanged": len(self.unchanged),
            "removed": len(self.removed),
            "moved": len(self.moved),
            "failed": len(self.failed),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: counts, the lists (without unchanged paths), failures with reasons."""
        return {
            "library_ids": list(self.library_ids),
            **self.counts(),
            "new_paths": self.new,
            "changed_paths": self.changed,
            "removed_paths": self.removed,
            "moved_paths": [list(m) for m in self.moved],
            "failures": [{"path": p, "reason": r} for p, r in self.failed],
            "errors": self.errors,
            "duration_s": round(self.duration_s, 3),
        }

    @staticmethod
    def merge(reports: Iterable[ScanReport]) -> ScanReport:
        out = ScanReport(library_ids=())
        for r in reports:
            out.library_ids += tuple(i for i in r.library_ids if i not in out.library_ids)
            for name in (
                "new",
                "changed",
                "unchanged",
                "removed",
                "moved",
                "failed",
                "probed",
                "errors",
                "timings",
            ):
                getattr(out, name).extend(getattr(r, name))
            out.duration_s += r.duration_s
        return out


@dataclass
class _LibraryState:
    lock: threading.Lock = field(default_factory=threading.Lock)
    full: Future[ScanReport] | None = None
    active: int = 0


@dataclass(frozen=True, slots=True)
class _Job:
    path: Path
    root: str
    sidecars: tuple[Path, ...]
    file_id: int | None  # None for new files
    fingerprint: str | None = None  # known already for new files


@dataclass(frozen=True, slots=True)
class _Outcome:
    job: _Job
    facts: FileFacts | None  # None: vanished before it could be read
    info: MediaInfo | None = None
    timings: ProbeTimings | None = None
    error: str | None = None


class Scanner:
    """Scans libraries; owns the probe thread pool (call :meth:`close`)."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        probe: ProbeFn = probe_timed,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.settings = settings
        self._probe = probe
        self._clock = clock
        self._pool = ThreadPoolExecutor(
            max(1, settings.scan_workers), thread_name_prefix="ferrite-probe"
        )
        self._lock = threading.Lock()
        self._states: dict[int, _LibraryState] = {}

    @property
    def scanning(self) -> frozenset[int]:
        """Ids of the libraries being scanned right now (queued scans included)."""
        with self._lock:
            return frozenset(i for i, s in self._states.items() if s.active)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- entry point ---------------------------------------------------------------------
    def scan_library(
        self,
        library_id: int,
        paths: Sequence[Path | str] | None = None,
        *,
        progress: ProgressFn | None = None,
    ) -> ScanReport:
        """Scan library ``library_id``: all of it, or only ``paths`` (files or folders,
        existing or deleted, inside the library). Blocking; see the module docstring."""
        with self._lock:
            state = self._states.setdefault(library_id, _LibraryState())
            state.active += 1
            joined: Future[ScanReport] | None = None
            mine: Future[ScanReport] | None = None
            if paths is None:
                if state.full is not None:
                    joined = state.full
                else:
                    mine = state.full = Future()
        try:
            if joined is not None:
                return replace(joined.result(), coalesced=True)
            try:
                with state.lock:
                    if mine is not None:
                        with self._lock:
                            # From here on a new full-scan request must not join: this
                            # scan's walk may already have passed the change it's about.
                            state.full = None
                    report = self._scan(library_id, paths, progress)
            except BaseException as exc:
                if mine is not None:
                    mine.set_exception(exc)
                raise
            if mine is not None:
                mine.set_result(report)
            return report
        finally:
            with self._lock:
                state.active -= 1
                if mine is not None and state.full is mine:
                    state.full = None

    # -- the scan ----------------------------------------------------------------------------
    def _scan(
        self, library_id: int, paths: Sequence[Path | str] | None, progress: ProgressFn | None
    ) -> ScanReport:
        started = time.perf_counter()
        lib = self.db.read_sync(libraries.get_library, library_id)
        report = ScanReport(library_ids=(library_id,))
        follow = self.settings.follow_links_outside_library
        walked = (
            walk_roots(lib.paths, follow_links=follow)
            if paths is None
            else walk_paths(lib.paths, paths, follow_links=follow)
        )
        report.errors.extend(walked.errors)
        report.failed.extend(walked.failed)
        scope = walked.scope
        found = walked.found
        records = self.db.read_sync(partial(store.file_records, under=scope), library_id)
        known_sidecars = self.db.read_sync(partial(store.sidecars_by_file, under=scope), library_id)
        # Torrent files are probed through the torrent's reader while they download (the
        # path has holes until then); a scan neither probes nor removes them.
        managed = self.db.read_sync(store.torrent_paths, library_id)
        if managed:
            found = {p: f for p, f in found.items() if p not in managed}
            records = {p: r for p, r in records.items() if p not in managed}

        plan = compare(
            found, records, known_sidecars, forced=walked.forced, unreadable=walked.unreadable
        )
        report.unchanged.extend(plan.unchanged)
        jobs = [_Job(f.path, f.root, f.sidecar_paths, rec.id) for f, rec in plan.changed]
        total = len(found) + len(plan.gone)
        done = len(report.unchanged)
        if progress:
            progress(done, total)

        # New paths: fingerprint first, so a moved file is recognised without probing it.
        fingerprinted = [
            (f, fp)
            for f, fp in self._map(lambda f: (f, _safe_fingerprint(f.path)), plan.new)
            if fp is not None  # None: vanished while we looked
        ]
        candidates, vanished = self._move_candidates(library_id, fingerprinted)
        matched = match_moves(fingerprinted, candidates, vanished, known_sidecars, plan.gone)
        jobs += [_Job(f.path, f.root, f.sidecar_paths, None, fp) for f, fp in matched.new]
        for m in matched.moves:
            f = m.found
            report.moved.append((m.old.path, str(f.path)))
            if m.refresh:
                jobs.append(_Job(f.path, f.root, f.sidecar_paths, m.old.id, m.fingerprint))
                continue
            parsed = (
                parse_path(f.path, root=f.root, kind=lib.kind)
                if m.old.probe_status == "ok"
                else None
            )
            self.db.write_sync(
                partial(
                    store.move_file,
                    file_id=m.old.id,
                    facts=FileFacts.of(str(f.path), f.sig, m.fingerprint),
                    parsed=parsed,
                    now=self._clock(),
                )
            )
            done += 1
            if progress:
                progress(done, total)

        moved_to = {new_path for _, new_path in report.moved}
        futures = {self._pool.submit(self._run_job, job): job for job in jobs}
        for fut in as_completed(futures):
            outcome = fut.result()
            try:
                self._save(
                    lib.id, lib.kind, outcome, report, moved=str(outcome.job.path) in moved_to
                )
            except FerriteError as exc:  # one file the database refuses must not end the scan
                log.warning("saving %s failed: %s", printable(str(outcome.job.path)), exc)
                report.failed.append((printable(str(outcome.job.path)), exc.message))
            done += 1
            if progress:
                progress(done, total)

        gone = matched.gone
        if gone:
            ids = [rec.id for rec in gone.values()]
            for i in range(0, len(ids), 200):
                self.db.write_sync(store.remove_files, ids[i : i + 200])
            report.removed.extend(sorted(gone))
            done += len(gone)
            if progress:
                progress(done, total)
        # Posters: extracted once per file version (a keyframe, scaled down), at scan time.
        refresh_artwork(self.db, self.settings.data_dir, library_id=library_id, map=self._pool.map)
        if paths is None:
            self.db.write_sync(libraries.mark_scanned, library_id, self._clock())
        report.duration_s = time.perf_counter() - started
        metrics.SCAN_DURATION.labels("full" if paths is None else "paths").observe(
            report.duration_s * 1000
        )
        if report.failed:
            metrics.SCAN_FAILURES.inc(len(report.failed))
        log.info("scanned library %s: %s", library_id, report.counts())
        return report

    def _map(self, fn: Callable[[Any], Any], values: Sequence[Any]) -> list[Any]:
        return list(self._pool.map(fn, values)) if values else []

    def _move_candidates(
        self, library_id: int, new: Sequence[tuple[Found, str]]
    ) -> tuple[dict[str, list[FileRecord]], frozenset[str]]:
        """The recorded files sharing a fingerprint with a new path, and which of their
        paths are gone from the disk (for :func:`~ferrite.library.reconcile.match_moves`)."""
        by_fp = {
            fp: self.db.read_sync(store.files_by_fingerprint, library_id, fp)
            for fp in dict.fromkeys(fp for _, fp in new)
        }
        vanished = frozenset(
            rec.path for recs in by_fp.values() for rec in recs if not Path(rec.path).exists()
        )
        return by_fp, vanished

    def _run_job(self, job: _Job) -> _Outcome:
        """In a pool thread: stat, fingerprint and probe one file."""
        path = str(job.path)
        try:
            facts = FileFacts.of(
                path, stat_signature(job.path), job.fingerprint or fingerprint(job.path)
            )
        except FileNotFoundError:
            return _Outcome(job, None)
        except (OSError, FerriteError) as exc:
            # Recorded as failed, with no identity to compare the next scan against.
            return _Outcome(
                job,
                FileFacts.of(path, StatSignature(0, 0), "-"),
                error=f"{job.path.name}: cannot read the file: {exc}",
            )
        try:
            info, timings = self._probe(job.path, sidecars=job.sidecars)
        except ProbeError as exc:
            return _Outcome(job, facts, error=exc.message)
        except Exception as exc:  # a bug or an exotic file must not abort the whole scan
            log.exception("probing %s failed unexpectedly", job.path)
            return _Outcome(
                job, facts, error=f"{job.path.name}: unexpected error while probing: {exc!r}"
            )
        return _Outcome(job, facts, info, timings)

    def _save(
        self, library_id: int, kind: LibraryKind, o: _Outcome, report: ScanReport, *, moved: bool
    ) -> None:
        path = str(o.job.path)
        if o.facts is None:  # vanished: forget it if we knew it
            if o.job.file_id is not None:
                self.db.write_sync(store.remove_files, [o.job.file_id])
                report.removed.append(path)
            return
        now = self._clock()
        report.probed.append(path)
        if o.info is not None:
            parsed = parse_path(o.job.path, root=o.job.root, kind=kind)
            self.db.write_sync(
                partial(
                    store.save_probed,
                    facts=o.facts,
                    library_id=library_id,
                    info=o.info,
                    parsed=parsed,
                    now=now,
                    file_id=o.job.file_id,
                )
            )
            if o.timings is not None:
                report.timings.append(o.timings)
        else:
            reason = o.error or "unknown error"
            self.db.write_sync(
                partial(
                    store.save_failed,
                    facts=o.facts,
                    library_id=library_id,
                    reason=reason,
                    now=now,
                    file_id=o.job.file_id,
                )
            )
            report.failed.append((path, reason))
        if moved:
            return
        (report.changed if o.job.file_id is not None else report.new).append(path)


def _safe_fingerprint(path: Path) -> str | None:
    try:
        return fingerprint(path)
    except (OSError, FerriteError):
        return None
