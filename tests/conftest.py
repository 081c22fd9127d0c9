"""Shared fixtures: network fails closed beyond loopback; media generated once a session."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests import media, postgres

# No wall-clock deadlines: speed is measured by benchmarks, never by tests, and a loaded
# 2-core CI machine makes timings meaningless.
settings.register_profile("ferrite", deadline=None, print_blob=True)
settings.load_profile("ferrite")

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _check_address(address: object) -> None:
    if isinstance(address, tuple) and address:
        host = str(address[0])
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            if host != "localhost":
                raise RuntimeError(f"tests may only connect to loopback, not {host!r}") from None
            return
        if not ip.is_loopback and not ip.is_unspecified:
            raise RuntimeError(f"tests may only connect to loopback, not {host}")


def _guarded_connect(self: socket.socket, address: object) -> None:
    _check_address(address)
    return _real_connect(self, address)  # type: ignore[arg-type]


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    _check_address(address)
    return _real_connect_ex(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True, scope="session")
def _network_fails_closed() -> Iterator[None]:
    mp = pytest.MonkeyPatch()
    mp.setattr(socket.socket, "connect", _guarded_connect)
    mp.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    yield
    mp.undo()


@pytest.fixture(scope="session")
def media_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only directory for clips shared by the whole session (see ``clip``)."""
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def clip(media_root: Path):  # type: ignore[no-untyped-def]
    """``clip(name, Clip(...), ext)`` -> path, generated once per session and name."""
    made: dict[str, Path] = {}

    def get(name: str, spec: media.Clip = media.H264_AAC, ext: str = ".mp4") -> Path:
        key = name + ext
        if key not in made:
            made[key] = media.make_clip(media_root / key, spec)
        return made[key]

    return get


@pytest.fixture(scope="session")
def library_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A full generated movies/shows library (see media.build_library). Treat as read-only;
    tests that change files copy it first."""
    root = tmp_path_factory.mktemp("library")
    media.build_library(root)
    return root


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[postgres.Cluster]:
    """A throwaway PostgreSQL server for the session (see tests/postgres.py)."""
    try:
        cluster = postgres.Cluster()
    except postgres.Unavailable as exc:
        pytest.skip(f"PostgreSQL tests skipped: {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture(params=postgres.backends())
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The database of a test that runs on every backend in FERRITE_TEST_DATABASE: ``""``
    for SQLite (each fixture's own file, as before), else a fresh PostgreSQL database
    already at the newest migration (migrating is the migration tests' business)."""
    if request.param == "sqlite":
        yield ""
        return
    cluster: postgres.Cluster = request.getfixturevalue("pg_cluster")
    url = cluster.create_database(migrated=True)
    yield url
    cluster.drop_database(url)
