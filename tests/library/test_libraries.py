"""Libraries: folders validated and resolved, overlaps rejected, counts and scanning flag."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Connection, Table, func, select, text

from ferrite.db.engine import Database
from ferrite.db.schema import items, media_files
from ferrite.errors import BadRequest, Conflict, NotFound
from ferrite.library import libraries
from ferrite.library.libraries import Library


def create(
    db: Database, paths: list[Path | str], kind: str = "movies", name: str | None = None
) -> Library:
    return db.write_sync(lambda c: libraries.create_library(c, name=name, kind=kind, paths=paths))


def test_create_resolves_and_lists(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "Films").mkdir()
    (tmp_path / "more").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "more")
    monkeypatch.chdir(tmp_path)
    lib = create(db, ["Films", tmp_path / "link"])
    assert lib.name == "Films"
    assert lib.paths == (str(tmp_path / "Films"), str(tmp_path / "more"))
    assert (lib.kind, lib.item_count, lib.scanning) == ("movies", 0, False)
    (tmp_path / "tv").mkdir()
    tv = create(db, [tmp_path / "more" / ".." / "tv"], "shows", "a TV")
    assert tv.paths == (str(tmp_path / "tv"),)
    listed = db.read_sync(lambda c: libraries.list_libraries(c, scanning={lib.id}))
    assert [(x.name, x.scanning) for x in listed] == [("a TV", False), ("Films", True)]


def test_validation(db: Database, tmp_path: Path) -> None:
    (tmp_path / "file.mkv").write_text("x")
    (tmp_path / "a").mkdir()
    with pytest.raises(BadRequest, match="does not exist"):
        create(db, [tmp_path / "missing"])
    with pytest.raises(BadRequest, match="not a folder"):
        create(db, [tmp_path / "file.mkv"])
    with pytest.raises(BadRequest, match="kind"):
        create(db, [tmp_path / "a"], kind="music")
    with pytest.raises(BadRequest, match="at least one folder"):
        create(db, [])
    with pytest.raises(BadRequest, match="inside the other"):
        create(db, [tmp_path, tmp_path / "a"])
    with pytest.raises(BadRequest, match="name"):
        create(db, [tmp_path / "a"], name=" ")
    assert db.read_sync(libraries.list_libraries) == []


@pytest.mark.parametrize("other", ["movies", "movies/sub", "."])
def test_overlapping_folders_conflict(db: Database, tmp_path: Path, other: str) -> None:
    (tmp_path / "movies/sub").mkdir(parents=True)
    create(db, [tmp_path / "movies"])
    with pytest.raises(Conflict, match="overlaps"):
        create(db, [tmp_path / other])


def test_get_update_delete(db: Database, tmp_path: Path) -> None:
    for d in ("a", "b", "c"):
        (tmp_path / d).mkdir()
    lib = create(db, [tmp_path / "a"], "mixed")
    other = create(db, [tmp_path / "c"], "shows")
    got = db.read_sync(lambda c: libraries.get_library(c, lib.id, scanning=[lib.id]))
    assert got.scanning
    assert got.to_dict() == {
        "id": lib.id,
        "name": "a",
        "kind": "mixed",
        "paths": [str(tmp_path / "a")],
        "item_count": 0,
        "scanning": True,
        "scanned_at": None,
    }
    renamed = db.write_sync(
        lambda c: libraries.update_library(c, lib.id, name="Home", paths=[tmp_path / "b"])
    )
    assert (renamed.name, renamed.paths) == ("Home", (str(tmp_path / "b"),))
    with pytest.raises(Conflict):
        db.write_sync(lambda c: libraries.update_library(c, lib.id, paths=[tmp_path / "c"]))
    assert db.read_sync(libraries.library_for_path, tmp_path / "b/x/y.mkv") == (
        lib.id,
        str(tmp_path / "b"),
    )
    assert db.read_sync(libraries.library_for_path, tmp_path / "elsewhere") is None
    assert db.read_sync(libraries.library_roots) == {
        str(tmp_path / "b"): lib.id,
        str(tmp_path / "c"): other.id,
    }
    db.write_sync(libraries.delete_library, lib.id)
    with pytest.raises(NotFound):
        db.read_sync(libraries.get_library, lib.id)
    with pytest.raises(NotFound):
        db.write_sync(libraries.delete_library, lib.id)
    assert [
        x.id
        for x in db.read_sync(lambda c: libraries.list_libraries(c, library_ids=[other.id, lib.id]))
    ] == [other.id]
    assert db.read_sync(lambda c: libraries.list_libraries(c, library_ids=[])) == []


def test_delete_takes_items_files_and_search_rows(
    db: Database, library_root: Path, settings: object
) -> None:
    from ferrite.library.scanner import Scanner

    lib = create(db, [library_root / "shows"], "shows")
    scanner = Scanner(db, settings)  # type: ignore[arg-type]
    try:
        scanner.scan_library(lib.id)
    finally:
        scanner.close()
    assert db.read_sync(lambda c: libraries.get_library(c, lib.id)).item_count == 1
    db.write_sync(libraries.delete_library, lib.id)

    def count(c: Connection, table: Table) -> int:
        return int(c.execute(select(func.count()).select_from(table)).scalar_one())

    assert db.read_sync(lambda c: (count(c, items), count(c, media_files))) == (0, 0)
    search_table = "items_fts" if db.is_sqlite else "items_search"
    sql = text(f"SELECT count(*) FROM {search_table}")
    assert db.read_sync(lambda c: c.execute(sql).scalar_one()) == 0
