"""How the engine finds its peers: the peers a user names, the trackers of a .torrent
file or a magnet link -- each on its own, and together.

A realistic .torrent (v1 only, 512 KiB pieces) seeded by a libtorrent session on
127.0.0.1 that announces to a loopback HTTP tracker (``tests/torrent/tracker.py``). That
tracker, like bittorrent-tracker, lists the engine to itself: the engine dials its own
address once. Before ``allow_multiple_connections_per_ip`` that self-connection banned
the one peer entry libtorrent keeps per IP address -- the seeder's too, since it shares
127.0.0.1 -- and the torrent stayed at 0 peers and 0 connect candidates for good, named
peers or not (issue #15). The bug does not depend on the piece size or the file size.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import libtorrent as lt
import pytest

from ferrite.torrent.engine import TorrentEngine
from ferrite.torrent.records import TorrentStatus
from tests.torrent.swarm import Seeder, eventually, make_torrent, running_engine
from tests.torrent.tracker import Tracker

pytestmark = pytest.mark.slow

PIECE = 512 * 1024


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``Film/film.mkv``: 3 MiB + a bit of bytes (seven 512 KiB pieces, the last short)."""
    folder = tmp_path_factory.mktemp("seed") / "Film"
    folder.mkdir()
    path = folder / "film.mkv"
    path.write_bytes(os.urandom(3 * 1024 * 1024 + 12345))
    return path


def read_whole(engine: TorrentEngine, status: TorrentStatus) -> bytes:
    (f,) = status.files
    reader = engine.open_reader(status.id, f.index, duration_s=10)
    try:
        out = bytearray()
        while chunk := reader.read(256 * 1024):
            out += chunk
        return bytes(out)
    finally:
        reader.close()


@pytest.mark.parametrize(
    ("kind", "tracker", "named"),
    [
        ("torrent", True, False),  # a tracker-only swarm
        ("torrent", False, True),  # peers only (no tracker in the file)
        ("torrent", True, True),  # the case: both
        ("magnet", True, False),  # the same swarm by magnet (tr=), for comparison
    ],
)
def test_an_upload_connects_through_its_trackers_and_its_named_peers(
    tmp_path: Path, film: Path, kind: str, tracker: bool, named: bool
) -> None:
    expected = film.read_bytes()

    async def main() -> None:
        with Tracker() as tr:
            data = make_torrent(film.parent, PIECE, v1_only=True, trackers=(tr.url,) * tracker)
            info = lt.torrent_info(lt.bdecode(data))
            info_hash = bytes.fromhex(str(info.info_hashes().v1))
            with Seeder(data, film.parent.parent) as seeder:
                if tracker:  # the seeder announces as it starts
                    await eventually(lambda: tr.peers_of(info_hash), 20, "the seeder's announce")
                async with running_engine(tmp_path) as engine:
                    peers = [f"127.0.0.1:{seeder.port}"] if named else []
                    if kind == "torrent":
                        status = await engine.add_torrent_file(data, peers=peers)
                    else:
                        status = await engine.add_magnet(lt.make_magnet_uri(info), peers=peers)
                        await engine.wait_metadata(status.id, 30)
                        status = engine.status(status.id)
                    assert status.piece_length == PIECE
                    body = await asyncio.to_thread(read_whole, engine, status)
                    assert body == expected
                    if tracker:
                        # The tracker told the engine about itself, as trackers do.
                        me = ("127.0.0.1", engine.listen_port)
                        assert me in tr.peers_of(info_hash)

    asyncio.run(main())
