"""The database: one writer thread, a pool of reader threads, migrations at start.

SQLite allows one writer at a time; funnelling every write through one thread with
``BEGIN IMMEDIATE`` means writers queue in Python instead of failing with "database is
locked", while WAL lets readers run beside it. Callers pass plain functions of a
connection, so the queries themselves stay testable against a temporary database, and
the event loop never blocks on SQLite.

PostgreSQL (``database_url = postgresql+psycopg://...``) needs no single writer: writes
run on a pool of threads and connections, concurrently. What stays correct without the
single writer: every write is one transaction (``Database.write``); read-modify-write
sequences either are single statements (``token_version = token_version + 1``, upserts)
or are guarded by unique constraints that turn a lost race into the same error a
sequential duplicate gets. Migrations take an advisory lock, so nodes starting together
on an empty database migrate once (the others wait, then find the schema at head).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError

from ferrite.errors import FerriteError, StorageError, Unprocessable

T = TypeVar("T")

MIGRATIONS = Path(__file__).with_name("migrations")
#: The PostgreSQL advisory lock held while migrating ("ferrite" in ASCII).
MIGRATION_LOCK = 0x66_65_72_72_69_74_65
#: How psycopg refuses a string holding NUL, which PostgreSQL's text cannot store.
NUL_REFUSED = "cannot contain NUL (0x00) bytes"
#: Concurrent writers on PostgreSQL (SQLite has one).
PG_WRITERS = 4


def _sqlite_engine(url: str, *, immediate: bool, pool_size: int) -> Engine:
    engine = create_engine(
        url, pool_size=pool_size, max_overflow=0, connect_args={"check_same_thread": False}
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so BEGIN is ours (IMMEDIATE for writes).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def database_url(url: str) -> str:
    """``url`` with PostgreSQL's driver named (psycopg 3, the one Ferrite ships: bare
    ``postgresql://`` would mean psycopg2); other engines than SQLite and PostgreSQL are
    refused, since only those two are migrated and tested."""
    for bare in ("postgres://", "postgresql://"):
        if url.startswith(bare):
            return "postgresql+psycopg://" + url.removeprefix(bare)
    if not url.startswith(("sqlite:", "sqlite+pysqlite:", "postgresql+psycopg:")):
        scheme = url.split(":", 1)[0]
        raise ValueError(f"database_url: sqlite or postgresql+psycopg, not {scheme!r}")
    return url


def create_private(path: Path) -> None:
    """Create the database file 0600 (its folder 0700) whatever the umask: it holds
    password hashes. SQLite gives its -wal and -shm files the database's permissions."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        for existing in (
            path,
            path.with_name(path.name + "-wal"),
            path.with_name(path.name + "-shm"),
        ):
            with contextlib.suppress(OSError):
                if existing.stat().st_mode & 0o077:
                    existing.chmod(0o600)  # made by an older version under a loose umask


class Database:
    """Async and sync access to one database (a single writer on SQLite)."""

    def __init__(self, url: str, *, readers: int = 4) -> None:
        self.url = url = database_url(url)
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = url.removeprefix("sqlite:///")
            if path and path != ":memory:":
                create_private(Path(path))
            self._writer = _sqlite_engine(url, immediate=True, pool_size=1)
            self._reader = _sqlite_engine(url, immediate=False, pool_size=readers)
            writers = 1
        else:
            writers = PG_WRITERS
            # pre_ping: a node outlives a database restart or failover.
            self._writer = create_engine(url, pool_size=writers, max_overflow=0, pool_pre_ping=True)
            self._reader = create_engine(url, pool_size=readers, max_overflow=0, pool_pre_ping=True)
        self._write_pool = ThreadPoolExecutor(writers, thread_name_prefix="db-writer")
        self._read_pool = ThreadPoolExecutor(readers, thread_name_prefix="db-reader")
        self._writer_thread: threading.Thread | None = None
        self.query_count = 0  # every statement executed, for tests that check the hot path
        for engine in (self._writer, self._reader):
            event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, *_args: Any) -> None:
        self.query_count += 1

    # -- lifecycle ------------------------------------------------------------------
    def migrate(self) -> str | None:
        """Bring the schema to the newest Alembic revision; returns the revision found
        (``None``: an empty database), read under the migration lock on PostgreSQL."""
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self._writer.begin() as conn:
            if not self.is_sqlite:
                # One node migrates; the others wait here, then see the schema at head.
                # Transaction-scoped: released at commit, or when the connection dies.
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            found = MigrationContext.configure(conn).get_current_revision()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        return found

    def close(self) -> None:
        self._write_pool.shutdown(wait=True)
        self._read_pool.shutdown(wait=True)
        self._writer.dispose()
        self._reader.dispose()

    # -- running functions of a connection -------------------------------------------
    def _run(self, engine: Engine, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        try:
            with engine.begin() as conn:
                return fn(conn, *args)
        except FerriteError:
            raise
        except SQLAlchemyError as exc:
            if NUL_REFUSED in str(getattr(exc, "orig", "")):
                # PostgreSQL's text has no NUL (SQLite's has): the caller's input, not storage.
                raise Unprocessable("Text may not contain NUL characters.") from exc
            raise StorageError(f"database error: {exc.__class__.__name__}") from exc

    def _run_write(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        return self._run(self._writer, fn, args)

    def _run_read(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        return self._run(self._reader, fn, args)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` in a read transaction on a reader thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._read_pool, self._run_read, fn, args)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` in a write transaction (SQLite: ``BEGIN IMMEDIATE`` on
        the single writer)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._write_pool, self._run_write, fn, args)

    def read_sync(self, fn: Callable[..., T], *args: Any) -> T:
        return self._read_pool.submit(self._run_read, fn, args).result()

    def write_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """Blocking write from a worker thread or the CLI (serialised on SQLite's writer)."""
        return self._write_pool.submit(self._run_write, fn, args).result()
