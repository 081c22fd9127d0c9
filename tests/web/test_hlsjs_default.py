"""hls.js at its default configuration, from another origin, plays what Ferrite serves:
x264's 10 s GOPs (copied), irregular GOPs (copy and converted rungs in one ladder), open
GOPs (converted) and HEVC Main 10 with a 10 s GOP and two audio tracks (converted). Each
plays from the start, then seeks to three places, each showing a frame there, with no
fatal error.
Timing is left to ``bench/hlsjs_default.py``; here only bounded waits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import media
from tests.live import Live, place, start_live
from tests.web.hlsjs import HLSJS, StaticOrigin, player_log, seek, start_playing

TIMEOUT_MS = 60_000  # generous: two shared cores, transcodes included
FILMS = {
    "Long Gop": ("mp4", media.GOP10_MP4),
    "Irregular Gop": ("mkv", media.IRREGULAR_GOP_MKV),
    "Open Gop": ("mkv", media.OPEN_GOP_MKV),
    "Hevc Ten": ("mkv", media.HEVC10_GOP10),
}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, clip: Callable[..., Path]) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("hlsjs")
    movies = root / "movies"
    paths = {}
    for i, (title, (ext, spec)) in enumerate(FILMS.items()):
        name = f"{title} ({2000 + i})"
        src = clip("real-" + title.lower().replace(" ", "-"), spec, f".{ext}")
        paths[title] = place(src, movies / name / f"{name}.{ext}")
    with start_live(root, [movies], paths) as live:
        yield live


@pytest.fixture(scope="module")
def origin() -> Iterator[StaticOrigin]:
    if not HLSJS.exists():
        pytest.skip("hls.js is missing: run scripts/web-assets")
    with StaticOrigin() as o:
        yield o


@pytest.mark.parametrize("title", list(FILMS))
def test_default_hlsjs_plays_and_seeks(
    live: Live, origin: StaticOrigin, browser: Any, title: str
) -> None:
    pb = live.play(title, device="chrome", protocol="hls")
    assert pb["method"] in ("remux", "transcode")
    duration = FILMS[title][1].duration
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        log = start_playing(page, origin, live.url(pb["url"]), TIMEOUT_MS)
        assert log["fatal"] is None, log["errors"]
        assert log["firstFrameMs"] is not None
        for fraction in (0.25, 0.5, 0.9):
            target = round(duration * fraction, 1)
            try:
                seek(page, target, TIMEOUT_MS)
            except Exception as exc:
                state = page.evaluate(
                    "() => { const v = document.getElementById('v'); const b = v.buffered;"
                    " const r = []; for (let i = 0; i < b.length; i++) r.push([b.start(i),"
                    " b.end(i)]); return {t: v.currentTime, seeking: v.seeking,"
                    " ready: v.readyState, buffered: r, error: v.error && v.error.message}; }"
                )
                pytest.fail(f"seek to {target}: {exc}; {state}; {player_log(page)}")
        page.wait_for_timeout(500)
        log = player_log(page)
        assert log["fatal"] is None, log["errors"]
        assert log["frames"] > 3
    finally:
        ctx.close()
