"""The scan's pure decisions: found files against stored rows, then moves by fingerprint."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferrite.library.files import FileRecord
from ferrite.library.fingerprint import StatSignature
from ferrite.library.reconcile import (
    Found,
    Sidecar,
    changed,
    compare,
    is_under,
    match_moves,
)

ROOT = "/lib/Movies"
PROBED_AT = 1000.0


def found(
    path: str,
    size: int = 100,
    mtime_ns: int = 5,
    inode: int | None = 7,
    device: int | None = 1,
    sidecars: tuple[Sidecar, ...] = (),
) -> Found:
    return Found(Path(path), StatSignature(size, mtime_ns, inode, device), ROOT, sidecars)


def rec(
    id: int,
    path: str,
    size: int = 100,
    mtime_ns: int = 5,
    inode: int | None = 7,
    device: int | None = 1,
    status: str = "ok",
    fingerprint: str = "fp",
) -> FileRecord:
    return FileRecord(
        id=id,
        library_id=1,
        item_id=id,
        path=path,
        size=size,
        mtime_ns=mtime_ns,
        fingerprint=fingerprint,
        probe_status=status,
        probe_error=None if status == "ok" else "broken",
        probed_at=PROBED_AT,
        inode=inode,
        device=device,
    )


def by_path(*values: Found) -> dict[str, Found]:
    return {str(f.path): f for f in values}


def rows(*values: FileRecord) -> dict[str, FileRecord]:
    return {r.path: r for r in values}


# -- compare ---------------------------------------------------------------------------


def test_compare_sorts_new_changed_unchanged_and_gone() -> None:
    a, b, c = f"{ROOT}/A.mkv", f"{ROOT}/B.mkv", f"{ROOT}/C.mkv"
    out = compare(
        by_path(found(a), found(b, mtime_ns=6), found(f"{ROOT}/New.mkv")),
        rows(rec(1, a), rec(2, b), rec(3, c)),
        {},
    )
    assert out.unchanged == [a]
    assert [(str(f.path), r.id) for f, r in out.changed] == [(b, 2)]
    assert [str(f.path) for f in out.new] == [f"{ROOT}/New.mkv"]
    assert list(out.gone) == [c]


@pytest.mark.parametrize(
    ("seen", "expected"),
    [
        (found("x", mtime_ns=6), True),  # same size, another mtime: rewritten in place
        (found("x", size=101), True),
        # Same size and mtime but another inode: a different file put at the path (a copy
        # with preserved times, or the path turned into a link to another copy).
        (found("x", inode=8), True),
        (found("x", device=2), True),
        (found("x"), False),
    ],
)
def test_changed_by_size_mtime_and_identity(seen: Found, expected: bool) -> None:
    assert changed(rec(1, "x"), seen, frozenset()) is expected


def test_an_unrecorded_inode_is_not_a_change() -> None:
    # Rows written before inodes were recorded must not all be probed again.
    assert not changed(rec(1, "x", inode=None, device=None), found("x", inode=9), frozenset())


def test_a_failed_probe_is_not_retried_while_the_bytes_are_the_same() -> None:
    failed = rec(1, "x", status="failed")
    with_sub = found("x", sidecars=(Sidecar(Path("x.en.srt"), PROBED_AT + 50),))
    assert not changed(failed, with_sub, frozenset())
    assert changed(failed, found("x", mtime_ns=6), frozenset())


def test_sidecars_added_removed_edited_or_unreadable_are_changes() -> None:
    r = rec(1, "x")
    old_sub = Sidecar(Path("x.en.srt"), PROBED_AT - 1)
    recorded = frozenset({"x.en.srt"})
    assert not changed(r, found("x", sidecars=(old_sub,)), recorded)
    added = (old_sub, Sidecar(Path("x.fr.srt"), PROBED_AT - 1))
    assert changed(r, found("x", sidecars=added), recorded)  # a new subtitle file
    assert changed(r, found("x"), recorded)  # the subtitle file was deleted
    edited = Sidecar(Path("x.en.srt"), PROBED_AT + 1)
    assert changed(r, found("x", sidecars=(edited,)), recorded)
    unreadable = Sidecar(Path("x.en.srt"), None)
    assert changed(r, found("x", sidecars=(unreadable,)), recorded)


def test_forced_paths_are_probed_again_even_when_identical() -> None:
    a = f"{ROOT}/A.mkv"
    out = compare(by_path(found(a)), rows(rec(1, a)), {}, forced={a})
    assert [r.id for _, r in out.changed] == [1]
    assert out.unchanged == []


def test_rows_under_an_unreadable_folder_are_kept() -> None:
    # An unmounted disk is not a deletion; a sibling folder sharing a name prefix is not
    # "under" it and its vanished rows do go.
    kept, lost = f"{ROOT}/Old/A.mkv", f"{ROOT}2/B.mkv"
    out = compare({}, rows(rec(1, kept), rec(2, lost)), {}, unreadable=[ROOT])
    assert list(out.gone) == [lost]


def test_a_vanished_folder_makes_all_its_rows_gone() -> None:
    stored = rows(*(rec(i, f"{ROOT}/Show/S01/E{i}.mkv") for i in range(1, 4)), rec(9, "/x.mkv"))
    out = compare(by_path(found("/x.mkv")), stored, {})
    assert sorted(r.id for r in out.gone.values()) == [1, 2, 3]
    assert out.unchanged == ["/x.mkv"]


def test_is_under() -> None:
    assert is_under("/a/b", "/a")
    assert is_under("/a", "/a/")
    assert not is_under("/ab", "/a")


# -- match_moves -------------------------------------------------------------------------


def test_a_rename_is_a_move_and_leaves_the_gone_rows() -> None:
    old, new = f"{ROOT}/Old name.mkv", f"{ROOT}/New name.mkv"
    cmp = compare(by_path(found(new)), rows(rec(1, old)), {})
    out = match_moves([(cmp.new[0], "fp")], {"fp": [rec(1, old)]}, {old}, {}, cmp.gone)
    assert [(m.old.id, str(m.found.path), m.refresh) for m in out.moves] == [(1, new, False)]
    assert out.new == []
    assert out.gone == {}


def test_a_copy_is_not_a_move_while_the_original_exists() -> None:
    new = found(f"{ROOT}/Copy.mkv")
    out = match_moves([(new, "fp")], {"fp": [rec(1, f"{ROOT}/A.mkv")]}, set(), {}, {})
    assert out.moves == []
    assert out.new == [(new, "fp")]


def test_a_size_mismatch_is_not_a_move() -> None:
    # The fingerprint hashes only the ends of a file: the sizes must agree too.
    old = rec(1, "/gone.mkv", size=100)
    out = match_moves([(found("/new.mkv", size=200), "fp")], {"fp": [old]}, {"/gone.mkv"}, {}, {})
    assert out.moves == []


def test_one_row_is_claimed_by_one_new_path_only() -> None:
    old = rec(1, "/gone.mkv")
    first, second = found("/one.mkv"), found("/two.mkv")
    gone = {"/gone.mkv": old}
    out = match_moves([(first, "fp"), (second, "fp")], {"fp": [old]}, {"/gone.mkv"}, {}, gone)
    assert [m.found for m in out.moves] == [first]
    assert out.new == [(second, "fp")]
    assert out.gone == {}


def test_the_next_candidate_is_taken_when_the_first_is_claimed() -> None:
    a, b = rec(1, "/a.mkv"), rec(2, "/b.mkv")
    out = match_moves(
        [(found("/x.mkv"), "fp"), (found("/y.mkv"), "fp")],
        {"fp": [a, b]},
        {"/a.mkv", "/b.mkv"},
        {},
        rows(a, b),
    )
    assert [(m.old.id, str(m.found.path)) for m in out.moves] == [(1, "/x.mkv"), (2, "/y.mkv")]
    assert out.gone == {}


def test_a_row_at_the_same_path_is_not_its_own_move() -> None:
    same = rec(1, "/x.mkv")
    out = match_moves([(found("/x.mkv"), "fp")], {"fp": [same]}, {"/x.mkv"}, {}, {})
    assert out.moves == []


def test_subtitles_now_or_before_make_the_move_a_reprobe() -> None:
    old = rec(1, "/gone.mkv")
    with_sub = found("/new.mkv", sidecars=(Sidecar(Path("/new.en.srt"), 1.0),))
    out = match_moves([(with_sub, "fp")], {"fp": [old]}, {"/gone.mkv"}, {}, {})
    assert out.moves[0].refresh
    had = match_moves(
        [(found("/new.mkv"), "fp")],
        {"fp": [old]},
        {"/gone.mkv"},
        {1: frozenset({"/gone.en.srt"})},
        {},
    )
    assert had.moves[0].refresh


def test_a_move_from_outside_the_scanned_paths_keeps_the_other_gone_rows() -> None:
    # The watcher scans only the new folder: the old row is a candidate, not a gone row.
    old = rec(1, "/lib/A/x.mkv")
    other = rec(2, "/lib/B/y.mkv")
    out = match_moves(
        [(found("/lib/B/x.mkv"), "fp")],
        {"fp": [old]},
        {"/lib/A/x.mkv"},
        {},
        rows(other),
    )
    assert [m.old.id for m in out.moves] == [1]
    assert out.gone == rows(other)
