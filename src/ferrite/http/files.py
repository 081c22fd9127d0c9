"""Serving one file over HTTP: validators, conditional requests, single and multipart ranges.

The rules live in :mod:`ferrite.http.ranges` (pure); this module opens the file, decides
the status and headers, and streams the bytes.

Why not ``starlette.responses.FileResponse``: it handles single and multiple ranges in the
installed Starlette, but renders errors as plain text outside our JSON envelope, honours
``Range`` on HEAD, and re-opens the file by path when streaming (a file replaced between
``stat`` and ``open`` would be served with the old ``Content-Length``). Here the file is
opened once, ``fstat`` of that descriptor gives every header, and ``os.pread`` on the same
descriptor gives every byte, so headers and body always describe one file.

Zero-copy: uvicorn implements neither ``http.response.pathsend`` nor
``http.response.zerocopysend`` (ASGI spec 2.3), so ``sendfile(2)`` is out of reach from an
ASGI app. Bytes are read with ``pread`` in a worker thread in :data:`CHUNK_SIZE` chunks and
handed to the server, whose flow control (``send`` waits for the socket to drain) bounds
memory to about two chunks per response. Nothing ever reads a whole file.

A library file is opened against the identity the scan recorded (:class:`Expected`): the
descriptor's ``fstat`` must show the scanned size, mtime, inode and device, and its real
path (what was actually opened, symlinks resolved) must lie inside the library's folders
-- otherwise :class:`~ferrite.errors.MediaChanged` (409). A scanned file swapped for a symlink to
``secret.key`` between two scans is refused, not served.

A file that is not all on disk yet (a torrent still downloading, ``ferrite.sources``) is
served the same way from its piece-aware reader (:func:`open_streamed`): each chunk is a
blocking read in a worker thread that waits for verified pieces; a client that goes away
abandons the wait (closing the reader wakes it).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import stat as stat_module
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ferrite.errors import InvalidRange, MediaChanged, MediaError, NotFound
from ferrite.http.ranges import (
    ByteRange,
    MultipartLayout,
    etag_matches,
    if_range_allows,
    multipart_layout,
    parse_range,
)
from ferrite.library.roots import inside, real_path_of_fd
from ferrite.sources import Readable, StreamedFile

#: Bytes read per ``pread``; a response holds at most about two of these in memory.
CHUNK_SIZE = 512 * 1024

#: Container extensions to MIME types (``mimetypes`` misses several and varies by host).
MEDIA_TYPES: Mapping[str, str] = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".m4a": "audio/mp4",
    ".mov": "video/quicktime",
    ".mkv": "video/x-matroska",
    ".mka": "audio/x-matroska",
    ".webm": "video/webm",
    ".ts": "video/mp2t",
    ".m2ts": "video/mp2t",
    ".mts": "video/mp2t",
    ".avi": "video/x-msvideo",
    ".wmv": "video/x-ms-wmv",
    ".flv": "video/x-flv",
    ".ogv": "video/ogg",
    ".ogg": "audio/ogg",
    ".mpg": "video/mpeg",
    ".mpeg": "video/mpeg",
    ".mp3": "audio/mpeg",
    ".flac": "audio/flac",
    ".srt": "application/x-subrip",
    ".vtt": "text/vtt",
    ".ass": "text/x-ssa",
    ".ssa": "text/x-ssa",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
}


def media_type_for(path: str | os.PathLike[str]) -> str:
    return MEDIA_TYPES.get(Path(path).suffix.lower(), "application/octet-stream")


def etag_for(size: int, mtime_ns: int) -> str:
    """A strong validator from size and modification time (no content hashing on requests)."""
    return f'"{size:x}-{mtime_ns:x}"'


@dataclass(slots=True)
class OpenFile:
    """A file opened for serving: the descriptor and the ``fstat`` that describes it
    (or, for a streamed file, its reader, its size and the version its owner gave it)."""

    fd: int
    size: int
    mtime_ns: int
    mtime: float
    reader: Readable | None = None
    #: Where the reader's blocking reads run (a streamed file's own pool).
    executor: Executor | None = None

    def read_at(self, offset: int, n: int) -> bytes:
        """Blocking: up to ``n`` bytes at ``offset`` (call it from a worker thread)."""
        if self.reader is None:
            return os.pread(self.fd, n, offset)
        self.reader.seek(offset)
        return self.reader.read(n)

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)
        if self.reader is not None:
            reader, self.reader = self.reader, None
            reader.close()


@dataclass(frozen=True, slots=True)
class Expected:
    """What a scanned file must still be when opened: its size and mtime, and the real
    library folders it must lie in (``roots=None``: anywhere)."""

    size: int
    mtime_ns: int
    roots: tuple[str, ...] | None
    inode: int | None = None  # None: not recorded, not checked
    device: int | None = None


def _check(fd: int, path: str, st: os.stat_result, expected: Expected) -> None:
    other_file = expected.inode is not None and (
        st.st_ino != expected.inode or st.st_dev != expected.device
    )
    if st.st_size != expected.size or st.st_mtime_ns != expected.mtime_ns or other_file:
        raise MediaChanged(f"{Path(path).name} changed since it was scanned; rescan the library.")
    if expected.roots is not None and not inside(real_path_of_fd(fd, path), expected.roots):
        raise MediaChanged(
            f"{Path(path).name} now leads outside the library (a symbolic link?); "
            "rescan the library."
        )


def _open(path: str, expected: Expected | None = None) -> OpenFile:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        st = os.fstat(fd)
        if not stat_module.S_ISREG(st.st_mode):
            raise IsADirectoryError(path)
        if expected is not None:
            _check(fd, path, st, expected)
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
    except BaseException:
        os.close(fd)
        raise
    return OpenFile(fd, st.st_size, st.st_mtime_ns, st.st_mtime)


async def open_file(path: str | os.PathLike[str], expected: Expected | None = None) -> OpenFile:
    """Open ``path`` for serving (in a worker thread), checked against ``expected``.

    Raises :class:`~ferrite.errors.NotFound` when it is missing or not a regular file,
    :class:`~ferrite.errors.MediaChanged` when it is not the expected file and
    :class:`~ferrite.errors.MediaError` for other I/O failures.
    """
    try:
        return await anyio.to_thread.run_sync(_open, os.fspath(path), expected)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
        raise NotFound("The file is gone.") from exc
    except OSError as exc:
        raise MediaError(f"The file cannot be opened ({exc.strerror}).") from exc


async def open_streamed(file: StreamedFile, executor: Executor) -> OpenFile:
    """Open a registered streamed file: its reader while incomplete, else the disk file.
    Its blocking opens and reads run in ``executor`` (``FileSources.reads``)."""
    try:
        reader = await asyncio.get_running_loop().run_in_executor(executor, file.open)
    except OSError as exc:
        raise MediaError(f"The file cannot be opened ({exc}).") from exc
    if reader is None:
        return await open_file(file.path)
    return OpenFile(-1, file.size, file.version_ns, file.version_ns / 1e9, reader, executor)


def file_response(
    request: Request,
    file: OpenFile,
    *,
    media_type: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The response for GET/HEAD ``request`` of an opened ``file``; the response owns it.

    Evaluates ``If-None-Match``/``If-Modified-Since`` (304), ``Range`` with ``If-Range``
    (206 single or multipart, or :class:`~ferrite.errors.InvalidRange` for 416), and sends
    everything else as 200. On an exception the file is closed here.
    """
    try:
        return _decide(request, file, media_type, headers or {})
    except BaseException:
        file.close()
        raise


