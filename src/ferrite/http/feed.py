"""A loopback HTTP server that lets ffmpeg read streamed files (``ferrite.sources``).

ffmpeg opens its input by name. For a torrent file that is still downloading the name on
disk would give zeros where pieces are missing, so a transcode of such a file reads
``http://127.0.0.1:<port>/<secret>/<n>`` instead: this server answers GET/HEAD with Range
support from the file's own piece-aware reader (a read blocks until the pieces are
verified, so ffmpeg simply sees a slow disk). ffmpeg's ``http`` protocol is seekable when
the answer carries ``Accept-Ranges``/``Content-Range``, so ``-ss`` input seeks and MP4s
with the ``moov`` at the end work as they do on a local file.

Bound to 127.0.0.1 on an ephemeral port; URLs carry a random secret and a number that
maps back to a registered path, so nothing else on the machine can name a file. Each
request runs in its own thread and closes the connection when done (HTTP/1.0), so no
thread lingers in keep-alive; :meth:`LoopbackFeed.close` stops the server and joins them.

:class:`FeedInputs` owns the choice of what ffmpeg opens (``input_for``): the path of a
complete file, or a URL of the server, started on first use. The registry
(``ferrite.sources``) only holds the files, so it needs nothing from here.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

from ferrite.errors import FerriteError, InvalidRange
from ferrite.http.ranges import parse_range

if TYPE_CHECKING:
    from ferrite.sources import FileSources, Readable

log = logging.getLogger(__name__)

CHUNK = 256 * 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True  # server_close() joins the request threads

    feed: LoopbackFeed


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: object) -> None:
        log.debug("feed: " + format, *args)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, *, body: bool) -> None:
        path = self.server.feed.resolve(self.path)
        sources = self.server.feed.sources
        file = sources.get(path) if path is not None else None
        if path is None or file is None:
            self.send_error(404, "no such file")
            return
        try:
            reader: Readable | None = file.open()
            if reader is None:  # complete on disk meanwhile
                reader = Path(path).open("rb")  # noqa: SIM115 - closed below
        except (FerriteError, OSError) as exc:
            self.send_error(503, getattr(exc, "message", None) or str(exc))
            return
        try:
            self._send(reader, file.size, body=body)
        finally:
            reader.close()

    def _send(self, reader: Readable, size: int, *, body: bool) -> None:
        try:
            ranges = parse_range(self.headers.get("Range"), size)
        except InvalidRange:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.end_headers()
            return
        start, stop = (ranges[0].start, ranges[0].stop) if ranges else (0, size)
        self.send_response(206 if ranges else 200)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(stop - start))
        if ranges:
            self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{size}")
        self.end_headers()
        if not body:
            return
        reader.seek(start)
        position = start
        try:
            while position < stop:
                chunk = reader.read(min(CHUNK, stop - position))
                if not chunk:
                    break
                self.wfile.write(chunk)
                position += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # ffmpeg seeked elsewhere or stopped
        except FerriteError as exc:
            # The torrent went away or a piece never came: cut the body short, ffmpeg
            # reports a read error for this run.
            log.info("feed of %s stopped at byte %d: %s", self.path, position, exc.message)
        self.close_connection = True


class LoopbackFeed:
    """Serves the registered files of ``sources`` to local ffmpeg processes."""

    def __init__(self, sources: FileSources, host: str = "127.0.0.1") -> None:
        self.sources = sources
        self._secret = secrets.token_urlsafe(16)
        self._ids: dict[str, int] = {}
        self._paths: dict[int, str] = {}
        self._next = itertools.count(1)
        self._lock = threading.Lock()
        self._server = _Server((host, 0), _Handler)
        self._server.feed = self
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="ferrite-feed"
        )
        self._thread.start()

    def url(self, path: str) -> str:
        with self._lock:
            n = self._ids.get(path)
            if n is None:
                n = self._ids[path] = next(self._next)
                self._paths[n] = path
        return f"http://127.0.0.1:{self.port}/{self._secret}/{n}"

    def resolve(self, request_path: str) -> str | None:
        parts = request_path.split("?", 1)[0].strip("/").split("/")
        if len(parts) != 2 or not secrets.compare_digest(parts[0], self._secret):
            return None
        with contextlib.suppress(ValueError):
            return self._paths.get(int(parts[1]))
        return None

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class FeedInputs:
    """What ffmpeg opens for a media file: its path, or a :class:`LoopbackFeed` URL while
    the file is registered in ``sources`` and incomplete. Thread-safe."""

    def __init__(self, sources: FileSources) -> None:
        self.sources = sources
        self._lock = threading.Lock()
        self._feed: LoopbackFeed | None = None
        self._closed = False

    def input_for(self, path: str) -> str:
        """The path itself, or a loopback URL serving it while it is incomplete (the
        server starts on first use; after :meth:`close`, always the path)."""
        file = self.sources.get(path)
        if file is None or file.complete():
            return path
        with self._lock:
            if self._closed:
                return path
            if self._feed is None:
                self._feed = LoopbackFeed(self.sources)
            feed = self._feed
        return feed.url(path)

    def close(self) -> None:
        """Stop the loopback server, if it ever started."""
        with self._lock:
            self._closed = True
            feed, self._feed = self._feed, None
        if feed is not None:
            feed.close()
