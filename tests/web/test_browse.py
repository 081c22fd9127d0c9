"""Browsing in a real browser: library grids, show → season → episode, an item's file
facts, search as you type, placeholders, the admin's users and scans, a phone screen."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from ferrite.library.queries import item_artwork
from tests.web.helpers import login_ui
from tests.web.server import ARTIFACTS, PageLog, WebServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


@pytest.fixture(scope="module", autouse=True)
def _signed_in(web_server: WebServer, page: Any) -> None:
    web_server.setup_admin()
    web_server.add_libraries()
    login_ui(page, web_server)


def titles(page: Any, selector: str) -> list[str]:
    return page.eval_on_selector_all(
        f"{selector} .card-title", "(els) => els.map((e) => e.textContent)"
    )


def test_library_grid_lists_titles_and_sorts(page: Any, web_server: WebServer, shot: Any) -> None:
    page.click("nav.nav a:has-text('Movies')")
    page.wait_for_selector("[data-grid=library] .card")
    assert titles(page, "[data-grid=library]") == [
        "Amélie Ten Bit",
        "Big Test Movie",
        "Multi Track",
    ]
    assert page.inner_text(".page-head p") == "3 titles"
    page.select_option("select[aria-label='Sort by']", label="Newest")
    first = "document.querySelector('[data-grid=library] .card-title')?.textContent"
    page.wait_for_function(f"() => {first} === 'Multi Track'")
    assert titles(page, "[data-grid=library]") == [
        "Multi Track",
        "Big Test Movie",
        "Amélie Ten Bit",
    ]
    assert "sort=year" in page.url
    shot("library")


def test_show_season_episode_navigation(page: Any, web_server: WebServer, shot: Any) -> None:
    page.click("nav.nav a:has-text('Shows')")
    page.click("[data-grid=library] .card[aria-label^='Test Show']")
    page.wait_for_selector("[data-grid=seasons] .card")
    assert titles(page, "[data-grid=seasons]") == ["Season 1", "Season 2"]
    shot("show")
    page.click("[data-grid=seasons] .card:has-text('Season 1')")
    page.wait_for_selector(".episodes .episode")
    episodes = page.eval_on_selector_all(".episodes h3", "(els) => els.map((e) => e.textContent)")
    assert episodes == ["1. Pilot", "2. The Second"]
    assert page.inner_text("nav.crumbs") == "Test Show"
    shot("season")
    page.click(".episodes h3 a:has-text('Pilot')")
    page.wait_for_selector("h1:has-text('Pilot')")
    assert re.sub(r"\s+", " ", page.inner_text("nav.crumbs")) == "Test Show › Season 1"
    assert page.is_visible("[data-action=play]")
    page.click("nav.crumbs a:has-text('Season 1')")
    page.wait_for_selector(".episodes")


def test_item_page_shows_the_file_facts(page: Any, web_server: WebServer, shot: Any) -> None:
    page.goto(f"{web_server.url}/item/{web_server.item_id('Multi Track')}")
    page.wait_for_selector("[data-facts=video]")
    video = page.inner_text("[data-facts=video]")
    assert "H.264" in video
    assert "854 × 480" in video
    assert "24 fps" in video
    assert "SDR" in video
    audio = page.inner_text("[data-facts=audio]")
    assert "Audio tracks (2)" in audio.replace("AUDIO TRACKS", "Audio tracks")
    assert "English" in audio
    assert "French" in audio
    assert "Stereo" in audio
    subtitles = page.inner_text("[data-facts=subtitles]")
    assert "English" in subtitles
    file_facts = page.inner_text("[data-facts=file]")
    assert "0:30" in file_facts
    assert re.search(r"\d+(\.\d)? (kB|KB|MB)", file_facts)
    shot("item")
    # 10-bit and the dynamic range are spelled out as the server probed them.
    item_id = web_server.item_id("Amélie Ten Bit")
    detail = web_server.api("GET", f"/api/items/{item_id}").json()
    hdr = next(s for s in detail["files"][0]["streams"] if s["type"] == "video")["hdr"]
    page.goto(f"{web_server.url}/item/{item_id}")
    page.wait_for_selector("[data-facts=video]")
    video = page.inner_text("[data-facts=video]")
    assert "HEVC" in video
    assert "10-bit" in video
    names = {"none": "SDR", "hdr10": "HDR10", "hlg": "HLG", "dolby_vision": "Dolby Vision"}
    assert f"Dynamic range\n{names[hdr]}" in video
    assert page.is_visible(".meta .pill.hdr") == (hdr != "none")
    assert "5.1" in page.inner_text("[data-facts=audio]")


def test_search_shows_results_as_you_type(page: Any, web_server: WebServer, shot: Any) -> None:
    searches: list[str] = []
    page.on(
        "request", lambda r: "/api/items?" in r.url and "q=" in r.url and searches.append(r.url)
    )
    page.goto(web_server.url + "/")
    page.click(".search-box input")
    page.keyboard.type("multi", delay=40)
    page.wait_for_url("**/search?q=*")
    page.wait_for_selector("[data-grid=search] .card[aria-label^='Multi Track']")
    # Debounced: far fewer requests than keystrokes, and focus stays in the box.
    assert len(searches) < 5
    assert page.evaluate("() => document.activeElement.matches('.search-box input')")
    page.fill(".search-box input", "")
    page.keyboard.type("pilot", delay=40)
    page.wait_for_selector("[data-grid=search] .card[aria-label^='Pilot']")
    assert titles(page, "[data-grid=search]") == ["Pilot"]
    assert "q=pilot" in page.url
    page.keyboard.type("zzz", delay=20)
    page.wait_for_selector("[role=status]:has-text('Nothing found')")
    shot("search")


def test_missing_artwork_falls_back_to_a_placeholder(browser: Any, web_server: WebServer) -> None:
    item_id = web_server.item_id("Big Test Movie")
    name = web_server.services.db.read_sync(lambda c: item_artwork(c, item_id, libraries=None))
    # The poster file disappears behind the server's back (a cleaned data directory); a
    # browser without it in its cache gets a 404 and draws the placeholder instead.
    (web_server.data_dir / "artwork" / name).unlink()
    fresh = browser.new_context(viewport={"width": 1000, "height": 700})
    try:
        page = fresh.new_page()
        login_ui(page, web_server)
        page.goto(web_server.url + "/library/1")
        card = "[data-grid=library] .card[aria-label^='Big Test Movie']"
        page.wait_for_selector(f"{card} .art.broken")
        assert page.is_visible(f"{card} .placeholder")
        assert page.inner_text(f"{card} .placeholder") == "BT"
        # The others still show their posters.
        other = "[data-grid=library] .card[aria-label^='Multi Track'] img"
        page.wait_for_function(f'() => document.querySelector("{other}").naturalWidth === 320')
    finally:
        fresh.close()
        web_server.restore_artwork()


def test_admin_manages_users_and_their_libraries(
    page: Any, context: Any, web_server: WebServer, shot: Any
) -> None:
    page.goto(web_server.url + "/admin")
    page.wait_for_selector("[data-user=admin]")
    page.fill("input[name=new-username]", "alice")
    page.fill("input[name=new-password]", "alice's password")
    page.check("input[name=new-lib][value='1']")
    page.click("button:has-text('Add user')")
    row = "[data-user=alice]"
    page.wait_for_selector(row)
    assert page.is_checked(f"{row} input[type=checkbox][value='1']")
    assert not page.is_checked(f"{row} input[type=checkbox][value='2']")
    page.click(f"{row} button:has-text('Disable')")
    page.wait_for_selector(f"{row} .status.off")
    shot("users")

    alice = context.browser.new_context(viewport={"width": 1000, "height": 700})
    try:
        other = alice.new_page()
        other.goto(web_server.url + "/login")
        other.fill("input[name=username]", "alice")
        other.fill("input[name=password]", "alice's password")
        other.click("button[type=submit]")
        other.wait_for_selector(".form-error:has-text('disabled')")
        page.click(f"{row} button:has-text('Enable')")
        page.wait_for_selector(f"{row} .status.ok")
        other.click("button[type=submit]")
        other.wait_for_selector("nav.nav a:has-text('Movies')")
        # Alice sees the one library she was granted, and no admin menu.
        assert other.eval_on_selector_all(
            "nav.nav a", "(els) => els.map((e) => e.textContent)"
        ) == [
            "Home",
            "Movies",
        ]
        # (No Torrents page for members, nor anything else in the nav.)
        assert other.text_content("nav.nav") == "HomeMovies"
        other.click("#topbar .avatar")
        assert not other.is_visible("a:has-text('Administration')")
        # Granting Shows shows up on her next page load, without signing in again.
        page.check(f"{row} input[type=checkbox][value='2']")
        page.wait_for_selector(".toast:has-text('Library access for alice saved')")
        other.reload()
        other.wait_for_selector("nav.nav a:has-text('Shows')")
    finally:
        alice.close()


def test_scans_tab_rescans_a_library(page: Any, web_server: WebServer) -> None:
    page.goto(web_server.url + "/admin?tab=scans")
    page.wait_for_selector("tr[data-library=Movies] [data-scan=idle]")
    page.click("tr[data-library=Movies] button:has-text('Rescan')")
    page.wait_for_selector(".toast:has-text('Rescanning Movies')")
    page.wait_for_selector("tr[data-library=Movies] [data-scan=idle]")
    assert page.inner_text("tr[data-library=Movies] td:nth-of-type(2)") == "3"


def test_phone_layout_fits_the_screen(browser: Any, web_server: WebServer) -> None:
    phone = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    try:
        page = phone.new_page()
        login_ui(page, web_server)
        page.wait_for_selector("section:has-text('Recently added in Movies') .card")
        page.screenshot(path=str(artifact("phone-home")))
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        page.goto(f"{web_server.url}/item/{web_server.item_id('Multi Track')}")
        page.wait_for_selector("[data-facts=video]")
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(path=str(artifact("phone-item")), full_page=True)
    finally:
        phone.close()


def test_the_pages_logged_no_errors(page_log: PageLog) -> None:
    assert page_log.unexpected_errors() == []


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / f"test_browse-{name}.png"
