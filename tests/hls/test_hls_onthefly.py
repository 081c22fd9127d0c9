"""HLS on the fly, end to end: a real server, real files, real HTTP clients.

What a user would notice if any of these broke: a crowd of viewers making the server do
the same work twenty times (or getting different bytes), a seek into a two-hour film
reading the film from the start, a file replaced under the server serving stale bytes,
subtitles missing or out of sync (or needing the media file at all), audio with gaps, and
player telemetry/progress that is never recorded.
"""

from __future__ import annotations

import io
import itertools
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ferrite.hls.packager import _DELAY_PROBE_GOPS
from tests import media
from tests.live import Live, rendition_base, start_live

# Long enough that a loaded CI machine answers the two posts below within it.
PROGRESS_INTERVAL_S = 2.0
LONG_BASE_S = 10.0
LONG_LOOPS = 720  # 720 x 10 s = two hours


def _long_film(path: Path) -> Path:
    """A ~7200 s film, fast: a 10 s clip (tiny, 12 fps, 1 s GOPs) looped with -c copy."""
    base = media.make_clip(
        path.with_name("base.mp4"),
        media.Clip(
            duration=LONG_BASE_S,
            size=(160, 90),
            fps=12,
            audio=(media.Audio(channels=1),),
            extra=("-b:a", "12k", "-crf", "51"),
        ),
    )
    subprocess.run(
        [
            media.FFMPEG, "-hide_banner", "-loglevel", "error", "-y",
            "-stream_loop", str(LONG_LOOPS - 1), "-i", str(base),
            "-c", "copy", "-movflags", "+faststart", str(path),
        ],
        check=True,
    )  # fmt: skip
    base.unlink()
    return path


def _eight_s(tone: int) -> media.Clip:
    """8 s (four segments); the tone makes the content, hence the fingerprint, unique
    (segments are shared by content: identical files share a cache)."""
    return media.Clip(duration=8.0, audio=(media.Audio(frequency=tone),))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("onthefly")
    movies = root / "movies"
    long_dir = root / "long"
    paths = {
        "Crowd": media.make_clip(movies / "Crowd (2018)" / "Crowd (2018).mp4", _eight_s(330)),
        "Plain": media.make_clip(
            movies / "Plain (2020)" / "Plain (2020).mp4", media.Clip(bframes=2)
        ),
        "Multi": media.make_clip(movies / "Multi (2021)" / "Multi (2021).mkv", media.HEVC10_MULTI),
        "Swapped": media.make_clip(movies / "Swapped (2016)" / "Swapped (2016).mp4", _eight_s(550)),
        "Vanished": media.make_clip(
            movies / "Vanished (2017)" / "Vanished (2017).mp4", _eight_s(770)
        ),
        "Long Film": _long_film(long_dir / "Long Film (2019)" / "Long Film (2019).mp4"),
    }
    media.write_srt(movies / "Plain (2020)" / "Plain (2020).en.srt")
    paths["Plain.srt"] = movies / "Plain (2020)" / "Plain (2020).en.srt"
    with start_live(
        root, [movies, long_dir], paths, progress_interval_s=PROGRESS_INTERVAL_S
    ) as live:
        yield live


# --- helpers -------------------------------------------------------------------------------------


