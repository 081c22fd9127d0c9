"""Fixtures for the web UI tests: a generated library, a real Ferrite server on 127.0.0.1
with the UI mounted, and real Chromium driven by Playwright.

Chromium is Debian's (``/usr/bin/chromium``, installed by ``scripts/test-browser-deps``);
Playwright's own browser downloads are never used. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ferrite.app import create_app
from ferrite.auth.passwords import Passwords
from tests import media
from tests.api.server import ServerThread
from tests.web.server import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    STEP_MS,
    PageLog,
    WebLibrary,
    WebServer,
    web_settings,
)


@pytest.fixture(scope="session")
def web_library(tmp_path_factory: pytest.TempPathFactory) -> WebLibrary:
    """A small library: long enough clips to seek and resume in, two audio tracks and
    subtitles in a 480p file (so HLS offers a second, converted rung), an HEVC 10-bit
    file a browser cannot decode, and a two-season show."""
    root = tmp_path_factory.mktemp("web-library")
    movies, shows = root / "movies", root / "shows"
    long_h264 = media.Clip(duration=30.0)
    media.make_clip(movies / "Big Test Movie (2020)" / "Big Test Movie (2020).mp4", long_h264)
    media.write_srt(movies / "Big Test Movie (2020)" / "Big Test Movie (2020).en.srt")
    media.make_clip(
        movies / "Multi Track (2021)" / "Multi Track (2021).mp4",
        media.Clip(
            duration=30.0,
            # Big enough for a ladder: the stream-copy rung plus a converted 360p one.
            size=(854, 480),
            audio=(
                media.Audio("aac", 2, "eng", "English"),
                media.Audio("aac", 2, "fre", "Français", 660),
            ),
            subs=(media.Sub("mov_text", "eng"),),
        ),
    )
    media.make_clip(
        movies / "Amélie Ten Bit (2001)" / "Amélie Ten Bit (2001).mkv",
        media.Clip(
            duration=12.0,
            vcodec="libx265",
            pix_fmt="yuv420p10le",
            hdr="hdr10",
            audio=media.HEVC10_MULTI.audio,
            subs=media.HEVC10_MULTI.subs,
        ),
    )
    short = media.Clip()
    show = shows / "Test Show"
    media.make_clip(show / "Season 01" / "Test Show - S01E01 - Pilot.mp4", short)
    media.make_clip(show / "Season 01" / "Test Show - S01E02 - The Second.mp4", short)
    media.make_clip(show / "Season 02" / "Test Show - S02E01 - Return.mp4", short)
    return WebLibrary(root, movies, shows)


# -- the server ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cheap_passwords() -> Iterator[Passwords]:
    p = Passwords(time_cost=1, memory_cost_kib=1024)
    yield p
    p.close()


@pytest.fixture(scope="module")
def web_server(
    tmp_path_factory: pytest.TempPathFactory, web_library: WebLibrary, cheap_passwords: Passwords
) -> Iterator[WebServer]:
    """A fresh Ferrite (empty data directory, no user yet), as ``create_app`` builds it:
    every router, the UI (``mount_web``), scanner, artwork and playback."""
    data_dir = tmp_path_factory.mktemp("web-data")
    app = create_app(web_settings(data_dir), passwords=cheap_passwords)
    thread = ServerThread(app).start()
    try:
        yield WebServer(thread, data_dir, web_library)
    finally:
        thread.stop()


# -- the browser ------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: run scripts/test-browser-deps")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 760}, locale="en-US")
    ctx.set_default_timeout(STEP_MS)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture(scope="module")
def page_log() -> PageLog:
    return PageLog()


@pytest.fixture(scope="module")
def page(context: Any, page_log: PageLog) -> Iterator[Any]:
    p = context.new_page()
    page_log.attach(p)
    yield p
    p.close()


@pytest.fixture
def shot(page: Any, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """``shot("name")`` saves a screenshot to test-artifacts/<module>-<name>.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    module = request.module.__name__.rsplit(".", 1)[-1]

    def take(name: str, **kwargs: Any) -> Path:
        path = ARTIFACTS / f"{module}-{name}.png"
        page.screenshot(path=str(path), **kwargs)
        return path

    return take
