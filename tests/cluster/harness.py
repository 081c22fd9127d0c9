"""A multi-node Ferrite on 127.0.0.1 for the cluster tests and bench/cluster.py: ``ferrite
serve`` nodes as subprocesses sharing one PostgreSQL database, one redis-server, one
install secret and one media folder, behind the nginx front of deploy/nginx/ferrite.conf.
Every process is started and stopped here by its PID.

Each node has its own data dir (its warm store, logs) holding a copy of one secret file:
what an operator does (docs/scale-out.md), so tokens signed on one node verify on all.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.cluster.nginxfront import NginxFront
from tests.cluster.redisserver import RedisServer, free_port

FERRITE = [sys.executable, "-m", "ferrite.cli"]
ADMIN = ("root", "password-1")


@dataclass
class Node:
    name: str
    port: int
    data_dir: Path
    env: dict[str, str]
    role: str = "all"  # or "worker": transcodes for the app nodes only
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.data_dir / "node.log"

    def start(self) -> None:
        with self.log.open("ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [
                    *FERRITE,
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--role",
                    self.role,
                ],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"node {self.name} exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"node {self.name} not ready: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: the node dies mid-request, as a crashed machine would."""
        if self.alive:
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.alive:
            assert self.process is not None
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def metric(self, name: str, **labels: str) -> float:
        """The sum of ``name``'s samples matching ``labels`` in this node's /metrics
        (the loopback address needs no login)."""
        text = httpx.get(self.url + "/metrics", timeout=10).text
        total = 0.0
        for line in text.splitlines():
            m = re.match(rf"^{re.escape(name)}(?:\{{(.*)\}})? (\S+)$", line)
            if m is None:
                continue
            got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or ""))
            if all(got.get(k) == v for k, v in labels.items()):
                total += float(m.group(2))
        return total


@dataclass
class Cluster:
    nodes: list[Node]
    front: NginxFront
    redis: RedisServer
    database_url: str
    media: Path
    admin: dict[str, str] = field(default_factory=dict)  # Authorization headers
    workers: list[Node] = field(default_factory=list)  # role=worker, not behind the front

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def login(self, node: Node, username: str, password: str) -> dict[str, str]:
        r = httpx.post(
            node.url + "/api/auth/login",
            json={"username": username, "password": password},
            timeout=30,
        )
        r.raise_for_status()
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def metric_sum(self, name: str, **labels: str) -> float:
        return sum(n.metric(name, **labels) for n in self.nodes if n.alive)


