"""Access changes fanned out over a real redis-server to another node's auth table.

Two "nodes" are two AuthServices, each with its own Database engine on one SQLite file
(the shared database) and its own AuthFanout on one Redis.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from redis.asyncio import Redis

from ferrite import config
from ferrite.auth.passwords import Passwords
from ferrite.auth.service import AuthService
from ferrite.cluster.fanout import CHANNEL, AuthFanout
from ferrite.db.engine import Database
from ferrite.errors import Unauthorized
from tests.cluster.redisserver import RedisServer

SECRET = b"k" * 32
PASSWORD = "password-1"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def passwords() -> Iterator[Passwords]:
    p = Passwords(time_cost=1, memory_cost_kib=1024)
    yield p
    p.close()


@dataclass
class Node:
    auth: AuthService
    fanout: AuthFanout
    revoked: list[int] = field(default_factory=list)


@asynccontextmanager
async def node(
    name: str, db_path: Path, redis_url: str, passwords: Passwords
) -> AsyncIterator[Node]:
    db = Database(f"sqlite:///{db_path}")
    db.migrate()
    auth = AuthService(
        db, config.load({"data_dir": db_path.parent}, environ={}), SECRET,
        clock=time.time, passwords=passwords,
    )  # fmt: skip
    await auth.load()
    client = Redis.from_url(redis_url, socket_connect_timeout=0.5, socket_timeout=10)
    fanout = AuthFanout(client, node=name, refresh=auth.refresh_user, reload=auth.reload)
    auth.listen_change(fanout.announce)
    n = Node(auth, fanout)
    auth.listen_revoke(n.revoked.append)
    fanout.start()
    try:
        assert await fanout.wait_connected(10)
        yield n
    finally:
        await fanout.aclose()
        await client.aclose()
        db.close()


async def eventually(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "not propagated in time"
        await asyncio.sleep(0.005)


def run(coro: Awaitable[None]) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_users_made_and_revoked_on_one_node_are_known_and_refused_on_the_other(
    tmp_path: Path, redis_server: RedisServer, passwords: Passwords
) -> None:
    async def main() -> None:
        db_path = tmp_path / "ferrite.db"
        async with (
            node("a", db_path, redis_server.url, passwords) as a,
            node("b", db_path, redis_server.url, passwords) as b,
        ):
            # A user created on node a can use its token on node b.
            user = await a.auth.create_user("ann", PASSWORD, is_admin=False, library_ids=())
            await eventually(lambda: b.auth.table.get(user.id) is not None)
            login = await a.auth.login("ann", PASSWORD, "127.0.0.1")
            header = f"Bearer {login.token.token}"
            assert b.auth.authenticate(header).id == user.id

            # A logout on a: b refuses the old token and re-checks ann's sessions.
            await a.auth.logout(user.id)

            def refused() -> bool:
                try:
                    b.auth.authenticate(header)
                except Unauthorized:
                    return True
                return False

            await eventually(refused)
            assert user.id in b.revoked

            # Disabling and deleting travel the same way.
            await a.auth.update_user(user.id, disabled=True)
            await eventually(lambda: getattr(b.auth.table.get(user.id), "disabled", False))
            await a.auth.delete_user(user.id)
            await eventually(lambda: b.auth.table.get(user.id) is None)

    run(main())


def test_a_node_that_lost_redis_rereads_the_table_when_it_is_back(
    tmp_path: Path, redis_server: RedisServer, passwords: Passwords
) -> None:
    async def main() -> None:
        db_path = tmp_path / "ferrite.db"
        async with (
            node("a", db_path, redis_server.url, passwords) as a,
            node("b", db_path, redis_server.url, passwords) as b,
        ):
            user = await a.auth.create_user("bo", PASSWORD, is_admin=False, library_ids=())
            await eventually(lambda: b.auth.table.get(user.id) is not None)
            version = b.auth.table.get(user.id).version  # type: ignore[union-attr]

            redis_server.stop()
            await eventually(lambda: not a.fanout.connected and not b.fanout.connected)
            await a.auth.logout(user.id)  # in the database; its message is lost
            await asyncio.sleep(0.3)
            assert b.auth.table.get(user.id).version == version  # type: ignore[union-attr]

            redis_server.start()  # same port: both nodes resubscribe and re-read
            await eventually(lambda: b.fanout.connected, timeout_s=15)
            await eventually(lambda: b.auth.table.get(user.id).version > version)  # type: ignore[union-attr]
            assert user.id in b.revoked

    run(main())


def test_malformed_messages_and_a_nodes_own_messages_change_nothing(
    tmp_path: Path, redis_server: RedisServer, passwords: Passwords
) -> None:
    async def main() -> None:
        db_path = tmp_path / "ferrite.db"
        async with node("a", db_path, redis_server.url, passwords) as a:
            user = await a.auth.create_user("cy", PASSWORD, is_admin=False, library_ids=())
            a.revoked.clear()
            client = Redis.from_url(redis_server.url)
            try:
                for junk in (b"", b"not json", b"{}", b'{"node": "x", "user": "nine"}', b"[1]"):
                    await client.publish(CHANNEL, junk)
                await client.publish(CHANNEL, f'{{"node": "a", "user": {user.id}}}')
                # A well-formed message from another node, last: once it is applied, the
                # ones before it have been read (one connection, in order).
                await client.publish(CHANNEL, f'{{"node": "z", "user": {user.id}}}')
                await eventually(lambda: a.revoked == [user.id])
                assert a.fanout.connected
            finally:
                await client.aclose()

    run(main())
