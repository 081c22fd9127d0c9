"""``ferrite bench``: runs of N viewers against a server, measured and reported.

For each viewer count: start the server (a fresh one, cold cache, unless it's ``--url``),
log in, find the titles, scrape ``/metrics``, start CPU/memory sampling, run the viewers
(:mod:`ferrite.bench.viewer`, one asyncio task each, sharing one httpx client with a
bounded connection pool) for ``duration_s``, then scrape again and stop the server. The
pure pieces — plans, the virtual buffer, statistics, the report — live in their own
modules; this one does the I/O and the order of things.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ferrite import __version__
from ferrite.bench import media, procstat, report
from ferrite.bench.schedule import make_plans
from ferrite.bench.server import (
    BenchServer,
    InProcessServer,
    RemoteServer,
    SpawnedServer,
    bench_settings,
)
from ferrite.bench.stats import ViewerStats
from ferrite.bench.viewer import Mode, Target, Title, Viewer
from ferrite.errors import FerriteError

log = logging.getLogger(__name__)

SAMPLE_INTERVAL_S = 0.5
DEFAULT_USER = ("bench", "bench-password-0")


@dataclass
class Options:
    viewers: list[int] = field(default_factory=lambda: [1, 10, 50])
    mode: Mode = "copy"
    duration_s: float = 60.0
    seed: int = 1
    seeks: int = 2
    switch_fraction: float = 0.3
    ramp_s: float = 5.0
    buffer_s: float = 30.0
    connections: int = 0  # 0: 2 per viewer, at most 128
    titles: int = 10
    # the server
    url: str | None = None
    username: str | None = None
    password: str | None = None
    server_pid: int | None = None
    spawn: bool = False
    spawn_wrap: tuple[str, ...] = ()
    data_dir: Path | None = None
    media_dir: Path | None = None
    library: media.LibrarySpec = field(default_factory=media.LibrarySpec)
    json_path: Path | None = None


def parse_metrics(text: str) -> report.Samples:
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.endswith("_bucket") or s.name.endswith("_created"):
                continue
            out[(s.name, frozenset(s.labels.items()))] = float(s.value)
    return out


class Session:
    """A logged-in API client for one run's server."""

    def __init__(self, base_url: str, client: httpx.AsyncClient) -> None:
        self.base_url = base_url
        self.client = client
        self.headers: dict[str, str] = {}

    async def login(self, username: str, password: str, *, setup: bool) -> None:
        c, base = self.client, self.base_url
        if setup:
            # A fresh data directory: the first account becomes the admin.
            await c.post(f"{base}/api/setup", json={"username": username, "password": password})
        r = await c.post(
            f"{base}/api/auth/login", json={"username": username, "password": password}
        )
        if r.status_code != 200:
            raise FerriteError(f"login as {username!r} failed: {r.status_code} {r.text[:200]}")
        self.headers = {"Authorization": f"Bearer {r.json()['access_token']}"}

    async def wait_scanned(self, timeout_s: float = 600) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            r = await self.client.get(f"{self.base_url}/api/libraries", headers=self.headers)
            r.raise_for_status()
            libs = r.json()
            if libs and not any(lib["scanning"] for lib in libs):
                return
            if time.monotonic() > deadline:
                raise FerriteError("the library scan did not finish in time")
            await asyncio.sleep(0.2)

    async def titles(self, limit: int) -> dict[int, Title]:
        r = await self.client.get(
            f"{self.base_url}/api/items", params={"limit": 500}, headers=self.headers
        )
        r.raise_for_status()
        found: dict[int, Title] = {}
        for item in r.json()["items"]:
            if item["kind"] not in ("movie", "episode") or (item.get("duration_s") or 0) < 10:
                continue
            d = await self.client.get(
                f"{self.base_url}/api/items/{item['id']}", headers=self.headers
            )
            d.raise_for_status()
            detail = d.json()
            heights = [
                s.get("height") or 0
                for f in detail.get("files", [])
                for s in f.get("streams", [])
                if s.get("type") == "video"
            ]
            found[item["id"]] = Title(item["id"], float(item["duration_s"]), max(heights or [0]))
            if len(found) >= limit:
                break
        if not found:
            raise FerriteError("the server has no playable title of 10 s or more")
        return found

    async def scrape(self) -> report.Samples | None:
        try:
            r = await self.client.get(f"{self.base_url}/metrics", headers=self.headers)
        except httpx.HTTPError:
            return None
        if r.status_code != 200:
            return None
        return parse_metrics(r.text)


