"""Admin user management and what non-admins may not do."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.api.conftest import login
from tests.api.helpers import Seeded
from tests.api.server import AppClient

MakeUser = Callable[..., tuple[int, dict[str, str]]]


def test_crud(client: AppClient, admin: dict[str, str], seeded: Seeded) -> None:
    r = client.post(
        "/api/users",
        json={"username": "carol", "password": "password-1", "library_ids": [seeded.movies]},
        headers=admin,
    )
    assert r.status_code == 201
    carol = r.json()
    assert carol == {
        "id": carol["id"],
        "username": "carol",
        "is_admin": False,
        "disabled": False,
        "library_ids": [seeded.movies],
    }
    listed = client.get("/api/users", headers=admin).json()
    assert [u["username"] for u in listed] == ["admin", "carol"]
    r = client.patch(
        f"/api/users/{carol['id']}",
        json={
            "username": "caroline",
            "library_ids": [seeded.shows, seeded.movies],
            "is_admin": False,
        },
        headers=admin,
    )
    assert r.status_code == 200
    assert r.json()["username"] == "caroline"
    assert r.json()["library_ids"] == sorted([seeded.shows, seeded.movies])
    assert client.get(f"/api/users/{carol['id']}", headers=admin).json()["username"] == "caroline"
    assert client.delete(f"/api/users/{carol['id']}", headers=admin).status_code == 204
    assert client.get(f"/api/users/{carol['id']}", headers=admin).status_code == 404
    assert client.delete(f"/api/users/{carol['id']}", headers=admin).status_code == 404


def test_grant_changes_apply_without_relogin(
    client: AppClient, admin: dict[str, str], seeded: Seeded, user_factory: MakeUser
) -> None:
    uid, bob = user_factory("bob", [])
    assert client.get(f"/api/items/{seeded.movie}", headers=bob).status_code == 404
    client.patch(f"/api/users/{uid}", json={"library_ids": [seeded.movies]}, headers=admin)
    assert client.get(f"/api/items/{seeded.movie}", headers=bob).status_code == 200
    client.patch(f"/api/users/{uid}", json={"library_ids": []}, headers=admin)
    assert client.get(f"/api/items/{seeded.movie}", headers=bob).status_code == 404


def test_promotion_applies_at_once(
    client: AppClient, admin: dict[str, str], user_factory: MakeUser
) -> None:
    uid, bob = user_factory("bob", [])
    assert client.get("/api/users", headers=bob).status_code == 403
    client.patch(f"/api/users/{uid}", json={"is_admin": True}, headers=admin)
    assert client.get("/api/users", headers=bob).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/users", None),
        ("POST", "/api/users", {"username": "x", "password": "y"}),
        ("GET", "/api/users/1", None),
        ("PATCH", "/api/users/1", {"is_admin": False}),
        ("DELETE", "/api/users/1", None),
        ("POST", "/api/libraries", {"name": "x", "kind": "movies", "paths": ["/tmp"]}),
        ("POST", "/api/libraries/1/scan", None),
    ],
)
def test_non_admin_is_forbidden(
    client: AppClient, user_factory: MakeUser, method: str, path: str, body: object
) -> None:
    _uid, bob = user_factory("bob", [])
    r = client.request(method, path, json=body, headers=bob)
    assert r.status_code == 403
    assert r.json()["error"] == {
        "code": "forbidden",
        "message": "Only an admin can do this.",
        "status": 403,
    }


@pytest.mark.parametrize(
    "body",
    [
        {"username": 5, "password": "x"},
        {"username": "x", "password": "x", "is_admin": "yes"},
        {"username": "x", "password": "x", "library_ids": "1"},
        {"username": "x", "password": "x", "library_ids": [0]},
        {"username": "x", "password": "x", "library_ids": [2**70]},
        {"username": "x", "password": "x", "extra": 1},
        {"username": "", "password": "x"},
        {"username": "a/b", "password": "x"},
        {"username": "x", "password": ""},
        {"username": "x", "password": "x", "library_ids": [999]},
    ],
)
def test_bad_new_user(client: AppClient, admin: dict[str, str], body: dict[str, object]) -> None:
    r = client.post("/api/users", json=body, headers=admin)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "unprocessable"


def test_duplicate_username(client: AppClient, admin: dict[str, str]) -> None:
    r = client.post("/api/users", json={"username": "Admin", "password": "xxxxxxxx"}, headers=admin)
    assert r.status_code == 409


def test_last_admin_cannot_lock_the_install(client: AppClient, admin: dict[str, str]) -> None:
    me = client.get("/api/auth/me", headers=admin).json()
    for body in ({"is_admin": False}, {"disabled": True}):
        r = client.patch(f"/api/users/{me['id']}", json=body, headers=admin)
        assert r.status_code == 409
    assert client.delete(f"/api/users/{me['id']}", headers=admin).status_code == 409


def test_ids_in_paths(client: AppClient, admin: dict[str, str]) -> None:
    for path in ("/api/users/0", "/api/users/-1", f"/api/users/{2**70}", "/api/users/abc"):
        r = client.get(path, headers=admin)
        assert r.status_code == 422, path
    assert client.get("/api/users/12345", headers=admin).status_code == 404


def test_new_user_can_log_in(client: AppClient, admin: dict[str, str]) -> None:
    client.post("/api/users", json={"username": "dave", "password": "dave password"}, headers=admin)
    headers = login(client, "dave", "dave password")
    assert client.get("/api/auth/me", headers=headers).json()["is_admin"] is False
