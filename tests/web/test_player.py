"""Playing in real Chromium: direct play of H.264 with frames rendered, seeking, resuming
after a reload, switching audio and subtitle tracks, a transcoded file, the controls and
what the player reports to the server (first frame, seeks, position, stop)."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.web.helpers import (
    login_ui,
    menu_items,
    next_decision,
    open_menu,
    video_state,
    wait_playing,
)
from tests.web.server import PageLog, WebServer

# Every step waits with a deadline; the timeout is the backstop against a hung browser.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


@pytest.fixture(scope="module", autouse=True)
def _signed_in(web_server: WebServer, page: Any) -> None:
    web_server.setup_admin()
    web_server.add_libraries()
    login_ui(page, web_server)


def stored_position(server: WebServer, item_id: int) -> float | None:
    progress = server.api("GET", f"/api/items/{item_id}").json()["progress"]
    return None if progress is None else float(progress["position_s"])


def test_plays_h264_from_the_item_page(
    page: Any, web_server: WebServer, page_log: PageLog, shot: Any
) -> None:
    item_id = web_server.item_id("Big Test Movie")
    page.goto(f"{web_server.url}/item/{item_id}")
    since = len(page_log.decisions)
    page.click("[data-action=play]")
    page.wait_for_url(f"**/play/{item_id}")
    state = wait_playing(page, past=1.0)
    decision = next_decision(page, page_log, since)
    assert state["frames"] > 0
    # One session, created with the browser's profile and the start position.
    assert page_log.playbacks[-1]["item_id"] == item_id
    assert page_log.playbacks[-1]["device"] == "chrome"
    assert page_log.playbacks[-1]["start_s"] == 0
    assert decision["status"] == 201
    assert state["method"] == decision["method"]
    # H.264/AAC in MP4 plays as the original file in Chrome; anything else goes through hls.js.
    assert state["engine"] == ("direct" if decision["method"] == "direct" else "hls.js")
    # A frame was actually presented: requestVideoFrameCallback fired for the first frame.
    page.wait_for_function(
        "() => Number(document.querySelector('.player video').dataset.ttffMs) > 0"
    )
    ttff = page_log.of_type("ttff")
    assert ttff, page_log.events
    assert ttff[-1]["ms"] > 0
    page.mouse.move(640, 400)
    shot("playing")


def test_seek_plays_from_the_new_place(page: Any, page_log: PageLog, shot: Any) -> None:
    before = video_state(page)["t"]
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    target = before + 20
    state = wait_playing(page, past=target - 1.5)
    assert state["t"] < 30
    # It plays on from there (not back from the start).
    later = wait_playing(page, past=state["t"] + 0.5)
    assert later["t"] >= target - 1.5
    page.wait_for_function(
        "() => Number(document.querySelector('.player video').dataset.seekMs) >= 0"
    )
    seeks = page_log.of_type("seek")
    assert seeks, page_log.events
    assert seeks[-1]["position_s"] == pytest.approx(target, abs=2)
    # The seek bar shows what is buffered and what has played.
    page.mouse.move(640, 400)
    assert page.query_selector_all(".seek-buffered")
    shot("seeked")


def test_reload_resumes_near_the_stored_position(
    page: Any, web_server: WebServer, page_log: PageLog
) -> None:
    item_id = web_server.item_id("Big Test Movie")
    page.keyboard.press("k")
    page.wait_for_function("() => document.querySelector('.player video').paused")
    paused_at = video_state(page)["t"]
    # Pausing reports the position at once.
    until(
        page,
        lambda: any(abs(e["position_s"] - paused_at) < 0.5 for e in page_log.of_type("position")),
    )
    deadline = time.monotonic() + 15
    while (stored := stored_position(web_server, item_id)) is None or abs(stored - paused_at) > 1:
        assert time.monotonic() < deadline, f"progress {stored} never reached {paused_at}"
        page.wait_for_timeout(200)
    page.reload()
    state = wait_playing(page, past=paused_at - 2.5)
    assert state["t"] == pytest.approx(paused_at, abs=3)
    assert page_log.playbacks[-1]["start_s"] == pytest.approx(paused_at, abs=1)
    # The item page offers to resume from there too.
    page.click("button[aria-label='Back']")
    page.wait_for_selector("[data-action=resume]")
    label = page.inner_text("[data-action=resume]")
    assert "Resume from 0:" in label


def until(page: Any, predicate: Any, timeout_s: float = 10) -> None:
    """Poll ``predicate``; page.wait_for_timeout (not sleep) lets Playwright deliver the
    page's events to our listeners meanwhile."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        page.wait_for_timeout(50)


