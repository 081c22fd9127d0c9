"""Scanning library folders into the database, incrementally.

A scan walks the library's folders (or only the ``paths`` it is given), compares each
video file's ``(size, mtime_ns)`` and sidecar subtitles with what the database holds,
and probes only what is new or changed -- on a thread pool of ``settings.scan_workers``
threads -- writing each result in its own transaction through the database's single
writer. Files that vanished are removed and items they leave empty are pruned; a new
path whose content fingerprint matches a file whose old path is gone is a *move*: the
file row (and its item) are kept and nothing is probed.

Concurrency: scans of one library never run at the same time. A full-scan request that
arrives while another full scan of the same library is queued or running is *coalesced*:
it waits for that scan and returns its report (``report.coalesced``). Path scans (from
the watcher) queue behind whatever runs.

Safety: a library folder that can't be read (an unmounted disk) is reported in
``report.errors`` and its files are *not* removed. Symbolic links whose target lies outside
the library folder are skipped (and reported) unless ``follow_links_outside_library`` is
set: a link ``Movies/x -> /`` must not index the machine (see ``library/roots.py``).

Blocking: call :meth:`Scanner.scan_library` from a worker thread or the CLI, never on the
event loop (``await asyncio.to_thread(scanner.scan_library, ...)``).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from ferrite import metrics
from ferrite.config import Settings
from ferrite.db.engine import Database
from ferrite.errors import BadRequest, FerriteError, ProbeError
from ferrite.library import libraries, store
from ferrite.library.artwork import refresh_artwork
from ferrite.library.fingerprint import (
    StatSignature,
    fingerprint,
    signature_of,
    stat_signature,
)
from ferrite.library.naming import (
    LibraryKind,
    guess_library_kind,
    is_sample,
    is_subtitle,
    is_video,
    parse_path,
    parse_sidecar,
)
from ferrite.library.probe import ProbeTimings, probe_timed
from ferrite.library.probe.subtitles import find_sidecars
from ferrite.library.roots import inside
from ferrite.media.info import MediaInfo

log = logging.getLogger(__name__)

#: ``progress(done, total)`` -- called as files are handled; ``total`` is known after the walk.
ProgressFn = Callable[[int, int], None]
#: The probe the scanner calls; tests wrap it to count calls.
ProbeFn = Callable[..., tuple[MediaInfo, ProbeTimings]]

#: Folders never scanned (NAS metadata, recycle bins).
IGNORED_DIRS = frozenset(
    {"@eadir", "#recycle", "$recycle.bin", "lost+found", "#snapshot", ".snapshots"}
)


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

    def summary(self) -> str:
        c = self.counts()
        lines = [
            f"{c['new']} new, {c['changed']} changed, {c['unchanged']} unchanged, "
            f"{c['removed']} removed, {c['moved']} moved, {c['failed']} failed "
            f"({self.duration_s:.1f} s)"
        ]
        lines += [f"  failed: {p}: {r}" for p, r in self.failed]
        lines += [f"  error: {e}" for e in self.errors]
        return "\n".join(lines)

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
class _Found:
    path: Path
    sig: StatSignature
    root: str
    sidecars: tuple[Path, ...]


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
    sig: StatSignature | None  # None: vanished before it could be read
    fingerprint: str = ""
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
        roots = [r for r in lib.paths]
        forced: set[str] = set()
        if paths is None:
            scope: list[str] | None = None
            found, unreadable = self._walk_roots(roots, report)
        else:
            scope, found, unreadable, forced = self._walk_paths(roots, paths, report)
        records = self.db.read_sync(partial(store.file_records, under=scope), library_id)
        known_sidecars = self.db.read_sync(partial(store.sidecars_by_file, under=scope), library_id)
        # Torrent files are probed through the torrent's reader while they download (the
        # path has holes until then); a scan neither probes nor removes them.
        managed = self.db.read_sync(store.torrent_paths, library_id)
        if managed:
            found = {p: f for p, f in found.items() if p not in managed}
            records = {p: r for p, r in records.items() if p not in managed}

        jobs: list[_Job] = []
        new: list[_Found] = []
        for path, f in found.items():
            rec = records.get(path)
            if rec is None:
                new.append(f)
            elif path in forced or _changed(rec, f, known_sidecars.get(rec.id, frozenset())):
                jobs.append(_Job(f.path, f.root, f.sidecars, rec.id))
            else:
                report.unchanged.append(path)
        gone = {
            p: rec
            for p, rec in records.items()
            if p not in found and not any(_inside(p, u) for u in unreadable)
        }
        total = len(found) + len(gone)
        done = len(report.unchanged)
        if progress:
            progress(done, total)

        # New paths: fingerprint first, so a moved file is recognised without probing it.
        claimed: set[int] = set()
        fps = self._map(lambda f: (f, _safe_fingerprint(f.path)), new)
        for f, fp in fps:
            if fp is None:
                continue  # vanished while we looked
            old = self._moved_from(library_id, f, fp, claimed)
            if old is None:
                jobs.append(_Job(f.path, f.root, f.sidecars, None, fp))
                continue
            claimed.add(old.id)
            gone.pop(old.path, None)
            report.moved.append((old.path, str(f.path)))
            had_sidecars = bool(known_sidecars.get(old.id))
            if f.sidecars or had_sidecars:
                jobs.append(_Job(f.path, f.root, f.sidecars, old.id, fp))  # refresh subtitles
            else:
                parsed = (
                    parse_path(f.path, root=f.root, kind=lib.kind)
                    if old.probe_status == "ok"
                    else None
                )
                self.db.write_sync(
                    partial(
                        store.move_file,
                        file_id=old.id,
                        path=str(f.path),
                        size=f.sig.size,
                        mtime_ns=f.sig.mtime_ns,
                        inode=f.sig.inode,
                        device=f.sig.device,
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
                log.warning("saving %s failed: %s", _printable(str(outcome.job.path)), exc)
                report.failed.append((_printable(str(outcome.job.path)), exc.message))
            done += 1
            if progress:
                progress(done, total)

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

    def _moved_from(
        self, library_id: int, f: _Found, fp: str, claimed: set[int]
    ) -> store.FileRecord | None:
        """A recorded file with this content whose own path is gone: ``f`` is where it went."""
        for rec in self.db.read_sync(store.files_by_fingerprint, library_id, fp):
            if rec.id in claimed or rec.size != f.sig.size or rec.path == str(f.path):
                continue
            if not Path(rec.path).exists():
                return rec
        return None

    def _run_job(self, job: _Job) -> _Outcome:
        """In a pool thread: stat, fingerprint and probe one file."""
        try:
            sig = stat_signature(job.path)
            fp = job.fingerprint or fingerprint(job.path)
        except FileNotFoundError:
            return _Outcome(job, None)
        except (OSError, FerriteError) as exc:
            return _Outcome(
                job, StatSignature(0, 0), "", error=f"{job.path.name}: cannot read the file: {exc}"
            )
        try:
            info, timings = self._probe(job.path, sidecars=job.sidecars)
        except ProbeError as exc:
            return _Outcome(job, sig, fp, error=exc.message)
        except Exception as exc:  # a bug or an exotic file must not abort the whole scan
            log.exception("probing %s failed unexpectedly", job.path)
            return _Outcome(
                job, sig, fp, error=f"{job.path.name}: unexpected error while probing: {exc!r}"
            )
        return _Outcome(job, sig, fp, info, timings)

    def _save(
        self, library_id: int, kind: LibraryKind, o: _Outcome, report: ScanReport, *, moved: bool
    ) -> None:
        path = str(o.job.path)
        if o.sig is None:  # vanished: forget it if we knew it
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
                    library_id=library_id,
                    path=path,
                    size=o.sig.size,
                    mtime_ns=o.sig.mtime_ns,
                    inode=o.sig.inode,
                    device=o.sig.device,
                    fingerprint=o.fingerprint,
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
                    library_id=library_id,
                    path=path,
                    size=o.sig.size,
                    mtime_ns=o.sig.mtime_ns,
                    inode=o.sig.inode,
                    device=o.sig.device,
                    fingerprint=o.fingerprint or "-",
                    reason=reason,
                    now=now,
                    file_id=o.job.file_id,
                )
            )
            report.failed.append((path, reason))
        if moved:
            return
        (report.changed if o.job.file_id is not None else report.new).append(path)

    # -- walking -----------------------------------------------------------------------------
    def _walk_roots(
        self, roots: Sequence[str], report: ScanReport
    ) -> tuple[dict[str, _Found], list[str]]:
        found: dict[str, _Found] = {}
        unreadable: list[str] = []
        for root in roots:
            if not Path(root).is_dir():
                unreadable.append(root)
                report.errors.append(
                    f"{root}: the folder is missing or unreadable; its files were kept"
                )
                continue
            _walk(Path(root), root, found, report, self._real_root(root))
        return found, unreadable

    def _real_root(self, root: str) -> str | None:
        """The folder links must stay in; None when links may lead anywhere."""
        if self.settings.follow_links_outside_library:
            return None
        return os.path.realpath(root)

    def _walk_paths(
        self, roots: Sequence[str], paths: Sequence[Path | str], report: ScanReport
    ) -> tuple[list[str], dict[str, _Found], list[str], set[str]]:
        scope: list[str] = []
        found: dict[str, _Found] = {}
        forced: set[str] = set()
        for raw in paths:
            p = Path(raw).absolute()
            root = next((r for r in roots if _inside(str(p), r)), None)
            if root is None:
                continue  # not ours
            if is_subtitle(p):
                # A sidecar changed: rescan the videos it belongs to.
                for video in _videos_for_sidecar(p):
                    if str(video) not in found and _walk_file(
                        video, root, found, self._real_root(root)
                    ):
                        scope.append(str(video))
                        forced.add(str(video))
                continue
            scope.append(str(p))
            if p.is_dir():
                _walk(p, root, found, report, self._real_root(root))
            elif p.is_file():
                _walk_file(p, root, found, self._real_root(root))
        return scope, found, [], forced


def _inside(path: str, root: str) -> bool:
    root = root.rstrip("/")
    return path == root or path.startswith(root + "/")


def _changed(rec: store.FileRecord, f: _Found, recorded_sidecars: frozenset[str]) -> bool:
    if rec.size != f.sig.size or rec.mtime_ns != f.sig.mtime_ns:
        return True
    if rec.inode is not None and (rec.inode, rec.device) != (f.sig.inode, f.sig.device):
        return True  # another file put in its place with the same size and mtime
    if rec.probe_status != "ok":
        return False  # same bytes, same failure: don't retry on every scan
    now_sidecars = {str(p) for p in f.sidecars}
    if now_sidecars != set(recorded_sidecars):
        return True
    for p in f.sidecars:  # an edited subtitle file
        try:
            if p.stat().st_mtime > rec.probed_at:
                return True
        except OSError:
            return True
    return False


def _safe_fingerprint(path: Path) -> str | None:
    try:
        return fingerprint(path)
    except (OSError, FerriteError):
        return None


_BAD_NAME = "the name is not valid UTF-8 (skipped; rename it to have it scanned)"


def _storable(path: str) -> bool:
    """Whether the database can hold ``path``: names that are not valid UTF-8 reach
    Python as lone surrogates (PEP 383), which SQLite refuses."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(path: str) -> str:
    """``path`` with undecodable bytes shown as U+FFFD (for reports and logs)."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _leaves(path: str, real_root: str | None) -> bool:
    """Whether the link ``path`` leads outside ``real_root`` (never, when None)."""
    return real_root is not None and not inside(os.path.realpath(path), (real_root,))


def _walk(
    top: Path, root: str, found: dict[str, _Found], report: ScanReport, real_root: str | None
) -> None:
    """Collect the video files under ``top`` (iteratively; symlink loops are cut, links
    leading outside ``real_root`` are skipped)."""
    seen: set[tuple[int, int]] = set()
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            st = folder.stat()
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError as exc:
            report.errors.append(f"{folder}: {exc.strerror or exc}")
            continue
        videos: list[tuple[Path, os.stat_result]] = []
        subs: list[Path] = []
        for e in entries:
            if e.name.startswith("."):
                continue
            if not _storable(e.path):
                if is_video(e.name) or e.is_dir():
                    report.failed.append((_printable(e.path), _BAD_NAME))
                continue
            try:
                if e.is_symlink() and _leaves(e.path, real_root):
                    report.errors.append(f"{e.path}: skipped, a link to outside the library")
                    continue
                if e.is_dir():
                    if e.name.casefold() not in IGNORED_DIRS and e.name.casefold() not in (
                        "sample",
                        "samples",
                    ):
                        stack.append(Path(e.path))
                    continue
                if not e.is_file():
                    continue
                if is_video(e.name):
                    if not is_sample(e.path):
                        videos.append((Path(e.path), e.stat()))
                elif is_subtitle(e.name):
                    subs.append(Path(e.path))
            except OSError:
                continue  # vanished or unreadable entry
        for path, st in videos:
            found[str(path)] = _Found(
                path,
                signature_of(st),
                root,
                tuple(find_sidecars(path, subs)),
            )


def _walk_file(path: Path, root: str, found: dict[str, _Found], real_root: str | None) -> bool:
    if not is_video(path) or is_sample(path) or not _storable(str(path)):
        return False
    if _leaves(str(path), real_root):
        return False
    try:
        sig = stat_signature(path)
        subs = [
            Path(e.path)
            for e in os.scandir(path.parent)
            if is_subtitle(e.name) and _storable(e.path)
        ]
    except OSError:
        return False
    found[str(path)] = _Found(path, sig, root, tuple(find_sidecars(path, subs)))
    return True


def _videos_for_sidecar(sub: Path) -> list[Path]:
    try:
        siblings = [Path(e.path) for e in os.scandir(sub.parent) if is_video(e.name)]
    except OSError:
        return []
    return [v for v in siblings if parse_sidecar(v, sub) is not None]


# -- the command line -----------------------------------------------------------------------


def scan_cli(
    db: Database,
    settings: Settings,
    paths: Sequence[Path | str],
    *,
    kind: LibraryKind | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> ScanReport:
    """``ferrite scan PATH ...``: add each folder as a library (kind from ``kind`` or guessed
    from the folder name: "TV", "Shows", "Series" -> shows; "Movies", "Films" -> movies;
    else mixed) or rescan the library it already belongs to (a folder inside a library is
    rescanned alone). Shows a progress bar on ``err`` (stderr) and prints a summary per
    library to ``out`` (stdout). Raises :class:`BadRequest` for a path that isn't a folder
    and :class:`~ferrite.errors.Conflict` for one that contains another library's folder."""
    from tqdm import tqdm

    out = out or sys.stdout
    err = err or sys.stderr
    targets: list[tuple[int, list[Path] | None]] = []
    for raw in paths:
        p = Path(raw).expanduser().resolve()
        if not p.is_dir():
            raise BadRequest(f"{raw}: not a folder")
        owner = db.read_sync(libraries.library_for_path, p)
        if owner is None:
            lib = db.write_sync(
                partial(
                    libraries.create_library,
                    name=p.name,
                    kind=kind or guess_library_kind(p.name),
                    paths=[p],
                )
            )
            print(f"Added library '{lib.name}' ({lib.kind}): {p}", file=out)
            targets.append((lib.id, None))
        elif Path(owner[1]) == p:
            targets.append((owner[0], None))
        else:
            targets.append((owner[0], [p]))
    reports = []
    scanner = Scanner(db, settings)
    try:
        for library_id, subset in targets:
            lib = db.read_sync(libraries.get_library, library_id)
            with tqdm(desc=lib.name, unit="file", file=err, leave=False, disable=None) as bar:

                def update(done: int, total: int, bar: Any = bar) -> None:
                    bar.total = total
                    bar.n = done
                    bar.refresh()

                report = scanner.scan_library(library_id, paths=subset, progress=update)
            print(f"Library '{lib.name}' ({lib.kind}): {report.summary()}", file=out)
            reports.append(report)
    finally:
        scanner.close()
    return ScanReport.merge(reports)
