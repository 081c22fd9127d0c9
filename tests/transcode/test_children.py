"""Child processes hold nothing of the server's and do not outlive it.

Both checks use the real parts: ffmpeg from the wheel, spawned on uvloop (the loop
``ferrite serve`` runs), inspected through ``/proc``; and a real ``ferrite serve``
subprocess killed with SIGKILL in the middle of a transcode.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvloop

from ferrite.transcode.process import FfmpegProcess
from tests import media
from tests.transcode.runs_support import paced_ffmpeg

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")

#: ffmpeg that runs until killed (a real-time test source, encoded to nowhere).
ENDLESS = [
    media.FFMPEG,
    "-nostdin",
    "-re",
    "-f",
    "lavfi",
    "-i",
    "testsrc=s=64x64",
    "-f",
    "null",
    "-",
]


def _fds(pid: int) -> dict[int, str]:
    out = {}
    for entry in Path(f"/proc/{pid}/fd").iterdir():
        try:
            out[int(entry.name)] = str(entry.readlink())
        except OSError:
            continue
    return out


def test_ffmpeg_inherits_no_descriptor_but_stdio() -> None:
    # A socket made like libtorrent's (no close-on-exec), listening while ffmpeg starts.
    listener = socket.create_server(("127.0.0.1", 0))
    listener.set_inheritable(True)
    leaked = Path(os.devnull).open("rb")  # noqa: SIM115 - an inheritable file too
    os.set_inheritable(leaked.fileno(), True)

    async def spawn_and_look() -> dict[int, str]:
        proc = await FfmpegProcess.spawn(ENDLESS)
        try:
            return _fds(proc.pid)
        finally:
            await proc.kill()

    try:
        fds = uvloop.run(spawn_and_look())
    finally:
        listener.close()
        leaked.close()
    assert sorted(fds) == [0, 1, 2], fds
    assert not any(target.startswith("socket:") for fd, target in fds.items() if fd > 2)


def _descendants_running(marker: str) -> list[int]:
    """Pids of live processes whose command line names ``marker`` (our data dir)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and b"ffmpeg" in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.fixture
def hevc_library(tmp_path: Path) -> Path:
    """One HEVC film: a browser needs it transcoded."""
    movies = tmp_path / "movies"
    clip = media.Clip(duration=20.0, size=(320, 180), vcodec="libx265", audio=())
    media.make_clip(movies / "Film (2020)" / "Film (2020).mkv", clip)
    return movies


@pytest.fixture
def server(tmp_path: Path, hevc_library: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    data = tmp_path / "data"
    env = {
        **os.environ,
        "FERRITE_WATCH": "0",
        "FERRITE_DEMO": "0",
        "FERRITE_X264_PRESET": "ultrafast",
        # Real time: the runs are still at work when the server dies.
        "FERRITE_FFMPEG_PATH": paced_ffmpeg(tmp_path, rate=1.0),
    }
    cli = [sys.executable, "-m", "ferrite.cli"]
    add = subprocess.run(
        [*cli, "user", "add", "root", "--admin", "--password-stdin", "--data-dir", str(data)],
        input=b"password-1\n",
        env=env,
        capture_output=True,
        check=False,
    )
    assert add.returncode == 0, add.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            *cli,
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data),
            "--library",
            str(hevc_library),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _wait(predicate, timeout: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.slow
def test_a_sigkilled_server_leaves_no_ffmpeg_behind(
    server: tuple[subprocess.Popen[bytes], str], tmp_path: Path
) -> None:
    proc, url = server
    marker = str(tmp_path / "data")
    with httpx.Client(base_url=url, timeout=60) as c:
        _wait(lambda: _up(c))
        token = c.post("/api/auth/login", json={"username": "root", "password": "password-1"})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        _wait(lambda: _scanned(c, headers))
        item = c.get("/api/items", headers=headers).json()["items"][0]["id"]
        # Two viewers far apart: two runs (ffmpegs) of the transcoded rendition.
        for start in (0, 12):
            pb = c.post(
                "/api/playback",
                json={"item_id": item, "device": "chrome", "start_s": start},
                headers=headers,
            ).json()
            assert pb["method"] == "transcode", pb
            master = c.get(pb["url"]).text
            video = next(line for line in master.splitlines() if line.startswith("t/"))
            base = pb["url"].rsplit("/", 1)[0] + "/"
            rid = video.split("/")[-1].removesuffix(".m3u8")
            r = c.get(base + video.rsplit("/", 1)[0] + f"/{rid}/{start // 2}.m4s")
            assert r.status_code == 200, r.text
    running = _descendants_running(marker)
    assert running, "no ffmpeg to leave behind: the test is not testing anything"
    os.kill(running[0], signal.SIGSTOP)  # one of them paused, as a throttled run is
    proc.kill()  # SIGKILL: no shutdown code runs
    proc.wait()
    _wait(lambda: not _descendants_running(marker), timeout=30)
    assert _descendants_running(marker) == []


def _up(c: httpx.Client) -> bool:
    try:
        return c.get("/healthz").status_code == 200
    except httpx.TransportError:
        return False


def _scanned(c: httpx.Client, headers: dict[str, str]) -> bool:
    libs = c.get("/api/libraries", headers=headers).json()
    return bool(libs) and not any(lib["scanning"] for lib in libs) and libs[0]["item_count"] > 0
