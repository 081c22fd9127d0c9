from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ferrite import config
from ferrite.app import create_app
from ferrite.auth.passwords import Passwords
from ferrite.config import Settings
from ferrite.services import Services
from tests.api.helpers import Seeded, seed
from tests.api.server import AppClient, ServerThread
from tests.fakes import FakeClock
from tests.live import live  # noqa: F401  (a fixture: a real server with a scanned library)

ADMIN = ("admin", "admin password")


@pytest.fixture(scope="session")
def cheap_passwords() -> Iterator[Passwords]:
    """argon2id with tiny parameters: the same code path at a fraction of the time."""
    p = Passwords(time_cost=1, memory_cost_kib=1024)
    yield p
    p.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return config.load(
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


@pytest.fixture
def client(settings: Settings, clock: FakeClock, cheap_passwords: Passwords) -> Iterator[AppClient]:
    """A real uvicorn server on 127.0.0.1 for this test, and a client of it."""
    server = ServerThread(create_app(settings, clock=clock, passwords=cheap_passwords)).start()
    try:
        with AppClient(server) as c:
            yield c
    finally:
        server.stop()


def services(client: AppClient) -> Services:
    svc: Services = client.app.state.services
    return svc


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(client: AppClient, username: str, password: str) -> dict[str, str]:
    r = client.post("/api/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return bearer(r.json()["access_token"])


@pytest.fixture
def admin(client: AppClient) -> dict[str, str]:
    """Headers of the first admin (created through /api/setup)."""
    r = client.post("/api/setup", json={"username": ADMIN[0], "password": ADMIN[1]})
    assert r.status_code == 201, r.text
    return login(client, *ADMIN)


@pytest.fixture
def media_copy(clip: Callable[..., Path], tmp_path: Path) -> Path:
    """A private copy of the standard clip plus the per-item copies seed() points at."""
    src = clip("h264")
    folder = tmp_path / "media"
    folder.mkdir()
    main = folder / "movie.mp4"
    shutil.copyfile(src, main)
    return main


@pytest.fixture
def seeded(client: AppClient, media_copy: Path, tmp_path: Path) -> Seeded:
    return services(client).db.write_sync(seed, media_copy, tmp_path)


@pytest.fixture
def user_factory(
    client: AppClient, admin: dict[str, str]
) -> Callable[..., tuple[int, dict[str, str]]]:
    """``make(name, library_ids)`` -> (user id, headers) for a logged-in non-admin."""

    def make(name: str, library_ids: list[int]) -> tuple[int, dict[str, str]]:
        r = client.post(
            "/api/users",
            json={"username": name, "password": f"{name} password", "library_ids": library_ids},
            headers=admin,
        )
        assert r.status_code == 201, r.text
        return r.json()["id"], login(client, name, f"{name} password")

    return make
