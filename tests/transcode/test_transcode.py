"""Transcoding end to end: real ffmpeg runs behind a real server, real HLS clients.

A browser can't play an HEVC Main 10 HDR10 film: it gets an H.264 SDR ladder whose rungs
are cut at the same times as each other (so the player can switch between them at any
segment), whose tone mapping really happened, whose audio tracks switch without touching
video, and whose ffmpeg processes are shared between viewers and never outlive the server.
"""

from __future__ import annotations

import io
import itertools
import os
import re
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.bitstream
import httpx
import pytest

from ferrite.transcode.process import live_pids
from tests.hls.m3u8lint import lint_master, lint_media
from tests.live import Live, place_transcode_films, rendition_base, start_live

FPS = 24
OFFSET = 10  # the documented timeline offset of files starting at 0


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, transcode_sources: dict[str, Path]
) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("transcode")
    movies = root / "movies"
    paths = place_transcode_films(transcode_sources, movies)
    with start_live(root, [movies], paths) as live:
        yield live


# --- helpers -------------------------------------------------------------------------------------


def source_frames(path: Path) -> list[float]:
    with av.open(str(path)) as c:
        return sorted(float(f.pts * f.time_base) for f in c.decode(c.streams.video[0]))


def extinfs(text: str) -> list[str]:
    return re.findall(r"#EXTINF:([0-9.]+),", text)


def variants(master: str) -> dict[str, dict[str, str]]:
    """Rendition id -> EXT-X-STREAM-INF attributes."""
    out = {}
    lines = master.splitlines()
    for line, uri in itertools.pairwise(lines):
        if line.startswith("#EXT-X-STREAM-INF:"):
            attrs = dict(re.findall(r'([A-Z-]+)=("[^"]*"|[^,]*)', line.split(":", 1)[1]))
            out[uri.rsplit("/", 1)[1].removesuffix(".m3u8")] = {
                k: v.strip('"') for k, v in attrs.items()
            }
    return out


def avc1_of(init: bytes) -> str:
    """The RFC 6381 codec string the init segment's avcC really describes."""
    at = init.index(b"avcC") + 4
    profile, compat, level = init[at + 1], init[at + 2], init[at + 3]
    return f"avc1.{profile:02x}{compat:02x}{level:02x}"


def get(live: Live, url: str) -> bytes:
    r = live.client.get(live.url(url) if url.startswith("/") else url)
    assert r.status_code == 200, (url, r.status_code, r.text[:300])
    return r.content


class RunSpy:
    """Counts the transcode runs the server starts (per rendition)."""

    def __init__(self, live: Live) -> None:
        self.runs = live.runs
        self.started: list[tuple[str, int]] = []
        self._real = self.runs._new_run

        def spy(job_factory: Any, key: Any, index: int) -> Any:
            self.started.append((key.rendition, index))
            return self._real(job_factory, key, index)

        self.runs._new_run = spy  # type: ignore[method-assign]

    def close(self) -> None:
        del self.runs._new_run


@pytest.fixture
def spy(live: Live) -> Iterator[RunSpy]:
    s = RunSpy(live)
    yield s
    s.close()


def decode_as_player(parts: list[tuple[bytes, list[bytes]]]) -> list[tuple[float, int, int]]:
    """Decode fMP4 pieces the way MSE does: one H.264 decoder, fed each part's init
    (its SPS/PPS) before that part's segments. (time s, width, height) per frame."""
    decoder = av.CodecContext.create("h264", "r")
    frames: list[tuple[float, int, int]] = []

    def take(out: list[av.VideoFrame]) -> None:
        frames.extend((float(f.pts) / 90000, f.width, f.height) for f in out)

    for init, segments in parts:
        with av.open(io.BytesIO(init + b"".join(segments))) as c:
            stream = c.streams.video[0]
            tb = Fraction(stream.time_base)
            bsf = av.bitstream.BitStreamFilterContext("h264_mp4toannexb", stream)
            packets = [*c.demux(stream)]
            for pkt in [*packets, None]:
                for out in bsf.filter(pkt):
                    assert out.pts is not None
                    out.pts = round(out.pts * tb * 90000)
                    out.dts = None if out.dts is None else round(out.dts * tb * 90000)
                    out.time_base = Fraction(1, 90000)
                    take(decoder.decode(out))
    take(decoder.decode(None))
    return frames


