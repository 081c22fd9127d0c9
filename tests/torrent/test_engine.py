"""The engine and the reader with real libtorrent sessions on 127.0.0.1.

A second libtorrent session seeds a generated movie folder (rate-limited where timing
matters); the engine gets it as an explicit peer. No DHT, LSD, UPnP, NAT-PMP or trackers.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import libtorrent as lt
import pytest
from sqlalchemy import select

from ferrite.db.schema import torrent_files, torrents
from ferrite.errors import InvalidTorrent, NotFound, Timeout
from ferrite.torrent.engine import TorrentEngine
from ferrite.torrent.pieces import Layout, WindowPolicy, file_pieces, piece_at, piece_range
from ferrite.torrent.reader import TorrentFileReader
from ferrite.torrent.records import TorrentEvent, TorrentFile, TorrentStatus
from tests.torrent.swarm import CorruptPeer, Seeder, SilentPeer, eventually, running_engine

pytestmark = pytest.mark.slow

CHUNK = 64 * 1024


def layout_of(status: TorrentStatus) -> Layout:
    return Layout(status.piece_length, status.total_size)


def read_all(reader: TorrentFileReader, chunk: int = CHUNK) -> bytes:
    out = bytearray()
    while block := reader.read(chunk):
        out += block
    return bytes(out)


def by_name(files: list[TorrentFile] | tuple[TorrentFile, ...], name: str) -> TorrentFile:
    return next(f for f in files if f.path.endswith(name))


class Background:
    """Run a blocking call in a thread; join with a bound so no test can hang."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self.finished_at = 0.0
        self._thread = threading.Thread(target=self._run, args=(fn,), name="test-reader")
        self._thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self.result = fn()
        except BaseException as exc:
            self.error = exc
        self.finished_at = time.monotonic()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    async def join(self, limit: float) -> Any:
        await asyncio.to_thread(self._thread.join, limit)
        assert not self._thread.is_alive(), f"still blocked after {limit} s"
        return self.result


