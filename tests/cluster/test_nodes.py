"""Two real servers sharing one database and one redis-server: a user made, logged in and
logged out on one node is known, accepted and refused on the other."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from ferrite import config
from ferrite.app import create_app
from ferrite.auth.passwords import Passwords
from tests.api.server import AppClient, ServerThread
from tests.cluster.redisserver import RedisServer


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[AppClient, AppClient, RedisServer]]:
    redis = RedisServer(tmp_path / "redis").start()
    passwords = Passwords(time_cost=1, memory_cost_kib=1024)
    with ExitStack() as stack:
        stack.callback(redis.stop)
        stack.callback(passwords.close)
        clients = []
        for name in ("n1", "n2"):
            settings = config.load(
                {
                    # One data dir: the shared database and the shared install secret.
                    "data_dir": tmp_path / "data",
                    "watch": False,
                    "warm_segments": 0,
                    "demo": False,
                    "libraries": (),
                    "redis_url": redis.url,
                    "node_name": name,
                },
                environ={},
            )
            server = ServerThread(create_app(settings, passwords=passwords)).start()
            stack.callback(server.stop)
            clients.append(stack.enter_context(AppClient(server)))
        yield clients[0], clients[1], redis


def wait_for(check: object, timeout_s: float = 10.0) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "not seen in time"
        time.sleep(0.01)


def test_a_logout_on_one_node_is_enforced_by_the_other(
    nodes: tuple[AppClient, AppClient, RedisServer],
) -> None:
    n1, n2, _ = nodes
    assert n1.post("/api/setup", json={"username": "root", "password": "password-1"}).is_success
    login = n1.post("/api/auth/login", json={"username": "root", "password": "password-1"})
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    # Made on n1 after n2 started: n2 learnt of the user through the fan-out.
    wait_for(lambda: n2.get("/api/auth/me", headers=headers).status_code == 200)

    r = n1.post(
        "/api/users",
        json={"username": "ann", "password": "password-2", "library_ids": []},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    ann = n2.post("/api/auth/login", json={"username": "ann", "password": "password-2"})
    ann_headers = {"Authorization": f"Bearer {ann.json()['access_token']}"}
    assert n1.get("/api/auth/me", headers=ann_headers).status_code == 200

    assert n1.post("/api/auth/logout", headers=ann_headers).status_code == 204
    wait_for(lambda: n2.get("/api/auth/me", headers=ann_headers).status_code == 401)
    assert n1.get("/api/auth/me", headers=ann_headers).status_code == 401


def test_a_node_keeps_serving_known_users_while_redis_is_away(
    nodes: tuple[AppClient, AppClient, RedisServer],
) -> None:
    n1, n2, redis = nodes
    assert n1.post("/api/setup", json={"username": "root", "password": "password-1"}).is_success
    login = n1.post("/api/auth/login", json={"username": "root", "password": "password-1"})
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    wait_for(lambda: n2.get("/api/auth/me", headers=headers).status_code == 200)
    redis.stop()
    assert n2.get("/api/auth/me", headers=headers).status_code == 200
    assert n2.get("/api/libraries", headers=headers).status_code == 200