def playlist_uris(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def media_entries(master: str) -> list[dict[str, str]]:
    """The attributes of every EXT-X-MEDIA line of a master playlist."""
    out = []
    for line in master.splitlines():
        if line.startswith("#EXT-X-MEDIA:"):
            attrs = dict(re.findall(r'([A-Z-]+)=("[^"]*"|[^,]*)', line.split(":", 1)[1]))
            out.append({k: v.strip('"') for k, v in attrs.items()})
    return out


def wait_idle(live: Live, timeout: float = 30.0) -> None:
    """Until no segment is being produced (prefetches included)."""
    cache = live.playback.hls.cache
    deadline = time.monotonic() + timeout
    while cache._inflight:
        assert time.monotonic() < deadline, "segment producers did not finish"
        time.sleep(0.02)


def produced(live: Live) -> dict[str, int]:
    return dict(live.playback.hls.produced)


def fetch_rendition(client: httpx.Client, base: str, kind: str, rid: str) -> dict[str, bytes]:
    """Every byte a player fetches for one rendition: playlist-relative name -> bytes."""
    r = client.get(f"{base}{kind}/{rid}.m3u8")
    assert r.status_code == 200, r.text
    got: dict[str, bytes] = {}
    for line in r.text.splitlines():
        if line.startswith("#EXT-X-MAP:"):
            uri = line.split('URI="')[1].split('"')[0]
            init = client.get(base + f"{kind}/{uri}")
            assert init.status_code == 200, init.text
            got[uri] = init.content
    for uri in playlist_uris(r.text):
        seg = client.get(base + f"{kind}/{uri}")
        assert seg.status_code == 200, (uri, seg.text)
        got[uri] = seg.content
    return got


def metric_samples(live: Live) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = live.client.get("/metrics")  # from 127.0.0.1: no auth needed
    assert r.status_code == 200, r.text
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[s.name, tuple(sorted(s.labels.items()))] = s.value
    return out


# --- 1. a crowd on one title ---------------------------------------------------------------------


def test_twenty_viewers_share_every_segment(live: Live) -> None:
    clients = 20
    before = produced(live)
    misses_before = live.playback.hls.cache.stats.misses
    results: list[dict[str, bytes] | BaseException | None] = [None] * clients
    barrier = threading.Barrier(clients)

    def viewer(i: int) -> None:
        try:
            with httpx.Client(base_url=str(live.client.base_url), timeout=60) as c:
                barrier.wait()
                r = c.post(
                    "/api/playback",
                    json={"item_id": live.items["Crowd"], "device": "chrome", "protocol": "hls"},
                    headers=live.headers,
                )
                assert r.status_code == 201, r.text
                pb = r.json()
                master = c.get(pb["url"])
                assert master.status_code == 200
                base = rendition_base(pb)
                got: dict[str, bytes] = {}
                for v in pb["renditions"]["video"]:
                    got.update(
                        {f"v/{k}": b for k, b in fetch_rendition(c, base, "v", v["id"]).items()}
                    )
                for a in pb["renditions"]["audio"]:
                    got.update(
                        {f"a/{k}": b for k, b in fetch_rendition(c, base, "a", a["id"]).items()}
                    )
                results[i] = got
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=viewer, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors[0]
    wait_idle(live)

    first = results[0]
    assert isinstance(first, dict)
    segments = [name for name in first if not name.endswith("init.mp4")]
    assert len(segments) >= 8  # 4 video + 4 audio segments of an 8 s clip
    for other in results[1:]:
        assert isinstance(other, dict)
        assert other.keys() == first.keys()
        assert [name for name in first if first[name] != other[name]] == []
    # Each segment was made once for all twenty viewers (prefetch included: it makes the
    # same keys, and only when nobody is making them yet).
    after = produced(live)
    made = sum(after.values()) - sum(before.values())
    assert made == len(segments)
    # ... and so was every other cached thing: playlists (plain and gzipped: httpx asks
    # for gzip), inits, segments — one miss each.
    misses = live.playback.hls.cache.stats.misses - misses_before
    assert misses == len(first) + 2 * _playlists(first)


def _playlists(got: dict[str, bytes]) -> int:
    """Media playlists behind the fetched files (one per rendition)."""
    return len({name.rsplit("/", 1)[0] for name in got})


# --- 2. seek into a two-hour film ----------------------------------------------------------------


def test_seek_to_ninety_percent_of_a_two_hour_film_reads_only_that_segment(live: Live) -> None:
    pb = live.play("Long Film", protocol="hls")
    duration = pb["duration_s"]
    assert duration == pytest.approx(LONG_BASE_S * LONG_LOOPS, abs=30)
    base = rendition_base(pb)
    vid = pb["renditions"]["video"][0]["id"]
    playlist = live.client.get(live.url(f"{base}v/{vid}.m3u8")).text
    durations = [float(x) for x in re.findall(r"#EXTINF:([0-9.]+),", playlist)]
    target = 0.9 * duration
    index = next(i for i in range(len(durations)) if sum(durations[: i + 1]) > target)
    assert index > 3000

    packager = live.playback.hls.packager
    demuxed_before = packager.packets_demuxed
    before = produced(live)
    started = time.perf_counter()
    r = live.client.get(live.url(f"{base}v/{vid}/{index}.m4s"))
    seek_ms = (time.perf_counter() - started) * 1000
    assert r.status_code == 200, r.text
    wait_idle(live)
    prefetch = live.playback.hls.prefetch_count
    after = produced(live)
    assert sum(after.values()) - sum(before.values()) == 1 + prefetch
    # 2 s segments of a 12 fps video: ~24 packets each. Allowed: the asked segment and the
    # prefetched ones, each with the next GOP's look-ahead and a GOP of seek slack, plus
    # the one-off per-file reorder-delay probe at the file's start (3 GOPs of 12).
    per_segment = round(max(durations) * 12)
    demuxed = packager.packets_demuxed - demuxed_before
    assert demuxed <= (1 + prefetch) * (per_segment + 12 + 2) + (_DELAY_PROBE_GOPS + 1) * 12
    # Before the seek target there are ~78000 video packets: nothing close to that is read.
    print(f"\nseek to {index} ({target:.0f} s of {duration:.0f} s): {seek_ms:.0f} ms, "
          f"{demuxed} packets demuxed")  # fmt: skip

    # The segment holds the right time: decode it with the rendition's init segment.
    init = live.client.get(live.url(f"{base}v/{vid}/init.mp4")).content
    with av.open(io.BytesIO(init + r.content)) as c:
        pts = [float(f.pts * f.time_base) for f in c.decode(video=0)]
    start = sum(durations[:index])
    offset = 10  # the documented timeline offset of a file starting at 0
    assert min(pts) - offset == pytest.approx(start, abs=0.05)
    assert len(pts) == round(durations[index] * 12)


# --- 3. files changed after scanning -------------------------------------------------------------


def _assert_media_changed(r: httpx.Response) -> None:
    assert r.status_code == 409, (r.status_code, r.content[:100])
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert err["code"] == "media_changed"
    assert err["status"] == 409
    assert err["message"]


def test_replaced_file_answers_media_changed(live: Live, tmp_path: Path) -> None:
    pb = live.play("Swapped", protocol="hls")
    base = live.url(rendition_base(pb))
    vid = pb["renditions"]["video"][0]["id"]
    aid = pb["renditions"]["audio"][0]["id"]
    assert live.client.get(f"{base}v/{vid}/0.m4s").status_code == 200
    wait_idle(live)  # prefetch made 1 and 2; 3 is not cached

    # Same path, different content (and size): a different clip moved over it.
    path = live.paths["Swapped"]
    other = media.make_clip(tmp_path / "other.mp4", media.Clip(duration=8.0, size=(256, 144)))
    shutil.move(other, path)
    _assert_media_changed(live.client.get(f"{base}v/{vid}/3.m4s"))
    _assert_media_changed(live.client.get(f"{base}a/{aid}/3.m4s"))
    # A new session of the (not yet rescanned) item doesn't get stale bytes either.
    again = live.play("Swapped", protocol="hls")
    _assert_media_changed(live.client.get(live.url(rendition_base(again)) + f"v/{vid}/3.m4s"))


def test_deleted_file_answers_media_changed(live: Live) -> None:
    pb = live.play("Vanished", protocol="hls")
    base = live.url(rendition_base(pb))
    vid = pb["renditions"]["video"][0]["id"]
    assert live.client.get(f"{base}v/{vid}/0.m4s").status_code == 200
    wait_idle(live)
    live.paths["Vanished"].unlink()
    _assert_media_changed(live.client.get(f"{base}v/{vid}/3.m4s"))
    _assert_media_changed(live.client.get(f"{base}a/{pb['renditions']['audio'][0]['id']}/2.m4s"))


# --- 4. subtitles --------------------------------------------------------------------------------


def _vtt_cues(text: str) -> list[tuple[float, float, str]]:
    def secs(stamp: str) -> float:
        h, m, s = stamp.split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)

    cues = []
    for block in text.split("\n\n"):
        lines = block.strip().splitlines()
        for i, line in enumerate(lines):
            if "-->" in line:
                a, b = (x.strip().split()[0] for x in line.split("-->"))
                cues.append((secs(a), secs(b), "\n".join(lines[i + 1 :])))
    return cues


