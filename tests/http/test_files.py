"""Serving a file: validators, HEAD, single and multipart ranges, 416, If-Range, 304,
chunked reads (never the whole file) and stopping when the client goes away."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from starlette.responses import Response

from ferrite.api import errors
from ferrite.http import files
from ferrite.http.files import CHUNK_SIZE, etag_for, file_response, media_type_for, open_file
from ferrite.http.ranges import ByteRange

DATA = bytes((i * 7 + i // 251) % 256 for i in range(3 * CHUNK_SIZE + 12345))


@pytest.fixture
def media(tmp_path: Path) -> Path:
    path = tmp_path / "movie.mkv"
    path.write_bytes(DATA)
    return path


def make_app(path: Path) -> FastAPI:
    app = FastAPI()
    errors.install(app)

    @app.api_route("/f", methods=["GET", "HEAD"])
    async def serve(request: Request) -> Response:
        return file_response(request, await open_file(path), media_type=media_type_for(path))

    @app.get("/missing")
    async def missing(request: Request) -> Response:
        return file_response(request, await open_file(path.with_name("nope")), media_type="x/y")

    return app


async def fetch(path: Path, method: str = "GET", url: str = "/f", **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=make_app(path))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, url, headers=headers)


def get(path: Path, method: str = "GET", url: str = "/f", **headers: str) -> httpx.Response:
    return asyncio.run(fetch(path, method, url, **headers))


def test_full_get(media: Path) -> None:
    r = get(media)
    assert r.status_code == 200
    assert r.content == DATA
    st = media.stat()
    assert r.headers["content-type"] == "video/x-matroska"
    assert r.headers["content-length"] == str(len(DATA))
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["etag"] == etag_for(st.st_size, st.st_mtime_ns)
    assert r.headers["last-modified"].endswith("GMT")


def test_head_has_headers_and_no_body_and_ignores_range(media: Path) -> None:
    r = get(media, "HEAD", range="bytes=0-9")
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["content-length"] == str(len(DATA))


def test_single_range_is_byte_exact(media: Path) -> None:
    for header, start, stop in [
        ("bytes=0-0", 0, 1),
        (f"bytes={CHUNK_SIZE - 5}-{CHUNK_SIZE * 2 + 5}", CHUNK_SIZE - 5, CHUNK_SIZE * 2 + 6),
        ("bytes=-100", len(DATA) - 100, len(DATA)),
        (f"bytes={len(DATA) - 10}-", len(DATA) - 10, len(DATA)),
        (f"bytes=100-{10**12}", 100, len(DATA)),
    ]:
        r = get(media, range=header)
        assert r.status_code == 206, header
        assert r.content == DATA[start:stop], header
        assert r.headers["content-range"] == f"bytes {start}-{stop - 1}/{len(DATA)}"
        assert r.headers["content-length"] == str(stop - start)


def parse_multipart(r: httpx.Response) -> list[tuple[str, bytes]]:
    ctype = r.headers["content-type"]
    assert ctype.startswith("multipart/byteranges; boundary=")
    boundary = ctype.split("boundary=")[1].encode()
    body = r.content
    assert len(body) == int(r.headers["content-length"])
    assert body.endswith(b"--" + boundary + b"--\r\n")
    parts = []
    for chunk in body.split(b"--" + boundary)[1:-1]:
        head, _, data = chunk.partition(b"\r\n\r\n")
        assert data.endswith(b"\r\n")
        m = re.search(rb"Content-Range: (bytes \d+-\d+/\d+)", head)
        assert m is not None
        assert b"Content-Type: video/x-matroska" in head
        parts.append((m.group(1).decode(), data[:-2]))
    return parts


def test_multipart_byteranges(media: Path) -> None:
    r = get(media, range=f"bytes=0-9,{CHUNK_SIZE}-{CHUNK_SIZE + 99},-5")
    assert r.status_code == 206
    parts = parse_multipart(r)
    n = len(DATA)
    assert parts == [
        (f"bytes 0-9/{n}", DATA[0:10]),
        (f"bytes {CHUNK_SIZE}-{CHUNK_SIZE + 99}/{n}", DATA[CHUNK_SIZE : CHUNK_SIZE + 100]),
        (f"bytes {n - 5}-{n - 1}/{n}", DATA[n - 5 :]),
    ]


@pytest.mark.parametrize("header", ["bytes=-0", "bytes=999999999-"])
def test_unsatisfiable_is_416_envelope(media: Path, header: str) -> None:
    r = get(media, range=header)
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{len(DATA)}"
    assert r.json()["error"] == {
        "code": "range_not_satisfiable",
        "message": r.json()["error"]["message"],
        "status": 416,
    }


def test_500_ranges(media: Path) -> None:
    overlapping = "bytes=" + ",".join(["0-99"] * 500)
    r = get(media, range=overlapping)
    assert r.status_code == 206
    assert r.content == DATA[:100]
    scattered = "bytes=" + ",".join(f"{i * 2000}-{i * 2000}" for i in range(500))
    assert get(media, range=scattered).status_code == 416


@pytest.mark.parametrize("header", ["garbage", "bytes=5-1", "lines=0-1", "bytes=a-b"])
def test_garbage_range_sends_everything(media: Path, header: str) -> None:
    r = get(media, range=header)
    assert r.status_code == 200
    assert r.content == DATA


def test_if_range(media: Path) -> None:
    etag = get(media, "HEAD").headers["etag"]
    assert get(media, range="bytes=0-9", **{"if-range": etag}).status_code == 206
    stale = get(media, range="bytes=0-9", **{"if-range": '"stale"'})
    assert stale.status_code == 200
    assert stale.content == DATA
    last_modified = get(media, "HEAD").headers["last-modified"]
    assert get(media, range="bytes=0-9", **{"if-range": last_modified}).status_code == 206


def test_conditional_get(media: Path) -> None:
    head = get(media, "HEAD")
    r = get(media, **{"if-none-match": head.headers["etag"]})
    assert r.status_code == 304
    assert r.content == b""
    assert get(media, **{"if-none-match": '"x"'}).status_code == 200
    r = get(media, **{"if-modified-since": head.headers["last-modified"]})
    assert r.status_code == 304


def test_missing_file_is_404_envelope(media: Path) -> None:
    r = get(media, url="/missing")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def test_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    r = get(empty)
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["content-length"] == "0"
    assert get(empty, range="bytes=0-").status_code == 416


def test_reads_in_chunks_never_the_whole_file(media: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []
    real = os.pread

    def spy(fd: int, n: int, offset: int) -> bytes:
        sizes.append(n)
        return real(fd, n, offset)

    monkeypatch.setattr(os, "pread", spy)
    assert get(media).content == DATA
    assert max(sizes) <= CHUNK_SIZE
    assert len(sizes) == 4


def test_stops_reading_when_the_client_disconnects(
    media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []
    real = os.pread

    def spy(fd: int, n: int, offset: int) -> bytes:
        reads.append(offset)
        return real(fd, n, offset)

    monkeypatch.setattr(os, "pread", spy)

    async def main() -> tuple[int, bool]:
        opened = await open_file(media)
        body = files.FileBody(
            opened, 200, {"content-type": "video/x-matroska"}, [ByteRange(0, len(DATA))], None
        )
        gone = asyncio.Event()
        sent: list[MutableMapping[str, Any]] = []

        async def receive() -> dict[str, Any]:
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)
            if len([m for m in sent if m["type"] == "http.response.body"]) == 1:
                gone.set()  # the client leaves after the first chunk
            await asyncio.sleep(0.01)

        scope = {"type": "http", "method": "GET"}
        await asyncio.wait_for(body(scope, receive, send), 5)
        return len(reads), opened.fd == -1

    count, closed = asyncio.run(main())
    assert count < 4  # it did not go on reading the whole file
    assert closed  # and the descriptor was closed


def test_media_types() -> None:
    assert media_type_for("a/B.MP4") == "video/mp4"
    assert media_type_for("x.ts") == "video/mp2t"
    assert media_type_for("x.webm") == "video/webm"
    assert media_type_for("noext") == "application/octet-stream"
