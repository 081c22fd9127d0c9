"""Request guards in front of every route: the body size limit and the Host check."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ferrite.api.hosts import allowed_names, host_allowed, host_name
from tests.api.conftest import services
from tests.api.server import AppClient


def test_an_oversized_json_body_is_413_before_parsing(client: AppClient) -> None:
    limit = services(client).settings.max_body_bytes
    junk = b"{" * (limit + 1)  # would be a 400 (bad JSON) if anything parsed it
    r = client.post("/api/auth/login", content=junk, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"] == {
        "code": "payload_too_large",
        "message": f"The request body is larger than this route accepts ({limit} bytes).",
        "status": 413,
    }


def test_an_oversized_chunked_body_is_413(client: AppClient) -> None:
    limit = services(client).settings.max_body_bytes

    def chunks() -> Iterator[bytes]:
        for _ in range(limit // 1024 + 2):
            yield b" " * 1024

    r = client.post("/api/setup", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_a_torrent_upload_may_be_larger_than_a_json_body(
    client: AppClient, admin: dict[str, str]
) -> None:
    big = b"d" + b"0" * (services(client).settings.max_body_bytes * 4)
    r = client.post("/api/torrents", files={"file": ("x.torrent", big)}, headers=admin)
    assert r.status_code == 400  # read and refused as a torrent, not cut off
    assert r.json()["error"]["code"] == "invalid_torrent"


@pytest.mark.parametrize("path", ["/api/setup", "/metrics", "/healthz"])
def test_a_foreign_host_name_is_refused(client: AppClient, path: str) -> None:
    # DNS rebinding: a page on evil.example resolved to 127.0.0.1 sends its own name.
    r = (
        client.post(
            path,
            json={"username": "x", "password": "long enough"},
            headers={"host": "evil.example"},
        )
        if path == "/api/setup"
        else client.get(path, headers={"host": "evil.example:8420"})
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "host_not_allowed"
    assert client.get("/api/libraries").status_code == 401  # nothing else changed
    assert client.get("/healthz", headers={"host": "localhost:8420"}).status_code == 200


def test_host_rules() -> None:
    allowed = allowed_names("Media.Example.org, ", ["0.0.0.0"])
    assert "media.example.org" in allowed
    assert "0.local" not in allowed
    assert host_name("[::1]:8420") == "::1"
    assert host_name("Media.Example.org.:443") == "media.example.org"
    for ok in ("127.0.0.1:8420", "[::1]", "192.168.1.5", "localhost", "media.example.org", None):
        assert host_allowed(ok, allowed), ok
    for bad in ("evil.example", "127.0.0.1.evil.example", "localhost.evil.example"):
        assert not host_allowed(bad, allowed), bad
    assert host_allowed("evil.example", frozenset({"*"}))