def _first_frame_s(live: Live, base: str, vid: str) -> float:
    """Media time of the first picture of the video rendition (its packaged timeline)."""
    init = live.client.get(f"{base}v/{vid}/init.mp4").content
    seg = live.client.get(f"{base}v/{vid}/0.m4s").content
    with av.open(io.BytesIO(init + seg)) as c:
        return min(float(f.pts * f.time_base) for f in c.decode(video=0))


@pytest.mark.parametrize(("title", "languages"), [("Multi", {"en", "es"}), ("Plain", {"en"})])
def test_text_subtitles_are_webvtt_renditions_in_sync(
    live: Live, title: str, languages: set[str]
) -> None:
    pb = live.play(title, protocol="hls")
    master = live.client.get(live.url(pb["url"])).text
    subs = [m for m in media_entries(master) if m["TYPE"] == "SUBTITLES"]
    assert {m["LANGUAGE"] for m in subs} == languages
    assert len(subs) == len(pb["renditions"]["subtitles"])
    assert all(
        'SUBTITLES="subs"' in line
        for line in master.splitlines()
        if line.startswith("#EXT-X-STREAM-INF")
    )
    base = live.url(rendition_base(pb))
    vid = pb["renditions"]["video"][0]["id"]
    first_frame = _first_frame_s(live, base, vid)  # source time 0 (the clip starts at 0)

    for sub in subs:
        rid = sub["URI"].rsplit("/", 1)[1].removesuffix(".m3u8")
        playlist = live.client.get(f"{base}s/{rid}.m3u8").text
        names = playlist_uris(playlist)
        assert len(names) == 2  # the 4 s plan: same segments as the video
        seg = live.client.get(f"{base}s/{names[0]}")
        assert seg.status_code == 200
        assert seg.headers["content-type"].startswith("text/vtt")
        text = seg.text
        assert text.startswith("WEBVTT")
        stamp = re.search(r"X-TIMESTAMP-MAP=MPEGTS:(\d+),LOCAL:(\d\d):(\d\d):(\d\d\.\d{3})", text)
        assert stamp is not None, text
        mpegts = int(stamp.group(1)) / 90000
        local = int(stamp.group(2)) * 3600 + int(stamp.group(3)) * 60 + float(stamp.group(4))
        cues = _vtt_cues(text)
        hello = [c for c in cues if "Hello there" in c[2]]
        assert len(hello) == 1, text
        start, end, _ = hello[0]
        # Where the player puts the cue on the media timeline vs where the video's frame at
        # source time 0.5 s is: the same instant.
        assert mpegts + (start - local) == pytest.approx(first_frame + 0.5, abs=0.002)
        assert end - start == pytest.approx(1.0, abs=0.002)


