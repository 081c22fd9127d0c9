"""The API's view of a torrent, from plain records (no engine, no database)."""

from __future__ import annotations

import dataclasses

import pytest

from ferrite.torrent.catalog import LinkedFile
from ferrite.torrent.records import ReaderState, TorrentFile, TorrentStatus
from ferrite.torrent.shapes import torrent_shape

# Two files in 100-byte pieces: a 250-byte video (pieces 0-2) and a 50-byte text (2).
VIDEO = TorrentFile(index=0, path="M/m.mp4", size=250, offset=0, is_video=True)
TEXT = TorrentFile(index=1, path="M/n.txt", size=50, offset=250, is_video=False)
STATUS = TorrentStatus(
    id=7, info_hash="ab" * 20, name="M", state="downloading", has_metadata=True,
    progress=0.5, download_rate=1000, upload_rate=0, peers=1, seeds=1, total_size=300,
    piece_length=100, num_pieces=3, pieces_have=1, hash_failures=0, piece_reads=0,
    error=None, save_path="/d/t", added_at=1.0, files=(VIDEO, TEXT),
    readers=(ReaderState(3, 0, 120, 8_000_000, 2.0, (1, 2), 1),),
    file_progress=(0.4, 0.0),
)  # fmt: skip
LINK = LinkedFile(
    torrent_id=7, index=0, rel_path="M/m.mp4", path="/d/t/M/m.mp4", size=250,
    media_file_id=11, item_id=12, probe_status="ok", duration_s=10.0, bitrate=None,
    fingerprint="f", version=0,
)  # fmt: skip


def test_files_carry_their_links_and_their_own_progress() -> None:
    shape = torrent_shape(STATUS, [LINK])
    assert shape["progress"] == 0.5
    video, text = shape["files"]
    assert (video["item_id"], video["file_id"], video["probe_status"]) == (12, 11, "ok")
    assert video["progress"] == pytest.approx(0.4)
    assert (text["item_id"], text["progress"], text["is_video"]) == (None, 0.0, False)


def test_a_reader_shows_its_piece_and_the_pieces_around_it() -> None:
    (reader,) = torrent_shape(STATUS, [LINK], bitmap=[True, False, True])["readers"]
    assert reader["piece"] == 1  # byte 120 of the video
    assert reader["window"] == [1, 2]
    assert reader["waiting_for"] == 1
    assert reader["around"] == {"first": 0, "have": "101"}
    assert "readers" not in torrent_shape(STATUS, [], readers=False)


def test_before_the_metadata_there_is_nothing_to_place() -> None:
    bare = dataclasses.replace(STATUS, has_metadata=False, files=(), piece_length=0, readers=())
    shape = torrent_shape(bare, [])
    assert shape["files"] == []
    assert shape["readers"] == []
