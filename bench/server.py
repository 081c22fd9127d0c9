"""Server benchmark: auth hot path, item list/detail latency at 50,000 items, direct-play
throughput on loopback. Prints numbers; asserts nothing about speed.

    .venv/bin/python bench/server.py                # everything
    .venv/bin/python bench/server.py --items 50000 --file-mib 256 --readers 1 20

The auth numbers are measured in-process (the same call the request dependency makes).
The HTTP numbers come from a real ``ferrite serve`` subprocess (uvicorn + uvloop +
httptools) on 127.0.0.1, with clients in this process: on a small machine they share the
CPU, so the throughput figures are a floor, not a ceiling.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Connection, insert, text

from ferrite.auth import users
from ferrite.auth.passwords import Passwords
from ferrite.auth.tokens import AccessTokens, AuthTable, Principal, StreamTokens
from ferrite.db.engine import Database
from ferrite.db.schema import items, libraries, library_paths, media_files, progress, streams

WORDS = tuple(
    "red blue green night day river city dark light lost found king queen star moon sun "  # noqa: SIM905
    "stone fire water wind iron glass paper silver golden last first empty broken silent".split()
)


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def timed_us(fn: Callable[[], object], n: int) -> tuple[float, float]:
    samples = []
    for _ in range(n):
        t = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - t) / 1000)
    return statistics.median(samples), percentile(samples, 99)


# -- auth --------------------------------------------------------------------------------------
def bench_auth(n: int) -> list[tuple[str, float, float]]:
    now = time.time()
    table = AuthTable(
        Principal(i, f"user{i}", i == 1, False, 0, frozenset({1, 2, 3})) for i in range(1, 1001)
    )
    tokens = AccessTokens(b"k" * 32, table, ttl_s=3600, clock=time.time)
    header = "Bearer " + tokens.issue(table.get(1)).token  # type: ignore[arg-type]
    cold = AccessTokens(b"k" * 32, table, ttl_s=3600, clock=time.time, cache_size=0)
    cold_token = header.removeprefix("Bearer ")

    def no_cache() -> None:
        cold._cache.clear()
        cold.verify(cold_token)

    streams_ = StreamTokens(b"k" * 32, clock=time.time)
    stoken = streams_.sign_stream_token("0123456789abcdef", 42, 7, now + 3600)
    return [
        (
            "access token, seen before (the hot path)",
            *timed_us(lambda: tokens.verify_header(header), n),
        ),
        ("access token, first sight (JWT decode)", *timed_us(no_cache, n)),
        (
            "stream token (HMAC)",
            *timed_us(lambda: streams_.verify_stream_token(stoken, "0123456789abcdef"), n),
        ),
    ]


# -- data ----------------------------------------------------------------------------------------
def seed(conn: Connection, n_items: int, big_file: Path, clip_dir: Path) -> dict[str, int]:
    """``n_items`` items: movies plus shows with seasons and episodes, each playable item
    with a file row and two streams, FTS rows, and progress for user 1 on 10 %."""
    rng = random.Random(7)
    lib = conn.execute(
        insert(libraries).values(name="Bench", kind="mixed", created_at=0).returning(libraries.c.id)
    ).scalar_one()
    conn.execute(insert(library_paths).values(library_id=lib, path=str(clip_dir)))
    rows: list[dict[str, Any]] = []
    next_id = 1
    shows = n_items // 50  # each show: 1 show + 2 seasons + 10 episodes = 13 rows
    for _ in range(shows):
        show_id = next_id
        title = " ".join(rng.sample(WORDS, 3)).title()
        rows.append(_row(show_id, lib, "show", title, None, added=rng.random() * 1e6))
        next_id += 1
        for season in (1, 2):
            season_id = next_id
            rows.append(_row(season_id, lib, "season", f"Season {season}", show_id, season=season))
            next_id += 1
            for ep in range(1, 6):
                rows.append(
                    _row(
                        next_id,
                        lib,
                        "episode",
                        f"{title} {season}x{ep}",
                        season_id,
                        season=season,
                        episode=ep,
                        duration=2400.0,
                    )
                )
                next_id += 1
    while next_id <= n_items:
        title = " ".join(rng.sample(WORDS, 3)).title()
        rows.append(
            _row(
                next_id,
                lib,
                "movie",
                title,
                None,
                year=1950 + rng.randrange(75),
                added=rng.random() * 1e6,
                duration=6000.0,
            )
        )
        next_id += 1
    for i in range(0, len(rows), 5000):
        conn.execute(insert(items), rows[i : i + 5000])
    playable = [r for r in rows if r["kind"] in ("movie", "episode")]
    files, strs = [], []
    for fid, r in enumerate(playable, 1):
        files.append(
            {
                "id": fid,
                "library_id": lib,
                "item_id": r["id"],
                "path": str(clip_dir / f"f{fid}.mkv"),
                "size": 1,
                "mtime_ns": 0,
                "fingerprint": f"{fid:040x}",
                "container": "matroska",
                "duration_s": r["duration_s"],
                "bitrate": 4_000_000,
                "start_time_s": 0.0,
                "probe_status": "ok",
                "probe_error": None,
                "probed_at": 0.0,
            }
        )
        base = {c.name: None for c in streams.c}
        strs.append(
            base
            | {
                "file_id": fid,
                "index": 0,
                "type": "video",
                "codec": "h264",
                "time_base": "1/1000",
                "width": 1920,
                "height": 1080,
                "hdr": "none",
                "is_default": True,
                "is_forced": False,
            }
        )
        strs.append(
            base
            | {
                "file_id": fid,
                "index": 1,
                "type": "audio",
                "codec": "aac",
                "time_base": "1/48000",
                "channels": 2,
                "hdr": "none",
                "is_default": True,
                "is_forced": False,
            }
        )
    for i in range(0, len(files), 5000):
        conn.execute(insert(media_files), files[i : i + 5000])
    for i in range(0, len(strs), 5000):
        conn.execute(insert(streams), strs[i : i + 5000])
    fts = [
        {"id": r["id"], "t": r["title"], "c": "", "f": ""} for r in rows if r["kind"] != "season"
    ]
    conn.execute(
        text("INSERT INTO items_fts (rowid, title, context, filename) VALUES (:id, :t, :c, :f)"),
        fts,
    )
    # The big file for direct play: one more movie.
    movie = n_items + 1
    conn.execute(
        insert(items).values(**_row(movie, lib, "movie", "Big Bench File", None, duration=600.0))
    )
    conn.execute(
        insert(media_files).values(
            library_id=lib,
            item_id=movie,
            path=str(big_file),
            size=big_file.stat().st_size,
            mtime_ns=big_file.stat().st_mtime_ns,
            fingerprint="b" * 40,
            container="matroska",
            probe_status="ok",
            probed_at=0.0,
        )
    )
    return {
        "library": lib,
        "movie": playable[-1]["id"],
        "show": rows[0]["id"],
        "season": rows[1]["id"],
        "big": movie,
        "rows": len(rows) + 1,
    }


def _row(i: int, lib: int, kind: str, title: str, parent: int | None, **kw: Any) -> dict[str, Any]:
    return {
        "id": i,
        "library_id": lib,
        "parent_id": parent,
        "kind": kind,
        "title": title,
        "sort_title": title.lower(),
        "year": kw.get("year"),
        "season_number": kw.get("season"),
        "episode_number": kw.get("episode"),
        "episode_end": None,
        "duration_s": kw.get("duration"),
        "added_at": kw.get("added", 0.0),
        "artwork": None,
    }


def add_progress(conn: Connection, user_id: int, item_ids: list[int]) -> None:
    conn.execute(
        insert(progress),
        [
            {
                "user_id": user_id,
                "item_id": i,
                "position_s": 60.0,
                "played": False,
                "updated_at": float(i),
            }
            for i in item_ids
        ],
    )


# -- http ----------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_latency(
    client: httpx.Client, url: str, headers: dict[str, str], n: int
) -> tuple[float, float]:
    client.get(url, headers=headers).raise_for_status()  # warm
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        r = client.get(url, headers=headers)
        samples.append((time.perf_counter() - t) * 1000)
        r.raise_for_status()
    return statistics.median(samples), percentile(samples, 99)


def read_file(port: int, path: str, token: str, expect: int) -> int:
    """GET ``path`` with a raw socket, count the body bytes (no parsing cost to speak of)."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: b\r\nAuthorization: Bearer {token}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        buf = bytearray(1024 * 1024)
        view = memoryview(buf)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeError("connection closed in headers")
            head += chunk
        header, _, rest = head.partition(b"\r\n\r\n")
        if not header.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(header.decode(errors="replace"))
        got = len(rest)
        while got < expect:
            n = sock.recv_into(view)
            if n == 0:
                break
            got += n
        return got


