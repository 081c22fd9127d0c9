"""Fixtures for torrent tests: a generated movie folder, its .torrent, a leak check."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import media
from tests.torrent.swarm import make_torrent

#: 20 s of 320x240 H.264 at ~1.5 Mb/s (noise keeps the encoder at the bitrate) + AAC.
MOVIE = media.Clip(
    duration=20,
    size=(320, 240),
    fps=25,
    gop=2,
    video_bitrate="1500k",
    extra=("-vf", "noise=alls=30:allf=t", "-maxrate", "1500k", "-bufsize", "1000k"),
)


@pytest.fixture(scope="session")
def movie_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``Movie/`` with ``fast.mp4`` (moov first), ``tail.mp4`` (moov last), ``notes.txt``."""
    folder = tmp_path_factory.mktemp("seed") / "Movie"
    media.make_clip(folder / "fast.mp4", MOVIE)
    media.make_clip(folder / "tail.mp4", dataclasses.replace(MOVIE, faststart=False))
    (folder / "notes.txt").write_text("not a video\n")
    return folder


@pytest.fixture(scope="session")
def movie_torrent(movie_dir: Path) -> bytes:
    """The .torrent of ``movie_dir`` with 32 KiB pieces (hybrid v1+v2, so pad files)."""
    return make_torrent(movie_dir)


def _native_threads() -> int:
    return sum(1 for _ in Path("/proc/self/task").iterdir())


@pytest.fixture(autouse=True)
def _no_errors_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The alert thread logs instead of dying; a logged error is still a failed test."""
    caplog.set_level(logging.WARNING, logger="ferrite.torrent")
    yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, "\n".join(f"{r.getMessage()}\n{r.exc_text or ''}" for r in errors)


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    """Every session closed, every thread joined: Python threads and libtorrent's own."""
    before_py = set(threading.enumerate())
    before_native = _native_threads()
    yield
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        extra = [t for t in threading.enumerate() if t not in before_py and t.is_alive()]
        if not extra and _native_threads() <= before_native:
            break
        time.sleep(0.05)
    assert not extra, f"threads left running: {extra}"
    assert _native_threads() <= before_native, "native (libtorrent) threads left running"
