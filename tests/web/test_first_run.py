"""A new install in a real browser: first-run setup, adding libraries, signing out and
in, and the home page filling up with what the scan found (with posters)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.web.helpers import login_ui
from tests.web.server import ADMIN, PageLog, WebServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


def test_first_visit_opens_setup_and_creates_the_admin(
    page: Any, web_server: WebServer, shot: Any
) -> None:
    assert httpx.get(web_server.url + "/api/setup").json() == {"needed": True}
    page.goto(web_server.url + "/")
    page.wait_for_url("**/setup")
    shot("setup")
    page.fill("input[name=username]", ADMIN[0])
    page.fill("input[name=password]", ADMIN[1])
    page.fill("input[name=confirm]", ADMIN[1] + "typo")
    page.click("button[type=submit]")
    assert "do not match" in page.inner_text(".form-error")
    page.fill("input[name=confirm]", ADMIN[1])
    page.click("button[type=submit]")
    # Signed in at once, and sent to add a library.
    page.wait_for_url("**/admin**")
    page.wait_for_selector("[role=tab][aria-selected=true][data-tab=libraries]")
    assert httpx.get(web_server.url + "/api/setup").json() == {"needed": False}
    # Setup is closed now: its page sends a signed-in admin home instead.
    page.goto(web_server.url + "/setup")
    page.wait_for_url(web_server.url + "/")


def test_admin_adds_libraries_and_watches_the_scan(
    page: Any, web_server: WebServer, shot: Any
) -> None:
    page.goto(web_server.url + "/admin?tab=libraries")
    for name, kind, path in (
        ("Movies", "movies", web_server.library.movies),
        ("Shows", "shows", web_server.library.shows),
    ):
        page.fill("input[name=library-name]", name)
        page.select_option("select[name=library-kind]", kind)
        page.fill("textarea[name=library-paths]", str(path))
        page.click("button:has-text('Add library')")
        page.wait_for_selector(f"[data-library={name}]")
    # The list polls while scanning and settles on "Scanned ..." with the titles found.
    page.wait_for_selector("[data-library=Movies] [data-scan=idle]")
    page.wait_for_selector("[data-library=Shows] [data-scan=idle]")
    page.wait_for_function(
        "() => /3 titles/.test(document.querySelector('[data-library=Movies]').textContent)"
    )
    # A bad folder is refused with the server's explanation.
    page.fill("input[name=library-name]", "Nowhere")
    page.fill("textarea[name=library-paths]", "/no/such/folder")
    page.click("button:has-text('Add library')")
    page.wait_for_selector(".form-error:has-text('/no/such/folder')")
    # The nav bar lists the new libraries.
    page.wait_for_selector("nav.nav a:has-text('Shows')")
    web_server.login()
    web_server.wait_for_scans()  # and the posters the scan makes
    shot("libraries")


def test_sign_out_and_back_in(page: Any, web_server: WebServer) -> None:
    page.goto(web_server.url + "/")
    page.click("#topbar .avatar")
    page.click("button:has-text('Sign out')")
    page.wait_for_url("**/login**")
    page.fill("input[name=username]", ADMIN[0])
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    page.wait_for_selector(".form-error:has-text('Wrong username or password')")
    # Signed out means signed out: the app sends every page to the login.
    page.goto(web_server.url + "/library/1")
    page.wait_for_url("**/login?next=%2Flibrary%2F1")
    login_ui(page, web_server)


def test_home_shows_each_library_newest_items_with_posters(
    page: Any, web_server: WebServer, shot: Any
) -> None:
    page.goto(web_server.url + "/")
    page.wait_for_selector("section:has-text('Recently added in Movies') .card")
    titles = page.eval_on_selector_all(
        "section:has-text('Recently added in Movies') .card .card-title",
        "(els) => els.map((e) => e.textContent)",
    )
    assert sorted(titles) == ["Amélie Ten Bit", "Big Test Movie", "Multi Track"]
    page.wait_for_selector(
        "section:has-text('Recently added in Shows') .card[aria-label^='Test Show']"
    )
    # Posters are real frames from the files, served to <img> with an image token.
    page.wait_for_function(
        """() => {
          const imgs = Array.from(document.querySelectorAll('.card .art img'));
          return imgs.length >= 4 && imgs.every((i) => i.complete && i.naturalWidth === 320);
        }"""
    )
    shot("home")


def test_the_pages_logged_no_errors(page_log: PageLog) -> None:
    assert page_log.unexpected_errors() == []