def throughput(port: int, path: str, token: str, size: int, readers: int) -> float:
    results: list[int] = []
    lock = threading.Lock()

    def one() -> None:
        n = read_file(port, path, token, size)
        with lock:
            results.append(n)

    threads = [threading.Thread(target=one) for _ in range(readers)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t
    assert all(n == size for n in results), results
    return sum(results) / elapsed / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--items", type=int, default=50_000)
    ap.add_argument("--file-mib", type=int, default=256)
    ap.add_argument("--readers", type=int, nargs="+", default=[1, 20])
    ap.add_argument("--requests", type=int, default=300, help="HTTP requests per latency row")
    ap.add_argument("--auth-iterations", type=int, default=200_000)
    args = ap.parse_args()

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print("\n## auth check (in-process, µs)")
    print(f"{'check':48} {'median':>8} {'p99':>8}")
    for name, med, p99 in bench_auth(args.auth_iterations):
        print(f"{name:48} {med:8.2f} {p99:8.2f}")

    with tempfile.TemporaryDirectory(prefix="ferrite-bench-") as tmp:
        root = Path(tmp)
        data_dir = root / "data"
        clip_dir = root / "media"
        clip_dir.mkdir()
        big = clip_dir / "big.mkv"
        with big.open("wb") as f:
            block = os.urandom(1024 * 1024)
            for _ in range(args.file_mib):
                f.write(block)
        size = big.stat().st_size
        db = Database(f"sqlite:///{data_dir / 'ferrite.db'}")
        t = time.perf_counter()
        db.migrate()
        ids = db.write_sync(seed, args.items, big, clip_dir)
        passwords = Passwords()
        pw_hash = passwords.hash_sync("bench")
        passwords.close()
        db.write_sync(
            lambda c: users.create_user(
                c, username="admin", password_hash=pw_hash, is_admin=True, library_ids=(), now=0
            )
        )
        viewer = db.write_sync(
            lambda c: users.create_user(
                c,
                username="viewer",
                password_hash=pw_hash,
                is_admin=False,
                library_ids=(ids["library"],),
                now=0,
            )
        )
        db.write_sync(add_progress, viewer.id, list(range(1, args.items, 10)))
        db.close()
        print(f"\nseeded {ids['rows']} items in {time.perf_counter() - t:.1f} s")

        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("FERRITE_")}
        env.update(FERRITE_WATCH="0", FERRITE_LOG_LEVEL="warning")
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ferrite.cli",
                "serve",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
            ],
            env=env,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(base + "/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise
                    time.sleep(0.1)
            with httpx.Client(base_url=base, timeout=60) as client:
                token = client.post(
                    "/api/auth/login", json={"username": "viewer", "password": "bench"}
                ).json()["access_token"]
                headers = {"Authorization": f"Bearer {token}"}
                print(
                    f"\n## API latency over HTTP, {ids['rows']} items, "
                    "non-admin caller with progress (ms)"
                )
                print(f"{'request':58} {'median':>8} {'p99':>8}")
                rows = [
                    ("GET /api/items (top level, by title, 50)", "/api/items"),
                    ("GET /api/items?sort=added&limit=100", "/api/items?sort=added&limit=100"),
                    ("GET /api/items?sort=year&offset=20000", "/api/items?sort=year&offset=20000"),
                    ("GET /api/items?kind=episode&limit=500", "/api/items?kind=episode&limit=500"),
                    ("GET /api/items?q=night river", "/api/items?q=night%20river"),
                    (f"GET /api/items/{ids['movie']} (detail)", f"/api/items/{ids['movie']}"),
                    (
                        f"GET /api/items/{ids['season']}/children",
                        f"/api/items/{ids['season']}/children",
                    ),
                    ("GET /api/continue", "/api/continue"),
                    ("GET /api/libraries", "/api/libraries"),
                    ("GET /healthz (floor: HTTP + client overhead)", "/healthz"),
                ]
                for name, url in rows:
                    med, p99 = http_latency(client, url, headers, args.requests)
                    print(f"{name:58} {med:8.2f} {p99:8.2f}")
                file_url = f"/api/items/{ids['big']}/file"
                med, p99 = http_latency(
                    client, file_url, {**headers, "Range": "bytes=1000000-1065535"}, args.requests
                )
                print(f"{'GET file, Range 64 KiB (a seek)':58} {med:8.2f} {p99:8.2f}")

            print(f"\n## direct play, {args.file_mib} MiB file, full GETs on loopback")
            print(f"{'readers':>8} {'total MB/s':>12} {'per reader MB/s':>16}")
            for n in args.readers:
                throughput(port, file_url, token, size, 1)  # warm the page cache
                mbps = statistics.median(
                    throughput(port, file_url, token, size, n) for _ in range(3)
                )
                print(f"{n:8d} {mbps:12.0f} {mbps / n:16.0f}")
        finally:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    main()
