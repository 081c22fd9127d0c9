"""Scanning folders a hostile user (or a download client) can write to: links out of the
library, names that are not UTF-8, subtitle "files" that are FIFOs or /dev/zero."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import av
import pytest
from sqlalchemy import select

from ferrite.config import Settings
from ferrite.db.engine import Database
from ferrite.db.schema import media_files, subtitle_tracks
from ferrite.errors import ProbeError
from ferrite.library import libraries
from ferrite.library.probe import probe
from ferrite.library.scanner import Scanner
from ferrite.media.inputs import FORMAT_WHITELIST
from ferrite.transcode.progressive import ProgressiveJob, progressive_argv
from tests import media


@pytest.fixture
def movies(tmp_path: Path, clip: Callable[..., Path]) -> Path:
    root = tmp_path / "Movies"
    (root / "Film (2020)").mkdir(parents=True)
    shutil.copyfile(clip("h264"), root / "Film (2020)" / "Film (2020).mp4")
    return root


@pytest.fixture
def outside(tmp_path: Path, clip: Callable[..., Path]) -> Path:
    """A folder outside the library holding a video anyone could link to."""
    folder = tmp_path / "elsewhere" / "Private (1999)"
    folder.mkdir(parents=True)
    shutil.copyfile(clip("h264"), folder / "Private (1999).mp4")
    return folder.parent


def scan(
    db: Database, settings: Settings, root: Path, paths: list[Path] | None = None
) -> tuple[list[str], list[str]]:
    lib = db.write_sync(
        lambda c: libraries.create_library(c, name=None, kind="movies", paths=[root])
    )
    scanner = Scanner(db, settings)
    try:
        report = scanner.scan_library(lib.id, paths)
    finally:
        scanner.close()
    paths = db.read_sync(lambda c: list(c.execute(select(media_files.c.path)).scalars()))
    return sorted(paths), [p for p, _ in report.failed]


def test_links_out_of_the_library_are_not_followed(
    db: Database, settings: Settings, movies: Path, outside: Path
) -> None:
    (movies / "x").symlink_to("/")  # would index the machine
    (movies / "Linked (1999)").symlink_to(outside / "Private (1999)")
    (movies / "Film (2020)" / "Other (1999).mp4").symlink_to(
        outside / "Private (1999)" / "Private (1999).mp4"
    )
    paths, _ = scan(db, settings, movies)
    assert paths == [str(movies / "Film (2020)" / "Film (2020).mp4")]


def test_links_out_are_followed_when_the_setting_allows(
    db: Database, settings: Settings, movies: Path, outside: Path
) -> None:
    (movies / "Linked (1999)").symlink_to(outside / "Private (1999)")
    allowing = dataclasses.replace(settings, follow_links_outside_library=True)
    paths, _ = scan(db, allowing, movies)
    assert str(movies / "Linked (1999)" / "Private (1999).mp4") in paths


def test_a_name_that_is_not_utf8_does_not_stop_the_scan(
    db: Database, settings: Settings, movies: Path, clip: Callable[..., Path]
) -> None:
    bad = os.fsencode(movies) + b"/Caf\xe9 (1990).mp4"  # Latin-1, not UTF-8
    shutil.copyfile(clip("h264"), bad)
    for n in range(3):  # files after it in the walk are still scanned, and every later scan
        shutil.copyfile(clip("h264"), movies / f"Zed {n} (2001).mp4")
    paths, failed = scan(db, settings, movies)
    assert len(paths) == 4
    assert failed == [str(movies / "Caf\ufffd (1990).mp4")]


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_sidecar_that_is_a_fifo_or_dev_zero_is_skipped(
    db: Database, settings: Settings, movies: Path, kind: str
) -> None:
    sidecar = movies / "Film (2020)" / "Film (2020).en.srt"
    if kind == "fifo":
        os.mkfifo(sidecar)
    else:
        sidecar.symlink_to("/dev/zero")
    allowing = dataclasses.replace(settings, follow_links_outside_library=True)
    result: list[object] = []
    # A path scan, as the watcher makes when the sidecar appears.
    video = movies / "Film (2020)" / "Film (2020).mp4"
    worker = threading.Thread(target=lambda: result.append(scan(db, allowing, movies, [video])))
    worker.start()
    worker.join(60)
    if worker.is_alive():  # unblock the hung reader so the test run can end
        if kind == "fifo":
            with sidecar.open("wb"):
                pass
        worker.join(60)
        pytest.fail("the scan hung on the sidecar")
    paths, failed = result[0]  # type: ignore[misc]
    assert len(paths) == 1
    assert failed == []
    tracks = db.read_sync(lambda c: c.execute(select(subtitle_tracks.c.path)).scalars().all())
    assert str(sidecar) not in tracks


SUBRIP = "1\n00:00:01,000 --> 00:00:02,000\nhello\n\n2\n00:00:03,000 --> 00:00:04,000\nworld\n"


@pytest.mark.parametrize(
    ("name", "text", "demuxer"),
    [
        ("Subs (2001).mkv", SUBRIP, "srt"),
        ("Meta (2002).mp4", ";FFMETADATA1\ntitle=x\n", "ffmetadata"),
        ("Player (2003).avi", "0:00:01:hello\n0:00:02:world\n", "vplayer"),
    ],
)
def test_only_the_containers_ferrite_supports_are_demuxed(
    tmp_path: Path, name: str, text: str, demuxer: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with av.open(str(path)) as unrestricted:  # what FFmpeg does when left to itself
        assert unrestricted.format.name == demuxer
    with pytest.raises(ProbeError, match="contains text"):
        probe(path)


def test_ffmpeg_gets_the_same_allow_lists(tmp_path: Path) -> None:
    path = tmp_path / "Subs (2001).mkv"
    path.write_text(SUBRIP)
    job = ProgressiveJob(input=str(path), video_stream=0, ffmpeg=media.FFMPEG)
    argv = progressive_argv(job)
    i = argv.index("-i")
    assert argv[i - 4 : i] == ["-format_whitelist", FORMAT_WHITELIST, "-protocol_whitelist", "file"]
    feed = progressive_argv(ProgressiveJob(input="http://127.0.0.1:1234/s3cret/1", video_stream=0))
    assert feed[feed.index("-i") - 1] == "http,tcp"
    # Real ffmpeg refuses the text file a "movie" turned out to be.
    run = subprocess.run(argv, capture_output=True, check=False)
    assert run.returncode != 0
    assert b"Invalid argument" in run.stderr or b"Invalid data" in run.stderr


def test_a_scan_records_which_file_it_saw(db: Database, settings: Settings, movies: Path) -> None:
    scan(db, settings, movies)
    film = movies / "Film (2020)" / "Film (2020).mp4"
    row = db.read_sync(
        lambda c: c.execute(
            select(media_files.c.inode, media_files.c.device).where(media_files.c.path == str(film))
        ).one()
    )
    assert (row.inode, row.device) == (film.stat().st_ino, film.stat().st_dev)


def test_a_file_replaced_with_the_same_size_and_mtime_is_probed_again(
    db: Database, settings: Settings, movies: Path
) -> None:
    lib = db.write_sync(
        lambda c: libraries.create_library(c, name=None, kind="movies", paths=[movies])
    )
    film = movies / "Film (2020)" / "Film (2020).mp4"
    scanner = Scanner(db, settings)
    try:
        scanner.scan_library(lib.id)
        copy = film.with_name("copy.tmp")
        shutil.copy2(film, copy)  # same size, same mtime, another inode
        copy.replace(film)
        report = scanner.scan_library(lib.id)
    finally:
        scanner.close()
    assert report.changed == [str(film)]
    inode = db.read_sync(
        lambda c: c.execute(
            select(media_files.c.inode).where(media_files.c.path == str(film))
        ).scalar_one()
    )
    assert inode == film.stat().st_ino
