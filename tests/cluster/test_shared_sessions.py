"""Two real nodes on one database and one redis-server: a playback session made on one
node is played from the other (its playlists and every segment, decoded), a stop on one
is refused by the other, and with Redis away the held sessions keep streaming while new
sessions and logins fail fast with 503 + Retry-After."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

import av
import pytest

from ferrite import config
from ferrite.app import create_app
from ferrite.auth.passwords import Passwords
from ferrite.services import Services
from tests import media
from tests.api.server import AppClient, ServerThread
from tests.cluster.redisserver import RedisServer
from tests.cluster.test_nodes import wait_for
from tests.live import add_library, wait_scanned

Node = AppClient


class Cluster:
    def __init__(self, n1: Node, n2: Node, redis: RedisServer, headers: dict[str, str]) -> None:
        self.n1, self.n2, self.redis, self.headers = n1, n2, redis, headers
        self.item = 0

    def play(self, node: Node) -> dict[str, Any]:
        r = node.post(
            "/api/playback",
            json={"item_id": self.item, "device": "chrome", "protocol": "hls"},
            headers=self.headers,
        )
        assert r.status_code == 201, r.text
        out: dict[str, Any] = r.json()
        assert out["protocol"] == "hls"
        return out


def services(node: Node) -> Services:
    svc: Services = node.app.state.services
    return svc


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("shared-sessions")
    movies = root / "movies"
    media.make_clip(movies / "Plain (2020)" / "Plain (2020).mp4", media.Clip(duration=6.0))
    redis = RedisServer(root / "redis").start()
    passwords = Passwords(time_cost=1, memory_cost_kib=1024)
    with ExitStack() as stack:
        stack.callback(redis.stop)
        stack.callback(passwords.close)
        nodes: list[Node] = []
        for name in ("n1", "n2"):
            settings = config.load(
                {
                    "data_dir": root / "data",  # the shared database and secret
                    "watch": False,
                    "warm_segments": 0,
                    "demo": False,
                    "libraries": (),
                    "redis_url": redis.url,
                    "node_name": name,
                    "x264_preset": "ultrafast",
                    # A node waits this long for another node's transcode run, then 503s.
                    "transcode_queue_timeout_s": 1.0,
                },
                environ={},
            )
            server = ServerThread(create_app(settings, passwords=passwords)).start()
            stack.callback(server.stop)
            nodes.append(stack.enter_context(AppClient(server)))
        n1, n2 = nodes
        assert n1.post("/api/setup", json={"username": "root", "password": "password-1"})
        login = n1.post("/api/auth/login", json={"username": "root", "password": "password-1"})
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        wait_for(lambda: n2.get("/api/auth/me", headers=headers).status_code == 200)
        add_library(n1, headers, "Movies", "movies", [movies])
        wait_scanned(n1, headers)
        items = n1.get("/api/items", headers=headers).json()["items"]
        c = Cluster(n1, n2, redis, headers)
        c.item = items[0]["id"]
        yield c


def _uris(playlist: str) -> list[str]:
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]


def _media_playlists(master: str) -> list[str]:
    """Every rendition playlist a master names (variant lines and EXT-X-MEDIA URIs)."""
    return [*_uris(master), *re.findall(r'URI="([^"]+)"', master)]


def _play_rendition(node: Node, base: str, uri: str) -> tuple[int, list[bytes]]:
    """Fetch a media playlist and all its segments from ``node``; decode them with PyAV.
    Returns (frames decoded, the raw segments)."""
    r = node.get(base + uri)
    assert r.status_code == 200, r.text
    folder = base + uri.rsplit("/", 1)[0] + "/"
    init = b""
    found = re.search(r'#EXT-X-MAP:URI="([^"]+)"', r.text)
    if found:
        i = node.get(folder + found.group(1))
        assert i.status_code == 200, i.text
        init = i.content
    frames, segments = 0, []
    for name in _uris(r.text):
        s = node.get(folder + name)
        assert s.status_code == 200, s.text
        segments.append(s.content)
        with av.open(io.BytesIO(init + s.content)) as container:
            frames += sum(1 for _ in container.decode(container.streams[0]))
    assert segments, "no segments in " + uri
    return frames, segments


def _stream_base(pb: dict[str, Any]) -> str:
    return pb["url"].split("master.m3u8")[0]


def test_a_session_made_on_one_node_plays_from_the_other(cluster: Cluster) -> None:
    n1, n2 = cluster.n1, cluster.n2
    pb = cluster.play(n1)
    assert services(n2).playback is not None
    assert services(n2).playback.sessions.get(pb["session_id"]) is None  # made on n1 only

    from_n2 = n2.get(pb["url"])
    assert from_n2.status_code == 200, from_n2.text
    # Rebuilt through the same code: the same renditions, the same URLs, byte for byte.
    assert from_n2.content == n1.get(pb["url"]).content
    base = _stream_base(pb)
    renditions = _media_playlists(from_n2.text)
    assert renditions
    frames = 0
    for uri in renditions:
        got, segments = _play_rendition(n2, base, uri)
        frames += got
        # A segment is a pure function of (file, rendition, index): n1 made the same.
        _, from_n1 = _play_rendition(n1, base, uri)
        assert from_n1 == segments
    assert frames >= 6 * 24  # 6 s at 24 fps of video, and the audio frames besides

    # A stop on n1 reaches n2: its copy is dropped and the registry forgets the session.
    stop = n1.delete(f"/api/playback/{pb['session_id']}", params={"token": pb["token"]})
    assert stop.status_code == 204
    wait_for(lambda: n2.get(pb["url"]).status_code == 404)
    assert n1.get(pb["url"]).status_code == 404


def test_a_bad_token_never_reaches_the_registry(cluster: Cluster) -> None:
    pb = cluster.play(cluster.n1)
    forged = pb["url"].replace(pb["token"], pb["token"][:-4] + "AAAA")
    assert cluster.n2.get(forged).status_code == 401
    assert services(cluster.n2).playback is not None
    assert services(cluster.n2).playback.sessions.get(pb["session_id"]) is None


def test_segments_flow_while_redis_is_away_and_new_work_is_refused_fast(
    cluster: Cluster,
) -> None:
    n1, n2, redis = cluster.n1, cluster.n2, cluster.redis
    held = cluster.play(n1)
    unheld = cluster.play(n1)
    master = n2.get(held["url"])
    assert master.status_code == 200  # n2 holds `held` now, not `unheld`
    base = _stream_base(held)
    renditions = _media_playlists(master.text)

    redis.stop()
    try:
        link = services(n2).cluster
        assert link is not None
        wait_for(lambda: not link.connected)
        for uri in renditions:  # every segment, most of them never made before
            frames, _ = _play_rendition(n2, base, uri)
            assert frames > 0

        def refused(response: Any, started: float) -> None:
            assert time.monotonic() - started < 3.0, "not fast"
            assert response.status_code == 503, response.text
            assert int(response.headers["retry-after"]) >= 1
            assert response.json()["error"]["code"] == "cluster_unavailable"

        started = time.monotonic()
        r = n2.post(
            "/api/playback",
            json={"item_id": cluster.item, "device": "chrome"},
            headers=cluster.headers,
        )
        refused(r, started)
        assert n2.get(held["url"]).status_code == 200  # a refused session ended none
        started = time.monotonic()
        r = n2.post("/api/auth/login", json={"username": "root", "password": "password-1"})
        refused(r, started)
        started = time.monotonic()
        refused(n2.get(unheld["url"]), started)  # not held here, registry away: not a 404
    finally:
        redis.start()
    link1 = services(n1).cluster
    assert link1 is not None
    wait_for(lambda: link.connected and link1.connected)
    login = n2.post("/api/auth/login", json={"username": "root", "password": "password-1"})
    assert login.status_code == 200


def test_one_segment_asked_of_both_nodes_at_once_is_transcoded_once(cluster: Cluster) -> None:
    n1, n2 = cluster.n1, cluster.n2
    r = n1.post(
        "/api/playback",
        json={"item_id": cluster.item, "device": "chrome", "protocol": "hls", "max_height": 144},
        headers=cluster.headers,
    )
    assert r.status_code == 201, r.text
    pb = r.json()
    rung = next(v for v in pb["renditions"]["video"] if not v["copy"])
    segment = f"{_stream_base(pb)}t/{pb['token']}/v/{rung['id']}/0.m4s"
    if pb["container"] != "fmp4":
        segment = segment.removesuffix(".m4s") + ".ts"

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda node: node.get(segment), (n1, n2)))
    statuses = sorted(a.status_code for a in answers)
    # The lease holder made it; the other node never started a run of its own: it waited
    # (bounded) for the holder's lease and answered 503 + Retry-After.
    assert statuses == [200, 503], [a.text for a in answers]
    refused = next(a for a in answers if a.status_code == 503)
    assert int(refused.headers["retry-after"]) >= 1
    runs = [services(n).runs for n in (n1, n2)]
    assert sum(len(r.runs()) for r in runs if r is not None) == 1
