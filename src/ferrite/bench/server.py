"""The server a benchmark run measures: in this process, a child process, or elsewhere.

- :class:`InProcessServer` (the default): ``create_app`` under uvicorn (uvloop +
  httptools, as ``ferrite serve`` runs) in a thread of this process, on 127.0.0.1 and a
  free port. Its CPU is this process's minus the benchmark's own thread (the viewers'
  event loop), plus its ffmpeg children.
- :class:`SpawnedServer` (``--spawn``): ``python -m ferrite.cli serve`` as a child
  process: nothing shared with the clients (not even the GIL), and the process to point
  ``py-spy`` at.
- :class:`RemoteServer` (``--url``): someone else's server; CPU and memory only if its
  process id is given (``--server-pid``) and it runs on this machine.

Every kind ends up with an admin account the benchmark can log in with: a fresh data
directory gets one through ``POST /api/setup``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Protocol

import httpx

from ferrite import config
from ferrite.errors import FerriteError


class BenchServer(Protocol):
    url: str
    pid: int | None
    exclude_threads: tuple[int, ...]
    owned: bool  # started by the benchmark: restarted (cold cache) for every run

    def start(self) -> None: ...
    def stop(self) -> None: ...


def bench_settings(data_dir: Path, library: Path | None, **overrides: object) -> config.Settings:
    """Settings of a benchmark server: the generated library, no demo, no watcher, quiet
    logs; ``FERRITE_*`` variables still apply (e.g. ``FERRITE_TRANSCODE_SLOTS=2``)."""
    values: dict[str, object] = {
        "data_dir": data_dir,
        "libraries": (library,) if library is not None else (),
        "demo": False,
        "watch": False,
        "log_level": "warning",
        "port": 0,
    }
    values.update(overrides)
    return config.load(values)


class InProcessServer:
    owned = True

    def __init__(self, settings: config.Settings) -> None:
        self.settings = settings
        self.url = ""
        self.pid: int | None = os.getpid()
        # The caller's thread runs the viewers: its CPU is not the server's.
        self.exclude_threads: tuple[int, ...] = (threading.get_native_id(),)
        self._thread: threading.Thread | None = None
        self._server: object = None

    def start(self) -> None:
        import uvicorn

        from ferrite.app import create_app

        cfg = uvicorn.Config(
            create_app(self.settings),
            host="127.0.0.1",
            port=0,
            loop="uvloop",
            http="httptools",
            lifespan="on",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=5,
        )
        server = uvicorn.Server(cfg)
        self._server = server
        self._thread = threading.Thread(target=server.run, name="ferrite-bench-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 60
        while not server.started:
            if not self._thread.is_alive():
                raise FerriteError("the benchmark server failed to start")
            if time.monotonic() > deadline:
                raise FerriteError("the benchmark server did not start in time")
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        server = self._server
        if server is None or self._thread is None:
            return
        server.should_exit = True  # type: ignore[attr-defined]
        self._thread.join(60)
        self._server = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SpawnedServer:
    owned = True
    exclude_threads: tuple[int, ...] = ()

    def __init__(self, data_dir: Path, library: Path | None, *, wrap: tuple[str, ...] = ()) -> None:
        self.data_dir = data_dir
        self.library = library
        self.wrap = wrap  # e.g. ("py-spy", "record", "-o", "out.svg", "--")
        self.url = ""
        self.pid: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = data_dir / "server.log"

    def start(self) -> None:
        port = free_port()
        argv = [*self.wrap, sys.executable, "-m", "ferrite.cli", "serve", "--port", str(port)]
        argv += ["--data-dir", str(self.data_dir)]
        if self.library is not None:
            argv += ["--library", str(self.library)]
        env = {
            **os.environ,
            "FERRITE_DEMO": "0",
            "FERRITE_WATCH": "0",
            "FERRITE_LOG_LEVEL": os.environ.get("FERRITE_LOG_LEVEL", "warning"),
        }
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self._log.open("ab") as log:
            self._proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env
            )
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            if self._proc.poll() is not None:
                raise FerriteError(f"the benchmark server exited; see {self._log}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise FerriteError("the benchmark server did not start in time")
            time.sleep(0.1)
        self.pid = self._python_pid()

    def _python_pid(self) -> int:
        """The server's own pid (under a wrapper such as py-spy, its child's)."""
        assert self._proc is not None
        if not self.wrap:
            return self._proc.pid
        from ferrite.bench.procstat import children_of

        kids = children_of(self._proc.pid)
        return kids[0] if kids else self._proc.pid

    def stop(self) -> None:
        proc = self._proc
        if proc is None:
            return
        import signal

        if self.wrap and self.pid is not None and self.pid != proc.pid:
            os.kill(self.pid, signal.SIGINT)  # the server; the wrapper exits after it
        else:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self._proc = None


class RemoteServer:
    owned = False
    exclude_threads: tuple[int, ...] = ()

    def __init__(self, url: str, pid: int | None = None) -> None:
        self.url = url.rstrip("/")
        self.pid = pid

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass
