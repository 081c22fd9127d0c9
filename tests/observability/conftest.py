"""A real server with a tiny scanned library (one good clip, one broken file) for the
observability tests, and a way to read ``/metrics`` as numbers.

Prometheus metrics are process-global and other test modules move them too, so tests
compare two scrapes (:func:`delta`) instead of expecting absolute values.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ferrite import config
from ferrite.app import create_app
from ferrite.auth.passwords import Passwords
from tests import media
from tests.api.server import AppClient, ServerThread

Key = tuple[str, frozenset[tuple[str, str]]]


def parse(text: str) -> dict[Key, float]:
    out: dict[Key, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = float(s.value)
    return out


def value(samples: dict[Key, float], name: str, **labels: str) -> float:
    """Sum of ``name`` over the samples whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def delta(before: dict[Key, float], after: dict[Key, float], name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


@dataclass
class Live:
    client: AppClient
    headers: dict[str, str]
    item_id: int
    before_scan: dict[Key, float]

    def scrape(self) -> dict[Key, float]:
        r = self.client.get("/metrics")  # loopback: no credentials needed
        assert r.status_code == 200, r.text
        return parse(r.text)

    def scrape_text(self) -> str:
        return self.client.get("/metrics").text

    def play(self, **body: Any) -> dict[str, Any]:
        r = self.client.post(
            "/api/playback",
            json={"item_id": self.item_id, "device": "chrome", "protocol": "hls", **body},
            headers=self.headers,
        )
        assert r.status_code == 201, r.text
        out: dict[str, Any] = r.json()
        return out


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("obs-lib")
    movies = root / "movies"
    media.make_clip(movies / "Plain (2020)" / "Plain (2020).mp4", media.Clip(duration=8.0, gop=2.0))
    broken = movies / "Broken (2019)" / "Broken (2019).mp4"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"this is not a video file" * 100)
    settings = config.load(
        {
            "data_dir": root / "data",
            "watch": False,
            "warm_segments": 0,  # no background warming in tests
            "demo": False,
            "libraries": (),
            "transcode_idle_s": 1.0,  # a stopped viewer's paused ffmpeg is reaped at once
        },
        environ={},
    )
    passwords = Passwords(time_cost=1, memory_cost_kib=1024)
    server = ServerThread(create_app(settings, passwords=passwords)).start()
    try:
        with AppClient(server) as c:
            before = parse(c.get("/metrics").text)
            assert (
                c.post(
                    "/api/setup", json={"username": "root", "password": "password-1"}
                ).status_code
                == 201
            )
            token = c.post(
                "/api/auth/login", json={"username": "root", "password": "password-1"}
            ).json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            r = c.post(
                "/api/libraries",
                json={"name": "Movies", "kind": "movies", "paths": [str(movies)]},
                headers=headers,
            )
            assert r.status_code == 201, r.text
            deadline = time.monotonic() + 120
            while any(lib["scanning"] for lib in c.get("/api/libraries", headers=headers).json()):
                assert time.monotonic() < deadline, "scan did not finish"
                time.sleep(0.05)
            listed = c.get("/api/items", params={"limit": 100}, headers=headers).json()["items"]
            (item_id,) = [i["id"] for i in listed if i["title"] == "Plain"]
            yield Live(c, headers, item_id, before)
    finally:
        server.stop()
        passwords.close()
