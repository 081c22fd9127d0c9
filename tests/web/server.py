"""The pieces of the web UI tests that are not fixtures: the server handle, the page
log, constants. (Fixtures live in conftest.py.)"""

from __future__ import annotations

import contextlib
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ferrite import config
from ferrite.library.artwork import refresh_artwork
from ferrite.services import Services
from tests.api.server import ServerThread
from tests.torrent.swarm import LOOPBACK_TORRENTS

#: Debian's Chromium (scripts/test-browser-deps installs it).
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ADMIN = ("admin", "correct horse battery")
CREDENTIALS = {"username": ADMIN[0], "password": ADMIN[1]}

#: How long a browser step may take before the test fails (ms); generous for 2 shared cores.
STEP_MS = 20_000


def web_settings(data_dir: Path, **overrides: Any) -> config.Settings:
    """Settings of a web test server: a fresh data directory, no demo library, no folder
    watching, and a torrent engine (should a test start one) that talks to 127.0.0.1 only:
    no DHT, LSD or UPnP, an ephemeral port."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "watch": False,
        "warm_segments": 0,  # no background warming in tests
        "demo": False,
        "libraries": (),
        # Write progress on every report, so a reload right after a pause resumes there.
        "progress_interval_s": 0.5,
        **LOOPBACK_TORRENTS,
    }
    values.update(overrides)
    return config.load(values, environ={})


@dataclass(frozen=True)
class WebLibrary:
    root: Path
    movies: Path
    shows: Path


@dataclass
class WebServer:
    thread: ServerThread
    data_dir: Path
    library: WebLibrary
    admin_token: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.thread.url

    @property
    def services(self) -> Services:
        svc: Services = self.thread.app.state.services
        return svc

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if self.admin_token:
            headers.setdefault("Authorization", f"Bearer {self.admin_token}")
        return httpx.request(method, self.url + path, headers=headers, timeout=30, **kwargs)

    def setup_admin(self) -> None:
        """First-run setup and login through the API (for tests not about setup)."""
        r = httpx.post(
            self.url + "/api/setup", json=dict(zip(("username", "password"), ADMIN, strict=True))
        )
        assert r.status_code == 201, r.text
        self.login()

    def login(self) -> None:
        r = httpx.post(
            self.url + "/api/auth/login",
            json=CREDENTIALS,
        )
        assert r.status_code == 200, r.text
        self.admin_token = r.json()["access_token"]

    def add_libraries(self) -> dict[str, int]:
        ids = {}
        for name, kind, path in (
            ("Movies", "movies", self.library.movies),
            ("Shows", "shows", self.library.shows),
        ):
            r = self.api(
                "POST", "/api/libraries", json={"name": name, "kind": kind, "paths": [str(path)]}
            )
            assert r.status_code == 201, r.text
            ids[name] = r.json()["id"]
        self.wait_for_scans()
        return ids

    def wait_for_scans(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            libs = self.api("GET", "/api/libraries").json()
            if libs and not any(lib["scanning"] for lib in libs):
                break
            assert time.monotonic() < deadline, "library scans did not finish"
            time.sleep(0.1)
        # The scanner makes the posters before it reports the scan done: every title has
        # one now (no test makes them itself).
        items = self.api("GET", "/api/items", params={"limit": 100}).json()["items"]
        missing = [i["title"] for i in items if not i.get("artwork_url")]
        assert not missing, f"the scan left these without artwork: {missing}"

    def restore_artwork(self) -> None:
        """Re-make posters whose files were deleted (what the next scan would do)."""
        refresh_artwork(self.services.db, self.data_dir)

    def item_id(self, title: str) -> int:
        found = self.api("GET", "/api/items", params={"q": title, "limit": 50}).json()["items"]
        for item in found:
            if item["title"] == title:
                return int(item["id"])
        raise AssertionError(f"no item titled {title!r} in {[i['title'] for i in found]}")


class PageLog:
    """What the page said: console errors, uncaught exceptions, and API traffic."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.events: list[dict[str, Any]] = []  # telemetry/heartbeat bodies
        self.playbacks: list[dict[str, Any]] = []  # POST /api/playback request bodies
        self.decisions: list[dict[str, Any]] = []  # and their responses
        self.media: list[str] = []  # GET paths under /api/playback/ (playlists, segments)

    def attach(self, page: Any) -> None:
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on(
            "console",
            lambda msg: msg.type == "error" and self.errors.append(f"console: {msg.text}"),
        )
        page.on("request", self._request)
        page.on("response", self._response)

    def _request(self, request: Any) -> None:
        if request.method == "GET" and "/api/playback/" in request.url:
            self.media.append(request.url.split("?")[0])
        if request.method != "POST":
            return
        if re.search(r"/api/playback/[^/]+/events", request.url):
            with contextlib.suppress(ValueError):  # not JSON: the page has a bug; tests see it
                self.events.append(request.post_data_json)
        elif request.url.split("?")[0].endswith("/api/playback"):
            self.playbacks.append(request.post_data_json)

    def _response(self, response: Any) -> None:
        req = response.request
        if req.method == "POST" and req.url.split("?")[0].endswith("/api/playback"):
            try:
                self.decisions.append({"status": response.status, **response.json()})
            except Exception:
                self.decisions.append({"status": response.status})

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if isinstance(e, dict) and e.get("type") == kind]

    def unexpected_errors(self) -> list[str]:
        # The browser logs failed subresource loads (a 404 artwork falls back to its
        # placeholder on purpose); anything else is a bug in the page.
        return [e for e in self.errors if "Failed to load resource" not in e]
