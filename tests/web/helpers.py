"""Browser steps shared by the web UI tests (Playwright's sync API).

The UI's Content-Security-Policy forbids eval, so page functions are always passed as
``() => ...`` function sources (Playwright calls those through the DevTools protocol).
"""

from __future__ import annotations

import time
from typing import Any

from tests.web.server import ADMIN, STEP_MS, PageLog, WebServer

VIDEO_STATE = """() => {
  const v = document.querySelector('.player video');
  if (!v) return null;
  const player = v.closest('.player');
  return {
    t: v.currentTime, paused: v.paused, ended: v.ended, ready: v.readyState,
    frames: v.getVideoPlaybackQuality().totalVideoFrames,
    muted: v.muted, engine: player.dataset.engine || null, method: player.dataset.method || null,
    session: player.dataset.session || null, state: player.dataset.state,
  };
}"""


def login_ui(
    page: Any, server: WebServer, username: str = ADMIN[0], password: str = ADMIN[1]
) -> None:
    page.goto(server.url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("#topbar .avatar")


def video_state(page: Any) -> dict[str, Any]:
    state = page.evaluate(VIDEO_STATE)
    assert state is not None, "no video on the page"
    return state


def wait_playing(page: Any, *, past: float, timeout_ms: int = STEP_MS) -> dict[str, Any]:
    """Wait until the video plays past ``past`` seconds with frames rendered; click the big
    play button if the browser refused to autoplay."""
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        big = page.query_selector(".p-big")
        if big is not None and big.is_visible():
            big.click()
        state = page.evaluate(VIDEO_STATE)
        if state and state["t"] > past and state["frames"] > 0 and not state["paused"]:
            return state
        error = page.query_selector(".p-message")
        if error is not None:
            raise AssertionError(f"the player shows an error: {error.inner_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the video did not play past {past} s: {state}")
        page.wait_for_timeout(100)


def open_menu(page: Any, name: str) -> None:
    page.mouse.move(640, 380)  # wake the auto-hidden controls
    page.click(f"[data-menu={name}]")
    page.wait_for_selector(".p-menu:not([hidden]) [role=menuitemradio]")


def menu_items(page: Any) -> list[dict[str, Any]]:
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('.p-menu [role=menuitemradio]'), (b) => ({
            label: b.querySelector('span').textContent,
            checked: b.getAttribute('aria-checked') === 'true' }))"""
    )


def next_decision(page: Any, log: PageLog, since: int, timeout_s: float = 20) -> dict[str, Any]:
    """The first ``POST /api/playback`` answer after the first ``since`` ones. (Playwright
    reports a response a moment after the page has it: wait for it rather than read
    ``log.decisions[-1]`` at once.)"""
    deadline = time.monotonic() + timeout_s
    while len(log.decisions) <= since:
        assert time.monotonic() < deadline, "no playback session was created"
        page.wait_for_timeout(50)
    return log.decisions[since]