def _decide(
    request: Request, file: OpenFile, media_type: str, extra: Mapping[str, str]
) -> Response:
    etag = etag_for(file.size, file.mtime_ns)
    last_modified = formatdate(file.mtime, usegmt=True)
    base = {
        **extra,
        "accept-ranges": "bytes",
        "etag": etag,
        "last-modified": last_modified,
    }
    req = request.headers
    if_none_match = req.get("if-none-match")
    if if_none_match is not None:
        not_modified = etag_matches(if_none_match, etag)
    else:
        not_modified = _not_modified_since(req.get("if-modified-since"), file.mtime)
    if not_modified:
        file.close()
        return Response(status_code=304, headers=base)

    ranges: list[ByteRange] | None = None
    # GET is the only method with range semantics (RFC 9110 §14.2): HEAD ignores Range.
    if request.method == "GET" and if_range_allows(
        req.get("if-range"), etag=etag, last_modified=last_modified
    ):
        try:
            ranges = parse_range(req.get("range"), file.size)
        except InvalidRange:
            file.close()
            raise

    if ranges is None:
        full = ByteRange(0, file.size) if file.size else None
        headers = {**base, "content-type": media_type, "content-length": str(file.size)}
        return FileBody(file, 200, headers, [full] if full else [], None)
    if len(ranges) == 1:
        (only,) = ranges
        headers = {
            **base,
            "content-type": media_type,
            "content-length": str(only.length),
            "content-range": only.content_range(file.size),
        }
        return FileBody(file, 206, headers, ranges, None)
    layout = multipart_layout(ranges, file.size, media_type, secrets.token_hex(12))
    headers = {
        **base,
        "content-type": layout.content_type,
        "content-length": str(layout.content_length),
    }
    return FileBody(file, 206, headers, ranges, layout)