async def _run_viewers(
    opts: Options, server: BenchServer, viewers: int, username: str, password: str
) -> dict[str, Any]:
    connections = opts.connections or min(128, max(2, 2 * viewers))
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    timeout = httpx.Timeout(120.0, pool=None)  # waiting for a pooled connection isn't an error
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        api = Session(server.url, client)
        await api.login(username, password, setup=server.owned)
        await api.wait_scanned()
        titles = await api.titles(opts.titles)
        before = await api.scrape()
        plans = make_plans(
            seed=opts.seed,
            viewers=viewers,
            duration_s=opts.duration_s,
            items=sorted(titles),
            seeks=opts.seeks,
            switch_fraction=opts.switch_fraction,
            ramp_s=opts.ramp_s,
        )
        target = Target(
            base_url=server.url,
            headers=api.headers,
            titles=titles,
            mode=opts.mode,
            buffer_s=opts.buffer_s,
        )
        probe = procstat.ServerProbe(server.pid, server.exclude_threads) if server.pid else None
        load = [procstat.load_average()]
        start = time.monotonic()
        deadline = start + opts.duration_s
        client_cpu = time.thread_time()  # every viewer runs on this thread's event loop
        if probe is not None:
            probe.start()

        async def sample() -> None:
            while probe is not None:
                await asyncio.sleep(SAMPLE_INTERVAL_S)
                probe.sample()

        sampler = asyncio.create_task(sample())
        try:
            tasks = [
                Viewer(client, target, plan, run_start=start, deadline=deadline).run()
                for plan in plans
            ]
            stats: list[ViewerStats] = list(await asyncio.gather(*tasks))
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
        wall = time.monotonic() - start
        client_cpu = time.thread_time() - client_cpu
        usage = probe.stop() if probe is not None else None
        load.append(procstat.load_average())
        after = await api.scrape()
    delta = report.metrics_delta(before, after) if before is not None and after else None
    return report.run_result(
        mode=opts.mode,
        viewers=viewers,
        duration_s=opts.duration_s,
        wall_s=wall,
        seed=opts.seed,
        connections=connections,
        stats=stats,
        usage=usage,
        client_cpu_s=client_cpu,
        delta=delta,
        load_avg=load,
    )


def _media_root(opts: Options) -> Path:
    if opts.media_dir is not None:
        return opts.media_dir
    if opts.data_dir is not None:
        return opts.data_dir / "bench-media"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "ferrite" / "bench-media"


def run(opts: Options, *, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Every run of ``opts``; returns the JSON document (and writes it to ``json_path``)."""
    doc: dict[str, Any] = {
        "ferrite_version": __version__,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": {"cpus": os.cpu_count(), "load_avg": list(procstat.load_average())},
        "options": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in asdict(opts).items()
            if k not in ("password", "library", "spawn_wrap")
        },
        "runs": [],
    }
    tmp: tempfile.TemporaryDirectory[str] | None = None
    library: Path | None = None
    if opts.url is None:
        spec = opts.library
        library, generated_s = media.generate(_media_root(opts), spec)
        doc["library"] = {
            **asdict(spec),
            "path": str(library),
            "generated_s": round(generated_s, 1),
        }
        if generated_s:
            echo(f"generated {spec.clips} clips ({spec.key}) in {generated_s:.1f} s")
        if opts.data_dir is None:
            tmp = tempfile.TemporaryDirectory(prefix="ferrite-bench-")
        data_dir = opts.data_dir or Path(tmp.name)  # type: ignore[union-attr]
        username, password = opts.username or DEFAULT_USER[0], opts.password or DEFAULT_USER[1]
        doc["server"] = "spawned" if opts.spawn else "in-process"
    else:
        if not (opts.username and opts.password):
            raise FerriteError("--url needs --username and --password")
        username, password = opts.username, opts.password
        doc["server"] = opts.url
    try:
        for n in opts.viewers:
            server: BenchServer
            if opts.url is not None:
                server = RemoteServer(opts.url, opts.server_pid)
            elif opts.spawn:
                server = SpawnedServer(data_dir, library, wrap=opts.spawn_wrap)
            else:
                server = InProcessServer(bench_settings(data_dir, library))
            server.start()
            try:
                echo(f"{opts.mode}: {n} viewer(s) for {opts.duration_s:.0f} s ...")
                result = asyncio.run(_run_viewers(opts, server, n, username, password))
            finally:
                server.stop()
            doc["runs"].append(result)
            echo(report.render_table([result]).splitlines()[-1])
    finally:
        if tmp is not None:
            tmp.cleanup()
    doc["host"]["load_avg_end"] = list(procstat.load_average())
    if opts.json_path is not None:
        opts.json_path.parent.mkdir(parents=True, exist_ok=True)
        opts.json_path.write_text(json.dumps(doc, indent=2) + "\n")
    return doc
