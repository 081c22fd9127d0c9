"""Playing a video while its torrent downloads, end to end.

A real server (uvicorn in a thread) with its torrent engine on 127.0.0.1 only; a second
libtorrent session seeds a generated movie with an upload limit of 2 MB/s and is the only
peer the server is told about (``peers`` in ``POST /api/torrents``); no DHT, LSD, UPnP or
trackers. The player is a real HLS client: PyAV (FFmpeg's hls demuxer) opening the
master playlist URL. Every test adds its own torrent (a distinct name over the same
bytes), so each one starts from an empty download.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import httpx
import libtorrent as lt
import pytest

from tests import media
from tests.torrent.streaming import (
    RATE,
    Background,
    TorrentServer,
    frame_count,
    make_movies,
    open_hls,
    serve,
    torrent_of,
    video_frames,
    wait_for,
)
from tests.torrent.swarm import Seeder, make_torrent
from tests.torrent.tracker import Tracker

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    """Overrides the per-test check of tests/torrent/conftest.py: the server here lives
    for the whole module (its worker threads outlive a test by design); the ``live``
    fixture checks instead that stopping the server ends every thread it started."""
    return


@dataclasses.dataclass
class Env:
    live: TorrentServer
    movies: dict[str, Path]
    seeds: Path
    frames: int


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    movies = make_movies(tmp_path_factory.mktemp("movies"))
    before = set(threading.enumerate())
    with serve(tmp_path_factory.mktemp("server")) as live:
        yield Env(live, movies, tmp_path_factory.mktemp("seeds"), frame_count(movies["fast"]))
    deadline = time.monotonic() + 10
    while (left := [t for t in threading.enumerate() if t not in before and t.is_alive()]) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.1)
    assert not left, f"threads left running after the server stopped: {left}"


def add(env: Env, title: str, movie: str, seeder: Seeder, torrent: bytes) -> dict[str, Any]:
    r = env.live.add(torrent, [f"127.0.0.1:{seeder.port}"])
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def seeded(
    env: Env, title: str, movie: str = "fast", extra: Any = None, rate: int = RATE
) -> tuple[bytes, Seeder]:
    torrent = torrent_of(env.movies[movie], title, env.seeds, extra=extra)
    return torrent, Seeder(torrent, env.seeds, upload_limit=rate)


def drop(env: Env, torrent_id: int) -> None:
    """Delete a torrent a test leaves incomplete, its seeder gone: reads blocked on its
    pieces (segments the player had asked for ahead) end at once instead of holding the
    server's packager threads for ``torrent_wait_s`` into the next test."""
    r = env.live.client.delete(
        f"/api/torrents/{torrent_id}", params={"delete_data": True}, headers=env.live.headers
    )
    assert r.status_code == 204, r.text


def piece_map(env: Env, torrent_id: int) -> list[bool]:
    engine = env.live.services.torrents._engine
    return list(engine.piece_map(torrent_id))


