"""Warm starts: the first segments of the rendition a default player starts on are made
once per file in the background and kept on disk; after a restart, a start is served from
them without any transcode."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import av

from ferrite import config
from ferrite.app import create_app
from ferrite.auth.passwords import Passwords
from ferrite.playback.warmer import Warmer
from tests import media
from tests.api.server import AppClient, ServerThread
from tests.live import place, start_live

SPEC = media.Clip(duration=8.0, size=(854, 480), gop=2.0)  # copy + a converted 360p rung


def _warmer(client: AppClient) -> Warmer:
    warmer: Warmer = client.app.state.services.warmer
    return warmer


def _lowest_variant(client: AppClient, master_url: str) -> str:
    master = client.get(master_url).text
    lines = master.splitlines()
    variants = [
        (int(line.split("BANDWIDTH=")[1].split(",")[0]), lines[i + 1])
        for i, line in enumerate(lines)
        if line.startswith("#EXT-X-STREAM-INF:")
    ]
    return urljoin(master_url, min(variants)[1])


def test_the_start_of_a_default_player_is_warm_after_a_restart(
    tmp_path: Path, clip: Callable[..., Path]
) -> None:
    movies = tmp_path / "movies"
    place(clip("warm-480p", SPEC, ".mkv"), movies / "Warm (2020)" / "Warm (2020).mkv")
    with start_live(tmp_path, [movies], warm_segments=2) as live:
        warmer = _warmer(live.client)
        deadline = time.monotonic() + 120
        while warmer.warmed < 1:
            assert time.monotonic() < deadline, "the warmer did not warm the file"
            time.sleep(0.1)
        # The warmer's run stops after the segments it keeps: no ffmpeg left behind.
        deadline = time.monotonic() + 30
        while any(r.pid is not None for r in live.runs.runs()):
            runs = live.runs.runs()
            assert time.monotonic() < deadline, f"a warm run outlived its segments: {runs}"
            time.sleep(0.1)
    kept = list((tmp_path / "data" / "warm").glob("*.seg"))
    assert len(kept) == 6  # init + segments 0 and 1 of the 360p rung and of the audio

    settings = config.load(
        {
            "data_dir": tmp_path / "data",
            "watch": False,
            "demo": False,
            "libraries": (),
            "warm_segments": 2,
        },
        environ={},
    )
    passwords = Passwords(time_cost=1, memory_cost_kib=1024)
    server = ServerThread(create_app(settings, passwords=passwords)).start()
    try:
        with AppClient(server) as c:
            token = c.post("/api/auth/login", json={"username": "root", "password": "password-1"})
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            item = c.get("/api/items", headers=headers).json()["items"][0]["id"]
            pb: dict[str, Any] = c.post(
                "/api/playback",
                json={"item_id": item, "device": "chrome", "protocol": "hls"},
                headers=headers,
            ).json()
            playlist_url = _lowest_variant(c, c.base_url.join(pb["url"]).__str__())
            assert "/v/360p.m3u8" in playlist_url
            playlist = c.get(playlist_url).text
            init = c.get(urljoin(playlist_url, "360p/init.mp4"))
            assert init.status_code == 200
            frames = 0
            for n in (0, 1):
                seg = c.get(urljoin(playlist_url, f"360p/{n}.m4s"))
                assert seg.status_code == 200
                with av.open(io.BytesIO(init.content + seg.content)) as container:
                    frames += sum(1 for _ in container.decode(video=0))
            assert frames == 2 * 2 * 24  # two 2 s segments at 24 fps, decoded
            assert "#EXT-X-MAP" in playlist
            hls = c.app.state.services.playback.hls
            assert hls.produced.get("warm", 0) >= 2  # ours (the warmer may look again too)
            assert hls.produced.get("transcode", 0) == 0  # not one ffmpeg for the start
            runs = c.app.state.services.runs
            assert runs.runs() == []
    finally:
        server.stop()
        passwords.close()
