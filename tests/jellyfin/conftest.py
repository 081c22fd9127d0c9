"""A real Ferrite server with a movies and a shows library, three users, for the Jellyfin
tests (module-scoped: scanning is the slow part). Only 127.0.0.1 is ever contacted."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ferrite.jellyfin.wire import item_guid
from tests import media
from tests.api.server import AppClient, ServerThread
from tests.live import add_library, running_server, wait_scanned

USERS = {
    "alice": "alice password",
    "bob": "bob password",
}  # alice: both libraries; bob: movies only
DEVICE = 'MediaBrowser Client="pytest", Device="ci", DeviceId="dev-1", Version="1.0"'


@dataclass
class Jf:
    client: AppClient
    admin: dict[str, str]  # Ferrite bearer headers of the admin ("root")
    items: dict[str, int]  # title -> Ferrite item id
    libraries: dict[str, int]  # "movies" | "shows" -> library id
    paths: dict[str, Path]
    server: ServerThread = field(repr=False)

    @property
    def url(self) -> str:
        return self.server.url

    def guid(self, title: str) -> str:
        return item_guid(self.items[title])

    def ferrite_login(self, name: str) -> dict[str, str]:
        r = self.client.post("/api/auth/login", json={"username": name, "password": USERS[name]})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def jf_login(self, name: str, password: str | None = None) -> tuple[str, dict[str, Any]]:
        """(token, AuthenticationResult) through Jellyfin's log-in."""
        r = self.client.post(
            "/Users/AuthenticateByName",
            json={"Username": name, "Pw": password or USERS[name]},
            headers={"Authorization": DEVICE},
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body["AccessToken"], body

    def headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f'{DEVICE}, Token="{token}"'}


def build_media(root: Path) -> dict[str, Path]:
    movies = root / "movies"
    shows = root / "shows" / "Test Show"
    out = {
        "Plain": media.make_clip(movies / "Plain (2020)" / "Plain (2020).mp4", media.Clip()),
        "Other": media.make_clip(movies / "Other (2019)" / "Other (2019).mkv", media.Clip()),
        "Pilot": media.make_clip(shows / "Season 01" / "Test Show - S01E01 - Pilot.mp4"),
        "Second": media.make_clip(shows / "Season 01" / "Test Show - S01E02 - Second.mp4"),
    }
    media.write_srt(movies / "Plain (2020)" / "Plain (2020).en.srt")
    return out


def start(root: Path, paths: dict[str, Path], **overrides: Any) -> Iterator[Jf]:
    with running_server(root, **overrides) as (c, admin):
        libraries = {
            kind: add_library(c, admin, kind.title(), kind, [root / kind])
            for kind in ("movies", "shows")
        }
        wait_scanned(c, admin)
        for name, grants in (("alice", ["movies", "shows"]), ("bob", ["movies"])):
            r = c.post(
                "/api/users",
                json={
                    "username": name,
                    "password": USERS[name],
                    "library_ids": [libraries[g] for g in grants],
                },
                headers=admin,
            )
            assert r.status_code == 201, r.text
        titles: dict[str, int] = {}
        top = c.get("/api/items", params={"limit": 100}, headers=admin).json()["items"]
        for item in top:
            titles[item["title"]] = item["id"]
            if item["kind"] == "show":
                seasons = c.get(f"/api/items/{item['id']}/children", headers=admin).json()
                for season in seasons["items"]:
                    titles[season["title"]] = season["id"]
                    episodes = c.get(f"/api/items/{season['id']}/children", headers=admin).json()
                    for ep in episodes["items"]:
                        titles[ep["title"]] = ep["id"]
        yield Jf(c, admin, titles, libraries, paths, c.server)


@pytest.fixture(scope="module")
def jf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jf]:
    root = tmp_path_factory.mktemp("jellyfin")
    paths = build_media(root)
    yield from start(root, paths)
