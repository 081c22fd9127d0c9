"""Setup, login, tokens and revocation through the HTTP API."""

from __future__ import annotations

import asyncio
import re
import statistics
import time
from collections.abc import Callable

import httpx
import jwt
import pytest

from ferrite.auth.imagetokens import DAY_S
from ferrite.auth.ratelimit import ADDRESS_FACTOR
from ferrite.auth.tokens import derive_key
from tests.api.conftest import ADMIN, bearer, login, services
from tests.api.server import AppClient
from tests.fakes import FakeClock


def test_healthz(client: AppClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_setup_once(client: AppClient) -> None:
    r = client.post("/api/setup", json={"username": "root", "password": "password-1"})
    assert r.status_code == 201
    assert r.json() == {
        "id": 1,
        "username": "root",
        "is_admin": True,
        "disabled": False,
        "library_ids": [],
    }
    again = client.post("/api/setup", json={"username": "other", "password": "password-1"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"


def test_login_shape(client: AppClient, admin: dict[str, str]) -> None:
    r = client.post("/api/auth/login", json={"username": "ADMIN", "password": ADMIN[1]})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == services(client).settings.access_token_ttl_s
    assert body["user"]["username"] == "admin"
    assert body["user"]["is_admin"] is True
    assert r.headers["cache-control"] == "no-store"
    me = client.get("/api/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["username"] == "admin"


def test_wrong_password_and_unknown_user_look_the_same(
    client: AppClient, admin: dict[str, str]
) -> None:
    wrong = client.post("/api/auth/login", json={"username": "admin", "password": "nope"})
    unknown = client.post("/api/auth/login", json={"username": "nobody", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"]["code"] == "invalid_credentials"


def test_unknown_user_timing_is_similar(client: AppClient, admin: dict[str, str]) -> None:
    def timed(name: str) -> float:
        samples = []
        for _ in range(5):
            start = time.perf_counter()
            client.post("/api/auth/login", json={"username": name, "password": "nope"})
            samples.append(time.perf_counter() - start)
        services(client).auth.limiter._failures.clear()  # stay under the rate limit
        return statistics.median(samples)

    wrong, unknown = timed("admin"), timed("nobody")
    # Both paths do one argon2 verification; only noise should separate them.
    assert 0.33 < unknown / wrong < 3.0


def test_rate_limit_per_user(client: AppClient, admin: dict[str, str], clock: FakeClock) -> None:
    attempts = services(client).settings.login_attempts
    for _ in range(attempts):
        assert (
            client.post("/api/auth/login", json={"username": "admin", "password": "x"}).status_code
            == 401
        )
    r = client.post("/api/auth/login", json={"username": "admin", "password": ADMIN[1]})
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "too_many_requests"
    assert int(r.headers["retry-after"]) > 0
    clock.advance(services(client).settings.login_window_s)
    assert (
        client.post("/api/auth/login", json={"username": "admin", "password": ADMIN[1]}).status_code
        == 200
    )


def test_rate_limit_per_address(client: AppClient, admin: dict[str, str]) -> None:
    attempts = services(client).settings.login_attempts * ADDRESS_FACTOR
    for i in range(attempts):
        client.post("/api/auth/login", json={"username": f"guess{i}", "password": "x"})
    # Same address (the test client), a user nobody guessed at: still locked out.
    r = client.post("/api/auth/login", json={"username": "admin", "password": ADMIN[1]})
    assert r.status_code == 429


def test_missing_and_malformed_tokens(client: AppClient, admin: dict[str, str]) -> None:
    for headers in (
        {},
        {"Authorization": ""},
        {"Authorization": "Basic YTpi"},
        bearer("garbage"),
        bearer("a.b.c"),
    ):
        r = client.get("/api/libraries", headers=headers)
        assert r.status_code == 401, headers
        assert r.json()["error"]["code"] == "token_invalid"
        assert r.headers["www-authenticate"].startswith("Bearer")


def test_expired_token(client: AppClient, admin: dict[str, str], clock: FakeClock) -> None:
    assert client.get("/api/libraries", headers=admin).status_code == 200
    clock.advance(services(client).settings.access_token_ttl_s + 1)
    r = client.get("/api/libraries", headers=admin)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "token_expired"


def test_forged_token(client: AppClient, admin: dict[str, str]) -> None:
    now = int(services(client).clock())
    claims = {"sub": "1", "ver": 0, "adm": True, "iat": now, "exp": now + 60, "jti": "x"}
    forged = jwt.encode(claims, b"not the install secret" * 2, algorithm="HS256")
    assert client.get("/api/users", headers=bearer(forged)).status_code == 401
    # The real key does work, which shows the forgery failed on the signature alone.
    real = jwt.encode(claims, derive_key(_secret(client), "jwt"), algorithm="HS256")
    assert client.get("/api/users", headers=bearer(real)).status_code == 200


def _secret(client: AppClient) -> bytes:
    return bytes.fromhex((services(client).settings.data_dir / "secret.key").read_text().strip())


def test_logout_revokes_every_token(client: AppClient, admin: dict[str, str]) -> None:
    second = login(client, *ADMIN)
    assert client.post("/api/auth/logout", headers=admin).status_code == 204
    for headers in (admin, second):
        r = client.get("/api/libraries", headers=headers)
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "token_invalid"
    fresh = login(client, *ADMIN)
    assert client.get("/api/libraries", headers=fresh).status_code == 200


def test_password_change_revokes(
    client: AppClient,
    admin: dict[str, str],
    user_factory: Callable[..., tuple[int, dict[str, str]]],
) -> None:
    uid, bob = user_factory("bob", [])
    r = client.patch(f"/api/users/{uid}", json={"password": "new password"}, headers=admin)
    assert r.status_code == 200
    assert client.get("/api/libraries", headers=bob).status_code == 401
    assert (
        client.post(
            "/api/auth/login", json={"username": "bob", "password": "bob password"}
        ).status_code
        == 401
    )
    login(client, "bob", "new password")


def test_disabled_user(
    client: AppClient,
    admin: dict[str, str],
    user_factory: Callable[..., tuple[int, dict[str, str]]],
) -> None:
    uid, bob = user_factory("bob", [])
    assert (
        client.patch(f"/api/users/{uid}", json={"disabled": True}, headers=admin).status_code == 200
    )
    assert client.get("/api/libraries", headers=bob).status_code == 401
    r = client.post("/api/auth/login", json={"username": "bob", "password": "bob password"})
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"


def test_deleted_user_token(
    client: AppClient,
    admin: dict[str, str],
    user_factory: Callable[..., tuple[int, dict[str, str]]],
) -> None:
    uid, bob = user_factory("bob", [])
    assert client.get("/api/libraries", headers=bob).status_code == 200
    assert client.delete(f"/api/users/{uid}", headers=admin).status_code == 204
    r = client.get("/api/libraries", headers=bob)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "token_invalid"


def test_token_check_does_no_database_query(client: AppClient, admin: dict[str, str]) -> None:
    db = services(client).db
    auth = services(client).auth
    before = db.query_count
    for _ in range(50):
        auth.authenticate(admin["Authorization"])
    assert db.query_count == before


def test_user_added_by_cli_while_serving_can_log_in(
    client: AppClient, admin: dict[str, str]
) -> None:
    from ferrite.auth import users

    svc = services(client)
    password_hash = svc.auth.passwords.hash_sync("cli password")
    svc.db.write_sync(
        lambda c: users.create_user(
            c,
            username="fromcli",
            password_hash=password_hash,
            is_admin=False,
            library_ids=(),
            now=0.0,
        )
    )
    headers = login(client, "fromcli", "cli password")
    assert client.get("/api/auth/me", headers=headers).json()["username"] == "fromcli"


def test_bad_login_bodies(client: AppClient) -> None:
    assert (
        client.post(
            "/api/auth/login", content=b"{not json", headers={"content-type": "application/json"}
        ).status_code
        == 400
    )
    assert client.post("/api/auth/login", json={"username": 1, "password": "x"}).status_code == 422
    assert client.post("/api/auth/login", json={"username": "a"}).status_code == 422
    assert client.post("/api/auth/login", json=["a", "b"]).status_code == 422
    assert (
        client.post("/api/auth/login", json={"username": "a", "password": "x" * 5000}).status_code
        == 422
    )


# -- hardening (issue 14) ------------------------------------------------------------------
def _counting(monkeypatch: pytest.MonkeyPatch, obj: object, name: str) -> list[int]:
    """Wrap the async method ``obj.name`` so its calls are counted."""
    calls: list[int] = []
    real = getattr(obj, name)

    async def wrapper(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return await real(*args, **kwargs)

    monkeypatch.setattr(obj, name, wrapper)
    return calls


def test_concurrent_wrong_logins_stay_within_the_limit_and_the_owner_gets_in(
    client: AppClient, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = services(client)
    attempts = svc.settings.login_attempts
    verified = _counting(monkeypatch, svc.auth.passwords, "verify")

    async def flood(n: int) -> list[int]:
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=client.server.url, limits=limits, timeout=60) as c:
            body = {"username": "admin", "password": "guess"}
            rs = await asyncio.gather(*(c.post("/api/auth/login", json=body) for _ in range(n)))
        return [r.status_code for r in rs]

    statuses = asyncio.run(flood(300))
    assert set(statuses) <= {401, 429}
    assert statuses.count(401) <= attempts
    assert len(verified) <= attempts  # real password checks, whatever the concurrency
    # The attacker's address is locked out; the owner, elsewhere, is not.
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=client.server.url, transport=transport, timeout=30) as owner:
        r = owner.post("/api/auth/login", json={"username": "admin", "password": ADMIN[1]})
    assert r.status_code == 200, r.text


def test_setup_after_done_is_refused_before_hashing_and_rate_limited(
    client: AppClient, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed = _counting(monkeypatch, services(client).auth.passwords, "hash")
    statuses = [
        client.post("/api/setup", json={"username": "x", "password": "long enough"}).status_code
        for _ in range(services(client).settings.login_attempts + 1)
    ]
    assert hashed == []
    assert statuses[:-1] == [409] * (len(statuses) - 1)
    assert statuses[-1] == 429


def test_new_passwords_have_a_minimum_length(client: AppClient, admin: dict[str, str]) -> None:
    short = "x" * (services(client).settings.password_min_length - 1)
    r = client.post("/api/users", json={"username": "carol", "password": short}, headers=admin)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "unprocessable"
    ok = client.post(
        "/api/users", json={"username": "carol", "password": short + "x"}, headers=admin
    )
    assert ok.status_code == 201


def test_non_ascii_usernames_fold_case_the_same_everywhere(
    client: AppClient, admin: dict[str, str]
) -> None:
    r = client.post(
        "/api/users", json={"username": "Ärger", "password": "long enough"}, headers=admin
    )
    assert r.status_code == 201
    # SQLite's lower() leaves "Ä" alone: before the fix these were two different users.
    again = client.post(
        "/api/users", json={"username": "ärger", "password": "long enough"}, headers=admin
    )
    assert again.status_code == 409
    login(client, "äRGER", "long enough")


ROOT = {"username": "root", "password": "password-1"}


def test_setup_state_then_image_tokens(client: AppClient) -> None:
    assert client.get("/api/setup").json() == {"needed": True}
    assert client.post("/api/setup", json=ROOT).status_code == 201
    assert client.get("/api/setup").json() == {"needed": False}

    assert client.get("/api/image-token").status_code == 401
    token = client.post("/api/auth/login", json=ROOT).json()["access_token"]
    bearer = {"authorization": f"Bearer {token}"}
    r = client.get("/api/image-token", headers=bearer)
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert re.fullmatch(r"\d+\.\d+\.\d+\.[A-Za-z0-9_-]{22}", body["token"])
    assert body["expires_at"] % DAY_S == 0
    # The same token all day: image URLs stay cacheable.
    assert client.get("/api/image-token", headers=bearer).json() == body
    # Logging out revokes it along with the access token.
    client.post("/api/auth/logout", headers=bearer)
    relog = client.post("/api/auth/login", json=ROOT).json()["access_token"]
    fresh = client.get("/api/image-token", headers={"authorization": f"Bearer {relog}"}).json()
    assert fresh["token"] != body["token"]