def test_reader_returns_the_source_bytes_and_state_is_reported(
    tmp_path: Path, movie_dir: Path, movie_torrent: bytes
) -> None:
    expected = {
        f"Movie/{p.name}": (p.stat().st_size, p.suffix == ".mp4") for p in movie_dir.iterdir()
    }

    async def main() -> None:
        events: list[TorrentEvent] = []
        with Seeder(movie_torrent, movie_dir.parent, upload_limit=4_000_000) as seeder:
            async with running_engine(tmp_path) as engine:
                assert engine.listen_port > 0
                engine.subscribe(events.append)
                added = await engine.add_torrent_file(
                    movie_torrent, peers=[f"127.0.0.1:{seeder.port}"]
                )
                # Pad files are hidden; videos are recognised by extension.
                assert {f.path: (f.size, f.is_video) for f in added.files} == expected
                assert added.name == "Movie"
                assert added.num_pieces == -(-added.total_size // (32 * 1024))
                movie = by_name(added.files, "fast.mp4")
                reader = engine.open_reader(added.id, movie.index, duration_s=20)
                assert reader.seekable()
                assert reader.readable()
                data = await asyncio.to_thread(read_all, reader)
                assert data == (movie_dir / "fast.mp4").read_bytes()
                assert reader.tell() == movie.size
                status = engine.status(added.id)
                (state,) = status.readers
                assert state.file_index == movie.index
                assert state.position == movie.size
                assert status.peers >= 0
                assert status.pieces_have >= len(file_pieces(layout_of(status), movie.span))
                reader.close()
                assert engine.status(added.id).readers == ()
                with pytest.raises(ValueError, match="closed"):
                    reader.read(1)
                await eventually(
                    lambda: engine.status(added.id).progress == 1.0, 30, "the download to finish"
                )
                await asyncio.sleep(0.1)
                assert engine.torrents()[0].state in ("finished", "seeding")
        kinds = {e.kind for e in events}
        assert {"added", "piece", "finished"} <= kinds

    asyncio.run(main())


def decode_video(source: Any) -> list[int]:
    with av.open(source) as container:
        return [frame.pts for frame in container.decode(video=0)]


def decode_after_seek(source: Any, seconds: float) -> float:
    with av.open(source) as container:
        stream = container.streams.video[0]
        assert stream.time_base is not None
        container.seek(int(seconds / stream.time_base), stream=stream)
        frame = next(container.decode(stream))
        assert frame.pts is not None
        return float(frame.pts * stream.time_base)


@pytest.mark.parametrize("name", ["fast.mp4", "tail.mp4"])
def test_pyav_decodes_frames_from_the_reader(
    tmp_path: Path, movie_dir: Path, movie_torrent: bytes, name: str
) -> None:
    expected = decode_video(str(movie_dir / name))
    assert len(expected) == 500

    async def main() -> None:
        with Seeder(movie_torrent, movie_dir.parent, upload_limit=4_000_000) as seeder:
            async with running_engine(tmp_path) as engine:
                added = await engine.add_torrent_file(
                    movie_torrent, peers=[f"127.0.0.1:{seeder.port}"]
                )
                movie = by_name(added.files, name)
                reader = engine.open_reader(added.id, movie.index, duration_s=20)
                assert await asyncio.to_thread(decode_video, reader) == expected
                reader.close()
                again = engine.open_reader(added.id, movie.index, duration_s=20)
                landed = await asyncio.to_thread(decode_after_seek, again, 12.0)
                assert 10.0 <= landed <= 12.5  # the keyframe at or before 12 s (2 s GOPs)
                again.close()

    asyncio.run(main())


def test_seek_to_75_percent_reads_before_the_pieces_in_between_arrive(
    tmp_path: Path, movie_dir: Path, movie_torrent: bytes
) -> None:
    source = (movie_dir / "fast.mp4").read_bytes()

    async def main() -> None:
        with Seeder(movie_torrent, movie_dir.parent, upload_limit=2_000_000) as seeder:
            policy = WindowPolicy(min_s=2.0, max_s=8.0)
            async with running_engine(tmp_path, policy=policy) as engine:
                added = await engine.add_torrent_file(
                    movie_torrent, peers=[f"127.0.0.1:{seeder.port}"]
                )
                movie = by_name(added.files, "fast.mp4")
                reader = engine.open_reader(added.id, movie.index, duration_s=20)
                head = await asyncio.to_thread(reader.read, CHUNK)
                assert head == source[:CHUNK]
                target = int(movie.size * 0.75)
                reader.seek(target)
                started = time.monotonic()
                chunk = await asyncio.to_thread(reader.read, CHUNK)
                took = time.monotonic() - started
                have = engine.piece_map(added.id)
                assert chunk == source[target : target + CHUNK]
                # Between the head (and its 512 KiB fast-start preload) and the seek
                # target, most pieces have not arrived: the read did not wait for them.
                status = engine.status(added.id)
                first = piece_at(layout_of(status), movie.span, 600 * 1024)[0]
                last = piece_at(layout_of(status), movie.span, target)[0]
                between = range(first, last)
                missing = [p for p in between if not have[p]]
                print(f"seek read took {took:.2f} s; {len(missing)}/{len(between)} missing")
                assert len(missing) >= len(between) // 2
                assert engine.status(added.id).progress != 1.0
                reader.close()

    asyncio.run(main())


def test_a_waiting_read_resumes_when_the_seeder_comes_back(
    tmp_path: Path, movie_dir: Path, movie_torrent: bytes
) -> None:
    source = (movie_dir / "tail.mp4").read_bytes()

    async def main() -> None:
        seeder = await asyncio.to_thread(
            Seeder, movie_torrent, movie_dir.parent, upload_limit=600_000
        )
        port = seeder.port
        try:
            async with running_engine(tmp_path) as engine:
                added = await engine.add_torrent_file(movie_torrent, peers=[f"127.0.0.1:{port}"])
                movie = by_name(added.files, "tail.mp4")
                reader = engine.open_reader(added.id, movie.index, duration_s=20)
                job = Background(lambda: read_all(reader))
                await eventually(
                    lambda: reader.tell() >= movie.size // 5,
                    30,
                    "a fifth of the file",
                    lambda: (engine.status(added.id), job.error),
                )
                await asyncio.to_thread(seeder.close)
                await eventually(
                    lambda: engine.status(added.id).readers[0].waiting_for is not None,
                    30,
                    "the reader to block on a missing piece",
                    lambda: (engine.status(added.id), job.error, reader.tell()),
                )
                await asyncio.sleep(1.0)
                assert job.running  # stalled, not failed
                stalled_at = reader.tell()
                assert stalled_at < movie.size
                seeder = await asyncio.to_thread(
                    Seeder, movie_torrent, movie_dir.parent, upload_limit=4_000_000, port=port
                )
                data = await job.join(30)  # the engine redials its explicit peer
                assert job.error is None
                assert data == source
                reader.close()
        finally:
            seeder.close()

    asyncio.run(main())


def test_a_connection_that_delivers_nothing_is_dropped_and_dialled_again(
    tmp_path: Path, movie_dir: Path, movie_torrent: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    source = (movie_dir / "fast.mp4").read_bytes()

    async def main() -> None:
        stall_s = 2.0
        async with running_engine(tmp_path, engine_options={"stall_s": stall_s}) as engine:
            info = lt.load_torrent_buffer(movie_torrent).ti
            silent = await asyncio.to_thread(
                SilentPeer, bytes.fromhex(str(info.info_hashes().v1)), info.num_pieces()
            )
            try:
                added = await engine.add_torrent_file(
                    movie_torrent, peers=[f"127.0.0.1:{silent.port}"]
                )
                movie = by_name(added.files, "fast.mp4")
                reader = engine.open_reader(added.id, movie.index, duration_s=20)
                job = Background(lambda: reader.read(4 * CHUNK))
                await eventually(lambda: silent.requests > 0, 30, "requests to the silent peer")
                # Connected, asked, answered with silence: after stall_s the watchdog
                # drops the connection and the peer is dialled again.
                await eventually(
                    lambda: silent.connections >= 2,
                    stall_s + 20,
                    "a second connection",
                    lambda: engine.status(added.id),
                )
                assert job.running
                assert "reconnecting" in caplog.text
                # The log line carries libtorrent's view: the silent peer, its queue.
                assert f"peer 127.0.0.1:{silent.port}" in caplog.text
                assert "no diagnosis" not in caplog.text
                with Seeder(movie_torrent, movie_dir.parent) as seeder:
                    engine.connect_peers(added.id, [f"127.0.0.1:{seeder.port}"])
                    data = await job.join(30)
                assert job.error is None
                assert data == source[: 4 * CHUNK]
                reader.close()
            finally:
                await asyncio.to_thread(silent.close)

    asyncio.run(main())


def test_corrupt_data_fails_the_hash_check_and_is_never_returned(
    tmp_path: Path, movie_dir: Path, movie_torrent: bytes
) -> None:
    source = (movie_dir / "fast.mp4").read_bytes()

    async def main() -> None:
        async with running_engine(tmp_path) as engine:
            added = await engine.add_torrent_file(movie_torrent)  # no honest peer yet
            movie = by_name(added.files, "fast.mp4")
            reader = engine.open_reader(added.id, movie.index, duration_s=20)
            job = Background(lambda: reader.read(8 * CHUNK))
            liar = await asyncio.to_thread(
                CorruptPeer, bytes.fromhex(added.info_hash), added.num_pieces, engine.listen_port
            )
            try:
                await eventually(
                    lambda: engine.status(added.id).hash_failures > 0, 30, "a failed hash check"
                )
                assert liar.requests > 0
                await asyncio.sleep(0.5)
                assert job.running  # garbage was received, nothing was returned
                assert engine.status(added.id).pieces_have == 0
                with Seeder(movie_torrent, movie_dir.parent) as seeder:
                    engine.connect_peers(added.id, [f"127.0.0.1:{seeder.port}"])
                    data = await job.join(30)
                    assert job.error is None
                    assert data == source[: 8 * CHUNK]
            finally:
                await asyncio.to_thread(liar.close)
            reader.close()

    asyncio.run(main())


def test_removing_a_torrent_fails_waiting_readers_at_once(
    tmp_path: Path, movie_torrent: bytes
) -> None:
    async def main() -> Path:
        async with running_engine(tmp_path, torrent_wait_s=60.0) as engine:
            added = await engine.add_torrent_file(movie_torrent)  # nobody has the data
            movie = by_name(added.files, "fast.mp4")
            reader = engine.open_reader(added.id, movie.index)
            other = engine.open_reader(added.id, movie.index)
            job = Background(lambda: reader.read(CHUNK))
            waiter = asyncio.ensure_future(other.wait_for_range(0, CHUNK))
            await eventually(
                lambda: any(r.waiting_for is not None for r in engine.status(added.id).readers),
                10,
                "the read to wait",
            )
            await asyncio.sleep(0.2)
            save_path = Path(added.save_path)
            started = time.monotonic()
            await engine.remove(added.id, delete_data=True)
            await job.join(10)
            assert isinstance(job.error, NotFound)
            assert "removed" in str(job.error)
            assert job.finished_at - started < 5
            with pytest.raises(NotFound):
                await asyncio.wait_for(waiter, 5)
            with pytest.raises(NotFound):
                reader.read(1)  # later reads fail too, without waiting
            with pytest.raises(NotFound):
                engine.status(added.id)
            assert engine.torrents() == []
            rows = await engine.db.read(lambda c: c.execute(select(torrents)).all())
            assert rows == []
            reader.close()
            other.close()
            return save_path

    assert not asyncio.run(main()).exists()  # the downloaded data went with it


def test_malformed_input_is_rejected_with_a_reason(tmp_path: Path, movie_torrent: bytes) -> None:
    async def main() -> None:
        async with running_engine(tmp_path) as engine:
            with pytest.raises(InvalidTorrent, match="invalid info-hash"):
                await engine.add_magnet("magnet:?xt=urn:btih:nothex")
            with pytest.raises(InvalidTorrent, match="magnet:"):
                await engine.add_magnet("http://example.invalid/x.torrent")
            with pytest.raises(InvalidTorrent, match="missing info-hash"):
                await engine.add_magnet("magnet:?dn=no-hash")
            with pytest.raises(InvalidTorrent, match="bencoded"):
                await engine.add_torrent_file(b"this is not a torrent")
            with pytest.raises(InvalidTorrent, match="info"):
                await engine.add_torrent_file(b"de")
            with pytest.raises(InvalidTorrent, match="empty"):
                await engine.add_torrent_file(b"")
            with pytest.raises(InvalidTorrent, match="peer"):
                await engine.add_torrent_file(movie_torrent, peers=["not-a-peer"])
            assert engine.torrents() == []
            with pytest.raises(NotFound):
                engine.open_reader(999, 0)
            added = await engine.add_torrent_file(movie_torrent)
            again = await engine.add_torrent_file(movie_torrent)  # idempotent
            assert again.id == added.id
            with pytest.raises(NotFound, match="no file 1"):
                engine.open_reader(added.id, 1)  # a pad file is not a file
            error = InvalidTorrent("x")
            assert error.to_dict()["status"] == 400

    asyncio.run(main())


def test_no_peers_times_out_with_a_clear_message(tmp_path: Path, movie_torrent: bytes) -> None:
    async def main() -> None:
        async with running_engine(tmp_path, torrent_wait_s=1.0) as engine:
            added = await engine.add_torrent_file(movie_torrent)
            movie = by_name(added.files, "fast.mp4")
            reader = engine.open_reader(added.id, movie.index)
            started = time.monotonic()
            with pytest.raises(Timeout) as info:
                await asyncio.to_thread(reader.read, CHUNK)
            assert 1.0 <= time.monotonic() - started < 5
            assert "no peer has sent piece 0 for 1 s (0 peers connected)" in str(info.value)
            assert info.value.to_dict()["status"] == 504
            with pytest.raises(Timeout, match="piece 0"):
                await reader.wait_for_range(0, 10)
            reader.close()
            magnet = await engine.add_magnet(
                "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=ghost"
            )
            assert magnet.name == "ghost"
            assert not magnet.has_metadata
            with pytest.raises(Timeout, match="metadata"):
                await engine.wait_metadata(magnet.id)

    asyncio.run(main())


def test_a_restart_continues_from_resume_data(
    tmp_path: Path, movie_dir: Path, movie_torrent: bytes
) -> None:
    source = (movie_dir / "fast.mp4").read_bytes()

    async def main() -> None:
        with Seeder(movie_torrent, movie_dir.parent, upload_limit=2_000_000) as seeder:
            peers = [f"127.0.0.1:{seeder.port}"]
            async with running_engine(tmp_path) as first:
                added = await first.add_torrent_file(movie_torrent, peers=peers)
                movie = by_name(added.files, "fast.mp4")
                reader = first.open_reader(added.id, movie.index, duration_s=20)
                await asyncio.to_thread(reader.read, movie.size // 3)
                reader.close()
                had = first.status(added.id).pieces_have
                assert 0 < had < added.num_pieces
            async with running_engine(tmp_path) as second:
                (restored,) = second.torrents()
                assert restored.id == added.id
                assert restored.info_hash == added.info_hash
                assert restored.files == added.files  # metadata came from the resume data
                await eventually(
                    lambda: second.status(added.id).pieces_have >= had, 10, "resumed pieces"
                )
                # The saved explicit peer is dialled again; the rest arrives.
                reader = second.open_reader(added.id, movie.index, duration_s=20)
                assert await asyncio.to_thread(read_all, reader) == source
                reader.close()
                rows = await second.db.read(lambda c: c.execute(select(torrents)).all())
                assert rows[0].resume_data

    asyncio.run(main())


def test_a_magnet_gets_its_metadata_from_the_peer(
    tmp_path: Path, movie_dir: Path, movie_torrent: bytes
) -> None:
    magnet = lt.make_magnet_uri(lt.torrent_info(movie_torrent))
    source = (movie_dir / "tail.mp4").read_bytes()

    async def main() -> None:
        with Seeder(movie_torrent, movie_dir.parent) as seeder:
            async with running_engine(tmp_path) as engine:
                added = await engine.add_magnet(magnet, peers=[f"127.0.0.1:{seeder.port}"])
                with pytest.raises(Exception, match="no metadata"):
                    engine.open_reader(added.id, 0)
                files = await engine.wait_metadata(added.id, 20)
                movie = by_name(files, "tail.mp4")
                assert movie.size == len(source)
                reader = engine.open_reader(added.id, movie.index)
                reader.seek(-CHUNK, 2)  # the moov box at the end
                assert await asyncio.to_thread(reader.read) == source[-CHUNK:]
                reader.close()
                await eventually(
                    lambda: engine.events.tasks == set(), 10, "the metadata to be stored"
                )
                await asyncio.sleep(0.1)
                rows = await engine.db.read(
                    lambda c: c.execute(
                        select(torrent_files.c.file_index, torrent_files.c.path)
                    ).all()
                )
                assert {(r.file_index, r.path) for r in rows} == {(f.index, f.path) for f in files}
                names = await engine.db.read(lambda c: c.execute(select(torrents.c.name)).all())
                assert names[0].name == "Movie"

    asyncio.run(main())


def test_two_readers_share_pieces(tmp_path: Path, movie_dir: Path, movie_torrent: bytes) -> None:
    source = (movie_dir / "fast.mp4").read_bytes()
    span = 512 * 1024

    async def main() -> None:
        with Seeder(movie_torrent, movie_dir.parent, upload_limit=4_000_000) as seeder:
            async with running_engine(tmp_path) as engine:
                added = await engine.add_torrent_file(
                    movie_torrent, peers=[f"127.0.0.1:{seeder.port}"]
                )
                movie = by_name(added.files, "fast.mp4")
                readers = [engine.open_reader(added.id, movie.index) for _ in range(2)]
                jobs = [Background(lambda r=r: r.read(span)) for r in readers]  # type: ignore[misc]
                await eventually(
                    lambda: len(engine.status(added.id).readers) == 2, 5, "two readers"
                )
                for job in jobs:
                    assert await job.join(30) == source[:span]
                status = engine.status(added.id)
                pieces = piece_range(layout_of(status), movie.span, 0, span)
                assert status.piece_reads == len(pieces)  # one read_piece per piece, shared
                for r in readers:
                    r.close()

    asyncio.run(main())


def test_dropped_alerts_are_recovered_by_resyncing(
    tmp_path: Path, movie_dir: Path, movie_torrent: bytes
) -> None:
    """A tiny alert queue overflows while the alert thread is slow: readers still finish."""
    source = (movie_dir / "tail.mp4").read_bytes()

    async def main() -> None:
        with Seeder(movie_torrent, movie_dir.parent) as seeder:
            options = {"alert_queue_size": 4}
            async with running_engine(tmp_path, engine_options=options) as engine:
                handle_alert = engine._pump._on_alert
                stalled = threading.Event()

                def slow_first_piece(alert: Any, calls: Any) -> None:
                    if type(alert) is lt.piece_finished_alert and not stalled.is_set():
                        stalled.set()
                        time.sleep(1.0)  # e.g. the GIL held elsewhere: alerts pile up
                    handle_alert(alert, calls)

                engine._pump._on_alert = slow_first_piece  # type: ignore[method-assign,assignment]
                added = await engine.add_torrent_file(
                    movie_torrent, peers=[f"127.0.0.1:{seeder.port}"]
                )
                movie = by_name(added.files, "tail.mp4")
                reader = engine.open_reader(added.id, movie.index)
                assert await asyncio.to_thread(read_all, reader) == source
                reader.close()
                assert engine.alerts_dropped > 0
                await eventually(
                    lambda: engine.status(added.id).pieces_have == added.num_pieces,
                    20,
                    "every piece to be accounted for",
                    lambda: engine.status(added.id),
                )

    asyncio.run(main())


def test_engine_lifecycle_errors(tmp_path: Path) -> None:
    async def main() -> TorrentEngine:
        async with running_engine(tmp_path) as engine:
            with pytest.raises(Exception, match="already started"):
                await engine.start()
        with pytest.raises(Exception, match="not running"):
            engine.torrents()
        await engine.close()  # twice is fine
        return engine

    asyncio.run(main())