def node_env(
    name: str, *, data_dir: Path, database_url: str, redis_url: str, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERRITE_")}
    env.update(
        {
            "FERRITE_DATA_DIR": str(data_dir),
            "FERRITE_DATABASE_URL": database_url,
            "FERRITE_REDIS_URL": redis_url,
            "FERRITE_NODE_NAME": name,
            "FERRITE_WATCH": "false",
            "FERRITE_DEMO": "false",
            "FERRITE_WARM_SEGMENTS": "0",
            "FERRITE_X264_PRESET": "ultrafast",
            "FERRITE_LOG_LEVEL": "info",
            **extra,
        }
    )
    return env


def make_nodes(
    root: Path,
    count: int,
    *,
    database_url: str,
    redis_url: str,
    secret: bytes,
    role: str = "all",
    **extra: str,
) -> list[Node]:
    """``count`` nodes (not started), each with its own data dir and the same secret."""
    prefix = "n" if role == "all" else "w"
    nodes = []
    for i in range(1, count + 1):
        data_dir = root / f"{prefix}{i}"
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / "secret.key"
        path.write_text(secret.hex() + "\n")  # the format of auth.tokens.load_or_create_secret
        path.chmod(0o600)
        port = free_port()
        env = node_env(
            f"{prefix}{i}",
            data_dir=data_dir,
            database_url=database_url,
            redis_url=redis_url,
            FERRITE_ADVERTISE_URL=f"http://127.0.0.1:{port}",
            **extra,
        )
        nodes.append(Node(f"{prefix}{i}", port, data_dir, env, role))
    return nodes


def start_all(nodes: Sequence[Node]) -> None:
    """Start every node at once (they race to migrate an empty database), then wait."""
    for node in nodes:
        node.start()
    for node in nodes:
        node.wait_ready()


def setup_library(cluster: Cluster) -> int:
    """The admin (made on the first node) and one movies library over ``cluster.media``,
    scanned; returns the library id."""
    first = cluster.nodes[0]
    r = httpx.post(first.url + "/api/setup", json={"username": ADMIN[0], "password": ADMIN[1]})
    assert r.status_code == 201, r.text
    cluster.admin = cluster.login(first, *ADMIN)
    r = httpx.post(
        first.url + "/api/libraries",
        json={"name": "Movies", "kind": "movies", "paths": [str(cluster.media)]},
        headers=cluster.admin,
        timeout=30,
    )
    assert r.status_code == 201, r.text
    library_id: int = r.json()["id"]
    deadline = time.monotonic() + 180
    while any(
        lib["scanning"]
        for lib in httpx.get(first.url + "/api/libraries", headers=cluster.admin).json()
    ):
        assert time.monotonic() < deadline, "scan did not finish"
        time.sleep(0.2)
    return library_id


@contextmanager
def running_cluster(
    root: Path,
    database_url: str,
    media: Path,
    *,
    nodes: int = 3,
    workers: int = 0,
    **settings: str,
) -> Iterator[Cluster]:
    """``nodes`` app nodes (started together on ``database_url``), ``workers`` transcode
    workers (started once the schema is there), a redis-server and the front; everything
    stopped (by PID) on exit. ``settings``: FERRITE_* values."""
    with ExitStack() as stack:
        redis = RedisServer(root / "redis").start()
        stack.callback(redis.stop)
        secret = secrets.token_bytes(32)
        members, helpers = (
            make_nodes(
                root,
                count,
                database_url=database_url,
                redis_url=redis.url,
                secret=secret,
                role=role,
                **settings,
            )
            for count, role in ((nodes, "all"), (workers, "worker"))
        )
        for node in (*members, *helpers):
            stack.callback(node.stop)
        start_all(members)
        start_all(helpers)
        front = NginxFront(root / "front", [n.address for n in members]).start()
        stack.callback(front.stop)
        yield Cluster(members, front, redis, database_url, media, workers=helpers)


# -- sessions and the URLs the front serves ---------------------------------------------------
@dataclass(frozen=True)
class Play:
    """A playback session made on ``node``, and its first video rendition's URLs."""

    node: Node
    answer: dict[str, Any]
    master: str
    video_uri: str  # t/{token}/c/{fv}/{spec}/v/{rid}.m3u8, relative to the session

    @property
    def base(self) -> str:
        return f"/api/playback/{self.answer['session_id']}/"

    @property
    def video_playlist(self) -> str:
        return self.base + self.video_uri

    def segment(self, name: str) -> str:
        return self.video_playlist.removesuffix(".m3u8") + "/" + name


def play(node: Node, headers: dict[str, str], item_id: int) -> Play:
    r = httpx.post(
        node.url + "/api/playback",
        json={"item_id": item_id, "device": "chrome", "protocol": "hls"},
        headers=headers,
        timeout=60,
    )
    assert r.status_code == 201, r.text
    answer = r.json()
    master = httpx.get(node.url + answer["url"], timeout=30).text
    video = next(u for u in master.splitlines() if u and not u.startswith("#") and "/v/" in u)
    return Play(node, answer, master, video)


def play_on_owner(cluster: Cluster, headers: dict[str, str], item_id: int) -> Play:
    """A session on the node the front routes the item's segments to (its file version's
    owner). Until sessions are shared (cluster/sessions.py), only that node can serve
    them; the front's answer names the owner (X-Ferrite-Node) even when it is a 404."""
    first = play(cluster.nodes[0], headers, item_id)
    r = httpx.get(cluster.front.url + first.video_playlist, timeout=30)
    owner = cluster.node(r.headers["x-ferrite-node"])
    return first if owner is first.node else play(owner, headers, item_id)


def media_items(cluster: Cluster) -> dict[str, int]:
    r = httpx.get(
        cluster.nodes[0].url + "/api/items",
        params={"limit": 100},
        headers=cluster.admin,
        timeout=30,
    )
    return {i["title"]: i["id"] for i in r.json()["items"]}


def front_log_lines(front: NginxFront, needle: str) -> list[str]:
    if not front.access_log.exists():
        return []
    return [line for line in front.access_log.read_text().splitlines() if needle in line]


# -- revocation ---------------------------------------------------------------------------------
def make_viewer(cluster: Cluster, username: str = "viewer", password: str = "password-2") -> None:
    """A non-admin user granted every library (made on the first node)."""
    first = cluster.nodes[0]
    libs = httpx.get(first.url + "/api/libraries", headers=cluster.admin, timeout=30).json()
    r = httpx.post(
        first.url + "/api/users",
        json={"username": username, "password": password, "library_ids": [x["id"] for x in libs]},
        headers=cluster.admin,
        timeout=30,
    )
    assert r.status_code == 201, r.text


def revocation_trial(
    cluster: Cluster,
    item_id: int,
    trial: int,
    *,
    username: str = "viewer",
    password: str = "password-2",
    timeout_s: float = 10.0,
) -> float:
    """Log in and play on node ``trial % n``, log out on the first node; seconds until
    every node's token check and the front refuse the stream token, each polled on its
    own keep-alive connection (AssertionError if one still accepts it after
    ``timeout_s``)."""
    node = cluster.nodes[trial % len(cluster.nodes)]
    headers = cluster.login(node, username, password)
    p = play(node, headers, item_id)
    sid, token = p.answer["session_id"], p.answer["token"]
    targets = [n.url + f"/api/playback/{sid}/t/{token}/auth" for n in cluster.nodes]
    segment = cluster.front.url + p.segment("0.m4s")
    with ExitStack() as stack:
        clients = [stack.enter_context(httpx.Client(timeout=10)) for _ in range(len(targets) + 1)]
        assert all(c.get(u).status_code == 204 for c, u in zip(clients, targets, strict=False))
        # The front lets the token through (a 404 when another node owns the file and
        # sessions are not shared; never a 401).
        assert clients[-1].get(segment, timeout=60).status_code in (200, 404)
        targets.append(segment)
        began = time.monotonic()
        logout = clients[0].post(cluster.nodes[0].url + "/api/auth/logout", headers=headers)
        assert logout.status_code == 204

        def refused_after(i: int) -> float:
            while clients[i].get(targets[i]).status_code != 401:
                assert time.monotonic() - began < timeout_s, f"trial {trial}: {targets[i]}"
            return time.monotonic() - began

        with ThreadPoolExecutor(len(targets)) as pool:
            return max(pool.map(refused_after, range(len(targets))))
