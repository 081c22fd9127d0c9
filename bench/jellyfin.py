"""Jellyfin compatibility benchmark: the cost of speaking Jellyfin's API.

    .venv/bin/python bench/jellyfin.py [--runs 7] [--requests 2000]

Starts a real server (uvicorn on 127.0.0.1, as ``ferrite serve``) on a small generated
library (tests/jellyfin/conftest.py's: two movies, a show with two episodes, 4 s clips),
then measures:

1. **Connect -> first decoded frame**, ``--runs`` times each (median, min):
   - jellyfin-apiclient-python: connect to the address (``/system/info/public``), log in,
     views, items, item detail, PlaybackInfo with a DeviceProfile, then FFmpeg (PyAV)
     opens the returned URL and decodes the first video frame — direct play (Range file)
     and HLS (the same file remuxed to MPEG-TS, ``EnableDirectPlay`` off by profile);
   - the same through Ferrite's own API (with requests, as the apiclient):
     ``/api/auth/login``, ``/api/libraries``, ``/api/items``, ``/api/items/{id}``,
     ``POST /api/playback`` (direct / ``protocol: hls``), decode.
   The HLS path has a cold first segment only on the first run (the cache is shared);
   later runs measure a warm server, like a second viewer.
2. **Per-request cost** (median and p99 in µs, ``--requests`` sequential keep-alive
   requests after a warm-up, one client): ``GET /Items/{id}`` against Ferrite's
   ``GET /api/items/{id}`` (the same item, the same user), ``GET /Items?ParentId=`` against
   ``GET /api/items?library_id=``, and Ferrite's own ``GET /api/items/{id}`` on a second
   server with ``jellyfin_api`` off (what the middleware costs routes it does not claim).

Prints a table for docs/benchmarks.md. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

import httpx  # noqa: E402
import requests  # noqa: E402
from tests.jellyfin.clientflow import DIRECT_PROFILE, HLS_PROFILE, connect, decode, play_url  # noqa: E402
from tests.jellyfin.conftest import Jf, build_media, start  # noqa: E402


def jellyfin_flow(jf: Jf, profile: dict[str, Any], device: str) -> float:
    started = time.perf_counter()
    client = connect(jf.url, "alice", "alice password", device_id=device)
    try:
        api = client.jellyfin
        views = api.get_views()["Items"]
        movies = next(v for v in views if v["Name"] == "Movies")
        items = api.get_user_items(parent_id=movies["Id"])["Items"]
        plain = next(i for i in items if i["Name"] == "Plain")
        api.get_item(plain["Id"])
        info = api.get_play_info(plain["Id"], profile=profile)
        url = play_url(client, jf.url, plain["Id"], info)
        frames, _ = decode(url, frames=1)
        assert frames == 1
        elapsed = time.perf_counter() - started
        api.close_transcode("bench", info["PlaySessionId"])
        return elapsed
    finally:
        client.stop()


def ferrite_flow(jf: Jf, hls: bool) -> float:
    # requests, like the apiclient: an httpx.Client costs ~10 ms to make (its SSL context),
    # which would be charged to Ferrite's side.
    started = time.perf_counter()
    with requests.Session() as c:
        base = jf.url
        token = c.post(
            base + "/api/auth/login", json={"username": "alice", "password": "alice password"}
        )
        h = {"Authorization": f"Bearer {token.json()['access_token']}"}
        c.get(base + "/api/libraries", headers=h).raise_for_status()
        listed = c.get(
            base + "/api/items", params={"library_id": jf.libraries["movies"]}, headers=h
        ).json()
        plain = next(i for i in listed["items"] if i["title"] == "Plain")
        c.get(base + f"/api/items/{plain['id']}", headers=h).raise_for_status()
        body: dict[str, Any] = {"item_id": plain["id"], "device": "android"}
        if hls:
            body["protocol"] = "hls"
        pb = c.post(base + "/api/playback", json=body, headers=h).json()
        frames, _ = decode(base + pb["url"], frames=1)
        assert frames == 1
        elapsed = time.perf_counter() - started
        c.delete(base + f"/api/playback/{pb['session_id']}", params={"token": pb["token"]})
        return elapsed


def per_request(client: httpx.Client, path: str, headers: dict[str, str], n: int) -> list[float]:
    for _ in range(min(200, n)):
        client.get(path, headers=headers).raise_for_status()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(path, headers=headers)
        out.append((time.perf_counter() - t0) * 1e6)
        r.raise_for_status()
    return out


def in_process(n: int = 100_000) -> dict[str, float]:
    """Nanoseconds per call of the layer's own work, without sockets: the middleware's
    pass-through for a path it does not claim, and route match + query/header parsing
    for a Jellyfin request."""
    import asyncio
    from urllib.parse import parse_qsl

    from ferrite.jellyfin import build_api
    from ferrite.jellyfin.dispatch import JellyfinMiddleware, client_token

    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    middleware = JellyfinMiddleware(app, build_api())
    scope = {"type": "http", "path": "/api/items/5", "method": "GET", "headers": []}

    async def through(target: Any) -> float:
        t0 = time.perf_counter_ns()
        for _ in range(n):
            await target(scope, None, None)
        return (time.perf_counter_ns() - t0) / n

    bare = asyncio.run(through(app))
    wrapped = asyncio.run(through(middleware))
    api = build_api()
    headers = {"authorization": 'MediaBrowser Client="x", DeviceId="y", Token="abc.def.ghi"'}
    t0 = time.perf_counter_ns()
    for _ in range(n):
        api.router.match("GET", "/Items/f3e10000000100000000000000000005")
        query: dict[str, list[str]] = {}
        for k, v in parse_qsl("ParentId=abc&Fields=Overview&SortBy=SortName", True):
            query.setdefault(k.lower(), []).append(v)
        client_token(headers, query)
    parse = (time.perf_counter_ns() - t0) / n
    return {
        "middleware pass-through (unclaimed path)": wrapped - bare,
        "route match + query + auth header parse": parse,
    }


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ferrite-bench-jf-") as tmp:
        root = Path(tmp)
        paths = build_media(root / "a")
        flows: dict[str, Callable[[Jf], float]] = {
            "jellyfin apiclient, direct play": lambda jf: jellyfin_flow(jf, DIRECT_PROFILE, "b1"),
            "ferrite API, direct play": lambda jf: ferrite_flow(jf, hls=False),
            "jellyfin apiclient, HLS (remux)": lambda jf: jellyfin_flow(jf, HLS_PROFILE, "b2"),
            "ferrite API, HLS (remux)": lambda jf: ferrite_flow(jf, hls=True),
        }
        results: dict[str, list[float]] = {name: [] for name in flows}
        gen = start(root / "a", paths)
        jf = next(gen)
        try:
            for _ in range(args.runs):
                for name, flow in flows.items():
                    results[name].append(flow(jf))
            token, _ = jf.jf_login("alice")
            jh = {"X-Emby-Token": token}
            fh = jf.ferrite_login("alice")
            item, movies = jf.items["Plain"], jf.libraries["movies"]
            view = f"f3e10000000200000000{movies:012x}"
            with httpx.Client(base_url=jf.url, timeout=30) as c:
                lat = {
                    "GET /Items/{id} (jellyfin)": per_request(
                        c, f"/Items/{jf.guid('Plain')}", jh, args.requests
                    ),
                    "GET /api/items/{id} (ferrite)": per_request(
                        c, f"/api/items/{item}", fh, args.requests
                    ),
                    "GET /Items?ParentId= (jellyfin)": per_request(
                        c, f"/Items?ParentId={view}", jh, args.requests
                    ),
                    "GET /api/items?library_id= (ferrite)": per_request(
                        c, f"/api/items?library_id={movies}", fh, args.requests
                    ),
                    "GET /System/Info/Public (jellyfin, no auth)": per_request(
                        c, "/System/Info/Public", {}, args.requests
                    ),
                    "GET /healthz (ferrite, no auth)": per_request(
                        c, "/healthz", {}, args.requests
                    ),
                }
        finally:
            gen.close()
        off_root = root / "b"
        off_paths = build_media(off_root)
        gen2 = start(off_root, off_paths, jellyfin_api=False)
        jf2 = next(gen2)
        try:
            with httpx.Client(base_url=jf2.url, timeout=30) as c:
                lat["GET /api/items/{id} (ferrite, jellyfin_api off)"] = per_request(
                    c, f"/api/items/{jf2.items['Plain']}", jf2.ferrite_login("alice"), args.requests
                )
                lat["GET /healthz (ferrite, jellyfin_api off)"] = per_request(
                    c, "/healthz", {}, args.requests
                )
        finally:
            gen2.close()
    print(f"\nconnect -> first decoded frame ({args.runs} runs; first run includes cold caches)")
    print(f"{'flow':40} {'median ms':>10} {'min ms':>8} {'first ms':>9}")
    for name, samples in results.items():
        print(
            f"{name:40} {statistics.median(samples) * 1000:10.1f} {min(samples) * 1000:8.1f}"
            f" {samples[0] * 1000:9.1f}"
        )
    print("\nin process, no sockets (ns per request)")
    for name, ns in in_process().items():
        print(f"{name:48} {ns:10.0f}")
    print(f"\nper request ({args.requests} sequential keep-alive requests, one client)")
    print(f"{'request':48} {'median µs':>10} {'p99 µs':>8}")
    for name, samples in lat.items():
        med, p99 = summary(samples)
        print(f"{name:48} {med:10.0f} {p99:8.0f}")


if __name__ == "__main__":
    main()
