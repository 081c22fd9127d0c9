"""Walking library folders on a real disk: what is found, skipped and reported."""

from __future__ import annotations

import os
from pathlib import Path

from ferrite.library.files import FileRecord
from ferrite.library.reconcile import changed
from ferrite.library.walk import walk_paths, walk_roots


def touch(path: Path, data: bytes = b"x" * 10) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def record_of(path: Path) -> FileRecord:
    st = path.stat()
    return FileRecord(
        id=1,
        library_id=1,
        item_id=1,
        path=str(path),
        size=st.st_size,
        mtime_ns=st.st_mtime_ns,
        fingerprint="fp",
        probe_status="ok",
        probe_error=None,
        probed_at=st.st_mtime + 1,
        inode=st.st_ino,
        device=st.st_dev,
    )


def test_videos_with_their_sidecars_and_what_is_skipped(tmp_path: Path) -> None:
    root = tmp_path / "Movies"
    video = touch(root / "Film (2001)" / "Film (2001).mkv")
    sub = touch(root / "Film (2001)" / "Film (2001).en.srt")
    touch(root / "Film (2001)" / "Sample" / "sample.mkv")
    touch(root / "@eaDir" / "thumb.mkv")
    touch(root / ".hidden.mkv")
    walk = walk_roots([str(root)], follow_links=False)
    assert list(walk.found) == [str(video)]
    (side,) = walk.found[str(video)].sidecars
    assert side.path == sub
    assert side.mtime == sub.stat().st_mtime
    assert walk.errors == walk.failed == walk.unreadable == []
    assert walk.scope is None


def test_a_missing_library_folder_is_unreadable_not_empty(tmp_path: Path) -> None:
    walk = walk_roots([str(tmp_path / "unmounted")], follow_links=False)
    assert walk.found == {}
    assert walk.unreadable == [str(tmp_path / "unmounted")]
    assert "its files were kept" in walk.errors[0]


def test_links_leaving_the_library_are_skipped_unless_allowed(tmp_path: Path) -> None:
    root, outside = tmp_path / "Movies", tmp_path / "elsewhere"
    touch(outside / "Secret.mkv")
    root.mkdir()
    (root / "escape").symlink_to(outside)
    strict = walk_roots([str(root)], follow_links=False)
    assert strict.found == {}
    assert strict.errors == [f"{root / 'escape'}: skipped, a link to outside the library"]
    loose = walk_roots([str(root)], follow_links=True)
    assert list(loose.found) == [str(root / "escape" / "Secret.mkv")]


def test_a_file_turned_into_a_link_to_another_copy_is_changed(tmp_path: Path) -> None:
    # Same size and mtime (a copy made with preserved times), but another file: the walk
    # follows the link and sees the target's inode, so the file is probed again.
    root = tmp_path / "Movies"
    path = touch(root / "A.mkv")
    before = record_of(path)
    copy = root / "Copies" / "A copy.mkv"
    copy.parent.mkdir()
    copy.write_bytes(path.read_bytes())
    os.utime(copy, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))
    path.unlink()
    path.symlink_to(copy)
    walk = walk_roots([str(root)], follow_links=False)
    seen = walk.found[str(path)]
    assert (seen.sig.size, seen.sig.mtime_ns) == (before.size, before.mtime_ns)
    assert changed(before, seen, frozenset())


def test_a_changed_subtitle_forces_its_video(tmp_path: Path) -> None:
    root = tmp_path / "Movies"
    video = touch(root / "Film.mkv")
    other = touch(root / "Other.mkv")
    sub = touch(root / "Film.en.srt")
    walk = walk_paths([str(root)], [sub, tmp_path / "not-ours.mkv"], follow_links=False)
    assert list(walk.found) == [str(video)]
    assert walk.forced == {str(video)}
    assert walk.scope == [str(video)]
    assert str(other) not in walk.found


def test_paths_scope_a_deleted_folder_too(tmp_path: Path) -> None:
    # A deleted folder is in scope (its rows are compared, and found gone) with no files.
    root = tmp_path / "Movies"
    root.mkdir()
    walk = walk_paths([str(root)], [root / "Deleted show"], follow_links=False)
    assert walk.scope == [str(root / "Deleted show")]
    assert walk.found == {}