def test_video_files_become_items_at_once_and_play_over_hls_while_downloading(env: Env) -> None:
    live = env.live
    torrent, seeder = seeded(
        env,
        "Arrival Test (2021)",
        # A sidecar subtitle file in the torrent, next to the video.
        extra=lambda folder: media.write_srt(folder / "Arrival Test (2021).en.srt"),
    )
    with seeder:
        started = time.monotonic()
        added = add(env, "Arrival Test (2021)", "fast", seeder, torrent)
        movie, subtitle = sorted(added["files"], key=lambda f: not f["is_video"])
        assert movie["path"] == "Arrival Test (2021)/Arrival Test (2021).mp4"
        assert subtitle["path"] == "Arrival Test (2021)/Arrival Test (2021).en.srt"
        assert subtitle["item_id"] is None
        assert movie["size"] == env.movies["fast"].stat().st_size
        item_id = movie["item_id"]
        assert item_id is not None
        # The item is in the library before the data is: title from the file name.
        item = live.client.get(f"/api/items/{item_id}", headers=live.headers).json()
        assert (item["title"], item["year"], item["kind"]) == ("Arrival Test", 2021, "movie")
        listed = live.client.get("/api/items", params={"q": "arrival"}, headers=live.headers)
        assert [i["id"] for i in listed.json()["items"]] == [item_id]
        libraries = live.client.get("/api/libraries", headers=live.headers).json()
        assert [lib["name"] for lib in libraries] == ["Torrents"]
        assert libraries[0]["kind"] == "mixed"

        pb = live.play(item_id)  # waits for the header probe (the bytes a player reads first)
        assert pb["method"] == "remux"
        assert pb["duration_s"] == pytest.approx(30, abs=0.1)
        detail = live.client.get(f"/api/items/{item_id}", headers=live.headers).json()
        assert detail["files"][0]["probe_status"] == "ok"
        assert {s["type"] for s in detail["files"][0]["streams"]} == {"video", "audio"}

        frames = 0
        at_first: dict[str, Any] = {}
        with open_hls(live.url(pb["url"])) as container:
            for _ in video_frames(container):
                if frames == 0:
                    at_first = live.torrent(added["id"])
                    at_first["t"] = time.monotonic() - started
                frames += 1
        assert frames == env.frames
        # The first frame was decoded while most of the file had not arrived.
        have, total = at_first["pieces_have"], at_first["num_pieces"]
        print(f"first frame after {at_first['t']:.2f} s with {have}/{total} pieces")
        assert have < total * 0.8

        # The full probe ran behind the player: the sidecar, read through the torrent, is
        # a subtitle of the item and a WebVTT rendition of the next playback.
        def subtitles() -> list[tuple[str, str, bool]]:
            d = live.client.get(f"/api/items/{item_id}", headers=live.headers).json()
            return [(s["language"], s["format"], s["external"]) for s in d["subtitles"]]

        wait_for(lambda: subtitles() == [("eng", "subrip", True)], 60, "the full probe")
        detail = live.client.get(f"/api/items/{item_id}", headers=live.headers).json()
        pb = live.play(item_id)
        master = live.client.get(live.url(pb["url"])).text
        (sub_uri,) = [
            m.split('URI="', 1)[1].split('"', 1)[0]
            for m in master.splitlines()
            if m.startswith("#EXT-X-MEDIA:TYPE=SUBTITLES")
        ]
        base = live.url(pb["url"].split("master.m3u8")[0])
        playlist = live.client.get(base + sub_uri).text
        first = next(line for line in playlist.splitlines() if line.endswith(".vtt"))
        vtt = live.client.get(base + sub_uri.rsplit("/", 1)[0] + "/" + first).text
        assert vtt.startswith("WEBVTT")
        assert "Hello there" in vtt, vtt

        # Complete now: direct play serves the file from disk like any library file.
        wait_for(lambda: live.torrent(added["id"])["progress"] == 1.0, 60, "the download")
        source = env.movies["fast"].read_bytes()
        r = live.client.get(
            f"/api/items/{item_id}/file", headers={**live.headers, "Range": "bytes=1000-1999"}
        )
        assert r.status_code == 206
        assert r.content == source[1000:2000]

        # A rescan of the Torrents library leaves torrent files to the torrent integration.
        (library,) = live.client.get("/api/libraries", headers=live.headers).json()
        r = live.client.post(f"/api/libraries/{library['id']}/scan", headers=live.headers)
        assert r.status_code in (200, 202), r.text
        wait_for(
            lambda: (
                not any(
                    lib["scanning"]
                    for lib in live.client.get("/api/libraries", headers=live.headers).json()
                )
            ),
            30,
            "the rescan",
        )
        after = live.client.get(f"/api/items/{item_id}", headers=live.headers).json()
        assert after["files"] == detail["files"]