def test_subtitle_segments_never_open_the_media_file(live: Live) -> None:
    pb = live.play("Multi", protocol="hls")
    plain = live.play("Plain", protocol="hls")
    pool = live.playback.hls.packager.pool
    media_path = live.paths["Multi"]
    moved = media_path.with_name("away.mkv")
    srt = live.paths["Plain.srt"]
    srt_moved = srt.with_name("away.srt")
    opened = pool.opened
    media_path.rename(moved)
    srt.rename(srt_moved)
    try:
        for answer in (pb, plain):
            base = live.url(rendition_base(answer))
            for sub in answer["renditions"]["subtitles"]:
                seg = live.client.get(f"{base}s/{sub['id']}/1.vtt")  # not requested before
                assert seg.status_code == 200, seg.text
                assert "Last cue" in seg.text
    finally:
        moved.rename(media_path)
        srt_moved.rename(srt)
    assert pool.opened == opened


# --- 5. audio ------------------------------------------------------------------------------------


def test_every_audio_track_is_a_rendition_and_transcoded_audio_has_no_gaps(live: Live) -> None:
    pb = live.play("Multi", device="chrome")
    assert pb["method"] == "transcode"
    audio = {a["stream_index"]: a for a in pb["renditions"]["audio"]}
    assert len(audio) == 2
    ac3, aac = sorted(audio.values(), key=lambda a: a["stream_index"])
    assert (ac3["codec"], ac3["copy"], ac3["channels"]) == ("aac", False, 2)
    assert (aac["codec"], aac["copy"]) == ("aac", True)
    master = live.client.get(live.url(pb["url"])).text
    entries = [m for m in media_entries(master) if m["TYPE"] == "AUDIO"]
    assert {e["LANGUAGE"] for e in entries} == {"en", "fr"}
    assert {e["CHANNELS"] for e in entries} == {"2"}
    assert sum(e["DEFAULT"] == "YES" for e in entries) == 1

    base = live.url(rendition_base(pb))
    # The AAC encode is looked ahead like stream copy: the next segment waits in the cache.
    cache = live.playback.hls.cache
    assert live.client.get(f"{base}a/{ac3['id']}/0.m4s").status_code == 200
    wait_idle(live)
    hits, misses = cache.stats.hits, cache.stats.misses
    assert live.client.get(f"{base}a/{ac3['id']}/1.m4s").status_code == 200
    assert (cache.stats.hits - hits, cache.stats.misses - misses) == (1, 0)

    for track in (ac3, aac):
        got = fetch_rendition(live.client, base, "a", track["id"])
        init = got.pop(f"{track['id']}/init.mp4")
        segments = [
            got[k] for k in sorted(got, key=lambda k: int(k.rsplit("/", 1)[1].split(".")[0]))
        ]
        samples, frames = 0, []
        with av.open(io.BytesIO(init + b"".join(segments))) as c:
            stream = c.streams.audio[0]
            assert stream.codec_context.name == "aac"
            for frame in c.decode(stream):
                frames.append((frame.pts, frame.samples))
                samples += frame.samples
            rate = stream.codec_context.sample_rate
        assert rate == 48000
        duration = 4.0  # HEVC10_MULTI
        assert samples == pytest.approx(duration * rate, abs=2048), track
        if not track["copy"]:
            # No gap and no overlap anywhere, segment boundaries included.
            gaps = [(a, b) for (a, n), (b, _) in itertools.pairwise(frames) if b != a + n]
            assert gaps == [], track
        else:
            # Copied from Matroska's millisecond timestamps: each frame within 1 ms of its
            # place on the 1024-sample grid, never drifting.
            first = frames[0][0]
            drift = [abs(p - (first + i * 1024)) for i, (p, _) in enumerate(frames)]
            assert max(drift) <= rate // 1000, track


