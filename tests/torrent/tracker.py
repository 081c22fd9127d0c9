"""A tiny HTTP BitTorrent tracker on 127.0.0.1 for tests (BEP 3 announce, BEP 23
compact peer lists).

Like ``bittorrent-tracker`` (the tracker webtorrent and peerflix ship), it lists every
peer of the swarm to every announcer, *including the announcer itself* (its
``_getPeers`` drops the asking peer only for WebRTC announces). That is the behaviour
that made uploaded ``.torrent`` files never connect (docs/torrents.md, "Finding peers").
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

import libtorrent as lt


class Tracker:
    """``url`` is the announce URL; ``announces`` records ``(info_hash hex, port, event)``."""

    def __init__(self, *, interval: int = 30) -> None:
        self.swarms: dict[bytes, dict[bytes, tuple[str, int]]] = {}
        self.announces: list[tuple[str, int, str]] = []
        self._lock = threading.Lock()
        tracker = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query, encoding="latin-1")
                if url.path != "/announce" or "info_hash" not in query:
                    self.send_error(404)
                    return
                body = tracker._announce(query, self.client_address[0])
                with contextlib.suppress(OSError):  # a client that hung up (shutting down)
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.interval = interval
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/announce"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="tracker"
        )
        self._thread.start()

    def _announce(self, query: dict[str, list[str]], ip: str) -> bytes:
        info_hash = query["info_hash"][0].encode("latin-1")
        peer_id = query.get("peer_id", [""])[0].encode("latin-1")
        port = int(query.get("port", ["0"])[0])
        event = query.get("event", [""])[0]
        with self._lock:
            self.announces.append((info_hash.hex(), port, event))
            swarm = self.swarms.setdefault(info_hash, {})
            if event == "stopped":
                swarm.pop(peer_id, None)
            else:
                swarm[peer_id] = (ip, port)
            peers = b"".join(
                socket.inet_aton(host) + struct.pack(">H", p) for host, p in swarm.values()
            )
        return bytes(lt.bencode({"interval": self.interval, "peers": peers}))

    def peers_of(self, info_hash: bytes) -> list[tuple[str, int]]:
        with self._lock:
            return list(self.swarms.get(info_hash, {}).values())

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with contextlib.suppress(RuntimeError):
            self._thread.join(10)

    def __enter__(self) -> Tracker:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
