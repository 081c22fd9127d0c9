"""Every error, whatever raised it, is one envelope: {"error": {"code", "message", "status"}}."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from ferrite.app import create_app
from ferrite.auth.passwords import Passwords
from ferrite.config import Settings
from tests.api.conftest import ADMIN, login
from tests.api.helpers import Seeded
from tests.api.server import AppClient, ServerThread
from tests.fakes import FakeClock


def assert_envelope(r: object, status: int, code: str | None = None) -> None:
    import httpx

    assert isinstance(r, httpx.Response)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert {"code", "message", "status"} <= set(err)
    assert err["status"] == status
    assert isinstance(err["code"], str)
    assert err["code"]
    assert isinstance(err["message"], str)
    assert err["message"]
    if code is not None:
        assert err["code"] == code
    assert "Traceback" not in r.text


@pytest.fixture
def boom_client(
    settings: Settings, clock: FakeClock, cheap_passwords: Passwords
) -> Iterator[AppClient]:
    app = create_app(settings, clock=clock, passwords=cheap_passwords)

    async def boom() -> None:
        raise RuntimeError("secret internals /etc/shadow")

    app.add_api_route("/api/boom", boom)  # non-API paths belong to the web UI
    server = ServerThread(app).start()
    try:
        with AppClient(server) as c:
            yield c
    finally:
        server.stop()


def test_error_envelope_for_every_status(
    client: AppClient, admin: dict[str, str], seeded: Seeded
) -> None:
    # 400: malformed JSON
    r = client.post(
        "/api/auth/login", content=b'{"username": ', headers={"content-type": "application/json"}
    )
    assert_envelope(r, 400, "bad_request")
    # 401: no token
    assert_envelope(client.get("/api/items"), 401, "token_invalid")
    # 403: not an admin
    client.post("/api/users", json={"username": "bob", "password": "password-1"}, headers=admin)
    bob = login(client, "bob", "password-1")
    assert_envelope(client.get("/api/users", headers=bob), 403, "forbidden")
    # 404: unknown route and unknown resource
    assert_envelope(client.get("/api/nope", headers=admin), 404, "not_found")
    assert_envelope(client.get("/api/items/424242", headers=admin), 404, "not_found")
    # 405: wrong method
    assert_envelope(client.delete("/api/items", headers=admin), 405, "method_not_allowed")
    # 409: setup twice
    assert_envelope(
        client.post("/api/setup", json={"username": "x", "password": "y"}), 409, "conflict"
    )
    # 416: range beyond the end
    r = client.get(
        f"/api/items/{seeded.movie}/file", headers={**admin, "Range": "bytes=999999999-"}
    )
    assert_envelope(r, 416, "range_not_satisfiable")
    # 422: wrong types / bounds
    assert_envelope(client.get("/api/items?limit=0", headers=admin), 422, "unprocessable")
    assert_envelope(
        client.put(f"/api/items/{seeded.movie}/progress", json={"position_s": "x"}, headers=admin),
        422,
    )
    # 429: login rate limit
    for i in range(40):  # more than the per-address limit, spread over names
        r = client.post("/api/auth/login", json={"username": f"bob{i}", "password": "wrong"})
    assert_envelope(r, 429, "too_many_requests")
    assert r.headers["retry-after"].isdigit()
    assert (
        client.post(
            "/api/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]}
        ).status_code
        == 429
    )


def test_unexpected_exception_is_500_envelope_and_logged(
    boom_client: AppClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="ferrite.api"):
        r = boom_client.get("/api/boom")
    assert_envelope(r, 500, "internal_error")
    assert "secret internals" not in r.text
    assert any("secret internals" in (rec.exc_text or "") or rec.exc_info for rec in caplog.records)
    # The server is still fine afterwards.
    assert boom_client.get("/healthz").status_code == 200
