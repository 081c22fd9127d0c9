"""Playing in real Chromium: direct play of H.264 with frames rendered, seeking, resuming
after a reload, switching audio and subtitle tracks, a transcoded file, the controls and
what the player reports to the server (first frame, seeks, position, stop)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.web.helpers import login_ui, menu_items, open_menu, video_state, wait_playing
from tests.web.server import PageLog, WebServer

pytestmark = pytest.mark.browser


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
    page.click("[data-action=play]")
    page.wait_for_url(f"**/play/{item_id}")
    state = wait_playing(page, past=1.0)
    assert state["frames"] > 0
    # One session, created with the browser's profile and the start position.
    assert page_log.playbacks[-1]["item_id"] == item_id
    assert page_log.playbacks[-1]["device"] == "chrome"
    assert page_log.playbacks[-1]["start_s"] == 0
    decision = page_log.decisions[-1]
    assert decision["status"] in (200, 201)
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
    page.click(".p-menu [role=menuitemradio]:nth-of-type(2)")
    # Direct play cannot switch tracks: a new session carries the chosen stream and plays
    # it through HLS from about where it was.
    page.wait_for_function("() => document.querySelector('.player').dataset.engine === 'hls.js'")
    state = wait_playing(page, past=1.5)
    if len(page_log.playbacks) > sessions:
        assert page_log.playbacks[-1]["audio_stream"] == 2
        assert page_log.playbacks[-1]["start_s"] > 0.5
    assert state["t"] > 1.5
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


def test_quality_menu_offers_auto_and_each_rung(page: Any) -> None:
    if video_state(page)["engine"] != "hls.js":
        pytest.skip("quality rungs come from hls.js levels")
    open_menu(page, "quality")
    items = menu_items(page)
    assert items[0]["label"].startswith("Auto")
    assert items[0]["checked"]
    assert len(items) >= 2
    page.click(".p-menu [role=menuitemradio]:last-of-type")
    open_menu(page, "quality")
    assert menu_items(page)[-1]["checked"]
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
    assert video_state(page)["t"] <= max(0.0, at - 8)
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
    page.click("[data-action=play]")
    page.wait_for_selector(".player[data-session], .p-message")
    decision = page_log.decisions[-1]
    code = decision.get("error", {}).get("code")
    if decision["status"] == 503 or code in ("transcode_failed", "no_playable_method"):
        pytest.skip(f"this server cannot transcode: {decision}")
    assert decision["status"] in (200, 201), decision
    # HEVC 10-bit HDR is not in Chrome's profile: the server converts it.
    assert decision["method"] == "transcode"
    state = wait_playing(page, past=1.0, timeout_ms=60_000)
    assert state["engine"] == "hls.js"
    assert state["frames"] > 0
    shot("transcode")


def test_the_pages_logged_no_errors(page_log: PageLog) -> None:
    assert page_log.unexpected_errors() == []