def test_seek_to_75_percent_plays_before_the_pieces_in_between_arrive(env: Env) -> None:
    live = env.live
    torrent, seeder = seeded(env, "Seek Test")
    with seeder:
        added = add(env, "Seek Test", "fast", seeder, torrent)
        pb = live.play(added["files"][0]["item_id"])
        with open_hls(live.url(pb["url"])) as container:
            first = next(video_frames(container))
            origin = float(first.pts * first.time_base)  # the packaged timeline's offset
            target = 0.75 * pb["duration_s"]
            started = time.monotonic()
            # AV_TIME_BASE units on the stream's timeline; the hls demuxer picks the segment.
            container.seek(int((origin + target) * 1_000_000))
            landed = next(video_frames(container))
            took = time.monotonic() - started
            have = piece_map(env, added["id"])
        position = float(landed.pts * landed.time_base) - origin
        assert target - 2.5 <= position <= target + 0.5, position
        # Between the start (head preload and the first segments) and the seek target,
        # most pieces had not arrived: the seek did not wait for them.
        n = len(have)
        between = range(int(n * 0.15), int(n * 0.7))
        missing = sum(1 for p in between if not have[p])
        print(f"seek to {target:.1f} s played after {took:.2f} s; {missing}/{len(between)} missing")
        assert missing >= len(between) // 3

        # Direct play of the incomplete file reads through the piece-aware reader.
        item_id = added["files"][0]["item_id"]
        source = env.movies["fast"].read_bytes()
        for start, end in ((len(source) * 9 // 10, len(source) * 9 // 10 + 99_999), (0, 999)):
            r = live.client.get(
                f"/api/items/{item_id}/file",
                headers={**live.headers, "Range": f"bytes={start}-{end}"},
            )
            assert r.status_code == 206, r.text
            assert r.content == source[start : end + 1]
        assert not all(piece_map(env, added["id"]))  # still arriving (see the piece map)
    drop(env, added["id"])


def test_playback_resumes_after_the_seeder_restarts(env: Env) -> None:
    live = env.live
    torrent, seeder = seeded(env, "Restart Test")
    port = seeder.port
    added = add(env, "Restart Test", "fast", seeder, torrent)
    pb = live.play(added["files"][0]["item_id"])
    decoded: list[float] = []

    def play() -> int:
        with open_hls(live.url(pb["url"])) as container:
            for _frame in video_frames(container):
                decoded.append(time.monotonic())
        return len(decoded)

    begun = time.monotonic()
    player = Background(play)
    try:
        wait_for(lambda: len(decoded) > 100 or not player.running, 60, "playback to start")
        seeder.close()  # mid-stream: the seeder goes away ...
        stopped = time.monotonic()
        status = live.torrent(added["id"])
        assert status["progress"] < 0.9, (
            f"the download finished before the seeder stopped: {len(decoded)} frames after "
            f"{stopped - begun:.1f} s, player running: {player.running}, error: {player.error}"
            f"; readers {status.get('readers')}"
        )
        time.sleep(2.0)
        seeder = Seeder(torrent, env.seeds, upload_limit=RATE, port=port)  # ... and comes back
        frames = player.join(120)
    finally:
        seeder.close()
    assert frames == env.frames
    gaps = [b - a for a, b in itertools.pairwise(decoded) if a >= stopped - 1]
    print(f"longest gap between frames around the restart: {max(gaps):.2f} s")


def test_mp4_with_moov_at_the_end_starts_without_downloading_the_whole_file(env: Env) -> None:
    live = env.live
    torrent, seeder = seeded(env, "Tail Moov Test", "tail")
    with seeder:
        added = add(env, "Tail Moov Test", "tail", seeder, torrent)
        pb = live.play(added["files"][0]["item_id"])
        assert pb["duration_s"] == pytest.approx(30, abs=0.1)
        with open_hls(live.url(pb["url"])) as container:
            for frames, _ in enumerate(video_frames(container), 1):
                if frames == 25:
                    status = live.torrent(added["id"])
                    break
        share = status["pieces_have"] / status["num_pieces"]
        print(f"moov at the end: 1 s decoded with {share:.0%} of the pieces")
        assert share < 0.7
    drop(env, added["id"])


def test_matroska_plays_while_downloading_and_a_resume_preloads_its_position(env: Env) -> None:
    live = env.live
    torrent, seeder = seeded(env, "Matroska Test", "mkv")
    with seeder:
        added = add(env, "Matroska Test", "mkv", seeder, torrent)
        item_id = added["files"][0]["item_id"]
        r = live.client.put(
            f"/api/items/{item_id}/progress",
            json={"position_s": 20.0, "played": False},
            headers=live.headers,
        )
        assert r.status_code == 200, r.text
        resumed = live.play(item_id)  # resumes at 20 s: those pieces are fetched first
        assert resumed["start_s"] == 20.0
        engine = live.services.torrents._engine
        preloaded = engine._get(added["id"]).scheduler._base
        n = added["num_pieces"]
        at = int(n * 20 / 30)
        assert at in preloaded or piece_map(env, added["id"])[at]
        pb = live.play(item_id, start_s=0)
        with open_hls(live.url(pb["url"])) as container:
            frames = sum(1 for _ in video_frames(container))
        assert frames == env.frames
    drop(env, added["id"])


def test_transcode_of_an_incomplete_file_reads_through_the_loopback_feed(env: Env) -> None:
    live = env.live
    torrent, seeder = seeded(env, "Transcode Test")
    magnet = lt.make_magnet_uri(lt.torrent_info(lt.bdecode(torrent)))
    with seeder:
        # By magnet this time: the files (and items) exist once the seeder sent the metadata.
        r = live.client.post(
            "/api/torrents",
            json={"magnet": magnet, "peers": [f"127.0.0.1:{seeder.port}"]},
            headers=live.headers,
        )
        assert r.status_code == 201, r.text
        added = r.json()
        assert [f["path"] for f in added["files"]] == ["Transcode Test/Transcode Test.mp4"]
        pb = live.play(added["files"][0]["item_id"], max_height=180)
        assert pb["method"] == "transcode", pb
        # Still arriving, and the API says so: its progress is the fraction of the bytes
        # in verified pieces (libtorrent's own progress counts only wanted pieces, and
        # the start-up hold leaves the rest unwanted: it read 1.0 here).
        have = piece_map(env, added["id"])
        shown = live.torrent(added["id"])
        assert not all(have)
        assert 0 < shown["progress"] < 1
        assert 0 < shown["files"][0]["progress"] < 1
        assert shown["progress"] >= (sum(have) - 1) / len(have)  # asked after the map
        with open_hls(live.url(pb["url"])) as container:
            sizes = set()
            frames = 0
            for frame in video_frames(container):
                sizes.add((frame.width, frame.height))
                frames += 1
                if frames == 100:
                    break
        assert frames == 100
        assert max(h for _, h in sizes) <= 180
        # ffmpeg read the file through the loopback feed, not the (incomplete) path.
        assert live.services.inputs._feed is not None
    drop(env, added["id"])


def test_malformed_input_is_rejected_with_a_reason(env: Env, tmp_path: Path) -> None:
    live = env.live
    post = live.client.post
    for magnet, words in (
        ("magnet:?xt=urn:btih:not-a-hash", "invalid magnet link"),
        ("http://example.org/file.torrent", "not a magnet link"),
        ("", "magnet link"),
    ):
        r = post("/api/torrents", json={"magnet": magnet}, headers=live.headers)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "invalid_torrent"
        assert words in r.json()["error"]["message"]
    r = live.add(b"d8:announce3:xyz4:infod", [])
    assert r.status_code == 400
    assert "invalid .torrent file" in r.json()["error"]["message"]
    r = post(
        "/api/torrents",
        json={"magnet": "magnet:?xt=urn:btih:" + "a" * 40, "peers": ["nowhere"]},
        headers=live.headers,
    )
    assert r.status_code == 400
    assert "peer 'nowhere'" in r.json()["error"]["message"]
    r = post(
        "/api/torrents", content=b"{", headers={**live.headers, "content-type": "application/json"}
    )
    assert r.status_code == 400
    # A torrent without a video file: nothing to play, not kept.
    (tmp_path / "Notes").mkdir()
    (tmp_path / "Notes" / "readme.txt").write_text("no video here\n" * 1000)
    r = live.add(make_torrent(tmp_path / "Notes"), [])
    assert r.status_code == 422
    assert "no video files" in r.json()["error"]["message"]
    listed = live.client.get("/api/torrents", headers=live.headers).json()
    assert "Notes" not in [t["name"] for t in listed]
    assert live.client.get("/api/torrents/999", headers=live.headers).status_code == 404
    assert live.client.get("/api/torrents").status_code == 401


def test_deleting_a_torrent_while_it_plays_ends_playback_with_a_clean_error(
    env: Env, capfd: pytest.CaptureFixture[str]
) -> None:
    live = env.live
    torrent, seeder = seeded(env, "Delete Test")
    with seeder:
        added = add(env, "Delete Test", "fast", seeder, torrent)
        item_id = added["files"][0]["item_id"]
        pb = live.play(item_id)
        base = live.url(pb["url"].split("master.m3u8")[0])
        master = live.client.get(live.url(pb["url"])).text
        video = next(line for line in master.splitlines() if line.startswith("t/"))
        rid = video.rsplit("/", 1)[1].removesuffix(".m3u8")
        segment = base + video.rsplit("/", 1)[0] + f"/{rid}/{{}}.m4s"
        assert live.client.get(segment.format(0)).status_code == 200
    # The seeder is gone: a segment far ahead now waits for pieces nobody sends.
    have = piece_map(env, added["id"])
    assert not all(have)
    waiting = Background(lambda: httpx.get(segment.format(11), timeout=60))
    time.sleep(1.0)
    assert waiting.running, "the segment did not wait for its pieces"
    deleted_at = time.monotonic()
    r = live.client.delete(
        f"/api/torrents/{added['id']}", params={"delete_data": True}, headers=live.headers
    )
    assert r.status_code == 204, r.text
    answer = waiting.join(10)
    took = waiting.done_at - deleted_at
    print(f"the waiting segment request ended {took:.2f} s after the delete: {answer.status_code}")
    assert took < 5
    assert answer.status_code in (404, 409, 410), answer.text
    error = answer.json()["error"]
    assert error["code"] in ("not_found", "media_changed")
    assert error["message"]
    later = httpx.get(segment.format(12), timeout=30)
    assert later.status_code in (404, 409)
    assert later.json()["error"]["message"]
    assert live.client.get(f"/api/items/{item_id}", headers=live.headers).status_code == 404
    assert live.client.get(f"/api/torrents/{added['id']}", headers=live.headers).status_code == 404
    assert not (Path(live.services.settings.data_dir) / "torrents" / added["info_hash"]).exists()
    # FFmpeg may read again after a failed read; PyAV prints an exception it could not
    # raise ("being dropped") with its traceback: the readers it reads must not cause one.
    err = capfd.readouterr().err
    assert "Traceback" not in err, err


def test_an_uploaded_torrent_finds_its_seeder_through_its_tracker_alone(env: Env) -> None:
    """Issue #15's upload: a v1 .torrent with 512 KiB pieces whose announce URL is a
    tracker on 127.0.0.1 that lists every peer (the uploader too), no ``peers`` named: the
    multipart upload connects through the tracker and the video plays directly."""
    title = "Tracker Test"
    folder = env.seeds / title
    folder.mkdir()
    os.link(env.movies["fast"], folder / f"{title}.mp4")
    with Tracker() as tracker:
        torrent = make_torrent(folder, 512 * 1024, v1_only=True, trackers=(tracker.url,))
        with Seeder(torrent, env.seeds) as seeder:
            wait_for(lambda: bool(tracker.announces), 20, "the seeder's announce")
            r = env.live.add(torrent, [])
            assert r.status_code == 201, r.text
            added = r.json()
            pb = env.live.play(added["files"][0]["item_id"], device="android", protocol=None)
            assert pb["method"] == "direct", pb
            with av.open(env.live.url(pb["url"])) as container:
                frame = next(container.decode(video=0))
            assert frame.width == 640
            assert seeder.port in {port for _, port, _ in tracker.announces}
    drop(env, added["id"])


def test_a_video_name_over_bytes_that_are_no_video_fails_with_a_reason(
    env: Env, tmp_path: Path
) -> None:
    """``.mp4`` by name, noise by content: the header probe's failure is final (no full
    probe waiting for the rest of the file, no retry loop), the item goes, playing it is
    a clear error, not a wait, and the probe holds nothing once it is answered."""
    folder = tmp_path / "Fake (2020)"
    folder.mkdir()
    # 16 MiB of noise from a slow seeder: a probe reading it all would take ~30 s.
    (folder / "Fake (2020).mp4").write_bytes(bytes(range(256)) * 65536)
    torrent = make_torrent(folder, 512 * 1024)
    with Seeder(torrent, tmp_path, upload_limit=RATE // 4) as seeder:
        r = env.live.add(torrent, [f"127.0.0.1:{seeder.port}"])
        assert r.status_code == 201, r.text
        added = r.json()
        item_id = added["files"][0]["item_id"]
        file_id = added["files"][0]["file_id"]
        r = env.live.client.post(
            "/api/playback",
            json={"item_id": item_id, "device": "chrome"},
            headers=env.live.headers,
            timeout=60,
        )
        assert r.status_code == 422, r.text
        assert "cannot be played" in r.json()["error"]["message"]
        answered = time.monotonic()
        service = env.live.services.torrents
        assert service is not None
        # The probe task and its read-ahead end with the answer (they waited for pieces
        # for over a minute when a failed header step handed over to the full probe).
        wait_for(lambda: not service.prober.busy(file_id), 5, "the probe task to end")
        assert time.monotonic() - answered < 5
        assert not [t for t in service._tasks if t.get_name().endswith(f"-{file_id}")]
        assert not all(piece_map(env, added["id"]))  # it did not wait for the file
        files = env.live.torrent(added["id"])["files"]
        assert files[0]["probe_status"] == "failed"
        r = env.live.client.delete(
            f"/api/torrents/{added['id']}", params={"delete_data": True}, headers=env.live.headers
        )
        assert r.status_code == 204


def test_a_restart_keeps_the_probe_and_the_items(tmp_path: Path) -> None:
    """A second server over the same data directory: the torrent resumes, its item is
    already probed (no probe runs again) and it plays."""
    small = media.make_clip(tmp_path / "clip.mp4", media.Clip(duration=4, size=(160, 90)))
    torrent = torrent_of(small, "Small Restart (1999)", tmp_path / "seed", piece=16 * 1024)
    data = tmp_path / "data"
    with Seeder(torrent, tmp_path / "seed") as seeder:
        with serve(data) as live:
            r = live.add(torrent, [f"127.0.0.1:{seeder.port}"])
            assert r.status_code == 201, r.text
            item_id = r.json()["files"][0]["item_id"]
            live.play(item_id)  # the header probe is in; the full probe runs behind
            first = live.services.torrents
            wait_for(
                lambda: all(e.version == 0 and e.status == "ok" for e in first._by_file.values()),
                30,
                "the full probe",
            )
        with serve(data) as live:
            service = live.services.torrents
            assert service.started  # torrents exist: the engine starts with the server
            detail = live.client.get(f"/api/items/{item_id}", headers=live.headers).json()
            assert detail["files"][0]["probe_status"] == "ok"
            assert detail["duration_s"] == pytest.approx(4, abs=0.1)
            wait_for(lambda: item_id in _linked_items(service), 20, "the torrent to be restored")
            assert not service.prober._tasks, "a probed file was probed again"
            pb = live.play(item_id)
            with open_hls(live.url(pb["url"])) as container:
                assert sum(1 for _ in video_frames(container)) == frame_count(small)


def _linked_items(service: Any) -> set[int]:
    return {e.item_id for e in service._by_file.values()}


def test_a_restart_during_the_full_probe_runs_it_again(tmp_path: Path) -> None:
    """A server stopped while a file held only its header probe (``mtime_ns`` 1, see
    torrent/probing.py) probes it in full after the restart; it stays playable meanwhile."""
    import sqlite3

    small = media.make_clip(tmp_path / "clip.mp4", media.Clip(duration=4, size=(160, 90)))
    torrent = torrent_of(small, "Half Probed (2001)", tmp_path / "seed", piece=16 * 1024)
    data = tmp_path / "data"
    with Seeder(torrent, tmp_path / "seed") as seeder:
        with serve(data) as live:
            r = live.add(torrent, [f"127.0.0.1:{seeder.port}"])
            assert r.status_code == 201, r.text
            item_id = r.json()["files"][0]["item_id"]
            first = live.services.torrents
            wait_for(
                lambda: all(e.version == 0 and e.status == "ok" for e in first._by_file.values()),
                30,
                "the full probe",
            )
            db_path = Path(live.services.settings.db_url.removeprefix("sqlite:///"))
        with sqlite3.connect(db_path) as conn:  # as if it had stopped after the header
            conn.execute("UPDATE media_files SET mtime_ns = 1 WHERE item_id = ?", (item_id,))
        with serve(data) as live:
            service = live.services.torrents
            pb = live.play(item_id)  # playable from the stored header at once
            assert pb["duration_s"] == pytest.approx(4, abs=0.1)
            wait_for(
                lambda: any(e.version == 0 for e in service._by_file.values()),
                30,
                "the full probe after the restart",
            )
        with sqlite3.connect(db_path) as conn:
            (version,) = conn.execute(
                "SELECT mtime_ns FROM media_files WHERE item_id = ?", (item_id,)
            ).fetchone()
        assert version == 0


def test_matroska_plays_directly_before_its_cues_arrive(tmp_path: Path) -> None:
    """The only seeder lacks the last piece, which holds a Matroska file's Cues: direct
    play is decided from the head alone and plays; an HLS session, whose stream-copy plan
    needs the cues, waits for them and says what it waited for."""
    clip = media.make_clip(tmp_path / "clip.mp4", media.Clip(duration=6, size=(320, 180)))
    folder = tmp_path / "seed" / "Cueless (2020)"
    folder.mkdir(parents=True)
    mkv = folder / "Cueless (2020).mkv"
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-i", str(clip), "-c", "copy", str(mkv)], check=True
    )
    piece = 16 * 1024
    torrent = make_torrent(folder, piece)
    data = bytearray(mkv.read_bytes())
    last = (len(data) - 1) // piece * piece
    data[last:] = bytes(len(data) - last)  # the seeder's copy of the last piece is bad
    mkv.write_bytes(bytes(data))
    with (
        Seeder(torrent, tmp_path / "seed", complete=False) as seeder,
        serve(tmp_path / "data", torrent_wait_s=3.0) as live,
    ):
        r = live.add(torrent, [f"127.0.0.1:{seeder.port}"])
        assert r.status_code == 201, r.text
        added = r.json()
        item_id = added["files"][0]["item_id"]
        pb = live.play(item_id, device="android", protocol=None)
        assert pb["method"] == "direct", pb
        with av.open(live.url(pb["url"])) as container:
            frames = list(itertools.islice(container.decode(video=0), 25))
        assert len(frames) == 25
        assert frames[0].width == 320

        r = live.client.post(
            "/api/playback",
            json={"item_id": item_id, "device": "chrome", "protocol": "hls"},
            headers=live.headers,
        )
        assert r.status_code == 504, r.text
        assert "keyframe index" in r.json()["error"]["message"]
        status = live.torrent(added["id"])
        assert status["pieces_have"] < status["num_pieces"]  # the cues never came
