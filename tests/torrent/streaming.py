"""A real Ferrite server playing torrents from a loopback seeder: shared by
``tests/torrent/test_streaming.py`` and ``bench/torrent.py``.

The server runs in a thread (uvicorn, as ``ferrite serve``) with its torrent engine
listening on 127.0.0.1 only, DHT/LSD/UPnP/NAT-PMP off and no trackers: the only peer it
ever talks to is the seeder the test names in ``peers``. The seeder is a second
libtorrent session (``tests/torrent/swarm.py``) with an upload rate limit.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from ferrite import config
from ferrite.app import create_app
from ferrite.auth.passwords import Passwords
from tests import media
from tests.api.server import AppClient, ServerThread
from tests.torrent.swarm import LOOPBACK_TORRENTS, make_torrent

PIECE = 64 * 1024
RATE = 2_000_000  # seeder upload limit, bytes/s

#: 30 s of 640x360 H.264 at ~8 Mb/s (noise keeps the encoder at the bitrate) + AAC:
#: ~30 MB, 15 s of download at 2 MB/s -- long enough to seek ahead of the download.
STREAM_CLIP = media.Clip(
    duration=30,
    size=(640, 360),
    fps=25,
    gop=2,
    video_bitrate="8000k",
    extra=("-vf", "noise=alls=40:allf=t", "-maxrate", "8000k", "-bufsize", "4000k"),
)


def make_movies(folder: Path, clip: media.Clip = STREAM_CLIP) -> dict[str, Path]:
    """``fast.mp4`` (moov first), ``tail.mp4`` (moov last) and ``movie.mkv`` (cues at the
    end): one encode, two remuxes, so all three carry the same frames."""
    folder.mkdir(parents=True, exist_ok=True)
    fast = media.make_clip(folder / "fast.mp4", clip)
    out = {"fast": fast}
    for name, target, args in (
        ("tail", folder / "tail.mp4", ()),  # the mp4 muxer's default: moov at the end
        ("mkv", folder / "movie.mkv", ()),
    ):
        subprocess.run(
            [media.FFMPEG, "-v", "error", "-y", "-i", str(fast), "-map", "0", "-c", "copy",
             *args, str(target)],
            check=True,
        )  # fmt: skip
        out[name] = target
    return out


def torrent_of(
    clip: Path,
    title: str,
    root: Path,
    piece: int = PIECE,
    extra: Callable[[Path], object] | None = None,
) -> bytes:
    """A torrent named ``title`` holding ``title/<title><ext>`` (a hard link to ``clip``)
    under ``root`` (the seeder's save path). Distinct titles give distinct info hashes
    over the same bytes, so every test downloads from scratch. ``extra(folder)`` may add
    files (subtitles) before the torrent is made."""
    folder = root / title
    folder.mkdir(parents=True, exist_ok=True)
    if extra is not None:
        extra(folder)
    target = folder / f"{title}{clip.suffix}"
    if not target.exists():
        try:
            os.link(clip, target)
        except OSError:
            target.write_bytes(clip.read_bytes())
    return make_torrent(folder, piece)


def settings_for(data_dir: Path, **overrides: Any) -> config.Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "watch": False,
        "warm_segments": 0,  # no background warming in tests
        "demo": False,
        "libraries": (),
        **LOOPBACK_TORRENTS,
    }
    values.update(overrides)
    return config.load(values, environ={})


@dataclass
class TorrentServer:
    """A running server with an admin logged in (see :func:`serve`)."""

    client: AppClient
    headers: dict[str, str]

    def add(self, torrent: bytes, peers: list[str]) -> Any:
        r = self.client.post(
            "/api/torrents",
            files={"torrent": ("movie.torrent", torrent, "application/x-bittorrent")},
            data={"peers": ",".join(peers)},
            headers=self.headers,
        )
        return r

    def torrent(self, torrent_id: int) -> dict[str, Any]:
        r = self.client.get(f"/api/torrents/{torrent_id}", headers=self.headers)
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    def play(self, item_id: int, **body: Any) -> dict[str, Any]:
        body.setdefault("device", "chrome")
        body.setdefault("protocol", "hls")
        r = self.client.post(
            "/api/playback", json={"item_id": item_id, **body}, headers=self.headers, timeout=60
        )
        assert r.status_code == 201, r.text
        out: dict[str, Any] = r.json()
        return out

    def url(self, path: str) -> str:
        return f"{self.client.base_url}{path}"

    @property
    def services(self) -> Any:
        return self.client.app.state.services


class serve:
    """Start a server over ``data_dir`` (settings overridable) and log in as admin."""

    def __init__(self, data_dir: Path, **overrides: Any) -> None:
        self.settings = settings_for(data_dir, **overrides)
        self.passwords = Passwords(time_cost=1, memory_cost_kib=1024)
        self.server: ServerThread | None = None

    def __enter__(self) -> TorrentServer:
        self.server = ServerThread(create_app(self.settings, passwords=self.passwords)).start()
        client = AppClient(self.server)
        client.timeout = 60  # type: ignore[assignment]
        if client.get("/api/setup").status_code != 404:
            client.post("/api/setup", json={"username": "root", "password": "password-1"})
        token = client.post("/api/auth/login", json={"username": "root", "password": "password-1"})
        assert token.status_code == 200, token.text
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        self.live = TorrentServer(client, headers)
        return self.live

    def __exit__(self, *exc: object) -> None:
        try:
            self.live.client.close()
            assert self.server is not None
            self.server.stop()
        finally:
            self.passwords.close()


# -- an HLS client: PyAV (FFmpeg's hls demuxer) reading the master playlist --------------


def open_hls(url: str) -> Any:
    return av.open(url, options={"allowed_extensions": "ALL"}, timeout=(60.0, 60.0))


def video_frames(container: Any) -> Iterator[Any]:
    yield from container.decode(container.streams.video[0])


def frame_count(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(c.streams.video[0]))


def wait_for(predicate: Any, limit: float, what: str) -> None:
    end = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {limit} s waiting for {what}")
        time.sleep(0.05)


class Background:
    """Run ``fn`` in a thread; ``join`` re-raises its exception."""

    def __init__(self, fn: Any) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self.done_at = 0.0
        self._thread = threading.Thread(target=self._run, args=(fn,), name="test-client")
        self._thread.start()

    def _run(self, fn: Any) -> None:
        try:
            self.result = fn()
        except BaseException as exc:
            self.error = exc
        self.done_at = time.monotonic()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def join(self, limit: float) -> Any:
        self._thread.join(limit)
        assert not self._thread.is_alive(), f"still running after {limit} s"
        if self.error is not None:
            raise self.error
        return self.result
