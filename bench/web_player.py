"""Web player benchmark: time to first frame and seek-to-frame latency in real Chromium,
from the player's own telemetry; and the README screenshots.

    .venv/bin/python bench/web_player.py [--runs 5] [--seconds 120]
    .venv/bin/python bench/web_player.py --screenshots docs/screenshots   # screenshots only

1. Generates (once, cached in ``/tmp/ferrite-bench/web``) three 1280x720 24 fps clips with
   2 s GOPs and AAC stereo (``tests/media.py``): H.264 in MP4 (Chrome plays the file as it
   is: ``direct``), the same H.264 in Matroska (streamed as HLS with the video copied:
   ``remux``), and 10-bit HEVC in Matroska (converted to H.264: ``transcode``). A Ferrite
   data directory next to them is scanned once.
2. Each run starts a fresh server (``create_app`` on 127.0.0.1, uvicorn + uvloop, as
   ``ferrite serve`` runs it) on that data directory, so no segment, transcode or file
   handle is left from an earlier run. One Chromium context serves all runs (the app and
   hls.js come from its HTTP cache after the first load, as for a returning viewer; the
   media URLs carry a new session each time, so no media is ever cached by the browser).
3. For each clip, as a viewer would: open the item page, click **Play**, wait for the
   ``ttff`` event the player sends (the click to the first frame presented while playing,
   from ``requestVideoFrameCallback``), let it play 1.5 s, click the seek bar at 60 %
   (far beyond anything buffered or converted), wait for the ``seek`` event (``seeking``
   to the first frame at the new place), check it plays on from there, press Back.

Prints the median, min and max per method; asserts the decisions (``direct``,
``remux``, ``transcode``) and that every step finished.

``--screenshots DIR`` instead starts Ferrite the way a new install does (no library
configured, so it generates the demo library and scans it, posters included), creates the
admin, starts "Test Pattern" so the home page has something to continue, and saves
``home.png`` and ``player.png`` (1440x900) to DIR.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests import media  # noqa: E402
from tests.api.server import ServerThread  # noqa: E402
from tests.web.helpers import login_ui, video_state, wait_playing  # noqa: E402
from tests.web.server import CHROMIUM, CHROMIUM_ARGS, PageLog, WebLibrary, WebServer  # noqa: E402

from ferrite import config  # noqa: E402
from ferrite.app import create_app  # noqa: E402
from ferrite.auth.passwords import Passwords  # noqa: E402

CACHE = Path("/tmp/ferrite-bench/web")
CLIPS = {
    # title: (file name, expected method, clip)
    "direct": ("Direct Sample (2020).mp4", "libx264", "yuv420p"),
    "remux": ("Remux Sample (2020).mkv", "libx264", "yuv420p"),
    "transcode": ("Hevc Sample (2020).mkv", "libx265", "yuv420p10le"),
}
STEP_MS = 60_000
SEEK_AT = 0.6


def make_library(seconds: float) -> Path:
    movies = CACHE / f"movies-{int(seconds)}s"
    for name, vcodec, pix_fmt in CLIPS.values():
        path = movies / Path(name).stem / name
        if path.exists() and path.stat().st_size > 0:
            continue
        print(f"generating {path.name} ({seconds:.0f} s, 1280x720) ...", flush=True)
        tmp = path.with_name(".partial" + path.suffix)
        media.make_clip(
            tmp,
            media.Clip(
                duration=seconds,
                size=(1280, 720),
                vcodec=vcodec,
                pix_fmt=pix_fmt,
                gop=2.0,
                audio=(media.Audio("aac", 2, "eng", "English"),),
            ),
        )
        tmp.rename(path)
    return movies


def settings_for(data_dir: Path, **extra: Any) -> config.Settings:
    return config.load(
        {
            "data_dir": data_dir,
            "watch": False,
            "warm_segments": 0,  # no background warming in tests
            "demo": False,
            "libraries": (),
            **extra,
        },
        environ={},
    )


@contextmanager
def serving(settings: config.Settings, library: WebLibrary, port: int = 0) -> Iterator[WebServer]:
    """A server on 127.0.0.1:``port`` (0: any free port). Runs reuse one port, so the
    browser sees one origin: the same sign-in and HTTP cache across server restarts."""
    passwords = Passwords(time_cost=1, memory_cost_kib=1024)
    thread = ServerThread(create_app(settings, passwords=passwords))
    thread.server.config.port = port
    thread.start()
    try:
        yield WebServer(thread, settings.data_dir, library)
    finally:
        thread.stop()
        passwords.close()


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


# -- the measurements ------------------------------------------------------------------------
def sent_event(page: Any, log: PageLog, kind: str, since: int) -> dict[str, Any]:
    """The last ``kind`` event the player POSTed after the first ``since`` events (the
    request reaches Playwright a moment after the page has sent it)."""
    deadline = time.monotonic() + 10
    while True:
        found = [e for e in log.events[since:] if isinstance(e, dict) and e.get("type") == kind]
        if found:
            return found[-1]
        assert time.monotonic() < deadline, f"the player sent no {kind} event"
        page.wait_for_timeout(50)


def play_and_seek(page: Any, server: WebServer, log: PageLog, item_id: int) -> dict[str, Any]:
    page.goto(f"{server.url}/item/{item_id}")
    # "Play" (or "Play from start" once an earlier run left a position): from 0 each time.
    play = "[data-action=play], [data-action=play-start]"
    page.wait_for_selector(play)
    page.wait_for_timeout(300)  # let the page settle: the click is when the clock starts
    events_before = len(log.events)
    page.click(play)
    page.wait_for_function(
        "() => Number(document.querySelector('.player video')?.dataset.ttffMs) >= 0",
        timeout=STEP_MS,
    )
    assert not page.is_visible(".p-big"), "autoplay was refused: the click did not count"
    decision = log.decisions[-1]
    ttff = sent_event(page, log, "ttff", events_before)
    state = wait_playing(page, past=1.5, timeout_ms=STEP_MS)

    # Seek by clicking the seek bar, as a viewer would.
    page.mouse.move(640, 300)
    box = page.locator(".seek").bounding_box()
    assert box is not None
    duration = page.evaluate("() => document.querySelector('.player video').duration")
    events_before = len(log.events)
    page.mouse.click(box["x"] + box["width"] * SEEK_AT, box["y"] + box["height"] / 2)
    page.wait_for_function(
        "() => document.querySelector('.player video').dataset.seekMs !== undefined",
        timeout=STEP_MS,
    )
    seek = sent_event(page, log, "seek", events_before)
    assert abs(seek["position_s"] - duration * SEEK_AT) < 3, (seek, duration)
    after = wait_playing(page, past=seek["position_s"] + 0.5, timeout_ms=STEP_MS)
    assert after["frames"] > state["frames"]
    page.click("button[aria-label='Back']")
    page.wait_for_selector("[data-facts]")
    return {
        "method": decision["method"],
        "engine": state["engine"],
        "ttff_ms": ttff["ms"],
        "seek_ms": seek["ms"],
    }


def bench(runs: int, seconds: float) -> None:
    movies = make_library(seconds)
    data_dir = CACHE / f"data-{int(seconds)}s"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    library = WebLibrary(movies, movies, movies)
    settings = settings_for(data_dir)
    with serving(settings, library) as server:
        server.setup_admin()
        r = server.api(
            "POST",
            "/api/libraries",
            json={"name": "Bench", "kind": "movies", "paths": [str(movies)]},
        )
        assert r.status_code == 201, r.text
        server.wait_for_scans()
        ids = {
            kind: server.item_id(Path(name).stem.split(" (")[0])
            for kind, (name, *_) in CLIPS.items()
        }

    samples: dict[str, list[dict[str, Any]]] = {kind: [] for kind in CLIPS}
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 720}, locale="en-US")
        context.set_default_timeout(STEP_MS)
        page = context.new_page()
        log = PageLog()
        log.attach(page)
        port = 0
        for run in range(runs):
            with serving(settings, library, port) as server:
                if not port:
                    port = server.thread.port
                    login_ui(page, server)
                for kind, item_id in ids.items():
                    s = play_and_seek(page, server, log, item_id)
                    assert s["method"] == kind, f"{kind} clip played as {s['method']}"
                    samples[kind].append(s)
                    print(
                        f"run {run + 1}: {kind:9} ttff {s['ttff_ms']:7.1f} ms  "
                        f"seek {s['seek_ms']:7.1f} ms  ({s['engine']})",
                        flush=True,
                    )
        assert not log.unexpected_errors(), log.unexpected_errors()
        context.close()

    print(f"\nload average {os.getloadavg()[0]:.1f}; {runs} runs, {seconds:.0f} s clips, 1280x720")
    print("| method | engine | ttff median (min-max), ms | seek median (min-max), ms |")
    print("| --- | --- | --- | --- |")
    for kind, rows in samples.items():
        ttff = spread([r["ttff_ms"] for r in rows])
        seek = spread([r["seek_ms"] for r in rows])
        print(f"| {kind} | {rows[0]['engine']} | {ttff} | {seek} |")


def spread(ms: list[float]) -> str:
    return f"{statistics.median(ms):.0f} ({min(ms):.0f}-{max(ms):.0f})"


# -- the screenshots -------------------------------------------------------------------------
def screenshots(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="ferrite-shots-"))
    settings = settings_for(data_dir, demo=True)
    try:
        with serving(settings, WebLibrary(data_dir, data_dir, data_dir)) as server:
            server.setup_admin()
            # The demo library is generated and scanned in the background at first start.
            deadline = time.monotonic() + 300
            while True:
                libs = server.api("GET", "/api/libraries").json()
                if len(libs) == 2 and not any(lib["scanning"] for lib in libs):
                    break
                assert time.monotonic() < deadline, "the demo library did not appear"
                time.sleep(0.5)
            server.wait_for_scans()
            pattern = server.item_id("Test Pattern")
            r = server.api("PUT", f"/api/items/{pattern}/progress", json={"position_s": 10})
            assert r.status_code == 200, r.text
            with chromium() as browser:
                context = browser.new_context(
                    viewport={"width": 1440, "height": 900}, locale="en-US"
                )
                context.set_default_timeout(STEP_MS)
                page = context.new_page()
                log = PageLog()
                log.attach(page)
                login_ui(page, server)
                page.wait_for_selector("[data-row=continue] .card")
                page.wait_for_function(
                    """() => Array.from(document.querySelectorAll('.card .art img'))
                        .every((i) => i.complete && i.naturalWidth > 0)"""
                )
                page.mouse.move(1430, 890)  # no hover effect anywhere
                page.wait_for_timeout(400)
                page.screenshot(path=str(out / "home.png"), full_page=True)

                page.goto(f"{server.url}/item/{pattern}")
                page.click("[data-action=resume]")
                wait_playing(page, past=10.5)
                page.mouse.move(640, 400)
                page.click("[data-menu=subtitles]")
                page.click(".p-menu [role=menuitemradio]:nth-of-type(2)")
                page.wait_for_function(
                    """() => Array.from(document.querySelector('.player video').textTracks)
                        .some((t) => t.mode === 'showing' && t.cues && t.cues.length)"""
                )
                # Back into the third cue (10-14 s), wherever the switch left the playhead.
                page.evaluate("() => { document.querySelector('.player video').currentTime = 11; }")
                page.wait_for_function(
                    """() => Array.from(document.querySelector('.player video').textTracks)
                        .some((t) => t.mode === 'showing' && t.activeCues && t.activeCues.length)"""
                )
                wait_playing(page, past=11.3)
                page.keyboard.press("k")
                page.wait_for_function("() => document.querySelector('.player video').paused")
                page.evaluate("() => document.activeElement?.blur()")  # no focus ring
                seek = page.locator(".seek").bounding_box()
                assert seek is not None
                # Over the seek bar, clear of the subtitle: its time preview shows.
                page.mouse.move(seek["x"] + seek["width"] * 0.85, seek["y"] + seek["height"] / 2)
                page.wait_for_timeout(400)
                page.screenshot(path=str(out / "player.png"))
                assert video_state(page)["frames"] > 0
                assert not log.unexpected_errors(), log.unexpected_errors()
                context.close()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    for name in ("home.png", "player.png"):
        print(f"{out / name}: {(out / name).stat().st_size / 1024:.0f} KiB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=120.0, help="length of each clip")
    ap.add_argument("--screenshots", type=Path, help="save home.png and player.png here")
    args = ap.parse_args()
    if args.screenshots:
        screenshots(args.screenshots)
    else:
        bench(args.runs, args.seconds)


if __name__ == "__main__":
    main()
