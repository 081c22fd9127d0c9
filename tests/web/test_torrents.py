"""The Torrents page in real Chromium: an admin uploads a .torrent whose only peer is a
libtorrent seeder on 127.0.0.1, watches it download, plays its video from the item page,
and deletes it with its data; bad input shows the server's reason next to the form.

The server's torrent engine listens on 127.0.0.1 only, with DHT, LSD and UPnP off and no
trackers (``web_settings``): the seeder named in the form is the only peer it talks to.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ferrite.app import create_app
from ferrite.auth.passwords import Passwords
from tests import media
from tests.api.server import ServerThread
from tests.torrent.streaming import torrent_of
from tests.torrent.swarm import Seeder, make_torrent
from tests.web.helpers import login_ui, wait_playing
from tests.web.server import PageLog, WebLibrary, WebServer, web_settings

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

TITLE = "Seeded Movie (2023)"
SUBMIT = "section[aria-labelledby=add-torrent-h] button[type=submit]"
ROW = "[data-torrent]"


@dataclass(frozen=True)
class Seeded:
    torrent: Path  # the .torrent file the browser uploads
    port: int
    size: int


@pytest.fixture(scope="module")
def web_server(
    tmp_path_factory: pytest.TempPathFactory, cheap_passwords: Passwords
) -> Iterator[WebServer]:
    """A fresh server with no library (the Torrents library appears with the first
    torrent), signed in as admin through the API."""
    root = tmp_path_factory.mktemp("torrent-web")
    library = WebLibrary(root, root / "movies", root / "shows")
    data_dir = root / "data"
    app = create_app(web_settings(data_dir), passwords=cheap_passwords)
    thread = ServerThread(app).start()
    try:
        server = WebServer(thread, data_dir, library)
        server.setup_admin()
        yield server
    finally:
        thread.stop()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """A few seconds of 320x240 H.264/AAC in a torrent of 32 KiB pieces, seeded on
    127.0.0.1 at about a quarter of its size per second: the download takes ~4 s, long
    enough to see the progress move on the page, short enough for the test."""
    root = tmp_path_factory.mktemp("seeder")
    clip = media.make_clip(root / "clip.mp4", media.Clip(duration=6.0, size=(320, 240)))
    data = torrent_of(clip, TITLE, root / "seed", piece=32 * 1024)
    path = root / "seeded.torrent"
    path.write_bytes(data)
    size = clip.stat().st_size
    with Seeder(data, root / "seed", upload_limit=max(32 * 1024, size // 4)) as seeder:
        yield Seeded(path, seeder.port, size)


@pytest.fixture(scope="module", autouse=True)
def _signed_in(web_server: WebServer, page: Any) -> None:
    login_ui(page, web_server)


def error_text(page: Any) -> str:
    return str(page.inner_text("#add-torrent-error"))


def post_torrents(response: Any) -> bool:
    return bool(
        response.request.method == "POST" and response.url.split("?")[0].endswith("/api/torrents")
    )


def test_admins_find_the_torrents_page_in_the_nav(page: Any, web_server: WebServer) -> None:
    page.click("nav.nav a[href='/torrents']")
    page.wait_for_url("**/torrents")
    page.wait_for_selector("h1:has-text('Torrents')")
    page.wait_for_selector("[data-empty]:not([hidden])")
    assert page.get_attribute("nav.nav a[href='/torrents']", "aria-current") == "page"


def test_bad_input_shows_the_servers_reason(
    page: Any, web_server: WebServer, tmp_path: Path
) -> None:
    # Nothing to add: the page says so without asking the server.
    page.click(SUBMIT)
    assert "Paste a magnet link or choose a .torrent file" in error_text(page)

    # A malformed magnet link: 400 invalid_torrent, its message shown next to the form.
    page.fill("input[name=magnet]", "magnet:?xt=urn:btih:not-a-hash")
    with page.expect_response(post_torrents) as answer:
        page.click(SUBMIT)
    assert answer.value.status == 400
    error = answer.value.json()["error"]
    assert error["code"] == "invalid_torrent"
    page.wait_for_function(
        "(m) => document.querySelector('#add-torrent-error').textContent === m",
        arg=error["message"],
    )
    assert page.get_attribute("input[name=magnet]", "aria-invalid") == "true"
    assert page.is_enabled(SUBMIT)

    # A torrent without any video: 422, and nothing is listed.
    notes = tmp_path / "Just Notes"
    notes.mkdir()
    (notes / "readme.txt").write_text("no video here\n" * 100)
    (tmp_path / "notes.torrent").write_bytes(make_torrent(notes))
    page.fill("input[name=magnet]", "")
    page.set_input_files("input[name=torrent]", str(tmp_path / "notes.torrent"))
    with page.expect_response(post_torrents) as answer:
        page.click(SUBMIT)
    assert answer.value.status == 422
    message = answer.value.json()["error"]["message"]
    assert "no video files" in message
    page.wait_for_function(
        "(m) => document.querySelector('#add-torrent-error').textContent === m", arg=message
    )
    assert page.query_selector(ROW) is None
    assert web_server.api("GET", "/api/torrents").json() == []
    page.set_input_files("input[name=torrent]", [])


def test_add_a_torrent_file_and_watch_it_download(
    page: Any, web_server: WebServer, seeded: Seeded, shot: Any
) -> None:
    page.set_input_files("input[name=torrent]", str(seeded.torrent))
    page.fill("input[name=peers]", f"127.0.0.1:{seeded.port}")
    # Record what the button and the rows go through (busy while adding; progress values).
    page.evaluate(
        """(submit) => {
          const seen = { busy: false, progress: new Set() };
          window.__torrentTest = seen;
          const button = document.querySelector(submit);
          new MutationObserver(() => {
            if (button.disabled && button.getAttribute('aria-busy') === 'true'
                && button.textContent.includes('Adding')) seen.busy = true;
          }).observe(button, { attributes: true, childList: true, subtree: true });
          new MutationObserver(() => {
            for (const row of document.querySelectorAll('[data-torrent]'))
              seen.progress.add(Number(row.dataset.progress));
          }).observe(document.querySelector('.torrent-list'),
                     { attributes: true, subtree: true, childList: true });
        }""",
        SUBMIT,
    )
    with page.expect_response(post_torrents) as answer:
        page.click(SUBMIT)
    assert answer.value.status == 201, answer.value.text()
    added = answer.value.json()
    page.wait_for_selector(ROW)
    assert page.evaluate("() => window.__torrentTest.busy"), "the Add button was never busy"
    assert page.inner_text(SUBMIT).strip() == "Add"
    assert error_text(page) == ""
    page.wait_for_selector(".toast:has-text('playable while it downloads')")

    # Listed with its name and its video file, which links to its (new) library item.
    assert page.inner_text(f"{ROW} .torrent-name") == TITLE
    video = next(f for f in added["files"] if f["is_video"])
    item_id = video["item_id"]
    assert item_id
    file_row = f"{ROW} [data-item-id='{item_id}']"
    assert page.inner_text(f"{file_row} [data-action=open]") == f"{TITLE}.mp4"
    assert page.get_attribute(f"{file_row} [data-action=open]", "href") == f"/item/{item_id}"
    assert page.get_attribute(f"{file_row} [data-action=play]", "href") == f"/play/{item_id}?t=0"
    # The nav learns of the Torrents library the first torrent created.
    page.wait_for_selector("nav.nav a[href^='/library/']:has-text('Torrents')")

    # The list refreshes by itself: the progress moves, then reaches 100 %.
    page.wait_for_function(
        "() => document.querySelector('[data-torrent]').dataset.progress === '100'",
        timeout=30_000,
    )
    seen = page.evaluate("() => Array.from(window.__torrentTest.progress)")
    assert any(0 <= p < 100 for p in seen), seen
    assert page.inner_text(f"{ROW} .torrent-percent") == "100 %"
    assert page.get_attribute(f"{ROW} [role=progressbar]", "aria-valuenow") == "100"
    page.wait_for_function(
        "() => ['seeding', 'finished']"
        ".includes(document.querySelector('[data-torrent]').dataset.state)"
    )
    stats = page.inner_text(f"{ROW} .torrent-stats")
    assert "peer" in stats
    assert "B/s" in stats
    shot("list")


def test_play_it_from_its_item_page(page: Any, web_server: WebServer, page_log: PageLog) -> None:
    polls: list[str] = []

    def on_request(request: Any) -> None:
        if request.method == "GET" and request.url.split("?")[0].endswith("/api/torrents"):
            polls.append(request.url)

    page.on("request", on_request)
    try:
        page.click(f"{ROW} [data-action=open]")
        page.wait_for_selector("h1:has-text('Seeded Movie')")
        left = len(polls)
        since = len(page_log.decisions)
        page.click("[data-action=play]")
        page.wait_for_url("**/play/*")
        state = wait_playing(page, past=1.0)
        assert state["frames"] > 0
        assert page_log.decisions[since]["status"] == 201
        # The Torrents page stopped polling when it was left (no leaked timer).
        assert len(polls) == left, polls[left:]
    finally:
        page.remove_listener("request", on_request)
    page.click("button[aria-label='Back']")
    page.wait_for_selector("h1:has-text('Seeded Movie')")


def test_delete_it_with_its_data(page: Any, web_server: WebServer, shot: Any) -> None:
    page.click("nav.nav a[href='/torrents']")
    page.wait_for_selector(ROW)
    torrent_id = int(page.get_attribute(ROW, "data-torrent"))
    item_id = int(page.get_attribute(f"{ROW} [data-item-id]", "data-item-id"))
    downloaded = list((web_server.data_dir / "torrents").rglob(f"{TITLE}.mp4"))
    assert downloaded

    # Escape (or Cancel) keeps it.
    page.click(f"{ROW} button:has-text('Delete')")
    page.wait_for_selector("dialog[open]")
    page.keyboard.press("Escape")
    page.wait_for_selector("dialog", state="hidden")
    assert page.is_visible(ROW)

    page.click(f"{ROW} button:has-text('Delete')")
    page.wait_for_selector("dialog[open]")
    assert f"Delete “{TITLE}”?" in page.inner_text("dialog h2")
    shot("delete")
    page.check("dialog input[name=delete-data]")
    with page.expect_request(lambda r: r.method == "DELETE") as sent:
        page.click("dialog button[value=delete]")
    assert sent.value.url.endswith(f"/api/torrents/{torrent_id}?delete_data=true")
    page.wait_for_selector(ROW, state="detached")
    page.wait_for_selector("[data-empty]:not([hidden])")
    page.wait_for_selector(".toast:has-text('and its data were deleted')")

    assert web_server.api("GET", "/api/torrents").json() == []
    assert web_server.api("GET", f"/api/items/{item_id}").status_code == 404
    assert not any(p.exists() for p in downloaded)


def test_the_pages_logged_no_errors(page_log: PageLog) -> None:
    assert page_log.unexpected_errors() == []
