"""Direct play through the API: byte-exact ranges from the item's file, no DB on repeats,
path tricks in parameters, and files that vanish."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import update

from ferrite.db.schema import media_files
from tests.api.conftest import services
from tests.api.helpers import Seeded
from tests.api.server import AppClient


def rescanned(client: AppClient, path: Path) -> None:
    """Record ``path``'s current size and mtime, as a rescan would."""
    st = path.stat()
    services(client).db.write_sync(
        lambda c: c.execute(
            update(media_files)
            .where(media_files.c.path == str(path))
            .values(size=st.st_size, mtime_ns=st.st_mtime_ns)
        )
    )
    services(client).files.clear()


MakeUser = Callable[..., tuple[int, dict[str, str]]]


def test_direct_play_byte_exact(
    client: AppClient, admin: dict[str, str], seeded: Seeded, media_copy: Path
) -> None:
    data = media_copy.read_bytes()
    url = f"/api/items/{seeded.movie}/file"
    full = client.get(url, headers=admin)
    assert full.status_code == 200
    assert full.content == data
    assert full.headers["content-type"] == "video/mp4"
    assert full.headers["accept-ranges"] == "bytes"
    head = client.head(url, headers=admin)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(data))
    assert head.headers["etag"] == full.headers["etag"]
    n = len(data)
    for header, start, stop in [
        ("bytes=0-1023", 0, 1024),
        ("bytes=1000-", 1000, n),
        ("bytes=-777", n - 777, n),
        (f"bytes={n // 2}-{n // 2 + 99999}", n // 2, min(n, n // 2 + 100000)),
    ]:
        r = client.get(url, headers={**admin, "Range": header})
        assert r.status_code == 206, header
        assert r.content == data[start:stop], header
        assert r.headers["content-range"] == f"bytes {start}-{stop - 1}/{n}"


@pytest.mark.parametrize("header", ["bytes=-0", "bytes=999999999-"])
def test_hostile_ranges_416(
    client: AppClient, admin: dict[str, str], seeded: Seeded, media_copy: Path, header: str
) -> None:
    r = client.get(f"/api/items/{seeded.movie}/file", headers={**admin, "Range": header})
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{media_copy.stat().st_size}"
    assert r.json()["error"]["code"] == "range_not_satisfiable"


def test_500_ranges_and_garbage(
    client: AppClient, admin: dict[str, str], seeded: Seeded, media_copy: Path
) -> None:
    data = media_copy.read_bytes()
    url = f"/api/items/{seeded.movie}/file"
    r = client.get(url, headers={**admin, "Range": "bytes=" + ",".join(["0-9"] * 500)})
    assert r.status_code == 206
    assert r.content == data[:10]
    scattered = "bytes=" + ",".join(f"{i * 100}-{i * 100}" for i in range(500))
    assert client.get(url, headers={**admin, "Range": scattered}).status_code == 416
    r = client.get(url, headers={**admin, "Range": "bytes=garbage"})
    assert r.status_code == 200
    assert r.content == data


def test_repeated_range_requests_do_no_query(
    client: AppClient, admin: dict[str, str], seeded: Seeded
) -> None:
    db = services(client).db
    url = f"/api/items/{seeded.movie}/file"
    assert (
        client.get(url, headers={**admin, "Range": "bytes=0-99"}).status_code == 206
    )  # warms the cache
    before = db.query_count
    for i in range(20):
        r = client.get(url, headers={**admin, "Range": f"bytes={i * 100}-{i * 100 + 99}"})
        assert r.status_code == 206
    assert db.query_count == before


def test_grant_is_checked_even_when_cached(
    client: AppClient, admin: dict[str, str], seeded: Seeded, user_factory: MakeUser
) -> None:
    _uid, bob = user_factory("bob", [seeded.movies])
    url = f"/api/items/{seeded.secret_movie}/file"
    assert client.get(url, headers={**admin, "Range": "bytes=0-9"}).status_code == 206  # cached now
    assert client.get(url, headers={**bob, "Range": "bytes=0-9"}).status_code == 404


def test_item_without_file(client: AppClient, admin: dict[str, str], seeded: Seeded) -> None:
    r = client.get(f"/api/items/{seeded.show}/file", headers=admin)
    assert r.status_code == 404
    r = client.get(f"/api/items/{seeded.movie}/file?file_id=999999", headers=admin)
    assert r.status_code == 404


def test_vanished_file_is_409_media_changed(
    client: AppClient, admin: dict[str, str], seeded: Seeded, media_copy: Path
) -> None:
    url = f"/api/items/{seeded.movie}/file"
    assert client.head(url, headers=admin).status_code == 200
    media_copy.unlink()
    r = client.get(url, headers=admin)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "media_changed"


@pytest.mark.parametrize(
    "path",
    [
        "/api/items/..%2f..%2fetc%2fpasswd/file",
        "/api/items/%2e%2e/file",
        "/api/items/%2e%2e%2f%2e%2e%2fetc%2fpasswd/file",
        "/api/items/1%2f..%2f..%2fsecret.key/file",
        "/api/items/1/..%2f..%2fsecret.key",
        "/api/items/1/file%2f..%2f..%2fsecret.key",
        "/api/items/-1/file",
        "/api/items/0/file",
        "/api/items/1.5/file",
        f"/api/items/{10**30}/file",
        "/api/items/1/file?file_id=..%2f..%2fsecret.key",
        "/api/items/%00/file",
    ],
)
def test_path_tricks(client: AppClient, admin: dict[str, str], seeded: Seeded, path: str) -> None:
    secret = (services(client).settings.data_dir / "secret.key").read_bytes()
    r = client.get(path, headers=admin)
    assert r.status_code in (404, 422), path
    assert r.json()["error"]["status"] == r.status_code
    assert secret.strip() not in r.content


def test_literal_dotdot_in_the_url(
    client: AppClient, admin: dict[str, str], seeded: Seeded
) -> None:
    # httpx would normalise "..": send the raw target on a socket.
    import socket

    token = admin["Authorization"]
    with socket.create_connection(("127.0.0.1", client.server.port)) as sock:
        sock.sendall(
            f"GET /api/items/{seeded.movie}/../../../etc/passwd HTTP/1.1\r\nHost: localhost\r\n"
            f"Authorization: {token}\r\nConnection: close\r\n\r\n".encode()
        )
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    status = reply.split(b"\r\n", 1)[0]
    assert b" 404 " in status
    assert b"root:" not in reply


def open_fds_to(path: Path) -> int:
    """Descriptors of this process (server threads included) open on ``path``."""
    count = 0
    for fd in Path("/proc/self/fd").iterdir():
        try:
            if fd.readlink() == path:
                count += 1
        except OSError:
            continue
    return count


def wait_no_fds(path: Path, timeout: float = 5.0) -> int:
    import time

    deadline = time.monotonic() + timeout
    while (n := open_fds_to(path)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return n


def test_no_descriptor_leaks(
    client: AppClient, admin: dict[str, str], seeded: Seeded, media_copy: Path
) -> None:
    url = f"/api/items/{seeded.movie}/file"
    etag = client.head(url, headers=admin).headers["etag"]
    for headers in (
        {},
        {"Range": "bytes=0-9"},
        {"Range": "bytes=0-9,100-199"},
        {"Range": "bytes=999999999-"},
        {"If-None-Match": etag},
        {"Range": "bytes=0-9", "If-Range": '"stale"'},
    ):
        for method in ("GET", "HEAD"):
            client.request(method, url, headers={**admin, **headers})
    assert wait_no_fds(media_copy.resolve()) == 0


def test_client_that_goes_away_mid_file(
    client: AppClient, admin: dict[str, str], seeded: Seeded, media_copy: Path
) -> None:
    # Make the file large enough that the server cannot have sent it all at once.
    with media_copy.open("ab") as f:
        f.write(b"\0" * (64 * 1024 * 1024))
    rescanned(client, media_copy)
    with client.stream("GET", f"/api/items/{seeded.movie}/file", headers=admin) as r:
        assert r.status_code == 200
        first = next(r.iter_raw(65536))
        assert first
    # Leaving the block closes the connection with most of the body unread.
    assert wait_no_fds(media_copy.resolve()) == 0


def test_a_symlink_swapped_in_after_the_scan_is_refused(
    client: AppClient, admin: dict[str, str], seeded: Seeded, media_copy: Path
) -> None:
    url = f"/api/items/{seeded.movie}/file"
    assert client.get(url, headers=admin).status_code == 200  # located and cached
    secret = services(client).settings.data_dir / "secret.key"
    media_copy.unlink()
    media_copy.symlink_to(secret)
    r = client.get(url, headers=admin)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "media_changed"
    assert secret.read_text().strip() not in r.text


@pytest.mark.parametrize("allowed", [False, True])
def test_a_link_out_of_the_library_is_refused_even_with_the_scanned_identity(
    client: AppClient,
    admin: dict[str, str],
    seeded: Seeded,
    media_copy: Path,
    tmp_path: Path,
    allowed: bool,
) -> None:
    outside = tmp_path / "outside.mp4"
    shutil.copy2(media_copy, outside)  # same size and mtime as scanned
    media_copy.unlink()
    media_copy.symlink_to(outside)
    svc = services(client)
    svc.settings = dataclasses.replace(svc.settings, follow_links_outside_library=allowed)
    r = client.get(f"/api/items/{seeded.movie}/file", headers=admin)
    assert r.status_code == (200 if allowed else 409)
    if allowed:
        assert r.content == outside.read_bytes()


def test_another_file_with_the_scanned_size_and_mtime_is_refused(
    client: AppClient, admin: dict[str, str], seeded: Seeded, media_copy: Path, tmp_path: Path
) -> None:
    st = media_copy.stat()
    services(client).db.write_sync(  # what a scan records
        lambda c: c.execute(
            update(media_files)
            .where(media_files.c.path == str(media_copy))
            .values(inode=st.st_ino, device=st.st_dev)
        )
    )
    url = f"/api/items/{seeded.movie}/file"
    assert client.get(url, headers=admin).status_code == 200
    impostor = media_copy.with_name("impostor.mp4")
    shutil.copy2(media_copy, impostor)  # same size, same mtime: only the inode differs
    impostor.replace(media_copy)
    r = client.get(url, headers=admin)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "media_changed"
