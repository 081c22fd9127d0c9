"""The data directory and the database are private whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from ferrite import config
from ferrite.app import create_app
from ferrite.auth.passwords import Passwords
from tests.api.server import AppClient, ServerThread


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("existing", [False, True])
def test_data_dir_is_0700_and_database_0600(
    tmp_path: Path, cheap_passwords: Passwords, loose_umask: None, existing: bool
) -> None:
    data = tmp_path / "data"
    if existing:  # made by an older version, or by hand
        data.mkdir(mode=0o755)
        (data / "ferrite.db").touch(mode=0o644)
    settings = config.load({"data_dir": data, "watch": False, "demo": False}, environ={})
    server = ServerThread(create_app(settings, passwords=cheap_passwords)).start()
    try:
        with AppClient(server) as c:
            assert c.post(
                "/api/setup", json={"username": "a", "password": "long enough"}
            ).is_success
            assert mode(data) == 0o700
            for name in ("ferrite.db", "ferrite.db-wal", "secret.key"):
                assert mode(data / name) == 0o600, name
    finally:
        server.stop()
