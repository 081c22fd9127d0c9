"""CORS: a player on another origin can call the API, play direct and play HLS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ferrite import config
from ferrite.api.cors import origins
from ferrite.app import create_app
from ferrite.auth.passwords import Passwords
from tests.api.server import AppClient, ServerThread

PLAYER = "http://player.example:8080"


def test_preflight_for_a_segment_with_range_and_authorization(client: AppClient) -> None:
    r = client.options(
        "/api/playback/abc/t/tok/v/copy/3.m4s",
        headers={
            "Origin": PLAYER,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "range, authorization",
        },
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "*"
    allowed = r.headers["access-control-allow-headers"].lower()
    assert "range" in allowed
    assert "authorization" in allowed
    assert "GET" in r.headers["access-control-allow-methods"]


def test_answers_and_errors_carry_the_headers(client: AppClient, admin: dict[str, str]) -> None:
    ok = client.get("/api/libraries", headers={**admin, "Origin": PLAYER})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "*"
    exposed = ok.headers["access-control-expose-headers"].lower()
    for name in ("content-range", "accept-ranges", "content-length"):
        assert name in exposed
    # A player reads the reason of a refusal too.
    denied = client.get("/api/playback/nope/master.m3u8?token=x", headers={"Origin": PLAYER})
    assert denied.status_code in (401, 404)
    assert denied.headers["access-control-allow-origin"] == "*"
    assert "error" in denied.json()


@pytest.fixture
def strict_client(tmp_path: Path, cheap_passwords: Passwords) -> Iterator[AppClient]:
    settings = config.load(
        {
            "data_dir": tmp_path / "data",
            "watch": False,
            "warm_segments": 0,  # no background warming in tests
            "demo": False,
            "libraries": (),
            "cors_origins": "https://tv.example, https://cast.example/",
        },
        environ={},
    )
    server = ServerThread(create_app(settings, passwords=cheap_passwords)).start()
    try:
        with AppClient(server) as c:
            yield c
    finally:
        server.stop()


def test_allowed_origins_are_a_setting(strict_client: AppClient) -> None:
    ok = strict_client.get("/healthz", headers={"Origin": "https://cast.example"})
    assert ok.headers["access-control-allow-origin"] == "https://cast.example"
    other = strict_client.get("/healthz", headers={"Origin": PLAYER})
    assert "access-control-allow-origin" not in other.headers


def test_origins_setting_parses() -> None:
    assert origins("*") == ["*"]
    assert origins("") == []
    assert origins(" https://a.example/ ,https://b.example") == [
        "https://a.example",
        "https://b.example",
    ]