# --- 6. events, progress and metrics -------------------------------------------------------------


def _progress(live: Live, title: str) -> float | None:
    item = live.client.get(f"/api/items/{live.items[title]}", headers=live.headers).json()
    p = item["progress"]
    return None if p is None else p["position_s"]


def test_player_events_write_progress_and_metrics(live: Live) -> None:
    pb = live.play("Plain", protocol="hls", start_s=0)
    method = pb["method"]
    events = live.url(f"/api/playback/{pb['session_id']}/events?token={pb['token']}")

    def post(body: Any) -> None:
        r = live.client.post(events, json=body)
        assert r.status_code == 204, r.text

    post({"type": "position", "position_s": 1.0})
    assert _progress(live, "Plain") == pytest.approx(1.0)
    post({"type": "position", "position_s": 2.0})  # within the interval: not written yet
    assert _progress(live, "Plain") == pytest.approx(1.0)
    time.sleep(PROGRESS_INTERVAL_S + 0.05)
    post({"type": "heartbeat", "position_s": 2.5})
    assert _progress(live, "Plain") == pytest.approx(2.5)

    def count(name: str) -> float:
        return samples.get((name, (("method", method),)), 0.0)

    samples = metric_samples(live)
    ttff, seek, stalls = (
        count("playback_ttff_ms_count"),
        count("seek_latency_ms_count"),
        count("rebuffer_count_total"),
    )
    post([
        {"type": "ttff", "value_ms": 420},
        {"type": "stall", "duration_ms": 800, "position_s": 2.6},
        {"type": "seek", "value_ms": 150, "position_s": 3.0},
    ])  # fmt: skip
    samples = metric_samples(live)
    assert count("playback_ttff_ms_count") == ttff + 1
    assert count("seek_latency_ms_count") == seek + 1
    assert count("rebuffer_count_total") == stalls + 1
    assert ("playback_ttff_ms_sum", (("method", method),)) in samples

    # Stopping writes the last (throttled) position.
    post({"type": "position", "position_s": 3.5})
    assert (
        live.client.delete(
            live.url(f"/api/playback/{pb['session_id']}?token={pb['token']}")
        ).status_code
        == 204
    )
    assert _progress(live, "Plain") == pytest.approx(3.5)
    # Another user's progress is untouched: progress is per (user, item).
    libraries = [
        lib["id"] for lib in live.client.get("/api/libraries", headers=live.headers).json()
    ]
    r = live.client.post(
        "/api/users",
        json={"username": "eve", "password": "password-1", "library_ids": libraries},
        headers=live.headers,
    )
    assert r.status_code == 201, r.text
    tok = live.client.post(
        "/api/auth/login", json={"username": "eve", "password": "password-1"}
    ).json()
    item = live.client.get(
        f"/api/items/{live.items['Plain']}",
        headers={"Authorization": f"Bearer {tok['access_token']}"},
    )
    assert item.status_code == 200, item.text
    assert item.json()["progress"] is None
