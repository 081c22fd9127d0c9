"""What a scan must do, from what the walk found and what the database holds (pure).

Two steps, because a move is recognised by content and reading content is I/O:

1. :func:`compare` sorts the found files against the stored rows: *unchanged* (same size,
   mtime, inode and sidecars: not read at all), *changed* (probed again), *new* paths
   (fingerprinted next) and *gone* rows (their path wasn't found; rows under a folder
   that couldn't be read are kept -- an unmounted disk is not a deletion).
2. :func:`match_moves` takes the new paths with their fingerprints and the stored rows
   sharing a fingerprint: a new path whose content matches a row whose own path is gone
   is that file, *moved* (its row and item are kept, nothing is probed unless subtitles
   must be refreshed); the rest are really new. The moved rows leave the gone ones.

The scanner (:mod:`ferrite.library.scanner`) does the reading and the writing around
these two functions; :mod:`ferrite.library.walk` builds the :class:`Found` records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from pathlib import Path

from ferrite.library.files import FileRecord
from ferrite.library.fingerprint import StatSignature


@dataclass(frozen=True, slots=True)
class Sidecar:
    """A subtitle file next to a video, as the walk saw it."""

    path: Path
    mtime: float | None  # None: it could not be read (treated as edited)


@dataclass(frozen=True, slots=True)
class Found:
    """A video file the walk found."""

    path: Path
    sig: StatSignature
    root: str  # the library folder it was found under (names are parsed relative to it)
    sidecars: tuple[Sidecar, ...] = ()

    @property
    def sidecar_paths(self) -> tuple[Path, ...]:
        return tuple(s.path for s in self.sidecars)


@dataclass(frozen=True, slots=True)
class Comparison:
    """The result of :func:`compare`."""

    new: list[Found] = field(default_factory=list)  # not recorded: a new file or a move
    changed: list[tuple[Found, FileRecord]] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    gone: dict[str, FileRecord] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Move:
    """``found`` is the stored file ``old``, moved (same fingerprint, old path gone)."""

    found: Found
    old: FileRecord
    fingerprint: str
    #: Subtitles are found now or were recorded before: probe again to refresh them
    #: (keeping the row), instead of only rewriting its path.
    refresh: bool


@dataclass(frozen=True, slots=True)
class Moves:
    """The result of :func:`match_moves`."""

    moves: list[Move]
    new: list[tuple[Found, str]]  # (file, fingerprint): really new, to probe
    gone: dict[str, FileRecord]  # the comparison's gone rows minus the moved ones


def is_under(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or lies below it (plain strings, no resolving)."""
    folder = folder.rstrip("/")
    return path == folder or path.startswith(folder + "/")


def compare(
    found: Mapping[str, Found],
    stored: Mapping[str, FileRecord],
    recorded_sidecars: Mapping[int, frozenset[str]],
    *,
    forced: Set[str] = frozenset(),
    unreadable: Sequence[str] = (),
) -> Comparison:
    """Sort ``found`` (by path) against ``stored`` rows (by path). ``recorded_sidecars``:
    the sidecar paths recorded per file id; ``forced``: paths to probe again regardless
    (a sidecar of theirs changed); ``unreadable``: folders whose rows must be kept."""
    out = Comparison()
    for path, f in found.items():
        rec = stored.get(path)
        if rec is None:
            out.new.append(f)
        elif path in forced or changed(rec, f, recorded_sidecars.get(rec.id, frozenset())):
            out.changed.append((f, rec))
        else:
            out.unchanged.append(path)
    for path, rec in stored.items():
        if path not in found and not any(is_under(path, u) for u in unreadable):
            out.gone[path] = rec
    return out


def changed(rec: FileRecord, f: Found, recorded_sidecars: frozenset[str]) -> bool:
    """Whether the file must be probed again."""
    if rec.size != f.sig.size or rec.mtime_ns != f.sig.mtime_ns:
        return True
    if rec.inode is not None and (rec.inode, rec.device) != (f.sig.inode, f.sig.device):
        return True  # another file put in its place with the same size and mtime
    if rec.probe_status != "ok":
        return False  # same bytes, same failure: don't retry on every scan
    if {str(s.path) for s in f.sidecars} != set(recorded_sidecars):
        return True
    # An edited (or unreadable) subtitle file.
    return any(s.mtime is None or s.mtime > rec.probed_at for s in f.sidecars)


def match_moves(
    new: Sequence[tuple[Found, str]],
    candidates: Mapping[str, Sequence[FileRecord]],
    vanished: Set[str],
    recorded_sidecars: Mapping[int, frozenset[str]],
    gone: Mapping[str, FileRecord],
) -> Moves:
    """Pair new files (with their fingerprints) with stored rows of the same content.

    ``candidates``: the library's rows by fingerprint (any path, not only the scanned
    ones: a watcher's scan of the new folder must find the row of the old one);
    ``vanished``: which of their paths no longer exist (two copies of one file are not a
    move); ``gone``: :attr:`Comparison.gone`. A row is claimed by one new file at most,
    in the order of ``new``; sizes must agree (a fingerprint hashes only the ends).
    """
    claimed: set[int] = set()
    moves: list[Move] = []
    fresh: list[tuple[Found, str]] = []
    for f, fp in new:
        old = next(
            (
                rec
                for rec in candidates.get(fp, ())
                if rec.id not in claimed
                and rec.size == f.sig.size
                and rec.path != str(f.path)
                and rec.path in vanished
            ),
            None,
        )
        if old is None:
            fresh.append((f, fp))
            continue
        claimed.add(old.id)
        refresh = bool(f.sidecars) or bool(recorded_sidecars.get(old.id))
        moves.append(Move(f, old, fp, refresh))
    moved_from = {m.old.path for m in moves}
    remaining = {p: rec for p, rec in gone.items() if p not in moved_from}
    return Moves(moves, fresh, remaining)
