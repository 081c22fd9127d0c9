"""The node's edges (cluster/node.py): readiness reasons and the drain on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette

from ferrite.cluster.node import DrainingServer, NodeState, unready_reasons
from tests.cluster.redisserver import free_port


def test_readiness_reasons() -> None:
    assert unready_reasons(database=True, redis=None, draining=False) == []
    assert unready_reasons(database=True, redis=True, draining=False) == []
    assert unready_reasons(database=False, redis=False, draining=True) == [
        "database: not answering",
        "redis: not linked",
        "draining: the node is shutting down",
    ]


def _server(drain_s: float) -> tuple[DrainingServer, NodeState]:
    node = NodeState("n1")
    return DrainingServer(uvicorn.Config(Starlette()), node, drain_s), node


def test_sigterm_drains_then_exits() -> None:
    server, node = _server(drain_s=0.2)
    server.handle_exit(signal.SIGTERM, None)
    assert node.draining
    assert not server.should_exit
    assert asyncio.run(server.on_tick(1)) is False
    asyncio.run(asyncio.sleep(0.25))
    assert asyncio.run(server.on_tick(2)) is True  # the drain is over: graceful shutdown


def test_a_second_signal_or_no_drain_stops_at_once() -> None:
    server, node = _server(drain_s=30)
    server.handle_exit(signal.SIGTERM, None)
    server.handle_exit(signal.SIGTERM, None)
    assert server.should_exit
    server, node = _server(drain_s=0)
    server.handle_exit(signal.SIGTERM, None)
    assert node.draining
    assert server.should_exit


def test_ferrite_serve_drains_on_sigterm(tmp_path: Path) -> None:
    """A real ``ferrite serve`` (single node, SQLite): SIGTERM turns /readyz 503 at once
    while requests are still served, then the process exits on its own."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERRITE_")}
    env.update({"FERRITE_WATCH": "0", "FERRITE_DEMO": "0", "FERRITE_DRAIN_S": "2"})
    argv = [sys.executable, "-m", "ferrite.cli", "serve", "--port", str(port)]
    proc = subprocess.Popen(
        [*argv, "--data-dir", str(tmp_path / "d")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                ready = httpx.get(url + "/readyz", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert ready.status_code == 200
        assert ready.headers["x-ferrite-node"] == ready.json()["node"]
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        draining = httpx.get(url + "/readyz", timeout=2)
        assert draining.status_code == 503
        assert draining.json()["reasons"] == ["draining: the node is shutting down"]
        assert httpx.get(url + "/healthz", timeout=2).status_code == 200  # still serving
        assert proc.wait(15) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