def _wait_runs_idle(live: Live) -> None:
    deadline = time.monotonic() + 60
    while any(r.state in ("running", "queued") for r in live.runs.runs()):
        assert time.monotonic() < deadline, live.runs.runs()
        time.sleep(0.05)


# --- 7. an HDR10 HEVC film in a browser ----------------------------------------------------------


def test_hdr_hevc_in_chrome_is_an_sdr_h264_ladder_that_plays(live: Live, spy: RunSpy) -> None:
    # Measured (not asserted): POST /api/playback -> the first 720p segment's bytes, cold.
    started = time.perf_counter()
    pb = live.play("HDR Film", device="chrome")
    base = rendition_base(pb)
    master_text = get(live, pb["url"]).decode()
    get(live, f"{base}v/720p.m3u8")
    first_init = get(live, f"{base}v/720p/init.mp4")
    first_seg = get(live, f"{base}v/720p/0.m4s")
    ttff_ms = (time.perf_counter() - started) * 1000
    # Cold seek to 50 % on a rung nobody is transcoding yet: its first segment there
    # (once the 720p run is done with the slot: this machine has one).
    _wait_runs_idle(live)
    half = pb["duration_s"] / 2
    seek_index = int(half // 2)  # 2 s segments
    started = time.perf_counter()
    get(live, f"{base}v/480p/{seek_index}.m4s")
    seek_ms = (time.perf_counter() - started) * 1000
    print(f"\n720p HDR->SDR: POST -> first segment {ttff_ms:.0f} ms; "
          f"cold seek to 50 % (480p segment {seek_index}) {seek_ms:.0f} ms")  # fmt: skip

    assert pb["method"] == "transcode"
    assert "video_codec_not_supported" in pb["reasons"]
    assert "hdr_not_supported" in pb["reasons"]
    rungs = [v["id"] for v in pb["renditions"]["video"]]
    assert rungs[:3] == ["720p", "480p", "360p"]
    assert not any(v["copy"] for v in pb["renditions"]["video"])
    assert lint_master(master_text) == []
    announced = variants(master_text)
    assert set(announced) == set(rungs)
    for attrs in announced.values():
        assert attrs["VIDEO-RANGE"] == "SDR"
        assert attrs["CODECS"].split(",")[0].startswith("avc1.")

    src = source_frames(live.paths["HDR Film"])
    lists = {}
    for rid in rungs:
        base = rendition_base(live.play("HDR Film", device="chrome"))  # a player per rung
        playlist = get(live, f"{base}v/{rid}.m3u8").decode()
        assert lint_media(playlist) == [], rid
        lists[rid] = extinfs(playlist)
        init = first_init if rid == "720p" else get(live, f"{base}v/{rid}/init.mp4")
        # CODECS says what the init really holds (profile, constraints, level).
        assert announced[rid]["CODECS"].split(",")[0] == avc1_of(init), rid
        # A real HLS client, from the media playlist URL, end to end.
        times = []
        with av.open(live.url(f"{base}v/{rid}.m3u8"), options={"allowed_extensions": "ALL"}) as c:
            stream = c.streams.video[0]
            for frame in c.decode(stream):
                times.append(float(frame.pts * frame.time_base))
                assert frame.format.name == "yuv420p"  # 8-bit
                assert (frame.width, frame.height) == tuple(
                    int(x) for x in announced[rid]["RESOLUTION"].split("x")
                )
                assert frame.color_trc == 1, rid  # BT.709 (SMPTE 2084 would be 16)
                assert frame.color_primaries == 1, rid  # BT.709 (BT.2020 would be 9)
        assert len(times) == len(src), rid
        # Every frame where the source has it, on the shared timeline.
        assert [round(t - OFFSET, 3) for t in sorted(times)] == [round(t, 3) for t in src], rid
    assert all(lst == lists["720p"] for lst in lists.values()), lists
    assert len(lists["720p"]) == 3
    # One run per rung from where its viewer started (the 480p one from the seek, then
    # one from 0 when the client played it from the start): the init segments never
    # needed a run of their own, nor did segments a run had made for an init.
    by_rung = {rid: [i for r, i in spy.started if r == rid] for rid in rungs}
    assert by_rung == {"720p": [0], "480p": [seek_index, 0], "360p": [0]}
    assert get(live, f"{base}v/720p/0.m4s") == first_seg


# --- 8. ABR switching ----------------------------------------------------------------------------


@pytest.mark.parametrize(("low", "high", "k"), [("720p", "360p", 0), ("360p", "480p", 1)])
def test_switching_rungs_mid_stream_decodes_as_one_stream(
    live: Live, low: str, high: str, k: int
) -> None:
    pb = live.play("HDR Film", device="chrome")
    base = rendition_base(pb)
    n = len(extinfs(get(live, f"{base}v/{low}.m3u8").decode()))
    first = (
        get(live, f"{base}v/{low}/init.mp4"),
        [get(live, f"{base}v/{low}/{i}.m4s") for i in range(k + 1)],
    )
    second = (
        get(live, f"{base}v/{high}/init.mp4"),
        [get(live, f"{base}v/{high}/{i}.m4s") for i in range(k + 1, n)],
    )
    frames = decode_as_player([first, second])
    src = source_frames(live.paths["HDR Film"])
    assert len(frames) == len(src)
    times = [t for t, _, _ in frames]
    assert times == sorted(times)  # no frame twice, none out of order at the switch
    assert [round(t - OFFSET, 3) for t in times] == [round(t, 3) for t in src]
    sizes = [(w, h) for _, w, h in frames]
    switch = round((k + 1) * 2 * FPS)  # 2 s segments
    assert set(sizes[:switch]) == {_size(pb, low)}
    assert set(sizes[switch:]) == {_size(pb, high)}


def _size(pb: dict[str, Any], rid: str) -> tuple[int, int]:
    v = next(v for v in pb["renditions"]["video"] if v["id"] == rid)
    return v["width"], v["height"]


# --- 9. audio track switch -----------------------------------------------------------------------


def test_switching_audio_track_starts_no_video_run(live: Live, spy: RunSpy) -> None:
    pb = live.play("Small Film", device="chrome")
    assert pb["method"] == "transcode"
    base = rendition_base(pb)
    vid = pb["renditions"]["video"][0]["id"]
    get(live, f"{base}v/{vid}/init.mp4")
    get(live, f"{base}v/{vid}/0.m4s")
    get(live, f"{base}v/{vid}/1.m4s")
    tracks = pb["renditions"]["audio"]
    assert len(tracks) == 1  # Small Film has one track; HDR Film has two:
    hdr = live.play("HDR Film", device="chrome")
    hbase = rendition_base(hdr)
    get(live, f"{hbase}v/360p/init.mp4")
    get(live, f"{hbase}v/360p/0.m4s")
    one, two = hdr["renditions"]["audio"]
    get(live, f"{hbase}a/{one['id']}/init.mp4")
    get(live, f"{hbase}a/{one['id']}/0.m4s")
    runs_before = {r.id for r in live.runs.runs()}
    started_before = list(spy.started)
    # The viewer picks the other audio track mid-stream: audio segments only.
    get(live, f"{hbase}a/{two['id']}/init.mp4")
    get(live, f"{hbase}a/{two['id']}/1.m4s")
    get(live, f"{hbase}a/{two['id']}/2.m4s")
    assert spy.started == started_before
    assert {r.id for r in live.runs.runs()} <= runs_before
    # ... and the video goes on from the same runs.
    get(live, f"{hbase}v/360p/1.m4s")
    assert [s for s in spy.started if s[0] == "360p"] == [
        s for s in started_before if s[0] == "360p"
    ]


# --- 10. viewers who seek to different places ----------------------------------------------------


def _check_segment(
    live: Live, base: str, rid: str, index: int, data: bytes, src: list[float]
) -> None:
    init = get(live, f"{base}v/{rid}/init.mp4")
    with av.open(io.BytesIO(init + data)) as c:
        times = sorted(float(f.pts * f.time_base) - OFFSET for f in c.decode(video=0))
    start, end = index * 2.0, (index + 1) * 2.0
    expected = [round(t, 3) for t in src if start - 1e-6 <= t < end - 1e-6]
    assert [round(t, 3) for t in times] == expected, (rid, index)


def _together(live: Live, urls: list[str]) -> list[bytes]:
    """GET the URLs at the same instant, one client each (two players)."""
    results: list[bytes | None] = [None] * len(urls)
    barrier = threading.Barrier(len(urls))

    def fetch(i: int) -> None:
        with httpx.Client(base_url=str(live.client.base_url), timeout=60) as http:
            barrier.wait()
            r = http.get(urls[i])
            if r.status_code == 200:
                results[i] = r.content

    threads = [threading.Thread(target=fetch, args=(i,)) for i in range(len(urls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(r is not None for r in results), results
    return [r for r in results if r is not None]


def test_viewers_seeking_apart_keep_their_own_runs_and_share_overlaps(
    live: Live, spy: RunSpy
) -> None:
    src = source_frames(live.paths["Small Film"])
    segments = len(src) // (2 * FPS)
    assert segments == 10
    a = live.play("Small Film", device="chrome", max_height=360)
    b = live.play("Small Film", device="chrome", max_height=360)
    rid = a["renditions"]["video"][0]["id"]
    assert rid == "360p"
    abase, bbase = rendition_base(a), rendition_base(b)

    # A starts at the beginning while B seeks far away: beyond the reach of A's run.
    first = _together(live, [f"{abase}v/{rid}/0.m4s", f"{bbase}v/{rid}/8.m4s"])
    got_a, got_b = {0: first[0]}, {8: first[1]}
    for i in (1, 2):
        got_a[i] = get(live, f"{abase}v/{rid}/{i}.m4s")
    got_b[9] = get(live, f"{bbase}v/{rid}/9.m4s")
    for i in (3, 4):
        got_a[i] = get(live, f"{abase}v/{rid}/{i}.m4s")
    for got, base in ((got_a, abase), (got_b, bbase)):
        for i, data in got.items():
            _check_segment(live, base, rid, i, data, src)
    # One run each, and neither viewer's later requests needed another (A's run was
    # not restarted or moved by B's seek, B's went on from 8).
    assert sorted(i for r, i in spy.started if r == rid) == [0, 8]

    # Both ask for the same region of a rendition nobody transcodes yet: one run.
    c = live.play("Small Film", device="chrome", max_height=300)
    d = live.play("Small Film", device="chrome", max_height=300)
    rid2 = c["renditions"]["video"][0]["id"]
    assert rid2 == "300p"
    assert not [r for r in live.runs.runs() if r.key.rendition == rid2]
    both = _together(
        live, [f"{rendition_base(c)}v/{rid2}/5.m4s", f"{rendition_base(d)}v/{rid2}/5.m4s"]
    )
    results = {"c": both[0], "d": both[1]}
    assert results["c"] == results["d"]
    assert [i for r, i in spy.started if r == rid2] == [5]
    for i in (6, 7):  # and they go on together from the same run
        assert get(live, f"{rendition_base(c)}v/{rid2}/{i}.m4s") == get(
            live, f"{rendition_base(d)}v/{rid2}/{i}.m4s"
        )
    assert [i for r, i in spy.started if r == rid2] == [5]
    _check_segment(live, rendition_base(c), rid2, 5, results["c"], src)

    # A stops: its playheads are forgotten; B is not disturbed.
    sid = a["session_id"]
    assert (
        live.client.delete(live.url(f"/api/playback/{sid}?token={a['token']}")).status_code == 204
    )
    assert sid not in live.runs._by_session
    assert not any(s == sid for s, _ in live.runs._playheads)
    _check_segment(live, bbase, rid, 7, get(live, f"{bbase}v/{rid}/7.m4s"), src)


# --- 11. no ffmpeg outlives the server -----------------------------------------------------------


def _children() -> list[tuple[int, str]]:
    me = os.getpid()
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == me:
            out.append((int(entry.name), comm))
    return out


def test_no_ffmpeg_survives_the_server(live: Live) -> None:
    """Last in the module: it stops the module's server."""
    # A running run and a paused one at the moment the server stops.
    pb = live.play("Small Film", device="chrome", max_height=240)
    base = rendition_base(pb)
    rid = pb["renditions"]["video"][0]["id"]
    get(live, f"{base}v/{rid}/0.m4s")
    hdr = live.play("HDR Film", device="chrome", max_height=240)
    get(live, f"{rendition_base(hdr)}v/{hdr['renditions']['video'][0]['id']}/0.m4s")
    pids = {r.pid for r in live.runs.runs() if r.pid is not None}
    assert pids, "no ffmpeg was running when the server stopped"
    assert any("ffmpeg" in comm for _, comm in _children())
    assert live.server is not None
    live.server.stop()
    assert live_pids() == frozenset()
    assert [c for c in _children() if "ffmpeg" in c[1]] == []
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists()
    assert not any((live.paths["HDR Film"].parents[2] / "data" / "transcode").glob("*/*.ts"))