def test_subtitles_picked_during_direct_play_show_up(
    page: Any, web_server: WebServer, page_log: PageLog
) -> None:
    # Big Test Movie plays as the original file; its subtitles are a sidecar SRT. Picking
    # them starts an HLS session (WebVTT rendition) that shows them from the start.
    item_id = web_server.item_id("Big Test Movie")
    page.goto(f"{web_server.url}/play/{item_id}?t=0")
    wait_playing(page, past=0.3)
    assert video_state(page)["engine"] == "direct"
    open_menu(page, "subtitles")
    assert [i["label"] for i in menu_items(page)] == ["Off", "English"]
    page.click(".p-menu [role=menuitemradio]:nth-of-type(2)")
    page.wait_for_function(
        """() => Array.from(document.querySelector('.player video').textTracks)
                  .some((t) => t.mode === 'showing' && t.cues && t.cues.length > 0)"""
    )
    assert page_log.playbacks[-1]["subtitle_stream"] > 0
    assert page_log.playbacks[-1]["protocol"] == "hls"
    assert video_state(page)["engine"] == "hls.js"
    open_menu(page, "subtitles")
    assert [i["checked"] for i in menu_items(page)] == [False, True]
    page.keyboard.press("Escape")
    wait_playing(page, past=video_state(page)["t"] + 0.3)


def test_switch_audio_track_and_subtitles(
    page: Any, web_server: WebServer, page_log: PageLog, shot: Any
) -> None:
    item_id = web_server.item_id("Multi Track")
    page.goto(f"{web_server.url}/item/{item_id}")
    page.click("[data-action=play]")
    wait_playing(page, past=1.0)

    open_menu(page, "audio")
    labels = [i["label"] for i in menu_items(page)]
    assert len(labels) == 2
    sessions = len(page_log.playbacks)
    requested = len(page_log.media)
    page.click(".p-menu [role=menuitemradio]:nth-of-type(2)")
    # Direct play cannot switch tracks: a new session carries the chosen stream and plays
    # it through HLS from about where it was.
    page.wait_for_function("() => document.querySelector('.player').dataset.engine === 'hls.js'")
    state = wait_playing(page, past=1.5)
    if len(page_log.playbacks) > sessions:
        assert page_log.playbacks[-1]["audio_stream"] == 2
        assert page_log.playbacks[-1]["start_s"] > 0.5
    assert state["t"] > 1.5
    # It starts on the source as it is (stream copy), not on a converted rung.
    video_playlists = [u for u in page_log.media[requested:] if re.search(r"/v/[^/]+\.m3u8$", u)]
    assert video_playlists, page_log.media[requested:]
    assert video_playlists[0].endswith("/v/copy.m3u8"), video_playlists
    assert not [u for u in page_log.media[requested:] if "/v/360p" in u]
    open_menu(page, "audio")
    checked = [i["label"] for i in menu_items(page) if i["checked"]]
    assert len(checked) == 1
    assert "fr" in checked[0].lower() or "french" in checked[0].lower()
    page.keyboard.press("Escape")

    open_menu(page, "subtitles")
    items = menu_items(page)
    assert items[0] == {"label": "Off", "checked": True}
    page.click(".p-menu [role=menuitemradio]:nth-of-type(2)")
    page.wait_for_function(
        """() => Array.from(document.querySelector('.player video').textTracks)
                  .some((t) => t.mode === 'showing' && t.cues && t.cues.length > 0)"""
    )
    open_menu(page, "subtitles")
    assert [i["checked"] for i in menu_items(page)] == [False, True]
    page.keyboard.press("Escape")
    wait_playing(page, past=video_state(page)["t"] + 0.5)
    shot("tracks")


def test_quality_menu_lists_the_hls_levels_and_switches(page: Any, page_log: PageLog) -> None:
    # Multi Track plays through hls.js since the audio switch: its 480p source as is, plus
    # a converted 360p rung.
    assert video_state(page)["engine"] == "hls.js"
    rungs = page_log.decisions[-1]["renditions"]["video"]
    heights = sorted((r["height"] for r in rungs), reverse=True)
    assert heights == [480, 360], rungs
    assert [r["copy"] for r in sorted(rungs, key=lambda r: -r["height"])] == [True, False]
    open_menu(page, "quality")
    items = menu_items(page)
    assert items[0] == {"label": "Auto", "checked": True}
    assert [i["label"] for i in items[1:]] == [f"{h}p" for h in heights]
    # The menu says why the server streams rather than sends the file.
    assert "Direct stream" in page.inner_text(".p-menu .p-note")
    # Pick the converted rung: hls.js switches level and the picture is 360 lines high.
    page.click(".p-menu [role=menuitemradio]:has-text('360p')")
    page.wait_for_function(
        "() => document.querySelector('.player video').videoHeight === 360", timeout=30_000
    )
    wait_playing(page, past=video_state(page)["t"] + 0.5)
    open_menu(page, "quality")
    assert [i["label"] for i in menu_items(page) if i["checked"]] == ["360p"]
    # And back to automatic.
    page.click(".p-menu [role=menuitemradio]:has-text('Auto')")
    open_menu(page, "quality")
    assert menu_items(page)[0]["checked"]
    page.keyboard.press("Escape")
    wait_playing(page, past=video_state(page)["t"] + 0.3)


