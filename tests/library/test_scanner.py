"""Scanning the generated library into a real SQLite database."""

from __future__ import annotations

import io
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, select, text

from ferrite.cli import scan_cli
from ferrite.config import Settings
from ferrite.db import dialect
from ferrite.db.engine import Database
from ferrite.db.schema import items, media_files
from ferrite.errors import BadRequest
from ferrite.library import libraries, media_rows
from ferrite.library.probe import probe, probe_timed
from ferrite.library.scanner import Scanner, ScanReport
from tests import media


class CountingProbe:
    """The real probe, counting (and optionally slowing) calls."""

    def __init__(self, delay: float = 0.0) -> None:
        self.paths: list[str] = []
        self.delay = delay
        self._lock = threading.Lock()

    def __call__(self, path: Path, **kw: Any) -> Any:
        with self._lock:
            self.paths.append(str(path))
        if self.delay:
            time.sleep(self.delay)
        return probe_timed(path, **kw)


@pytest.fixture
def counting() -> CountingProbe:
    return CountingProbe()


@pytest.fixture
def scanner(db: Database, settings: Settings, counting: CountingProbe) -> Iterator[Scanner]:
    s = Scanner(db, settings, probe=counting)
    yield s
    s.close()


def add_library(db: Database, path: Path, kind: str) -> int:
    lib = db.write_sync(lambda c: libraries.create_library(c, name=None, kind=kind, paths=[path]))
    return lib.id


def rows(db: Database, fn: Callable[[Connection], Any]) -> Any:
    return db.read_sync(fn)


def all_items(db: Database) -> list[Any]:
    return list(rows(db, lambda c: c.execute(select(items).order_by(items.c.id)).all()))


def item_by_title(db: Database, title: str) -> Any:
    found = [r for r in all_items(db) if r.title == title]
    assert len(found) == 1, (title, [r.title for r in all_items(db)])
    return found[0]


def file_row(db: Database, path: Path) -> Any:
    return rows(
        db, lambda c: c.execute(select(media_files).where(media_files.c.path == str(path))).first()
    )


def fts_rows(db: Database) -> dict[int, tuple[str, str, str]]:
    """The search rows: as given on SQLite (FTS5 folds when it tokenizes), folded text on
    PostgreSQL; tests compare them with :func:`indexed` of what they expect."""
    sql = "SELECT rowid, title, context, filename FROM items_fts"
    if not db.is_sqlite:
        sql = "SELECT item_id, title, context, filename FROM items_search"
    return {r[0]: (r[1], r[2], r[3]) for r in rows(db, lambda c: c.execute(text(sql)))}


def indexed(db: Database, *values: str) -> tuple[str, ...]:
    """``values`` as the search table of ``db`` holds them."""
    return values if db.is_sqlite else tuple(dialect.search_text(v) for v in values)


@pytest.fixture
def scanned(
    db: Database, scanner: Scanner, library_copy: Path
) -> tuple[int, int, ScanReport, ScanReport]:
    movies = add_library(db, library_copy / "movies", "movies")
    shows = add_library(db, library_copy / "shows", "shows")
    return movies, shows, scanner.scan_library(movies), scanner.scan_library(shows)


# -- the first scan ---------------------------------------------------------------------------


