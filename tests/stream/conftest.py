"""A real server with a scanned library for the streaming tests (module-scoped: scanning
is the slow part, and these tests only read)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ferrite import config
from ferrite.app import create_app
from ferrite.auth.passwords import Passwords
from ferrite.playback.service import PlaybackService
from tests import media
from tests.api.server import AppClient, ServerThread


@dataclass
class Live:
    client: AppClient
    headers: dict[str, str]
    items: dict[str, int]  # title -> item id
    paths: dict[str, Path]

    @property
    def playback(self) -> PlaybackService:
        pb: PlaybackService = self.client.app.state.services.extras["playback"]
        return pb

    def play(self, title: str, device: Any = "chrome", **body: Any) -> dict[str, Any]:
        r = self.client.post(
            "/api/playback",
            json={"item_id": self.items[title], "device": device, **body},
            headers=self.headers,
        )
        assert r.status_code == 201, r.text
        out: dict[str, Any] = r.json()
        return out

    def url(self, path: str) -> str:
        return f"{self.client.base_url}{path}"


def _wait_scanned(c: AppClient, headers: dict[str, str]) -> None:
    deadline = time.monotonic() + 180
    while any(lib["scanning"] for lib in c.get("/api/libraries", headers=headers).json()):
        assert time.monotonic() < deadline, "scan did not finish"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("stream-lib")
    movies = root / "movies"
    paths = {
        "Plain": media.make_clip(movies / "Plain (2020)" / "Plain (2020).mp4", media.Clip(bframes=2)),
        "Multi": media.make_clip(movies / "Multi (2021)" / "Multi (2021).mkv", media.HEVC10_MULTI),
        "Broadcast": media.make_clip(movies / "Broadcast (1999)" / "Broadcast (1999).ts", media.TS_OFFSET),
    }
    media.write_srt(movies / "Plain (2020)" / "Plain (2020).en.srt")
    settings = config.load(
        {"data_dir": root / "data", "watch": False, "demo": False, "libraries": ()}, environ={}
    )
    passwords = Passwords(time_cost=1, memory_cost_kib=1024)
    server = ServerThread(create_app(settings, passwords=passwords)).start()
    try:
        with AppClient(server) as c:
            assert c.post("/api/setup", json={"username": "root", "password": "pw"}).status_code == 201
            token = c.post("/api/auth/login", json={"username": "root", "password": "pw"}).json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            r = c.post(
                "/api/libraries",
                json={"name": "Movies", "kind": "movies", "paths": [str(movies)]},
                headers=headers,
            )
            assert r.status_code == 201, r.text
            _wait_scanned(c, headers)
            listed = c.get("/api/items", params={"limit": 100}, headers=headers).json()["items"]
            items = {i["title"]: i["id"] for i in listed}
            yield Live(c, headers, items, paths)
    finally:
        server.stop()
        passwords.close()
