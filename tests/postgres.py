"""A throwaway PostgreSQL cluster for the tests and benchmarks.

Debian's server binaries (``scripts/test-postgres-deps`` installs them), a fresh cluster
in a temporary directory on a free 127.0.0.1 port, owned by an unprivileged user (the
server refuses to run as root: under root it runs as Debian's ``postgres`` user), and
stopped by its PID. Durability is switched off: the cluster lives for one test session.

``python -m tests.postgres`` starts one and prints its URL until Ctrl-C (for poking at it
by hand).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

#: Selects the tests' database: ``sqlite`` (default), ``postgresql``, or both, comma-separated.
ENV = "FERRITE_TEST_DATABASE"
ROLE = "ferrite"


class Unavailable(RuntimeError):
    """PostgreSQL's server is not installed (and could not be): tests skip with this."""


def server_bin(debian: Path = Path("/usr/lib/postgresql")) -> Path:
    """The directory of the newest installed ``postgres``/``initdb`` (Debian's layout,
    else the ``PATH``)."""
    versions = sorted(
        debian.glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1].parent
    found = shutil.which("postgres")
    if found:
        return Path(found).resolve().parent
    raise Unavailable(
        "PostgreSQL's server is not installed: run scripts/test-postgres-deps "
        "(apt-get install postgresql)"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """One running server; :meth:`create_database` hands out empty databases."""

    def __init__(self) -> None:
        bindir = server_bin()
        self._user = "postgres" if os.geteuid() == 0 else None
        if self._user is not None:
            try:
                owner = pwd.getpwnam(self._user)
            except KeyError:
                raise Unavailable("running as root and there is no 'postgres' user") from None
        self.root = Path(tempfile.mkdtemp(prefix="ferrite-pg-"))
        if self._user is not None:
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        data = self.root / "data"
        self._names = itertools.count(1)
        self._migrated: str | None = None
        initdb = [str(bindir / "initdb"), "-D", str(data), "-U", ROLE, "-A", "trust"]
        subprocess.run(
            [*initdb, "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
            user=self._user,
            check=True,
            capture_output=True,
            cwd=self.root,
        )
        for _attempt in range(5):
            self.port = _free_port()
            options = {
                "listen_addresses": "127.0.0.1",
                "unix_socket_directories": str(self.root),
                "fsync": "off",  # a throwaway cluster: no durability
                "synchronous_commit": "off",
                "full_page_writes": "off",
                "max_connections": "300",
            }
            argv = [str(bindir / "postgres"), "-D", str(data), "-p", str(self.port)]
            for name, value in options.items():
                argv += ["-c", f"{name}={value}"]
            with (self.root / "server.log").open("ab") as log:
                self._proc = subprocess.Popen(
                    argv, user=self._user, stdout=subprocess.DEVNULL, stderr=log, cwd=self.root
                )
            if self._wait_ready():
                return
            self._kill()
        self.stop()
        raise RuntimeError(f"PostgreSQL did not start; see {self.root / 'server.log'}")

    @property
    def pid(self) -> int:
        return self._proc.pid

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{ROLE}@127.0.0.1:{self.port}/{database}"

    def _admin(self):  # type: ignore[no-untyped-def]
        import psycopg

        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=ROLE, dbname="postgres", autocommit=True
        )

    def _wait_ready(self, timeout: float = 60.0) -> bool:
        import psycopg

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False  # e.g. the port was taken meanwhile
            try:
                self._admin().close()
                return True
            except psycopg.OperationalError:
                time.sleep(0.1)
        return False

    def create_database(self, *, migrated: bool = False) -> str:
        """A new database, empty or (``migrated``) at the newest migration; its URL.

        Migrated ones are copies of a template migrated once (~20 ms instead of ~150 ms
        of migrations per test); the application's start then finds them at head.
        """
        template = "template0"
        if migrated:
            if self._migrated is None:
                self._migrated = self._make_template()
            template = self._migrated
        name = f"t{os.getpid()}_{next(self._names)}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    def _make_template(self) -> str:
        from ferrite.db.engine import Database

        url = self.create_database()
        db = Database(url)
        try:
            db.migrate()
        finally:
            db.close()  # a template may have no connections
        return url.rsplit("/", 1)[1]

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self._proc.wait(30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def stop(self) -> None:
        with contextlib.suppress(AttributeError):
            self._kill()
        shutil.rmtree(self.root, ignore_errors=True)


def backends() -> list[str]:
    """The database backends the tests run on, from :data:`ENV`."""
    names = [n.strip() for n in os.environ.get(ENV, "sqlite").split(",") if n.strip()]
    unknown = set(names) - {"sqlite", "postgresql"}
    if unknown:
        raise ValueError(f"{ENV}: unknown backend(s) {sorted(unknown)}")
    return names or ["sqlite"]


if __name__ == "__main__":  # pragma: no cover - a manual tool
    cluster = Cluster()
    print(cluster.url(), "pid", cluster.pid, flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
