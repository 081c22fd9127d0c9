"""Finding a library's video files on disk (with their sidecar subtitles), for a scan.

:func:`walk_roots` walks whole library folders; :func:`walk_paths` only the files or
folders it is given (the watcher's changes), mapping a changed subtitle file to the
videos it belongs to. Both return a :class:`Walk`: the :class:`~ferrite.library.reconcile.
Found` files by path plus what went wrong, for the scan report.

Rules: hidden entries, NAS metadata and recycle folders, ``Sample`` folders and sample
files are skipped; names that are not valid UTF-8 are reported (the database can't hold
them); symlink loops are cut; a symlink whose target lies outside the library folder is
skipped (and reported) unless ``follow_links`` is set -- a link ``Movies/x -> /`` must not
index the machine (see ``library/roots.py``). A library folder that can't be read is
listed in :attr:`Walk.unreadable`, so that its files are kept, not removed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ferrite.library.fingerprint import signature_of, stat_signature
from ferrite.library.naming import is_sample, is_subtitle, is_video, parse_sidecar
from ferrite.library.probe.subtitles import find_sidecars
from ferrite.library.reconcile import Found, Sidecar, is_under
from ferrite.library.roots import inside

#: Folders never scanned (NAS metadata, recycle bins).
IGNORED_DIRS = frozenset(
    {"@eadir", "#recycle", "$recycle.bin", "lost+found", "#snapshot", ".snapshots"}
)
_SAMPLE_DIRS = frozenset({"sample", "samples"})

BAD_NAME = "the name is not valid UTF-8 (skipped; rename it to have it scanned)"


@dataclass
class Walk:
    """What a walk found, and what it could not read."""

    found: dict[str, Found] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # folders and links, for the report
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason): bad names
    unreadable: list[str] = field(default_factory=list)  # library folders: keep their files
    scope: list[str] | None = None  # the paths the walk covered; None: the whole library
    forced: set[str] = field(default_factory=set)  # videos whose sidecar changed


def walk_roots(roots: Sequence[str], *, follow_links: bool) -> Walk:
    """All the video files of the library folders ``roots``."""
    out = Walk()
    for root in roots:
        if not Path(root).is_dir():
            out.unreadable.append(root)
            out.errors.append(f"{root}: the folder is missing or unreadable; its files were kept")
            continue
        _walk(Path(root), root, out, _real_root(root, follow_links))
    return out


def walk_paths(roots: Sequence[str], paths: Sequence[Path | str], *, follow_links: bool) -> Walk:
    """The video files at or below ``paths`` (existing or not) that lie in one of
    ``roots``, and the videos of the sidecar subtitles among them (``forced``)."""
    out = Walk(scope=[])
    assert out.scope is not None
    for raw in paths:
        p = Path(raw).absolute()
        root = next((r for r in roots if is_under(str(p), r)), None)
        if root is None:
            continue  # not ours
        real_root = _real_root(root, follow_links)
        if is_subtitle(p):
            # A sidecar changed: rescan the videos it belongs to.
            for video in _videos_for_sidecar(p):
                if str(video) not in out.found and _walk_file(video, root, out, real_root):
                    out.scope.append(str(video))
                    out.forced.add(str(video))
            continue
        out.scope.append(str(p))
        if p.is_dir():
            _walk(p, root, out, real_root)
        elif p.is_file():
            _walk_file(p, root, out, real_root)
    return out


def printable(path: str) -> str:
    """``path`` with undecodable bytes shown as U+FFFD (for reports and logs)."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _real_root(root: str, follow_links: bool) -> str | None:
    """The folder links must stay in; None when links may lead anywhere."""
    return None if follow_links else os.path.realpath(root)


def _storable(path: str) -> bool:
    """Whether the database can hold ``path``: names that are not valid UTF-8 reach
    Python as lone surrogates (PEP 383), which SQLite refuses."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _leaves(path: str, real_root: str | None) -> bool:
    """Whether the link ``path`` leads outside ``real_root`` (never, when None)."""
    return real_root is not None and not inside(os.path.realpath(path), (real_root,))


def _sidecars(video: Path, subs: Sequence[Path]) -> tuple[Sidecar, ...]:
    out = []
    for p in find_sidecars(video, subs):
        try:
            mtime: float | None = p.stat().st_mtime
        except OSError:
            mtime = None
        out.append(Sidecar(p, mtime))
    return tuple(out)


def _walk(top: Path, root: str, out: Walk, real_root: str | None) -> None:
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
            out.errors.append(f"{folder}: {exc.strerror or exc}")
            continue
        videos: list[tuple[Path, os.stat_result]] = []
        subs: list[Path] = []
        for e in entries:
            if e.name.startswith("."):
                continue
            if not _storable(e.path):
                if is_video(e.name) or e.is_dir():
                    out.failed.append((printable(e.path), BAD_NAME))
                continue
            try:
                if e.is_symlink() and _leaves(e.path, real_root):
                    out.errors.append(f"{e.path}: skipped, a link to outside the library")
                    continue
                if e.is_dir():
                    name = e.name.casefold()
                    if name not in IGNORED_DIRS and name not in _SAMPLE_DIRS:
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
            out.found[str(path)] = Found(path, signature_of(st), root, _sidecars(path, subs))


def _walk_file(path: Path, root: str, out: Walk, real_root: str | None) -> bool:
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
    out.found[str(path)] = Found(path, sig, root, _sidecars(path, subs))
    return True


def _videos_for_sidecar(sub: Path) -> list[Path]:
    try:
        siblings = [Path(e.path) for e in os.scandir(sub.parent) if is_video(e.name)]
    except OSError:
        return []
    return [v for v in siblings if parse_sidecar(v, sub) is not None]
