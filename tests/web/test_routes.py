"""The UI's HTTP side without a browser: static files and their caching, the SPA
fallback, first-run state, image tokens."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ferrite import config
from ferrite.app import create_app
from ferrite.auth.passwords import Passwords
from ferrite.web.assets import load_bundle
from tests.api.server import ServerThread


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    passwords = Passwords(time_cost=1, memory_cost_kib=1024)
    settings = config.load(
        {
            "data_dir": tmp_path_factory.mktemp("data"),
            "watch": False,
            "warm_segments": 0,  # no background warming in tests
            "demo": False,
        },
        environ={},
    )
    app = create_app(settings, passwords=passwords)  # mounts the UI last
    thread = ServerThread(app).start()
    try:
        yield thread
    finally:
        thread.stop()
        passwords.close()


@pytest.fixture(scope="module")
def client(server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def asset_urls(index_html: str) -> list[str]:
    return re.findall(r'(?:href|src)="(/static/[^"]+)"', index_html)


def test_index_names_versioned_assets_and_is_revalidated(client: httpx.Client) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["cache-control"] == "no-cache"
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["referrer-policy"] == "no-referrer"
    urls = asset_urls(r.text)
    assert "{{static}}" not in r.text
    assert urls
    assert len({u.split("/")[2] for u in urls}) == 1  # one build id everywhere
    again = client.get("/", headers={"if-none-match": r.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


def test_assets_are_immutable_gzipped_and_typed(client: httpx.Client) -> None:
    urls = asset_urls(client.get("/").text)
    js = next(u for u in urls if u.endswith("/js/main.js"))
    r = client.get(js, headers={"accept-encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert r.headers["content-encoding"] == "gzip"
    # (and Origin: CORS answers depend on it)
    assert "Accept-Encoding" in [v.strip() for v in r.headers["vary"].split(",")]
    assert b"import" in r.content  # httpx decoded the gzip body
    plain = client.get(js, headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content == r.content
    assert plain.headers["etag"] != r.headers["etag"]  # two representations, two tags
    cached = client.get(js, headers={"accept-encoding": "gzip", "if-none-match": r.headers["etag"]})
    assert cached.status_code == 304
    css = client.get(next(u for u in urls if u.endswith(".css")))
    assert css.headers["content-type"] == "text/css; charset=utf-8"


def test_hls_js_is_served_from_npm(client: httpx.Client) -> None:
    build = asset_urls(client.get("/").text)[0].split("/")[2]
    r = client.get(f"/static/{build}/vendor/hls.mjs")
    if r.status_code == 404:
        pytest.skip("hls.js is not installed: run scripts/web-assets")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert b"export" in r.content
    assert client.get(f"/static/{build}/vendor/hls.worker.js").status_code == 200


def test_stale_build_ids_still_work_but_are_not_immutable(client: httpx.Client) -> None:
    r = client.get("/static/0123456789ab/js/main.js")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-cache"


def test_unknown_asset_is_a_json_404(client: httpx.Client) -> None:
    r = client.get("/static/x/js/nope.js")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "path", ["/", "/login", "/item/12", "/play/3?t=10", "/library/1/deep/link"]
)
def test_client_routes_get_the_app(client: httpx.Client, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200
    assert r.text.startswith("<!doctype html>")


@pytest.mark.parametrize("path", ["/api/nope", "/api", "/healthz/x", "/metrics/x"])
def test_the_fallback_never_hides_the_api(client: httpx.Client, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404
    assert r.json()["error"]["status"] == 404


def test_routers_added_after_the_ui_still_answer(
    server: ServerThread, client: httpx.Client
) -> None:
    from fastapi import APIRouter

    late = APIRouter()

    @late.get("/api/late")
    async def late_route() -> dict[str, bool]:
        return {"late": True}

    server.app.include_router(late)
    assert client.get("/api/late").json() == {"late": True}


def test_head_requests_have_no_body(client: httpx.Client) -> None:
    r = client.head("/login")
    assert r.status_code == 200
    assert r.content == b""


# -- the bundle, pure ------------------------------------------------------------------------
def test_build_id_changes_with_any_file(tmp_path: Path) -> None:
    static = tmp_path / "static"
    (static / "js").mkdir(parents=True)
    (static / "index.html").write_text('<script src="{{static}}/js/a.js"></script>')
    (static / "js" / "a.js").write_text("export const a = 1;\n" * 200)
    node_modules = tmp_path / "node_modules"
    vendor = {"hls.mjs": "hls.js/dist/hls.min.mjs"}
    first = load_bundle(static, node_modules, vendor)
    assert first.missing == ("hls.mjs",)
    assert f'"/static/{first.build}/js/a.js"' in first.index.body.decode()
    asset = first.files["js/a.js"]
    assert asset.gzipped is not None
    assert gzip.decompress(asset.gzipped) == asset.body
    (node_modules / "hls.js" / "dist").mkdir(parents=True)
    (node_modules / "hls.js" / "dist" / "hls.min.mjs").write_text("export default 1;")
    second = load_bundle(static, node_modules, vendor)
    assert second.missing == ()
    assert second.build != first.build
    assert second.files["vendor/hls.mjs"].body == b"export default 1;"
    assert load_bundle(static, node_modules, vendor).build == second.build  # deterministic
