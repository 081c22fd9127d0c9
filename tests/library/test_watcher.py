"""The folder watcher rescans exactly the changed paths (real inotify via watchfiles)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import watchfiles

from ferrite.config import Settings
from ferrite.db.engine import Database
from ferrite.library import libraries
from ferrite.library.probe import probe_timed
from ferrite.library.scanner import Scanner, ScanReport
from ferrite.library.watcher import LibraryWatcher
from tests import media

Scans = asyncio.Queue[tuple[int, list[str], ScanReport]]

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Probes:
    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, path: Path, **kw: Any) -> Any:
        self.paths.append(str(path))
        return probe_timed(path, **kw)


@pytest.fixture
async def env(
    db: Database, settings: Settings, library_copy: Path
) -> AsyncIterator[tuple[LibraryWatcher, Scans, Probes, int]]:
    probes = Probes()
    scanner = Scanner(db, settings, probe=probes)
    lib = db.write_sync(
        lambda c: libraries.create_library(
            c, name="m", kind="movies", paths=[library_copy / "movies"]
        )
    )
    await asyncio.to_thread(scanner.scan_library, lib.id)
    probes.paths.clear()
    scans: Scans = asyncio.Queue()
    watcher = LibraryWatcher(
        db,
        scanner,
        settings,
        on_scan=lambda lib_id, paths, rep: scans.put_nowait((lib_id, paths, rep)),
    )
    await watcher.start()
    assert watcher.watching == (str(library_copy / "movies"),)
    yield watcher, scans, probes, lib.id
    await watcher.stop()
    scanner.close()


async def next_scan(scans: Scans) -> tuple[int, list[str], ScanReport]:
    return await asyncio.wait_for(scans.get(), timeout=15)


def unique_copy(src: Path, dst: Path, tag: int) -> Path:
    """A copy of ``src`` with different bytes near the end (so a distinct fingerprint)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    media.corrupt_copy(src, dst, at=0.97, length=8 + tag)
    return dst


async def test_added_modified_and_deleted_files_are_rescanned_alone(
    env: tuple[LibraryWatcher, Scans, Probes, int],
    library_copy: Path,
    clip: Callable[..., Path],
) -> None:
    _watcher, scans, probes, lib = env
    movies = library_copy / "movies"

    added = unique_copy(clip("plain", media.H264_AAC), movies / "Fresh (2022)/Fresh (2022).mp4", 1)
    lib_id, paths, report = await next_scan(scans)
    assert lib_id == lib
    # The new file, or its new folder when both events land in one batch (a subtree scan).
    assert any(added == Path(p) or Path(p) in added.parents for p in paths), paths
    assert report.new == [str(added)]
    assert probes.paths == [str(added)]
    assert report.unchanged == []  # not a whole-library scan

    modified = movies / "Wobbly (2012).mp4"
    shutil.copyfile(clip("longer", media.Clip(duration=5.0)), modified)
    _, paths, report = await next_scan(scans)
    assert paths == [str(modified)]
    assert report.changed == [str(modified)]
    assert probes.paths[-1] == str(modified)

    deleted = movies / "Web Movie (2015)/Web Movie (2015).webm"
    deleted.unlink()
    _, paths, report = await next_scan(scans)
    assert paths == [str(deleted)]
    assert report.removed == [str(deleted)]
    assert len(probes.paths) == 2  # nothing else was ever probed
    assert scans.empty()


async def test_a_file_still_being_copied_is_scanned_once_it_is_complete(
    env: tuple[LibraryWatcher, Scans, Probes, int],
    library_copy: Path,
    clip: Callable[..., Path],
) -> None:
    _, scans, probes, _ = env
    data = clip("mkv", media.H264_AAC, ".mkv").read_bytes()
    target = library_copy / "movies/Slow Copy (2020).mkv"
    step = len(data) // 6 + 1
    with target.open("wb") as f:
        for i in range(0, len(data), step):
            f.write(data[i : i + step])
            f.flush()
            await asyncio.sleep(0.1)  # less than the 200 ms debounce
    _, paths, report = await next_scan(scans)
    assert paths == [str(target)]
    assert report.new == [str(target)]
    assert report.failed == []
    assert probes.paths == [str(target)]
    await asyncio.sleep(0.5)
    assert scans.empty()


async def test_sidecar_and_folder_changes(
    env: tuple[LibraryWatcher, Scans, Probes, int],
    library_copy: Path,
) -> None:
    _, scans, _probes, _ = env
    movies = library_copy / "movies"
    media.write_srt(movies / "Wobbly (2012).de.srt")
    _, paths, report = await next_scan(scans)
    assert paths == [str(movies / "Wobbly (2012).de.srt")]
    assert report.changed == [str(movies / "Wobbly (2012).mp4")]
    shutil.rmtree(movies / "Broadcast (1999)")
    removed: list[str] = []
    while not removed:
        _, paths, report = await next_scan(scans)
        removed += report.removed
    assert removed == [str(movies / "Broadcast (1999)/Broadcast (1999).ts")]


async def test_refresh_follows_new_libraries_and_stop_cancels(
    env: tuple[LibraryWatcher, Scans, Probes, int], db: Database, tmp_path: Path
) -> None:
    watcher, scans, _, _ = env
    extra = tmp_path / "extra"
    extra.mkdir()
    lib = db.write_sync(
        lambda c: libraries.create_library(c, name="x", kind="mixed", paths=[extra])
    )
    watcher.refresh()
    for _ in range(100):
        if str(extra) in watcher.watching:
            break
        await asyncio.sleep(0.05)
    assert str(extra) in watcher.watching
    await asyncio.sleep(0.2)
    media.write_srt(extra / "lonely.srt")  # a sidecar without a video: nothing to scan
    (extra / "notes.txt").write_text("ignored")
    await asyncio.sleep(0.6)
    assert scans.empty()
    tasks = list(watcher._tasks)
    await watcher.stop()
    assert not watcher.running
    assert all(t.done() for t in tasks)
    del lib


async def test_settling_waits_for_stable_size(
    tmp_path: Path, db: Database, settings: Settings
) -> None:
    """Unit: a path whose size changed since its event stays pending one more round."""

    async def no_watch(*_a: Any, **_k: Any) -> AsyncIterator[set[tuple[watchfiles.Change, str]]]:
        if False:
            yield set()

    watcher = LibraryWatcher(db, Scanner(db, settings), settings, awatch=no_watch)
    watcher._kick = asyncio.Event()
    f = tmp_path / "growing.mkv"
    f.write_bytes(b"x")
    watcher._note({(watchfiles.Change.added, str(f))})
    f.write_bytes(b"xx")
    assert watcher._settled() == []
    assert watcher._settled() == [str(f)]
    watcher._note({(watchfiles.Change.deleted, str(tmp_path / "gone.mkv"))})
    assert watcher._settled() == [str(tmp_path / "gone.mkv")]
    watcher.scanner.close()