def test_first_scan_builds_items_from_the_generated_library(
    db: Database, scanned: tuple[int, int, ScanReport, ScanReport], library_copy: Path
) -> None:
    movies_id, shows_id, movies, shows = scanned
    assert len(movies.new) == 10
    assert len(shows.new) == 4
    assert movies.changed == movies.unchanged == movies.removed == []
    failed = {Path(p).name: reason for p, reason in movies.failed}
    assert set(failed) == {"Corrupt (2001).mp4", "Empty (2003).mp4", "Not Video (2004).mkv"}
    assert "damaged" in failed["Corrupt (2001).mp4"]
    assert "empty" in failed["Empty (2003).mp4"]
    assert "contains text" in failed["Not Video (2004).mkv"]

    got = {(r.kind, r.title, r.year) for r in all_items(db) if r.library_id == movies_id}
    assert got == {
        ("movie", "Big Test Movie", 2020),
        ("movie", "Amélie Ten Bit", 2001),
        ("movie", "Web Movie", 2015),
        ("movie", "Broadcast", 1999),
        ("movie", "Late Index", 2010),
        ("movie", "Wobbly", 2012),
        ("movie", "Truncated", 2002),
    }
    show = item_by_title(db, "Test Show")
    assert (show.kind, show.library_id, show.parent_id) == ("show", shows_id, None)
    seasons = {r.season_number: r for r in all_items(db) if r.parent_id == show.id}
    assert {n: s.title for n, s in seasons.items()} == {0: "Specials", 1: "Season 1", 2: "Season 2"}
    episodes = {
        (r.season_number, r.episode_number): r.title for r in all_items(db) if r.kind == "episode"
    }
    assert episodes == {(1, 1): "Pilot", (1, 2): "Episode 2", (2, 1): "Episode 1", (0, 1): "Extra"}
    for ep in (r for r in all_items(db) if r.kind == "episode"):
        assert seasons[ep.season_number].id == ep.parent_id
        assert ep.duration_s == pytest.approx(4.0, abs=0.05)

    truncated = item_by_title(db, "Truncated")
    assert truncated.duration_s == pytest.approx(1.2, abs=0.1)
    bad = file_row(db, library_copy / "movies/Corrupt (2001)/Corrupt (2001).mp4")
    assert (bad.probe_status, bad.item_id) == ("failed", None)
    assert "damaged" in bad.probe_error
    listed = db.read_sync(libraries.list_libraries)
    assert [(lib.kind, lib.item_count) for lib in listed] == [("movies", 7), ("shows", 1)]
    assert all(lib.scanned_at for lib in listed)


def test_load_media_returns_what_the_probe_found(
    db: Database, scanned: tuple[int, int, ScanReport, ScanReport], library_copy: Path
) -> None:
    for rel in (
        "movies/Big Test Movie (2020)/Big Test Movie (2020).mp4",  # sidecar subtitles
        "movies/Amélie Ten Bit (2001)/Amélie Ten Bit (2001).mkv",  # embedded srt + ass
        "movies/Broadcast (1999)/Broadcast (1999).ts",
    ):
        path = library_copy / rel
        row = file_row(db, path)
        loaded = db.read_sync(media_rows.load_media, row.id)
        assert loaded == probe(path)
        assert row.fingerprint
        assert len(row.fingerprint) == 40
    ids = db.read_sync(
        media_rows.subtitle_ids,
        file_row(db, library_copy / "movies/Amélie Ten Bit (2001)/Amélie Ten Bit (2001).mkv").id,
    )
    assert len(ids) == 2
    assert db.read_sync(media_rows.load_cues, ids[1])[0].text == "Hello there"


def test_search_rows_follow_the_items(
    db: Database, scanned: tuple[int, int, ScanReport, ScanReport]
) -> None:
    fts = fts_rows(db)
    pilot = item_by_title(db, "Pilot")
    assert fts[pilot.id] == indexed(
        db, "Pilot", "Test Show Season 1", "Test Show - S01E01 - Pilot.mp4"
    )
    show = item_by_title(db, "Test Show")
    assert fts[show.id][0] == indexed(db, "Test Show")[0]
    movie = item_by_title(db, "Amélie Ten Bit")
    assert fts[movie.id] == indexed(db, "Amélie Ten Bit", "2001", "Amélie Ten Bit (2001).mkv")
    seasons = {r.id for r in all_items(db) if r.kind == "season"}
    assert not seasons & set(fts)
    assert set(fts) == {r.id for r in all_items(db) if r.kind != "season"}


# -- rescans ------------------------------------------------------------------------------------


