"""End to end against a real uvicorn server, a real SQLite file, the real scanner and
generated media: setup -> login -> library -> scan -> browse/search/detail -> progress
for two users -> direct play byte-exact -> logout revokes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ferrite import config
from ferrite.app import create_app
from ferrite.config import Settings
from ferrite.db.engine import Database
from ferrite.library.scanner import Scanner, ScanReport
from tests.api.conftest import bearer, services
from tests.api.server import AppClient, ServerThread


def wait_scanned(
    client: httpx.Client, headers: dict[str, str], timeout: float = 180
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        libs: list[dict[str, Any]] = client.get("/api/libraries", headers=headers).json()
        if not any(lib["scanning"] for lib in libs):
            return libs
        assert time.monotonic() < deadline, "scan did not finish"
        time.sleep(0.1)


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[AppClient]:
    settings = config.load(
        {
            "data_dir": tmp_path / "data",
            "database_url": database_url,
            "watch": False,
            "warm_segments": 0,  # no background warming in tests
            "demo": False,
            "libraries": (),
        },
        environ={},
    )
    server = ServerThread(create_app(settings)).start()  # production password parameters
    try:
        with AppClient(server) as c:
            yield c
    finally:
        server.stop()


def test_end_to_end(live: AppClient, library_root: Path) -> None:
    c = live
    # -- setup and login --------------------------------------------------------------
    assert (
        c.post("/api/setup", json={"username": "root", "password": "root password"}).status_code
        == 201
    )
    assert c.post("/api/setup", json={"username": "again", "password": "x"}).status_code == 409
    login = c.post("/api/auth/login", json={"username": "root", "password": "root password"}).json()
    admin = bearer(login["access_token"])

    # -- libraries and scan ------------------------------------------------------------
    movies = c.post(
        "/api/libraries",
        json={"name": "Movies", "kind": "movies", "paths": [str(library_root / "movies")]},
        headers=admin,
    ).json()
    shows = c.post(
        "/api/libraries",
        json={"name": "Shows", "kind": "shows", "paths": [str(library_root / "shows")]},
        headers=admin,
    ).json()
    libs = {lib["name"]: lib for lib in wait_scanned(c, admin)}
    assert libs["Movies"]["item_count"] >= 6
    assert libs["Shows"]["item_count"] == 1
    rescan = c.post(f"/api/libraries/{movies['id']}/scan", headers=admin)
    assert rescan.status_code == 202
    wait_scanned(c, admin)

    # -- browse, search, detail, children -------------------------------------------------
    top = c.get("/api/items?limit=100", headers=admin).json()
    by_title = {i["title"]: i for i in top["items"]}
    assert {"Big Test Movie", "Amélie Ten Bit", "Test Show"} <= set(by_title)
    found = c.get("/api/items", params={"q": "amelie"}, headers=admin).json()["items"]
    assert [i["title"] for i in found] == ["Amélie Ten Bit"]
    hevc = c.get(f"/api/items/{by_title['Amélie Ten Bit']['id']}", headers=admin).json()
    video = next(s for s in hevc["files"][0]["streams"] if s["type"] == "video")
    assert video["codec"] == "hevc"
    assert video["bit_depth"] == 10
    # (The exact HDR value is the probe's business and tested there; the shape is ours.)
    assert video["hdr"] in {"none", "hdr10", "hlg", "dolby_vision"}
    audio = [s for s in hevc["files"][0]["streams"] if s["type"] == "audio"]
    assert {(a["language"], a["channels"]) for a in audio} == {("eng", 6), ("fre", 2)}
    assert {s["language"] for s in hevc["subtitles"]} >= {"eng", "spa"}
    show_id = by_title["Test Show"]["id"]
    seasons = c.get(f"/api/items/{show_id}/children", headers=admin).json()["items"]
    assert [s["season_number"] for s in seasons] == [0, 1, 2]
    season1 = next(s for s in seasons if s["season_number"] == 1)
    episodes = c.get(f"/api/items/{season1['id']}/children", headers=admin).json()["items"]
    assert [e["episode_number"] for e in episodes] == [1, 2]

    # -- two users, isolated progress ------------------------------------------------------------
    for name, grants in (("alice", [movies["id"], shows["id"]]), ("bob", [movies["id"]])):
        r = c.post(
            "/api/users",
            json={"username": name, "password": f"{name} password", "library_ids": grants},
            headers=admin,
        )
        assert r.status_code == 201
    alice = bearer(
        c.post("/api/auth/login", json={"username": "alice", "password": "alice password"}).json()[
            "access_token"
        ]
    )
    bob = bearer(
        c.post("/api/auth/login", json={"username": "bob", "password": "bob password"}).json()[
            "access_token"
        ]
    )
    movie_id = by_title["Big Test Movie"]["id"]
    assert (
        c.put(
            f"/api/items/{movie_id}/progress", json={"position_s": 1.25}, headers=alice
        ).status_code
        == 200
    )
    assert (
        c.put(f"/api/items/{movie_id}/progress", json={"position_s": 3.0}, headers=bob).status_code
        == 200
    )
    assert c.get(f"/api/items/{movie_id}", headers=alice).json()["progress"] == {
        "position_s": 1.25,
        "played": False,
    }
    assert c.get(f"/api/items/{movie_id}", headers=bob).json()["progress"] == {
        "position_s": 3.0,
        "played": False,
    }
    assert c.get(f"/api/items/{movie_id}", headers=admin).json()["progress"] is None
    assert [i["id"] for i in c.get("/api/continue", headers=alice).json()["items"]] == [movie_id]
    assert c.get(f"/api/items/{show_id}", headers=bob).status_code == 404  # not granted
    assert [lib["name"] for lib in c.get("/api/libraries", headers=bob).json()] == ["Movies"]
    assert c.get("/api/items", params={"q": "test show"}, headers=bob).json()["items"] == []

    # -- direct play: byte-exact ranges, no DB query on repeats ---------------------------
    data = (
        library_root / "movies" / "Big Test Movie (2020)" / "Big Test Movie (2020).mp4"
    ).read_bytes()
    url = f"/api/items/{movie_id}/file"
    full = c.get(url, headers=bob)
    assert full.status_code == 200
    assert full.content == data
    n = len(data)
    db = services(c).db
    before = db.query_count
    for header, start, stop in [
        ("bytes=0-0", 0, 1),
        ("bytes=100-4195", 100, 4196),
        ("bytes=-1000", n - 1000, n),
        (f"bytes={n - 10}-", n - 10, n),
    ]:
        r = c.get(url, headers={**bob, "Range": header})
        assert r.status_code == 206, header
        assert r.content == data[start:stop], header
    multi = c.get(url, headers={**bob, "Range": "bytes=0-99,2000-2099"})
    assert multi.status_code == 206
    assert multi.headers["content-type"].startswith("multipart/byteranges")
    assert data[0:100] in multi.content
    assert data[2000:2100] in multi.content
    assert db.query_count == before, "range requests after the first did database queries"

    # -- logout revokes ------------------------------------------------------------------------
    assert c.post("/api/auth/logout", headers=bob).status_code == 204
    assert c.get(url, headers={**bob, "Range": "bytes=0-0"}).status_code == 401
    assert c.get("/api/libraries", headers=bob).status_code == 401
    assert c.get("/api/libraries", headers=alice).status_code == 200  # others unaffected


class GatedScanner(Scanner):
    """A real scanner whose scans wait for a gate: lets a test see the server up mid-scan."""

    gate = threading.Event()

    def scan_library(self, library_id: int, paths: Any = None, **kw: Any) -> ScanReport:
        assert self.gate.wait(60)
        return super().scan_library(library_id, paths, **kw)


def test_serve_does_not_wait_for_the_scan(
    tmp_path: Path, library_root: Path, database_url: str
) -> None:
    settings: Settings = config.load(
        {
            "data_dir": tmp_path / "data",
            "database_url": database_url,
            "watch": False,
            "warm_segments": 0,  # no background warming in tests
            "demo": False,
            "libraries": (library_root / "movies",),
        },
        environ={},
    )
    GatedScanner.gate.clear()

    def factory(db: Database, s: Settings) -> Scanner:
        return GatedScanner(db, s)

    server = ServerThread(create_app(settings, scanner_factory=factory)).start()
    try:
        with AppClient(server) as c:
            assert c.get("/healthz").status_code == 200  # up while the scan waits
            c.post("/api/setup", json={"username": "root", "password": "password-1"})
            admin = bearer(
                c.post(
                    "/api/auth/login", json={"username": "root", "password": "password-1"}
                ).json()["access_token"]
            )
            (lib,) = c.get("/api/libraries", headers=admin).json()
            assert lib["scanning"] is True
            assert lib["item_count"] == 0
            assert lib["paths"] == [str((library_root / "movies").resolve())]
            GatedScanner.gate.set()
            (lib,) = wait_scanned(c, admin)
            assert lib["item_count"] >= 6
    finally:
        GatedScanner.gate.set()
        server.stop()