def test_keyboard_shortcuts(page: Any) -> None:
    page.mouse.move(640, 400)
    page.keyboard.press("m")
    assert video_state(page)["muted"]
    page.keyboard.press("m")
    assert not video_state(page)["muted"]
    # (Space on a focused button presses that button, as everywhere; off the controls it
    # is play/pause.)
    page.evaluate("() => document.activeElement?.blur()")
    page.keyboard.press(" ")
    page.wait_for_function("() => document.querySelector('.player video').paused")
    page.keyboard.press("k")
    wait_playing(page, past=video_state(page)["t"] + 0.2)
    at = video_state(page)["t"]
    page.keyboard.press("ArrowLeft")
    # Back 10 s (or to the start); it may have played on a little since.
    assert video_state(page)["t"] <= max(0.0, at - 10) + 0.5
    page.keyboard.press("f")
    page.wait_for_function("() => document.fullscreenElement !== null")
    page.keyboard.press("f")
    page.wait_for_function("() => document.fullscreenElement === null")
    # Every control has an accessible name.
    unnamed = page.eval_on_selector_all(
        ".player button:not([hidden]), .player input",
        "(els) => els.filter((e) => !e.getAttribute('aria-label')).length",
    )
    assert unnamed == 0


def test_leaving_the_player_stops_the_session(page: Any, web_server: WebServer) -> None:
    stops: list[str] = []
    page.on(
        "request",
        lambda r: r.method == "DELETE" and "/api/playback/" in r.url and stops.append(r.url),
    )
    session = video_state(page)["session"]
    page.click("button[aria-label='Back']")
    page.wait_for_selector("[data-facts]")
    until(page, lambda: stops, timeout_s=5)
    assert f"/api/playback/{session}?token=" in stops[0]


def test_transcoded_file_plays(
    page: Any, web_server: WebServer, page_log: PageLog, shot: Any
) -> None:
    item_id = web_server.item_id("Amélie Ten Bit")
    page.goto(f"{web_server.url}/item/{item_id}")
    since = len(page_log.decisions)
    page.click("[data-action=play]")
    decision = next_decision(page, page_log, since)
    assert decision["status"] == 201, decision
    # HEVC 10-bit HDR in Matroska is not in Chrome's profile: the server converts it.
    assert decision["method"] == "transcode"
    assert "video_codec_not_supported" in decision["reasons"]
    assert [r["copy"] for r in decision["renditions"]["video"]] == [False]
    first = wait_playing(page, past=1.0, timeout_ms=60_000)
    assert first["engine"] == "hls.js"
    # It keeps playing: time advances and new frames are presented.
    later = wait_playing(page, past=first["t"] + 1.0, timeout_ms=30_000)
    assert later["frames"] > first["frames"]
    assert page.evaluate("() => document.querySelector('.player video').videoHeight") == 180
    page.wait_for_function(
        "() => Number(document.querySelector('.player video').dataset.ttffMs) > 0"
    )
    assert page_log.of_type("ttff")[-1]["method"] == "transcode"
    page.mouse.move(640, 400)
    shot("transcode")


def test_closing_the_page_mid_play_stores_the_position(
    page: Any, web_server: WebServer, page_log: PageLog
) -> None:
    # No pause, no Back: the page just goes away (a closed tab, a typed URL). Its one
    # keepalive stop event must leave the position where the viewer was and end the
    # session. (Playwright does not always report a request sent while a page unloads,
    # so this looks at the server.)
    item_id = web_server.item_id("Multi Track")
    page.goto(f"{web_server.url}/play/{item_id}?t=20")
    state = wait_playing(page, past=21.0)
    url = page_log.decisions[-1]["url"]
    assert web_server.api("HEAD", url).status_code == 200
    page.goto(web_server.url + "/")
    deadline = time.monotonic() + 10
    while not (state["t"] - 0.1 <= (stored_position(web_server, item_id) or 0) < state["t"] + 2):
        assert time.monotonic() < deadline, (stored_position(web_server, item_id), state)
        time.sleep(0.1)
    while web_server.api("HEAD", url).status_code != 404:
        assert time.monotonic() < deadline, "the session outlived its page"
        time.sleep(0.1)


def test_the_pages_logged_no_errors(page_log: PageLog) -> None:
    assert page_log.unexpected_errors() == []
