"""A link of a given rate in front of a seeder: a loopback TCP proxy with a token bucket.

libtorrent's own upload limit (``torrent_compare.py --limit seeder``) hands out quota on
its 500 ms tick, so every reply the seeder sends -- its handshake, its extension
handshake, the metadata, each batch of pieces -- waits for the next tick: a magnet's
metadata alone costs three ticks (docs/benchmarks.md). A seeder behind a slow *link*
has no such steps: bytes leave at the link's rate as they are written. ``Link`` models
that: clients dial ``127.0.0.1:<port>`` over TCP or uTP (UDP, the same port number, as
the seeder listens; webtorrent tries uTP first); each connection (or UDP peer) is
forwarded to the seeder from ``127.0.0.2`` (the seeder admits only that address, so it
cannot reach a client past the link), and everything the seeder sends shares one token
bucket of ``rate`` bytes/s with a small burst, in order. What clients send is not
limited (an asymmetric uplink).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from types import TracebackType

PROXY_SOURCE = "127.0.0.2"  # the address the seeder sees every proxied peer come from
CHUNK = 16 * 1024


class _Bucket:
    def __init__(self, rate: int, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = float(burst)
        self.at = time.monotonic()
        self.lock = asyncio.Lock()

    async def take(self, n: int) -> None:
        async with self.lock:  # one link: senders queue in order
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
            self.at = now
            self.tokens -= n
            if self.tokens < 0:
                await asyncio.sleep(-self.tokens / self.rate)


class Link:
    """``with Link(seeder_port, rate) as link:`` -- clients dial ``link.port``."""

    def __init__(self, seeder_port: int, rate: int, burst: int = CHUNK) -> None:
        self.seeder_port = seeder_port
        self.rate, self.burst = rate, burst
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-link", daemon=True)

    def __enter__(self) -> Link:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the link did not start")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        bucket = _Bucket(self.rate, self.burst)
        tasks: set[asyncio.Task[None]] = set()

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, shaped: bool) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(CHUNK):
                    if shaped:
                        await bucket.take(len(data))
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(OSError):
                dst.close()

        async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                up_r, up_w = await asyncio.open_connection(
                    "127.0.0.1", self.seeder_port, local_addr=(PROXY_SOURCE, 0)
                )
            except OSError:
                writer.close()
                return
            both = [
                asyncio.ensure_future(pump(reader, up_w, False)),
                asyncio.ensure_future(pump(up_r, writer, True)),
            ]
            await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
            for t in both:
                t.cancel()
            for w in (writer, up_w):
                with contextlib.suppress(OSError):
                    w.close()

        def spawn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.ensure_future(client(reader, writer))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        server = await asyncio.start_server(spawn, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        close_udp = await self._udp(bucket)
        self._ready.set()
        await self._stop.wait()
        server.close()
        close_udp()
        for t in list(tasks):
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _udp(self, bucket: _Bucket) -> Callable[[], None]:
        """uTP: datagrams to the seeder from one socket per client on ``PROXY_SOURCE``;
        the seeder's replies through the bucket, in order, to that client."""
        loop = asyncio.get_running_loop()
        outbox: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        upstream: dict[tuple[str, int], asyncio.DatagramTransport] = {}
        waiting: dict[tuple[str, int], list[bytes]] = {}  # while its socket opens
        opening: set[asyncio.Future[None]] = set()

        class Front(asyncio.DatagramProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                up = upstream.get(addr)
                if up is not None:
                    up.sendto(data)
                elif addr in waiting:
                    waiting[addr].append(data)
                else:
                    waiting[addr] = [data]
                    opening.add(asyncio.ensure_future(open_up(addr)))

        class Back(asyncio.DatagramProtocol):
            def __init__(self, client: tuple[str, int]) -> None:
                self.client = client

            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                outbox.put_nowait((data, self.client))

        async def open_up(addr: tuple[str, int]) -> None:
            up, _ = await loop.create_datagram_endpoint(
                lambda: Back(addr),
                local_addr=(PROXY_SOURCE, 0),
                remote_addr=("127.0.0.1", self.seeder_port),
            )
            upstream[addr] = up
            for data in waiting.pop(addr):
                up.sendto(data)

        front, _ = await loop.create_datagram_endpoint(Front, local_addr=("127.0.0.1", self.port))

        async def send() -> None:
            while True:
                data, addr = await outbox.get()
                await bucket.take(len(data))
                front.sendto(data, addr)

        sender = asyncio.ensure_future(send())

        def close() -> None:
            sender.cancel()
            for task in opening:
                task.cancel()
            for up in upstream.values():
                up.close()
            front.close()

        return close


def admit_only_the_link(session: object) -> None:
    """The seeder's IP filter: only connections from the link (``PROXY_SOURCE``), so it
    cannot dial a client directly, past the link."""
    import libtorrent as lt

    f = lt.ip_filter()
    f.add_rule("0.0.0.0", "255.255.255.255", 1)
    f.add_rule("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1)
    f.add_rule(PROXY_SOURCE, PROXY_SOURCE, 0)
    session.set_ip_filter(f)  # type: ignore[attr-defined]
