"""Playback under a hostile client: revoked users, poisoned telemetry, odd segment names."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from ferrite.sources import StreamedFile
from tests import media
from tests.live import Live, rendition_base, start_live

TELEMETRY_KEEP = 100  # ferrite.playback.sessions.TELEMETRY_KEEP


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("hardening")
    movies = root / "movies"
    paths = {
        "Plain": media.make_clip(movies / "Plain (2020)" / "Plain (2020).mp4", media.Clip()),
        # Not the same bytes as Plain: segments are shared by content fingerprint.
        "Other": media.make_clip(
            movies / "Other (2021)" / "Other (2021).mp4", media.Clip(duration=3.0)
        ),
    }
    with start_live(root, [movies], paths) as live:
        yield live


def _user(live: Live, name: str) -> tuple[int, dict[str, str]]:
    libraries = [
        lib["id"] for lib in live.client.get("/api/libraries", headers=live.headers).json()
    ]
    r = live.client.post(
        "/api/users",
        json={"username": name, "password": "password-1", "library_ids": libraries},
        headers=live.headers,
    )
    assert r.status_code == 201, r.text
    tok = live.client.post("/api/auth/login", json={"username": name, "password": "password-1"})
    return r.json()["id"], {"Authorization": f"Bearer {tok.json()['access_token']}"}


def _play(live: Live, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    r = live.client.post(
        "/api/playback", json={"item_id": live.items["Plain"], **body}, headers=headers
    )
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


@pytest.mark.parametrize("change", ["disable", "logout", "grant"])
def test_a_revoked_users_stream_urls_stop_working(live: Live, change: str) -> None:
    user_id, headers = _user(live, f"eve-{change}")
    hls = _play(live, headers, device="chrome", protocol="hls")
    direct = _play(live, headers, device="chrome")
    assert direct["protocol"] == "direct"
    events = f"/api/playback/{hls['session_id']}/events?token={hls['token']}"
    urls = [hls["url"], rendition_base(hls) + "v/" + hls["renditions"]["video"][0]["id"] + ".m3u8"]
    for url in [*urls, direct["url"]]:
        assert live.client.get(url).status_code == 200, url
    if change == "disable":
        r = live.client.patch(
            f"/api/users/{user_id}", json={"disabled": True}, headers=live.headers
        )
    elif change == "logout":
        r = live.client.post("/api/auth/logout", headers=headers)
    else:
        r = live.client.patch(
            f"/api/users/{user_id}", json={"library_ids": []}, headers=live.headers
        )
    assert r.status_code in (200, 204), r.text
    for url in [*urls, direct["url"]]:
        assert live.client.get(url).status_code in (401, 404), url  # 404: session ended
    assert live.client.post(events, json={"type": "heartbeat"}).status_code in (401, 404)
    assert [s for s in live.playback.sessions if s.user_id == user_id] == []


@pytest.mark.parametrize(
    "body",
    [
        b'{"type": "ttff", "value_ms": NaN}',
        b'{"type": "stall", "ms": Infinity}',
        b'{"type": "seek", "ms": -Infinity}',
        b'{"type": "seek", "ms": 1e999}',
        b'{"type": "position", "position_s": ' + b"9" * 400 + b"}",
    ],
)
def test_telemetry_refuses_numbers_that_are_not_numbers(live: Live, body: bytes) -> None:
    pb = _play(live, live.headers, device="chrome", protocol="hls")
    r = live.client.post(
        f"/api/playback/{pb['session_id']}/events?token={pb['token']}",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "bad_request"
    assert "Traceback" not in r.text


def test_telemetry_lists_per_session_are_bounded(live: Live) -> None:
    pb = _play(live, live.headers, device="chrome", protocol="hls")
    url = f"/api/playback/{pb['session_id']}/events?token={pb['token']}"
    batch = [{"type": "seek", "ms": 5}] * 50 + [{"type": "error", "message": "x"}] * 50
    for _ in range(6):
        assert live.client.post(url, json=batch).status_code == 204
    telemetry = live.playback.get(pb["session_id"]).telemetry
    assert telemetry.seeks == 300
    assert len(telemetry.seek_ms) == len(telemetry.errors) == TELEMETRY_KEEP


@pytest.mark.parametrize("stem", ["²", "٣", "0²"])
def test_unicode_digits_in_a_segment_name_are_a_400(live: Live, stem: str) -> None:
    pb = _play(live, live.headers, device="chrome", protocol="hls")
    rid = pb["renditions"]["video"][0]["id"]
    r = live.client.get(rendition_base(pb) + f"v/{rid}/{stem}.m4s")
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "bad_request"


def test_a_users_oldest_session_ends_beyond_the_cap(live: Live) -> None:
    cap = live.client.app.state.services.settings.max_sessions_per_user
    user_id, headers = _user(live, "many")
    sessions = [_play(live, headers, device="chrome", protocol="hls") for _ in range(cap + 1)]
    assert live.client.get(sessions[0]["url"]).status_code == 404  # ended
    assert live.client.get(sessions[-1]["url"]).status_code == 200
    assert len(live.playback.sessions.of_user(user_id)) == cap


class _Stuck:
    """A torrent file whose pieces never come: every read waits until released."""

    def __init__(self, released: threading.Event) -> None:
        self._released = released
        self._pos = 0

    def read(self, size: int | None = -1, /) -> bytes:
        self._released.wait()
        raise OSError("the torrent was removed")

    def seek(self, offset: int, whence: int = 0, /) -> int:
        self._pos = offset
        return offset

    def close(self) -> None:
        pass


def test_stuck_torrent_reads_do_not_stall_other_files(live: Live) -> None:
    svc = live.client.app.state.services
    stuck_path = str(live.paths["Plain"])
    released = threading.Event()
    svc.sources.register(
        StreamedFile(
            path=stuck_path,
            size=live.paths["Plain"].stat().st_size,
            version_ns=1,
            open=lambda: _Stuck(released),
            complete=lambda: False,
        )
    )
    svc.files.clear()
    stuck = _play(live, live.headers, device="chrome", protocol="hls")
    rid = stuck["renditions"]["video"][0]["id"]
    urls = [rendition_base(stuck) + f"v/{rid}/{n}.m4s" for n in range(6)]
    urls += [live.url(f"/api/items/{live.items['Plain']}/file")] * 41
    pool = ThreadPoolExecutor(len(urls))
    try:
        with httpx.Client(base_url=live.url(""), headers=live.headers, timeout=120) as c:
            for url in urls:
                pool.submit(c.get, url)
            # More stuck reads than the packager has threads (4) and than the server's
            # shared thread limit (40): another file still plays, both ways.
            other = _play_item(live, "Other")
            orid = other["renditions"]["video"][0]["id"]
            with httpx.Client(timeout=20) as fresh:
                r = fresh.get(live.url(rendition_base(other) + f"v/{orid}/0.m4s"))
                assert r.status_code == 200, r.text
                direct = fresh.get(
                    live.url(f"/api/items/{live.items['Other']}/file"), headers=live.headers
                )
                assert direct.status_code == 200
                assert direct.content == live.paths["Other"].read_bytes()
    finally:
        released.set()
        svc.sources.unregister(stuck_path)
        pool.shutdown(wait=True)
        svc.files.clear()


def _play_item(live: Live, title: str) -> dict[str, Any]:
    r = live.client.post(
        "/api/playback",
        json={"item_id": live.items[title], "device": "chrome", "protocol": "hls"},
        headers=live.headers,
    )
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def test_a_users_oldest_progressive_stream_gives_way_beyond_the_cap(live: Live) -> None:
    svc = live.client.app.state.services
    cap = svc.settings.max_streams_per_user
    user_id, headers = _user(live, "streamer")
    device = {"containers": ["matroska"], "video": ["h264"], "audio": ["aac"], "hls": False}
    pb = _play(live, headers, device=device)
    assert pb["protocol"] == "progressive", pb
    with contextlib.ExitStack() as held:
        for _ in range(cap + 1):  # each held open, unread: its stream stays live
            r = held.enter_context(live.client.stream("GET", pb["url"]))
            assert r.status_code == 200
            assert svc.playback.progressive.open.count(user_id) <= cap
        assert svc.playback.progressive.open.count(user_id) == cap
