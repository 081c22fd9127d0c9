"""Text PostgreSQL cannot store (NUL) is the caller's error on every backend, never a 500."""

from __future__ import annotations

from pathlib import Path

from tests.api.conftest import services
from tests.api.server import AppClient


def test_nul_in_a_username_is_a_wrong_login(client: AppClient, admin: dict[str, str]) -> None:
    r = client.post("/api/auth/login", json={"username": "admin\x00", "password": "x"})
    assert r.status_code == 401, r.text


def test_nul_in_stored_text_is_refused_or_kept(
    client: AppClient, admin: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "lib").mkdir()
    body = {"name": "a\x00b", "kind": "movies", "paths": [str(tmp_path / "lib")]}
    r = client.post("/api/libraries", json=body, headers=admin)
    # SQLite stores the NUL; PostgreSQL's text can't hold one: 422, not a storage error.
    if services(client).db.is_sqlite:
        assert r.status_code == 201, r.text
    else:
        assert r.status_code == 422, r.text
        assert "NUL" in r.json()["error"]["message"]
    r = client.get("/api/items", params={"q": "a\x00b"}, headers=admin)
    assert r.status_code == 200, r.text