def _not_modified_since(value: str | None, mtime: float) -> bool:
    if value is None:
        return False
    try:
        since = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return False
    return int(mtime) <= since


class FileBody(Response):
    """Streams ranges of an :class:`OpenFile` (closing it when done, however it ends)."""

    def __init__(
        self,
        file: OpenFile,
        status_code: int,
        headers: Mapping[str, str],
        ranges: list[ByteRange],
        layout: MultipartLayout | None,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self.file = file
        self.status_code = status_code
        self.ranges = ranges
        self.layout = layout
        self.chunk_size = chunk_size
        self.background = None
        self.body = b""
        self.raw_headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            if scope["method"] == "HEAD":
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            # uvicorn (ASGI 2.3) drops sends after a disconnect silently, so without
            # watching ``receive`` a vanished client would make us read the rest of the file.
            async with anyio.create_task_group() as tg:

                async def watch() -> None:
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    tg.cancel_scope.cancel()

                tg.start_soon(watch)
                await self._stream(send)
                tg.cancel_scope.cancel()
        finally:
            self.file.close()

    async def _stream(self, send: Send) -> None:
        layout = self.layout
        for i, r in enumerate(self.ranges):
            if layout is not None:
                await send(
                    {"type": "http.response.body", "body": layout.heads[i], "more_body": True}
                )
            await self._send_range(send, r)
            if layout is not None:
                await send({"type": "http.response.body", "body": b"\r\n", "more_body": True})
        tail = layout.tail if layout is not None else b""
        await send({"type": "http.response.body", "body": tail, "more_body": False})

    async def _send_range(self, send: Send, r: ByteRange) -> None:
        file = self.file
        # A streamed file's read may wait for pieces: a vanished client abandons it (the
        # reader is closed in __call__, which wakes the read); a pread is never abandoned
        # (closing its descriptor under it could hand the number to another file).
        executor = file.executor
        offset = r.start
        while offset < r.stop:
            n = min(self.chunk_size, r.stop - offset)
            if executor is not None:  # a cancelled await abandons the read (see above)
                loop = asyncio.get_running_loop()
                chunk = await loop.run_in_executor(executor, file.read_at, offset, n)
            else:
                chunk = await anyio.to_thread.run_sync(file.read_at, offset, n)
            if not chunk:
                # The file shrank under us: the promised Content-Length cannot be met, so
                # the connection must be cut rather than end cleanly short.
                raise MediaError("The file was truncated while being served.")
            offset += len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
