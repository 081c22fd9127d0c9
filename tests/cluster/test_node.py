"""The node's edges (cluster/node.py): readiness reasons and the drain on SIGTERM."""

from __future__ import annotations

import asyncio
import signal

import uvicorn
from starlette.applications import Starlette

from ferrite.cluster.node import DrainingServer, NodeState, unready_reasons


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
