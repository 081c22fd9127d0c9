"""One request log line per request: route template, status, duration; never a token,
password or Authorization header."""

from __future__ import annotations

import logging
import re

import pytest
from fastapi import FastAPI
from prometheus_client import generate_latest

from ferrite.api import errors
from ferrite.api.requestlog import UNMATCHED, RequestLogMiddleware, route_template
from ferrite.errors import NotFound
from tests.api.server import AppClient, ServerThread
from tests.observability.conftest import Live, delta, parse

SECRET = "s3cr3t-T0KEN"
LINE = re.compile(
    r"^request method=(?P<method>[A-Z]+) route=(?P<route>\S+) status=(?P<status>\d+) "
    r"ms=(?P<ms>[\d.]+) bytes=(?P<bytes>\d+)"
)


def _app() -> FastAPI:
    app = FastAPI()
    errors.install(app)
    app.add_middleware(RequestLogMiddleware)

    @app.get("/play/{sid}/t/{token}/{name}")
    async def segment(sid: str, token: str, name: str) -> dict[str, str]:
        return {"ok": name}

    @app.get("/missing/{token}")
    async def missing(token: str) -> None:
        raise NotFound("nothing here")

    @app.get("/boom/{token}")
    async def boom(token: str) -> None:
        raise RuntimeError("kaput")

    @app.post("/login")
    async def login() -> dict[str, str]:
        return {"access_token": SECRET}

    return app


def _lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "ferrite.http"]


def _server_text(caplog: pytest.LogCaptureFixture) -> str:
    """Everything the server logged (the test's own httpx client logs its URLs)."""
    lines = []
    for r in caplog.records:
        if r.name.startswith("httpx"):
            continue
        lines.append(r.getMessage())
        if r.exc_info:
            lines.append(logging.Formatter().formatException(r.exc_info))
    return "\n".join(lines)


def test_request_lines_name_the_route_template(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    server = ServerThread(_app()).start()
    with AppClient(server) as client:
        assert client.get(f"/play/abc/t/{SECRET}/3.m4s?token={SECRET}").status_code == 200
        assert client.get(f"/missing/{SECRET}").status_code == 404
        assert client.get(f"/nowhere/{SECRET}").status_code == 404
        assert client.get(f"/boom/{SECRET}").status_code == 500
        r = client.post(
            "/login",
            json={"username": "u", "password": SECRET},
            headers={"Authorization": f"Bearer {SECRET}"},
        )
        assert r.status_code == 200
    server.stop()
    records = _lines(caplog)
    parsed = [LINE.match(r.getMessage()) for r in records]
    assert all(parsed), [r.getMessage() for r in records]
    got = [(m["method"], m["route"], m["status"]) for m in parsed if m]
    assert got == [
        ("GET", "/play/{sid}/t/{token}/{name}", "200"),
        ("GET", "/missing/{token}", "404"),
        ("GET", UNMATCHED, "404"),
        ("GET", "/boom/{token}", "500"),
        ("POST", "/login", "200"),
    ]
    first = records[0]
    assert first.levelno == logging.INFO
    assert first.route == "/play/{sid}/t/{token}/{name}"  # type: ignore[attr-defined]
    assert first.status == 200  # type: ignore[attr-defined]
    assert first.duration_ms >= 0  # type: ignore[attr-defined]
    assert first.bytes > 0  # type: ignore[attr-defined]
    # Nothing logged anywhere (the 500's traceback included) carries the secret.
    text = _server_text(caplog)
    assert SECRET not in text
    assert "unhandled error in GET /boom/{token}" in text


def test_route_template_without_a_route() -> None:
    assert route_template({}) == UNMATCHED
    assert route_template({"route": object()}) == UNMATCHED


def test_requests_are_counted_by_route(caplog: pytest.LogCaptureFixture) -> None:

    before = parse(generate_latest().decode())
    server = ServerThread(_app()).start()
    with AppClient(server) as client:
        for n in range(3):
            client.get(f"/play/x{n}/t/{SECRET}/{n}.m4s")
    server.stop()
    after = parse(generate_latest().decode())
    route = "/play/{sid}/t/{token}/{name}"
    assert delta(before, after, "http_request_ms_count", route=route, status="200") == 3
    assert SECRET not in generate_latest().decode()


def test_live_playback_logs_no_token(live: Live, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    pb = live.play()
    c = live.client
    assert c.get(pb["url"]).status_code == 200
    base = pb["url"].split("master.m3u8")[0] + f"t/{pb['token']}/"
    (video,) = [v["id"] for v in pb["renditions"]["video"] if v["copy"]]
    assert c.get(f"{base}v/{video}.m3u8").status_code == 200
    assert c.get(f"{base}v/{video}/init.mp4").status_code == 200
    assert c.get(f"{base}v/{video}/0.m4s").status_code == 200
    events = f"/api/playback/{pb['session_id']}/events?token={pb['token']}"
    assert c.post(events, json={"type": "position", "position_s": 1}).status_code == 204
    assert c.delete(f"/api/playback/{pb['session_id']}?token={pb['token']}").status_code == 204
    routes = [r.route for r in _lines(caplog)]  # type: ignore[attr-defined]
    assert routes == [
        "/api/playback",
        "/api/playback/{sid}/master.m3u8",
        "/api/playback/{sid}/t/{token}/{kind}/{rid}.m3u8",
        "/api/playback/{sid}/t/{token}/{kind}/{rid}/init.mp4",
        "/api/playback/{sid}/t/{token}/{kind}/{rid}/{name}",
        "/api/playback/{sid}/events",
        "/api/playback/{sid}",
    ]
    text = _server_text(caplog)
    assert "playback ended" in text
    assert pb["token"] not in text
    assert live.headers["Authorization"].split()[1] not in text
