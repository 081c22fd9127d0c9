"""A throwaway nginx front (Debian's nginx, deploy/nginx/ferrite.conf filled in) on
127.0.0.1, run as the current user with its own prefix, started and stopped by PID."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.cluster.redisserver import free_port

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "ferrite.conf"


def render(template: str, *, listen: str, nodes: Sequence[str], runtime_dir: Path) -> str:
    """The front's config for ``nodes`` (``host:port`` each)."""
    servers = " ".join(f"server {n} max_fails=1 fail_timeout=5s;" for n in nodes)
    return (
        template.replace("@LISTEN@", listen)
        .replace("@NODES@", servers)
        .replace("@RUNTIME_DIR@", str(runtime_dir))
    )


class NginxFront:
    def __init__(self, directory: Path, nodes: Sequence[str], port: int | None = None) -> None:
        binary = shutil.which("nginx") or (
            "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
        )
        if binary is None:
            pytest.skip("nginx is not installed (scripts/test-cluster-deps installs it)")
        self.binary = binary
        self.directory = directory
        self.port = port or free_port()
        self.nodes = list(nodes)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def access_log(self) -> Path:
        return self.directory / "access.log"

    def start(self) -> NginxFront:
        for sub in ("tmp", "cache"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        conf = self.directory / "nginx.conf"
        conf.write_text(
            render(
                TEMPLATE.read_text(),
                listen=f"127.0.0.1:{self.port}",
                nodes=self.nodes,
                runtime_dir=self.directory,
            )
        )
        argv = [self.binary, "-p", str(self.directory), "-c", str(conf), "-e", "stderr"]
        subprocess.run([*argv, "-t", "-q"], check=True, capture_output=True)
        # daemon off: the master is our child (its PID); it stops its workers itself
        # Under root nginx's workers would drop to "nobody", who cannot write our tmp dir:
        # they run as the current user, like the master.
        directives = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
        with (self.directory / "stderr.log").open("wb") as err:
            self.process = subprocess.Popen(
                [*argv, "-g", directives], stdout=subprocess.DEVNULL, stderr=err
            )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    err = (self.directory / "stderr.log").read_text()
                    raise RuntimeError(f"nginx did not start: {err}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # the master stops its workers
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