def test_unchanged_rescan_probes_nothing(
    db: Database,
    scanner: Scanner,
    counting: CountingProbe,
    scanned: tuple[int, int, ScanReport, ScanReport],
) -> None:
    movies_id, shows_id, _first, _ = scanned
    assert len(counting.paths) == 14
    counting.paths.clear()
    before = all_items(db)
    again = scanner.scan_library(movies_id)
    again_shows = scanner.scan_library(shows_id)
    assert counting.paths == []
    assert again.probed == again_shows.probed == []
    assert len(again.unchanged) == 10
    assert len(again_shows.unchanged) == 4
    assert again.new == again.changed == again.removed == []
    assert again.failed == []
    assert all_items(db) == before


def test_changed_file_is_reprobed_in_place(
    db: Database,
    scanner: Scanner,
    counting: CountingProbe,
    scanned: tuple[int, int, ScanReport, ScanReport],
    library_copy: Path,
    clip: Callable[..., Path],
) -> None:
    movies_id = scanned[0]
    path = library_copy / "movies/Web Movie (2015)/Web Movie (2015).webm"
    before_file, before_item = file_row(db, path), item_by_title(db, "Web Movie")
    shutil.copyfile(clip("longer-vp9", media.Clip(duration=6.0, vcodec="libvpx-vp9")), path)
    counting.paths.clear()
    report = scanner.scan_library(movies_id)
    assert report.changed == [str(path)]
    assert counting.paths == [str(path)]
    after = file_row(db, path)
    assert after.id == before_file.id
    assert after.fingerprint != before_file.fingerprint
    assert after.item_id == before_item.id
    assert item_by_title(db, "Web Movie").duration_s == pytest.approx(6.0, abs=0.1)
    assert db.read_sync(media_rows.load_media, after.id).keyframes.times() == pytest.approx(  # type: ignore[union-attr]
        [0, 1, 2, 3, 4, 5], abs=0.05
    )


def test_broken_then_fixed_file(
    db: Database,
    scanner: Scanner,
    scanned: tuple[int, int, ScanReport, ScanReport],
    library_copy: Path,
    clip: Callable[..., Path],
) -> None:
    movies_id = scanned[0]
    good = library_copy / "movies/Late Index (2010)/Late Index (2010).mp4"
    with good.open("r+b") as f:  # garbage over its head, same size
        f.write(bytes(range(64)))
    report = scanner.scan_library(movies_id)
    assert [p for p, _ in report.failed] == [str(good)]
    assert "Late Index" not in {r.title for r in all_items(db)}
    assert file_row(db, good).probe_status == "failed"
    text_mkv = library_copy / "movies/Not Video (2004)/Not Video (2004).mkv"
    shutil.copyfile(clip("plain-mkv", media.H264_AAC, ".mkv"), text_mkv)
    report = scanner.scan_library(movies_id)
    assert report.changed == [str(text_mkv)]
    assert report.failed == []
    assert item_by_title(db, "Not Video").year == 2004


def test_moved_file_keeps_its_item_and_file_row_without_probing(
    db: Database,
    scanner: Scanner,
    counting: CountingProbe,
    scanned: tuple[int, int, ScanReport, ScanReport],
    library_copy: Path,
) -> None:
    movies_id = scanned[0]
    old = library_copy / "movies/Web Movie (2015)/Web Movie (2015).webm"
    before_file, before_item = file_row(db, old), item_by_title(db, "Web Movie")
    new = library_copy / "movies/archive/Web Movie (2015)/Web Movie (2015).webm"
    new.parent.mkdir(parents=True)
    old.rename(new)
    counting.paths.clear()
    report = scanner.scan_library(movies_id)
    assert report.moved == [(str(old), str(new))]
    assert report.new == report.removed == []
    assert counting.paths == []
    assert file_row(db, new).id == before_file.id
    assert item_by_title(db, "Web Movie").id == before_item.id

    # Renamed to another title: the same item, renamed in place (progress survives).
    renamed = new.with_name("Web Film (2016).webm")
    new.rename(renamed)
    report = scanner.scan_library(movies_id)
    assert report.moved == [(str(new), str(renamed))]
    item = item_by_title(db, "Web Film")
    assert (item.id, item.year) == (before_item.id, 2016)
    assert file_row(db, renamed).id == before_file.id
    assert "Web Movie" not in {r.title for r in all_items(db)}
    assert fts_rows(db)[item.id][0] == indexed(db, "Web Film")[0]


def test_moved_episode_changes_season_and_prunes_the_old_one(
    db: Database,
    scanner: Scanner,
    scanned: tuple[int, int, ScanReport, ScanReport],
    library_copy: Path,
) -> None:
    shows_id = scanned[1]
    old = library_copy / "shows/Test Show/Season 02/Test Show 2x01.mp4"
    episode = next(r for r in all_items(db) if r.season_number == 2 and r.kind == "episode")
    new = library_copy / "shows/Test Show/Season 03/Test Show 3x01.mp4"
    new.parent.mkdir()
    old.rename(new)
    report = scanner.scan_library(shows_id)
    assert len(report.moved) == 1
    moved = next(r for r in all_items(db) if r.id == episode.id)
    assert (moved.season_number, moved.episode_number) == (3, 1)
    seasons = {r.season_number for r in all_items(db) if r.kind == "season"}
    assert seasons == {0, 1, 3}


def test_moved_with_sidecar_refreshes_subtitles(
    db: Database,
    scanner: Scanner,
    scanned: tuple[int, int, ScanReport, ScanReport],
    library_copy: Path,
) -> None:
    movies_id = scanned[0]
    folder = library_copy / "movies/Big Test Movie (2020)"
    before = file_row(db, folder / "Big Test Movie (2020).mp4")
    folder.rename(library_copy / "movies/Big Test Movie (2020) [1080p]")
    moved = library_copy / "movies/Big Test Movie (2020) [1080p]/Big Test Movie (2020).mp4"
    report = scanner.scan_library(movies_id)
    assert [m[1] for m in report.moved] == [str(moved)]
    row = file_row(db, moved)
    assert row.id == before.id
    (track,) = db.read_sync(media_rows.load_media, row.id).subtitles
    assert track.path == str(moved.with_name("Big Test Movie (2020).en.srt"))


def test_sidecar_added_later_is_noticed(
    db: Database,
    scanner: Scanner,
    counting: CountingProbe,
    scanned: tuple[int, int, ScanReport, ScanReport],
    library_copy: Path,
) -> None:
    movies_id = scanned[0]
    video = library_copy / "movies/Wobbly (2012).mp4"
    media.write_srt(library_copy / "movies/Wobbly (2012).fr.forced.srt")
    counting.paths.clear()
    report = scanner.scan_library(movies_id)
    assert report.changed == [str(video)]
    assert counting.paths == [str(video)]
    (track,) = db.read_sync(media_rows.load_media, file_row(db, video).id).subtitles
    assert (track.language, track.forced) == ("fre", True)


def test_removed_files_prune_emptied_items(
    db: Database,
    scanner: Scanner,
    scanned: tuple[int, int, ScanReport, ScanReport],
    library_copy: Path,
) -> None:
    shows_id = scanned[1]
    show = library_copy / "shows/Test Show"
    (show / "Season 02/Test Show 2x01.mp4").unlink()
    report = scanner.scan_library(shows_id)
    assert report.removed == [str(show / "Season 02/Test Show 2x01.mp4")]
    assert {r.season_number for r in all_items(db) if r.kind == "season"} == {0, 1}
    shutil.rmtree(show)
    report = scanner.scan_library(shows_id)
    assert len(report.removed) == 3
    assert [r for r in all_items(db) if r.library_id == shows_id] == []
    assert fts_rows(db).keys() == {r.id for r in all_items(db) if r.kind != "season"}


