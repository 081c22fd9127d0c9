"""bench/shaper.py, the link in front of a benchmark's seeder: what goes through it
arrives intact, over TCP and over UDP (uTP), both ways, from the link's own address."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest
from bench.shaper import PROXY_SOURCE, Link


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock = self.request
        sock.sendall(self.client_address[0].encode() + b"\n")
        while data := sock.recv(65536):
            sock.sendall(data)


@pytest.fixture
def echo() -> Iterator[tuple[int, socket.socket]]:
    """A TCP echo server and a UDP echo socket on the same port of 127.0.0.1."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    port = server.server_address[1]
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", port))
    stop = threading.Event()

    def echo_udp() -> None:
        udp.settimeout(0.1)
        while not stop.is_set():
            try:
                data, addr = udp.recvfrom(65536)
            except TimeoutError:
                continue
            udp.sendto(addr[0].encode() + b" " + data, addr)

    threads = [
        threading.Thread(target=server.serve_forever, daemon=True),
        threading.Thread(target=echo_udp, daemon=True),
    ]
    for t in threads:
        t.start()
    try:
        yield port, udp
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        for t in threads:
            t.join(5)
        udp.close()


def test_bytes_go_through_intact_over_tcp_and_udp(echo: tuple[int, socket.socket]) -> None:
    port, _ = echo
    payload = bytes(range(256)) * 1024  # 256 KiB
    with Link(port, rate=50_000_000) as link:
        with socket.create_connection(("127.0.0.1", link.port), timeout=10) as conn:
            conn.sendall(payload)
            got = b""
            while len(got) < len(PROXY_SOURCE) + 1 + len(payload):
                chunk = conn.recv(65536)
                assert chunk, "the link closed early"
                got += chunk
        assert got == PROXY_SOURCE.encode() + b"\n" + payload  # seen from the link's address

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(10)
            for i in range(3):
                client.sendto(b"datagram %d" % i, ("127.0.0.1", link.port))
                reply, _ = client.recvfrom(65536)
                assert reply == PROXY_SOURCE.encode() + b" datagram %d" % i
