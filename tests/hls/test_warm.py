"""The warm store: bytes by cache key on disk, bounded, surviving a restart."""

from __future__ import annotations

from pathlib import Path

from ferrite.hls.warm import WarmStore, entry_name


def test_put_get_survive_a_restart(tmp_path: Path) -> None:
    store = WarmStore(tmp_path / "warm", 1000)
    key = ("seg", "f" * 40, "plan", "fmp4", ("v", 0, "360p"), 0)
    assert store.get(key) is None
    store.put(key, b"moof mdat")
    assert store.get(key) == b"moof mdat"
    assert key in store
    again = WarmStore(tmp_path / "warm", 1000)
    assert again.get(key) == b"moof mdat"
    assert again.total_bytes == 9
    assert again.get((*key[:-1], 1)) is None  # another index is another entry


def test_bounded_in_bytes_least_recently_used_out(tmp_path: Path) -> None:
    store = WarmStore(tmp_path, 25)
    store.put("a", b"x" * 10)
    store.put("b", b"x" * 10)
    assert store.get("a") is not None  # a is now the most recent
    store.put("c", b"x" * 10)  # 30 > 25: b goes
    assert store.get("b") is None
    assert store.get("a") is not None
    assert store.get("c") is not None
    assert store.total_bytes == 20
    assert not (tmp_path / entry_name("b")).exists()
    store.put("huge", b"x" * 26)  # larger than the whole budget: not kept
    assert store.get("huge") is None


def test_a_write_cut_short_leaves_nothing_behind(tmp_path: Path) -> None:
    (tmp_path / "abc.123.tmp").write_bytes(b"partial")
    store = WarmStore(tmp_path, 100)
    assert not list(tmp_path.glob("*.tmp"))
    assert store.total_bytes == 0