def test_unreadable_root_keeps_its_files(
    db: Database,
    scanner: Scanner,
    scanned: tuple[int, int, ScanReport, ScanReport],
    library_copy: Path,
) -> None:
    shows_id = scanned[1]
    (library_copy / "shows").rename(library_copy / "unmounted")
    report = scanner.scan_library(shows_id)
    assert report.removed == []
    assert report.errors
    assert item_by_title(db, "Test Show")


def test_path_scan_touches_only_those_paths(
    db: Database,
    scanner: Scanner,
    counting: CountingProbe,
    scanned: tuple[int, int, ScanReport, ScanReport],
    library_copy: Path,
    clip: Callable[..., Path],
) -> None:
    movies_id = scanned[0]
    added = library_copy / "movies/New One (2021).mp4"
    shutil.copyfile(clip("plain", media.H264_AAC), added)
    media.corrupt_copy(clip("plain", media.H264_AAC), added, at=0.9, length=16)  # unique bytes
    other = library_copy / "movies/Wobbly (2012).mp4"
    other.write_bytes(other.read_bytes())  # touched: would be "changed" in a full scan
    deleted = library_copy / "movies/Broadcast (1999)/Broadcast (1999).ts"
    deleted.unlink()
    counting.paths.clear()
    report = scanner.scan_library(movies_id, paths=[added, deleted])
    assert counting.paths == [str(added)]
    assert report.new == [str(added)]
    assert report.removed == [str(deleted)]
    assert report.unchanged == []
    assert report.changed == []
    assert item_by_title(db, "New One").year == 2021
    assert "Broadcast" not in {r.title for r in all_items(db)}
    # A deleted folder removes what was under it.
    folder = library_copy / "movies/Amélie Ten Bit (2001)"
    shutil.rmtree(folder)
    report = scanner.scan_library(movies_id, paths=[folder])
    assert report.removed == [str(folder / "Amélie Ten Bit (2001).mkv")]


def test_concurrent_full_scans_do_the_work_once(
    db: Database, settings: Settings, library_copy: Path
) -> None:
    slow = CountingProbe(delay=0.05)
    scanner = Scanner(db, settings, probe=slow)
    lib = add_library(db, library_copy / "shows", "shows")
    reports: list[ScanReport] = []
    try:
        threads = [
            threading.Thread(target=lambda: reports.append(scanner.scan_library(lib)))
            for _ in range(4)
        ]
        for t in threads:
            t.start()
            time.sleep(0.01)
        seen_scanning = scanner.scanning
        for t in threads:
            t.join()
    finally:
        scanner.close()
    assert seen_scanning == {lib}
    assert scanner.scanning == frozenset()
    assert sorted(slow.paths) == sorted(str(p) for p in (library_copy / "shows").rglob("*.m*"))
    assert sum(len(r.new) for r in reports if not r.coalesced) == 4
    assert any(r.coalesced for r in reports)


# -- the command line -------------------------------------------------------------------------


def test_scan_cli_adds_libraries_and_reports(
    db: Database, settings: Settings, library_copy: Path
) -> None:
    out, err = io.StringIO(), io.StringIO()
    report = scan_cli(
        db, settings, [library_copy / "movies", library_copy / "shows"], out=out, err=err
    )
    text_out = out.getvalue()
    assert "Added library 'movies' (movies)" in text_out
    assert "Added library 'shows' (shows)" in text_out
    assert "10 new, 0 changed, 0 unchanged, 0 removed, 0 moved, 3 failed" in text_out
    assert "Empty (2003).mp4: the file is empty" in text_out
    assert len(report.new) == 14
    assert len(report.library_ids) == 2
    out = io.StringIO()
    again = scan_cli(db, settings, [library_copy / "shows/Test Show/Season 01"], out=out, err=err)
    assert "Added" not in out.getvalue()
    assert len(again.unchanged) == 2
    assert again.new == []
    with pytest.raises(BadRequest):
        scan_cli(db, settings, [library_copy / "nowhere"], out=out, err=err)
