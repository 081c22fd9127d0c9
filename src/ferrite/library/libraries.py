"""Libraries: named sets of folders of one kind (movies, shows or mixed).

Functions of a connection, like :mod:`ferrite.library.store`. Folder paths are stored
resolved and absolute; they must exist and be directories, and no folder may be inside
(or contain, or equal) a folder of any library -- a file belongs to exactly one library.

Whether a library is being scanned right now is process state, not a column: the
:class:`~ferrite.library.scanner.Scanner` knows (``scanner.scanning``) and callers pass
that set in, e.g. ``list_libraries(conn, scanning=scanner.scanning)``.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, delete, func, insert, select, update

from ferrite.db.schema import items, libraries, library_paths
from ferrite.errors import BadRequest, Conflict, NotFound
from ferrite.library import search
from ferrite.library.naming import LIBRARY_KINDS, LibraryKind


@dataclass(frozen=True, slots=True)
class Library:
    id: int
    name: str
    kind: LibraryKind
    paths: tuple[str, ...]
    item_count: int  # top-level items: movies and shows
    scanning: bool = False
    created_at: float = 0.0
    scanned_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The API shape: ``{id, name, kind, paths, item_count, scanning}`` (+ scanned_at)."""
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "paths": list(self.paths),
            "item_count": self.item_count,
            "scanning": self.scanning,
            "scanned_at": self.scanned_at,
        }


def _resolve_dirs(paths: Sequence[str | Path]) -> list[str]:
    if not paths:
        raise BadRequest("a library needs at least one folder")
    out: list[str] = []
    for raw in paths:
        p = Path(raw).expanduser()
        try:
            resolved = p.resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            raise BadRequest(f"{raw}: the folder does not exist") from exc
        if not resolved.is_dir():
            raise BadRequest(f"{raw}: not a folder")
        text = str(resolved)
        if text not in out:
            out.append(text)
    for a in out:
        for b in out:
            if a != b and _nested(a, b):
                raise BadRequest(f"{a} and {b}: one folder is inside the other")
    return out


def _nested(a: str, b: str) -> bool:
    """``a`` equals ``b`` or one contains the other."""
    pa, pb = Path(a), Path(b)
    return pa == pb or pa.is_relative_to(pb) or pb.is_relative_to(pa)


def _check_overlap(conn: Connection, paths: Sequence[str], *, exclude: int | None = None) -> None:
    q = select(library_paths.c.path, library_paths.c.library_id, libraries.c.name).join(
        libraries, libraries.c.id == library_paths.c.library_id
    )
    for existing, lib_id, name in conn.execute(q):
        if lib_id == exclude:
            continue
        for p in paths:
            if _nested(p, existing):
                raise Conflict(f"{p} overlaps the folder {existing} of library '{name}'")


def _check_kind(kind: str) -> LibraryKind:
    if kind not in LIBRARY_KINDS:
        raise BadRequest(f"library kind must be one of {', '.join(LIBRARY_KINDS)}, not {kind!r}")
    return kind


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise BadRequest("a library name must have 1 to 200 characters")
    return name


def create_library(
    conn: Connection,
    *,
    name: str | None,
    kind: str,
    paths: Sequence[str | Path],
    now: float | None = None,
) -> Library:
    """Create a library; ``name`` defaults to the first folder's name.

    Raises :class:`BadRequest` (bad kind, name, or folder) or :class:`Conflict` (a folder
    overlaps another library's).
    """
    kind_ = _check_kind(kind)
    resolved = _resolve_dirs(paths)
    name_ = _check_name(name if name else Path(resolved[0]).name or resolved[0])
    _check_overlap(conn, resolved)
    result = conn.execute(
        insert(libraries).values(
            name=name_, kind=kind_, created_at=now if now is not None else time.time()
        )
    )
    library_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    conn.execute(insert(library_paths), [{"library_id": library_id, "path": p} for p in resolved])
    return get_library(conn, library_id)


def update_library(
    conn: Connection,
    library_id: int,
    *,
    name: str | None = None,
    paths: Sequence[str | Path] | None = None,
) -> Library:
    """Rename a library or replace its folders (files outside the new folders disappear
    at the next scan)."""
    get_library(conn, library_id)
    if name is not None:
        conn.execute(
            update(libraries).where(libraries.c.id == library_id).values(name=_check_name(name))
        )
    if paths is not None:
        resolved = _resolve_dirs(paths)
        _check_overlap(conn, resolved, exclude=library_id)
        conn.execute(delete(library_paths).where(library_paths.c.library_id == library_id))
        conn.execute(
            insert(library_paths), [{"library_id": library_id, "path": p} for p in resolved]
        )
    return get_library(conn, library_id)


def list_libraries(
    conn: Connection,
    *,
    library_ids: Collection[int] | None = None,
    scanning: Collection[int] = (),
) -> list[Library]:
    """All libraries (or those in ``library_ids``, the caller's), by name."""
    q = select(libraries).order_by(func.lower(libraries.c.name), libraries.c.id)
    if library_ids is not None:
        if not library_ids:
            return []
        q = q.where(libraries.c.id.in_(list(library_ids)))
    rows = conn.execute(q).all()
    if not rows:
        return []
    ids = [r.id for r in rows]
    paths: dict[int, list[str]] = {}
    for lib_id, path in conn.execute(
        select(library_paths.c.library_id, library_paths.c.path)
        .where(library_paths.c.library_id.in_(ids))
        .order_by(library_paths.c.id)
    ):
        paths.setdefault(lib_id, []).append(path)
    counts: dict[int, int] = dict(
        conn.execute(
            select(items.c.library_id, func.count())
            .where(items.c.library_id.in_(ids), items.c.parent_id.is_(None))
            .group_by(items.c.library_id)
        ).all()
    )
    return [
        Library(
            id=r.id,
            name=r.name,
            kind=cast(LibraryKind, r.kind),
            paths=tuple(paths.get(r.id, ())),
            item_count=int(counts.get(r.id, 0)),
            scanning=r.id in scanning,
            created_at=r.created_at,
            scanned_at=r.scanned_at,
        )
        for r in rows
    ]


def get_library(conn: Connection, library_id: int, *, scanning: Collection[int] = ()) -> Library:
    """One library; :class:`NotFound` if there is none."""
    found = list_libraries(conn, library_ids=[library_id], scanning=scanning)
    if not found:
        raise NotFound(f"no library {library_id}")
    return found[0]


def delete_library(conn: Connection, library_id: int) -> None:
    """Delete a library with its items, files and search rows (the media stays on disk)."""
    get_library(conn, library_id)
    search.unindex_library(conn, library_id)
    conn.execute(delete(libraries).where(libraries.c.id == library_id))


def mark_scanned(conn: Connection, library_id: int, now: float) -> None:
    conn.execute(update(libraries).where(libraries.c.id == library_id).values(scanned_at=now))


def library_roots(conn: Connection) -> dict[str, int]:
    """Every library folder, mapped to its library id (the watcher's view)."""
    return {
        p: lib for p, lib in conn.execute(select(library_paths.c.path, library_paths.c.library_id))
    }


def library_for_path(conn: Connection, path: str | Path) -> tuple[int, str] | None:
    """``(library id, root folder)`` of the library containing ``path``, if any."""
    p = Path(path).expanduser().resolve()
    for root, lib in library_roots(conn).items():
        if p == Path(root) or p.is_relative_to(root):
            return lib, root
    return None
