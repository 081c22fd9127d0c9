"""A real server with a scanned library for the live-server tests (module-scoped: scanning
is the slow part, and these tests only read).

:func:`start_live` is the building block: a real uvicorn server with its lifespan on a
free port, an admin user, one movies library per folder given, scanned. Modules that need
their own settings (a low progress interval, one transcode slot) or their own files
(replaced after scanning, a two-hour file) build their fixture with it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ferrite import config
from ferrite.app import create_app
from ferrite.auth.passwords import Passwords
from ferrite.playback.service import PlaybackService
from ferrite.transcode.runs import RunManager
from tests import media
from tests.api.server import AppClient, ServerThread


@dataclass
class Live:
    client: AppClient
    headers: dict[str, str]
    items: dict[str, int]  # title -> item id
    paths: dict[str, Path]
    server: ServerThread | None = field(default=None, repr=False)

    @property
    def playback(self) -> PlaybackService:
        pb: PlaybackService = self.client.app.state.services.playback
        return pb

    @property
    def runs(self) -> RunManager:
        runs: RunManager = self.client.app.state.services.runs
        return runs

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


def rendition_base(pb: dict[str, Any]) -> str:
    """``/api/playback/{sid}/t/{token}/`` of a playback answer: prefix of every rendition
    URI (``v/720p.m3u8``, ``v/720p/init.mp4``, ``a/a1-copy/3.m4s``, ``s/s4/0.vtt``)."""
    return pb["url"].split("master.m3u8")[0] + f"t/{pb['token']}/"


def wait_scanned(c: AppClient, headers: dict[str, str]) -> None:
    deadline = time.monotonic() + 180
    while any(lib["scanning"] for lib in c.get("/api/libraries", headers=headers).json()):
        assert time.monotonic() < deadline, "scan did not finish"
        time.sleep(0.1)


def add_library(
    c: AppClient, headers: dict[str, str], name: str, kind: str, folders: Sequence[Path]
) -> int:
    r = c.post(
        "/api/libraries",
        json={"name": name, "kind": kind, "paths": [str(f) for f in folders]},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    library_id: int = r.json()["id"]
    return library_id


@contextmanager
def running_server(root: Path, **overrides: Any) -> Iterator[tuple[AppClient, dict[str, str]]]:
    """A real server (uvicorn, its lifespan, a free port) whose data dir is ``root/data``,
    set up with the admin ``root``; yields a client and the admin's headers. ``overrides``
    are settings (``progress_interval_s=0.2``)."""
    settings = config.load(
        {
            "data_dir": root / "data",
            "watch": False,
            "warm_segments": 0,  # no background warming in tests
            "demo": False,
            "libraries": (),
            "x264_preset": "ultrafast",  # 2 shared cores: the tests check cuts, not quality
            **overrides,
        },
        environ={},
    )
    passwords = Passwords(time_cost=1, memory_cost_kib=1024)
    server = ServerThread(create_app(settings, passwords=passwords)).start()
    try:
        with AppClient(server) as c:
            setup = c.post("/api/setup", json={"username": "root", "password": "password-1"})
            assert setup.status_code == 201, setup.text
            token = c.post(
                "/api/auth/login", json={"username": "root", "password": "password-1"}
            ).json()
            yield c, {"Authorization": f"Bearer {token['access_token']}"}
    finally:
        server.stop()
        passwords.close()


@contextmanager
def start_live(
    root: Path,
    folders: Sequence[Path],
    paths: Mapping[str, Path] | None = None,
    **overrides: Any,
) -> Iterator[Live]:
    """A running server (see :func:`running_server`) with one scanned movies library per
    folder."""
    with running_server(root, **overrides) as (c, headers):
        for i, folder in enumerate(folders):
            add_library(c, headers, f"Movies {i}", "movies", [folder])
        wait_scanned(c, headers)
        listed = c.get("/api/items", params={"limit": 100}, headers=headers).json()["items"]
        items = {i["title"]: i["id"] for i in listed}
        yield Live(c, headers, items, dict(paths or {}), c.server)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("stream-lib")
    movies = root / "movies"
    paths = {
        "Plain": media.make_clip(
            movies / "Plain (2020)" / "Plain (2020).mp4", media.Clip(bframes=2)
        ),
        "Multi": media.make_clip(movies / "Multi (2021)" / "Multi (2021).mkv", media.HEVC10_MULTI),
        "Broadcast": media.make_clip(
            movies / "Broadcast (1999)" / "Broadcast (1999).ts", media.TS_OFFSET
        ),
    }
    media.write_srt(movies / "Plain (2020)" / "Plain (2020).en.srt")
    with start_live(root, [movies], paths) as live:
        yield live


# --- sources for the transcoding tests (generated once per test session) -----------------

#: 6 s of 1280x720 HEVC Main 10 HDR10 (tags set on the frames, so they are real), 1 s
#: GOPs (three 2 s segments), AC-3 5.1 + AAC stereo: nothing of it plays in a browser.
HDR720 = media.Clip(
    duration=6.0,
    size=(1280, 720),
    vcodec="libx265",
    pix_fmt="yuv420p10le",
    hdr="hdr10",
    audio=(media.Audio("ac3", 6, "eng", "Surround"), media.Audio("aac", 2, "fre", "Stereo", 660)),
    extra=media._hdr_params("smpte2084"),
)
#: 20 s of 854x480 HEVC 8-bit (ten 2 s segments: more than a run's join window), cheap to
#: transcode: two rungs (480p, 360p) for a browser.
HEVC480_LONG = media.Clip(duration=20.0, size=(854, 480), vcodec="libx265")


@pytest.fixture(scope="session")
def transcode_sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("transcode-src")
    return {
        "hdr": media.make_clip(root / "hdr.mkv", HDR720),
        "small": media.make_clip(root / "small.mkv", HEVC480_LONG),
    }


def place_transcode_films(sources: dict[str, Path], movies: Path) -> dict[str, Path]:
    """The two transcode sources as "HDR Film (2022)" and "Small Film (2014)" in ``movies``."""
    return {
        "HDR Film": place(sources["hdr"], movies / "HDR Film (2022)" / "HDR Film (2022).mkv"),
        "Small Film": place(
            sources["small"], movies / "Small Film (2014)" / "Small Film (2014).mkv"
        ),
    }


def place(src: Path, dst: Path) -> Path:
    """Put a generated source into a library folder (a hard link: no copy)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        dst.hardlink_to(src)
    except OSError:
        import shutil

        shutil.copyfile(src, dst)
    return dst
