"""A tiny swarm on 127.0.0.1 for torrent tests: .torrent creation, a real libtorrent
seeder (rate-limited, restartable on the same port) and a peer that sends garbage.

Everything listens on and connects to loopback only; DHT, LSD, UPnP and NAT-PMP are off,
the only tracker a test may name is ``tests/torrent/tracker.py`` on 127.0.0.1, and every
libtorrent session here has an IP filter that blocks any peer outside 127.0.0.0/8.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Any

import libtorrent as lt

from ferrite.config import Settings, load
from ferrite.db.engine import Database
from ferrite.torrent.engine import TorrentEngine
from ferrite.torrent.pieces import WindowPolicy

LOOPBACK = (("127.0.0.0", "127.255.255.255"),)
PIECE = 32 * 1024


def session_pack(port: int = 0) -> lt.settings_pack:
    return {
        "listen_interfaces": f"127.0.0.1:{port}",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "dht_bootstrap_nodes": "",
        "max_retry_port_bind": 0,
        "alert_mask": 0,
        # Every peer of a loopback swarm shares 127.0.0.1. With one peer entry per IP
        # (libtorrent's default), a seeder that a tracker lists to itself dials itself,
        # bans the entry and so refuses every other peer on 127.0.0.1. A seeder on its
        # own host would ban only its own address; this makes the test seeder behave so.
        "allow_multiple_connections_per_ip": True,
    }


def loopback_filter() -> Any:
    f = lt.ip_filter()
    f.add_rule("0.0.0.0", "255.255.255.255", 1)
    f.add_rule("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1)
    f.add_rule("127.0.0.0", "127.255.255.255", 0)
    return f


def make_torrent(
    content: Path, piece_size: int = PIECE, *, v1_only: bool = False, trackers: tuple[str, ...] = ()
) -> bytes:
    """Bencoded .torrent of ``content``, a file or directory: hybrid v1+v2 (pad files
    between files), or v1 only as most .torrent files in the wild; ``trackers`` are
    announce URLs (127.0.0.1 only, see ``tests/torrent/tracker.py``)."""
    flags = lt.create_torrent.v1_only if v1_only else 0
    ct = lt.create_torrent(lt.list_files(str(content)), piece_size, flags=flags)
    for tier, url in enumerate(trackers):
        ct.add_tracker(url, tier)
    lt.set_piece_hashes(ct, str(content.parent))
    return bytes(lt.bencode(ct.generate()))


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


async def eventually(predicate: Any, limit: float, what: str, explain: Any = lambda: "") -> None:
    """``wait_until`` for async tests: keeps the event loop running while it waits."""
    end = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {limit} s waiting for {what} {explain()}")
        await asyncio.sleep(0.02)


class Seeder:
    """A libtorrent session seeding ``data`` from ``save_path`` on 127.0.0.1."""

    def __init__(
        self,
        data: bytes,
        save_path: Path,
        *,
        upload_limit: int = 0,
        port: int = 0,
        complete: bool = True,
    ) -> None:
        """``complete=False``: the data on disk may miss pieces (a partial seeder): wait
        for the check of the files only."""
        self.session: Any = lt.session(session_pack(port))
        self.session.set_ip_filter(loopback_filter())
        params = lt.load_torrent_buffer(data)
        params.save_path = str(save_path)
        # A per-torrent limit applies to loopback peers too (the session-wide one doesn't:
        # libtorrent puts local peers in an unlimited peer class).
        params.upload_limit = upload_limit
        self.handle: Any = self.session.add_torrent(params)
        checking = (lt.torrent_status.checking_files, lt.torrent_status.checking_resume_data)
        wait_until(
            lambda: (
                self.handle.status().is_seeding
                if complete
                else self.handle.status().state not in checking
            ),
            20,
            "the seeder to check its files",
        )
        self.port = int(self.session.listen_port())
        if port:
            assert self.port == port, f"seeder could not reclaim port {port}"

    def close(self) -> None:
        """Stop serving at once (pause disconnects every peer), then end the session."""
        if self.session is not None:
            self.session.pause()
            self.handle = None
            session, self.session = self.session, None
            del session  # joins libtorrent's threads

    def __enter__(self) -> Seeder:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def recv_exact(sock: socket.socket, n: int, stop: threading.Event) -> bytes:
    """``n`` bytes from a socket with a short timeout; ConnectionError once ``stop`` is
    set or the other side closed."""
    out = b""
    while len(out) < n:
        try:
            chunk = sock.recv(n - len(out))
        except TimeoutError:
            if stop.is_set():
                raise ConnectionError("stopped") from None
            continue
        if not chunk:
            raise ConnectionError("closed")
        out += chunk
    return out


class CorruptPeer:
    """A BitTorrent peer that claims every piece and answers each request with garbage.

    It connects *to* the engine (plain handshake, no extensions), so it needs no
    encryption support: libtorrent accepts plaintext incoming connections.
    """

    def __init__(
        self, info_hash: bytes, num_pieces: int, port: int, *, source: str = "127.0.0.2"
    ) -> None:
        self.requests = 0
        # From its own loopback address: libtorrent bans the address of a peer that sent
        # bad data, and the honest seeder lives on 127.0.0.1.
        self._sock = socket.create_connection(
            ("127.0.0.1", port), timeout=10, source_address=(source, 0)
        )
        self._sock.settimeout(0.5)
        self._stop = threading.Event()
        peer_id = b"-FK0001-" + os.urandom(6).hex().encode()
        self._sock.sendall(b"\x13BitTorrent protocol" + bytes(8) + info_hash + peer_id)
        bits = bytearray((num_pieces + 7) // 8)
        for i in range(num_pieces):
            bits[i // 8] |= 0x80 >> (i % 8)
        self._send(5, bytes(bits))  # bitfield: we have everything
        self._send(1)  # unchoke
        self._thread = threading.Thread(target=self._serve, name="corrupt-peer")
        self._thread.start()

    def _send(self, msg_id: int, payload: bytes = b"") -> None:
        self._sock.sendall(struct.pack(">IB", len(payload) + 1, msg_id) + payload)

    def _recv(self, n: int) -> bytes:
        return recv_exact(self._sock, n, self._stop)

    def _serve(self) -> None:
        try:
            self._recv(68)  # the engine's handshake
            while not self._stop.is_set():
                (length,) = struct.unpack(">I", self._recv(4))
                if length == 0:
                    continue  # keep-alive
                body = self._recv(length)
                if body[0] == 6:  # request: index, begin, length
                    index, begin, size = struct.unpack(">III", body[1:13])
                    self.requests += 1
                    self._send(7, struct.pack(">II", index, begin) + b"\xa5" * size)
        except (ConnectionError, OSError):
            pass

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(10)


class SilentPeer:
    """A BitTorrent peer that claims every piece, unchokes, and then never sends a
    byte of payload: a connection that is up but delivers nothing (what a stalled uTP
    stream or a wedged client looks like). It listens; the engine dials it.

    Only plaintext handshakes are answered; an encrypted attempt is closed, and
    libtorrent retries in plaintext. ``connections`` counts answered handshakes.
    """

    def __init__(self, info_hash: bytes, num_pieces: int) -> None:
        self.connections = 0
        self.requests = 0
        self._info_hash = info_hash
        self._bits = bytearray((num_pieces + 7) // 8)
        for i in range(num_pieces):
            self._bits[i // 8] |= 0x80 >> (i % 8)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._accept_loop, name="silent-peer")
        self._accept.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,), name="silent-peer-conn")
            self._threads.append(t)
            t.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        try:
            head = self._recv(conn, 68)
            if head[:20] != b"\x13BitTorrent protocol" or head[28:48] != self._info_hash:
                return  # encrypted or another torrent: libtorrent retries in plaintext
            peer_id = b"-FS0001-" + os.urandom(6).hex().encode()
            conn.sendall(b"\x13BitTorrent protocol" + bytes(8) + self._info_hash + peer_id)
            conn.sendall(struct.pack(">IB", len(self._bits) + 1, 5) + bytes(self._bits))
            conn.sendall(struct.pack(">IB", 1, 1))  # unchoke
            self.connections += 1
            while not self._stop.is_set():
                (length,) = struct.unpack(">I", self._recv(conn, 4))
                if length and self._recv(conn, length)[0] == 6:
                    self.requests += 1  # a request: never answered
        except (ConnectionError, OSError):
            pass
        finally:
            conn.close()

    def _recv(self, conn: socket.socket, n: int) -> bytes:
        return recv_exact(conn, n, self._stop)

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        self._accept.join(10)
        for t in self._threads:
            t.join(10)


#: Settings that keep a server's torrent engine on 127.0.0.1: an ephemeral port, no DHT,
#: LSD or UPnP (no trackers either: tests never name one).
LOOPBACK_TORRENTS: dict[str, Any] = {
    "torrent_listen_port": 0,
    "torrent_listen_host": "127.0.0.1",
    "torrent_dht": False,
    "torrent_lsd": False,
    "torrent_upnp": False,
    "torrent_wait_s": 30.0,
}


def engine_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"data_dir": data_dir, **LOOPBACK_TORRENTS}
    values.update(overrides)
    return load(values, environ={})


@contextlib.asynccontextmanager
async def running_engine(
    data_dir: Path,
    *,
    policy: WindowPolicy | None = None,
    engine_options: dict[str, Any] | None = None,
    **overrides: Any,
) -> AsyncIterator[TorrentEngine]:
    """A started engine on 127.0.0.1 (ephemeral port, loopback peers only) over a real
    SQLite database in ``data_dir``; closed, with its database, on exit."""
    settings = engine_settings(data_dir, **overrides)
    db = Database(settings.db_url)
    await asyncio.to_thread(db.migrate)
    engine = TorrentEngine(
        settings,
        db,
        listen_hosts=["127.0.0.1"],
        peer_filter=LOOPBACK,
        policy=policy,
        **(engine_options or {}),
    )
    try:
        await engine.start()
        yield engine
    finally:
        await engine.close()
        db.close()
