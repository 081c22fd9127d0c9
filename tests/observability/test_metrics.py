"""``/metrics`` after real work: a scan, a scripted playback (segments fetched, player
events posted), a transcode; every metric of DESIGN.md's list appears with its labels."""

from __future__ import annotations

import logging
import time

import pytest

from tests.observability.conftest import Live, delta, value

SEGMENT_ROUTE = "/api/playback/{sid}/t/{token}/{kind}/{rid}/{name}"


def _rendition_base(pb: dict[str, object]) -> str:
    url = str(pb["url"])
    return url.split("master.m3u8")[0] + f"t/{pb['token']}/"


def test_scan_metrics(live: Live) -> None:
    after = live.scrape()
    assert delta(live.before_scan, after, "scan_duration_ms_count", kind="full") >= 1
    assert delta(live.before_scan, after, "scan_duration_ms_sum", kind="full") > 0
    assert delta(live.before_scan, after, "scan_failures_total") >= 1  # Broken (2019).mp4


def test_scripted_playback(live: Live, caplog: pytest.LogCaptureFixture) -> None:
    before = live.scrape()
    pb = live.play()
    method = pb["method"]
    assert pb["protocol"] == "hls"
    c = live.client
    assert c.get(pb["url"]).status_code == 200
    base = _rendition_base(pb)
    (video,) = [v["id"] for v in pb["renditions"]["video"] if v["copy"]]
    audio = pb["renditions"]["audio"][0]["id"]
    during = live.scrape()
    assert value(during, "active_sessions") >= 1
    for kind, rid in (("v", video), ("a", audio)):
        assert c.get(f"{base}{kind}/{rid}.m3u8").status_code == 200
        assert c.get(f"{base}{kind}/{rid}/init.mp4").status_code == 200
        for n in (0, 1, 0):  # the second 0 is a cache hit
            r = c.get(f"{base}{kind}/{rid}/{n}.m4s")
            assert r.status_code == 200, r.text
    events = f"/api/playback/{pb['session_id']}/events?token={pb['token']}"
    r = c.post(
        events,
        json=[
            {"type": "ttff", "value_ms": 420},
            {"type": "stall", "value_ms": 800},
            {"type": "seek", "value_ms": 120, "position_s": 4.0},
        ],
    )
    assert r.status_code == 204, r.text
    after = live.scrape()

    # reported by the player, labelled by the session's method
    assert delta(before, after, "playback_ttff_ms_count", method=method) == 1
    assert delta(before, after, "playback_ttff_ms_sum", method=method) == pytest.approx(420)
    assert delta(before, after, "rebuffer_count_total", method=method) == 1
    assert delta(before, after, "rebuffer_ms_count", method=method) == 1
    assert delta(before, after, "rebuffer_ms_sum", method=method) == pytest.approx(800)
    assert delta(before, after, "seek_latency_ms_count", method=method) == 1
    # measured by the server
    assert delta(before, after, "playback_server_ttff_ms_count", method=method) == 1
    assert delta(before, after, "auth_hotpath_ms_count", kind="stream") >= 11
    assert delta(before, after, "auth_hotpath_ms_count", kind="access") >= 1
    assert delta(before, after, "hls_segment_wait_ms_count", mode="copy", cache="hit") >= 2
    made = delta(before, after, "hls_segment_wait_ms_count", mode="copy", cache="miss")
    joined = delta(before, after, "hls_segment_wait_ms_count", mode="copy", cache="wait")
    assert made + joined >= 2  # 1 may have been prefetched by 0, then joined or hit
    assert delta(before, after, "hls_segment_generation_ms_count", mode="copy") >= 2
    assert delta(before, after, "cache_hits_total", kind="segment") >= 2
    assert delta(before, after, "cache_misses_total", kind="segment") >= 1
    assert delta(before, after, "cache_misses_total", kind="init") == 2
    assert delta(before, after, "cache_misses_total", kind="playlist") == 2
    assert value(after, "cache_bytes") > 0
    assert ("cache_evictions_total", frozenset()) in after
    assert ("cache_inflight_waits_total", frozenset({("kind", "segment")})) in after or (
        joined == 0
    )
    assert delta(before, after, "http_request_ms_count", route=SEGMENT_ROUTE, status="200") >= 6
    assert (
        delta(
            before,
            after,
            "http_request_ms_count",
            route="/api/playback/{sid}/master.m3u8",
            status="200",
        )
        == 1
    )
    assert delta(before, after, "http_request_ms_count", route="/api/playback", status="201") == 1
    assert pb["token"] not in live.scrape_text()  # no label carries a token

    # the session's summary line when it ends
    caplog.set_level(logging.INFO, logger="ferrite.playback.service")
    assert c.delete(f"/api/playback/{pb['session_id']}?token={pb['token']}").status_code == 204
    (line,) = [r.getMessage() for r in caplog.records if "playback ended" in r.getMessage()]
    for part in (
        f"session={pb['session_id']}",
        "reason=stopped",
        f"method={method}",
        "reasons=",
        "ttff_ms=420",
        "stalls=1",
        "stall_ms=800",
        "seeks=1",
        "segments=6",
        "bytes=",
    ):
        assert part in line, (part, line)
    assert pb["token"] not in line
    assert value(live.scrape(), "active_sessions") == value(during, "active_sessions") - 1


def test_transcode_metrics(live: Live) -> None:
    before = live.scrape()
    pb = live.play(max_height=144)  # below the 180p source: only transcoded rungs
    videos = pb["renditions"]["video"]
    assert videos
    assert not any(v["copy"] for v in videos)
    base = _rendition_base(pb)
    rid = videos[0]["id"]
    c = live.client
    assert c.get(f"{base}v/{rid}.m3u8").status_code == 200
    r = c.get(f"{base}v/{rid}/0.m4s")
    assert r.status_code == 200, r.text
    mid = live.scrape()
    assert delta(before, mid, "transcode_queue_wait_ms_count") >= 1
    assert delta(before, mid, "hls_segment_generation_ms_count", mode="transcode") >= 1
    assert delta(before, mid, "hls_segment_wait_ms_count", mode="transcode", cache="miss") >= 1
    assert any(n == "active_transcodes" for n, _ in mid)
    assert ("ffmpeg_restarts_total", frozenset()) in mid
    c.delete(f"/api/playback/{pb['session_id']}?token={pb['token']}")
    # Without a viewer the run pauses; idle for transcode_idle_s (1 s here) it is stopped
    # and counted when reaped.
    deadline = time.monotonic() + 30
    while delta(before, live.scrape(), "ffmpeg_processes_total") < 1:
        assert time.monotonic() < deadline, "the transcode's ffmpeg was never reaped/counted"
        time.sleep(0.2)
    after = live.scrape()
    for state in ("running", "paused"):
        assert value(after, "active_transcodes", state=state) >= 0
