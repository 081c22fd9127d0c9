"""A real uvicorn server (uvloop + httptools, as ``ferrite serve`` runs) on 127.0.0.1 in a
thread, on a free port, with its lifespan; and an httpx client bound to it."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI


class ServerThread:
    def __init__(self, app: FastAPI) -> None:
        self.app = app
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            loop="uvloop",
            http="httptools",
            lifespan="on",
            log_level="warning",
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn-test", daemon=True)
        self.port = 0

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the server failed to start")
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start in time")
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        assert not self.thread.is_alive(), "the server did not stop"


class AppClient(httpx.Client):
    """An httpx client for a running :class:`ServerThread`; ``.app`` is the FastAPI app."""

    def __init__(self, server: ServerThread, **kwargs: Any) -> None:
        super().__init__(base_url=server.url, timeout=30, **kwargs)
        self.app = server.app
        self.server = server
