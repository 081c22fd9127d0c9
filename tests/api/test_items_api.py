"""Libraries and items through the API: grants, filters, paging, search, detail, children,
continue watching and per-user progress."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.api.conftest import services
from tests.api.helpers import Seeded
from tests.api.server import AppClient

MakeUser = Callable[..., tuple[int, dict[str, str]]]


def titles(body: dict[str, object]) -> list[str]:
    return [i["title"] for i in body["items"]]  # type: ignore[attr-defined]


def test_libraries_for_admin_and_user(
    client: AppClient, admin: dict[str, str], seeded: Seeded, user_factory: MakeUser
) -> None:
    libs = client.get("/api/libraries", headers=admin).json()
    assert [lib["name"] for lib in libs] == ["Movies", "Private", "Shows"]  # by name
    movies = libs[0]
    assert movies["item_count"] == 2
    assert movies["kind"] == "movies"
    assert movies["scanning"] is False
    assert movies["paths"]
    assert set(movies) >= {
        "id",
        "name",
        "kind",
        "paths",
        "item_count",
        "scanning",
    }
    _uid, bob = user_factory("bob", [seeded.movies, seeded.shows])
    assert [lib["name"] for lib in client.get("/api/libraries", headers=bob).json()] == [
        "Movies",
        "Shows",
    ]
    assert client.get(f"/api/libraries/{seeded.private}", headers=bob).status_code == 404
    assert client.get(f"/api/libraries/{seeded.movies}", headers=bob).status_code == 200


def test_top_level_listing_and_sorts(
    client: AppClient, admin: dict[str, str], seeded: Seeded
) -> None:
    body = client.get("/api/items", headers=admin).json()
    assert titles(body) == ["Amélie Ten Bit", "Big Test Movie", "Secret Movie", "Test Show"]
    assert body["total"] == 4
    assert body["limit"] == 50
    assert body["offset"] == 0
    item = body["items"][1]
    assert set(item) >= {
        "id",
        "kind",
        "title",
        "year",
        "parent_id",
        "season_number",
        "episode_number",
        "duration_s",
        "progress",
        "artwork_url",
    }
    assert item["progress"] is None
    assert titles(client.get("/api/items?sort=-title", headers=admin).json())[0] == "Test Show"
    assert titles(client.get("/api/items?sort=added", headers=admin).json())[0] == "Big Test Movie"
    by_year = titles(client.get("/api/items?sort=year", headers=admin).json())
    assert by_year == [
        "Big Test Movie",
        "Amélie Ten Bit",
        "Secret Movie",
        "Test Show",
    ]  # no year last
    assert titles(client.get("/api/items?sort=-year", headers=admin).json())[:3] == [
        "Secret Movie",
        "Amélie Ten Bit",
        "Big Test Movie",
    ]


def test_filters_and_paging(client: AppClient, admin: dict[str, str], seeded: Seeded) -> None:
    assert titles(client.get(f"/api/items?library_id={seeded.shows}", headers=admin).json()) == [
        "Test Show"
    ]
    eps = client.get("/api/items?kind=episode", headers=admin).json()
    assert titles(eps) == ["Episode 1", "Episode 2"]
    assert titles(client.get(f"/api/items?parent_id={seeded.season}", headers=admin).json()) == [
        "Episode 1",
        "Episode 2",
    ]
    page = client.get("/api/items?limit=2&offset=1", headers=admin).json()
    assert titles(page) == ["Big Test Movie", "Secret Movie"]
    assert page["total"] == 4
    assert client.get("/api/items?offset=100", headers=admin).json() == {
        "items": [],
        "total": 4,
        "limit": 50,
        "offset": 100,
    }


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=501",
        "limit=-1",
        "limit=abc",
        "limit=1e3",
        "offset=-1",
        f"offset={10**30}",
        "offset=99999999999",
        f"library_id={2**70}",
        "library_id=0",
        "kind=banana",
        "sort=random",
        "parent_id=-5",
        "q=" + "x" * 201,
    ],
)
def test_bad_paging_and_filters_are_422(
    client: AppClient, admin: dict[str, str], query: str
) -> None:
    r = client.get(f"/api/items?{query}", headers=admin)
    assert r.status_code == 422, query
    err = r.json()["error"]
    assert err["code"] == "unprocessable"
    assert err["status"] == 422
    assert err["details"]


def test_search(
    client: AppClient, admin: dict[str, str], seeded: Seeded, user_factory: MakeUser
) -> None:
    assert titles(client.get("/api/items?q=amelie", headers=admin).json()) == ["Amélie Ten Bit"]
    assert titles(client.get("/api/items?q=big te", headers=admin).json()) == ["Big Test Movie"]
    assert set(titles(client.get("/api/items?q=movie", headers=admin).json())) == {
        "Big Test Movie",
        "Secret Movie",
    }
    for hostile in ['"', "*", "OR", "NEAR(", "'; DROP TABLE items; --", "^", "   "]:
        r = client.get("/api/items", params={"q": hostile}, headers=admin)
        assert r.status_code == 200, hostile
    _uid, bob = user_factory("bob", [seeded.movies])
    assert titles(client.get("/api/items?q=secret", headers=bob).json()) == []
    assert titles(client.get("/api/items?q=movie", headers=bob).json()) == ["Big Test Movie"]


def test_detail_shape(client: AppClient, admin: dict[str, str], seeded: Seeded) -> None:
    body = client.get(f"/api/items/{seeded.movie2}", headers=admin).json()
    assert body["title"] == "Amélie Ten Bit"
    assert body["year"] == 2001
    (f,) = body["files"]
    assert set(f) >= {"id", "size", "container", "duration_s", "bitrate", "streams"}
    video, audio = f["streams"]
    assert video == {
        "index": 0,
        "type": "video",
        "codec": "hevc",
        "profile": "Main 10",
        "level": 120,
        "width": 320,
        "height": 180,
        "frame_rate": "24/1",
        "bit_depth": 10,
        "pix_fmt": "yuv420p10le",
        "hdr": "hdr10",
        "language": None,
        "title": None,
        "channels": None,
        "channel_layout": None,
        "sample_rate": None,
        "default": True,
        "forced": False,
    }
    assert audio["channels"] == 2
    assert audio["language"] == "eng"
    assert audio["hdr"] == "none"
    subs = body["subtitles"]
    assert [(s["language"], s["format"], s["external"], s["forced"]) for s in subs] == [
        ("eng", "subrip", True, False),
        ("spa", "ass", False, True),
    ]
    assert set(subs[0]) >= {"id", "language", "format", "external", "forced", "default"}
    show = client.get(f"/api/items/{seeded.show}", headers=admin).json()
    assert show["files"] == []
    assert show["subtitles"] == []


def test_children(client: AppClient, admin: dict[str, str], seeded: Seeded) -> None:
    seasons = client.get(f"/api/items/{seeded.show}/children", headers=admin).json()
    assert titles(seasons) == ["Season 1"]
    assert seasons["items"][0]["season_number"] == 1
    eps = client.get(f"/api/items/{seeded.season}/children", headers=admin).json()
    assert [i["episode_number"] for i in eps["items"]] == [1, 2]
    assert client.get(f"/api/items/{seeded.movie}/children", headers=admin).json()["items"] == []
    assert client.get("/api/items/999999/children", headers=admin).status_code == 404


def test_not_granted_is_404_everywhere(
    client: AppClient, admin: dict[str, str], seeded: Seeded, user_factory: MakeUser
) -> None:
    _uid, bob = user_factory("bob", [seeded.movies])
    hidden = seeded.secret_movie
    missing = 987654
    for item in (hidden, missing):
        for method, path, body in [
            ("GET", f"/api/items/{item}", None),
            ("GET", f"/api/items/{item}/children", None),
            ("PUT", f"/api/items/{item}/progress", {"position_s": 1.0}),
            ("GET", f"/api/items/{item}/file", None),
            ("HEAD", f"/api/items/{item}/file", None),
        ]:
            r = client.request(method, path, json=body, headers=bob)
            assert r.status_code == 404, (method, path)
            if method != "HEAD":
                assert r.json() == {
                    "error": {"code": "not_found", "message": "No such item.", "status": 404}
                }
    # Same answer for a library that exists but is not granted and one that does not exist.
    a = client.get(f"/api/items?library_id={seeded.private}", headers=bob)
    b = client.get("/api/items?library_id=4242", headers=bob)
    assert a.status_code == b.status_code == 404
    assert a.json() == b.json()
    assert titles(client.get(f"/api/items?parent_id={seeded.season}", headers=bob).json()) == []
    # The admin sees everything.
    assert client.get(f"/api/items/{hidden}", headers=admin).status_code == 200


def test_user_without_grants_sees_nothing(
    client: AppClient, seeded: Seeded, user_factory: MakeUser
) -> None:
    _uid, bob = user_factory("bob", [])
    assert client.get("/api/libraries", headers=bob).json() == []
    assert client.get("/api/items", headers=bob).json()["items"] == []
    assert client.get("/api/items?q=movie", headers=bob).json()["items"] == []
    assert client.get("/api/continue", headers=bob).json() == {"items": []}


def test_progress_is_per_user(
    client: AppClient, admin: dict[str, str], seeded: Seeded, user_factory: MakeUser
) -> None:
    _a, alice = user_factory("alice", [seeded.movies, seeded.shows])
    _b, bob = user_factory("bob", [seeded.movies, seeded.shows])
    r = client.put(f"/api/items/{seeded.movie}/progress", json={"position_s": 1.5}, headers=alice)
    assert r.status_code == 200
    assert r.json()["position_s"] == 1.5
    assert r.json()["played"] is False
    client.put(
        f"/api/items/{seeded.movie}/progress", json={"position_s": 2.0}, headers=alice
    )  # upsert
    client.put(f"/api/items/{seeded.episodes[0]}/progress", json={"position_s": 1.0}, headers=bob)

    def progress_of(headers: dict[str, str], item: int) -> object:
        return client.get(f"/api/items/{item}", headers=headers).json()["progress"]

    assert progress_of(alice, seeded.movie) == {"position_s": 2.0, "played": False}
    assert progress_of(bob, seeded.movie) is None
    assert progress_of(alice, seeded.episodes[0]) is None
    listed = {
        i["title"]: i["progress"] for i in client.get("/api/items", headers=alice).json()["items"]
    }
    assert listed["Big Test Movie"] == {"position_s": 2.0, "played": False}
    listed_bob = {
        i["title"]: i["progress"] for i in client.get("/api/items", headers=bob).json()["items"]
    }
    assert listed_bob["Big Test Movie"] is None
    assert titles(client.get("/api/continue", headers=alice).json()) == ["Big Test Movie"]
    assert titles(client.get("/api/continue", headers=bob).json()) == ["Episode 1"]
    assert client.get("/api/continue", headers=admin).json()["items"] == []


def test_played_threshold_and_clamping(
    client: AppClient, seeded: Seeded, user_factory: MakeUser
) -> None:
    _a, alice = user_factory("alice", [seeded.movies])
    threshold = services(client).settings.played_threshold
    r = client.put(
        f"/api/items/{seeded.movie}/progress", json={"position_s": 4.0 * threshold}, headers=alice
    )
    assert r.json()["played"] is True
    assert (
        client.get("/api/continue", headers=alice).json()["items"] == []
    )  # watched: not "continue"
    r = client.put(
        f"/api/items/{seeded.movie}/progress",
        json={"position_s": 0.0, "played": False},
        headers=alice,
    )
    assert r.json() == {"position_s": 0.0, "played": False, "updated_at": r.json()["updated_at"]}
    r = client.put(
        f"/api/items/{seeded.movie}/progress",
        json={"position_s": 0.5, "played": True},
        headers=alice,
    )
    assert r.json()["played"] is True
    r = client.put(
        f"/api/items/{seeded.movie}/progress", json={"position_s": 9999.0}, headers=alice
    )
    assert r.json()["position_s"] == 4.0  # clamped to the duration


@pytest.mark.parametrize(
    "body",
    [
        {"position_s": -1},
        {"position_s": "12"},
        {"position_s": 1e300},
        {"position_s": 1, "played": "yes"},
        {"position_s": 1, "played": 1},
        {"played": True, "extra": 1},
        {},
        [],
    ],
)
def test_bad_progress_bodies(
    client: AppClient, admin: dict[str, str], seeded: Seeded, body: object
) -> None:
    r = client.put(f"/api/items/{seeded.movie}/progress", json=body, headers=admin)
    assert r.status_code == 422, body
    assert r.json()["error"]["code"] == "unprocessable"


def test_progress_on_a_show_is_refused(
    client: AppClient, admin: dict[str, str], seeded: Seeded
) -> None:
    r = client.put(f"/api/items/{seeded.show}/progress", json={"position_s": 1}, headers=admin)
    assert r.status_code == 422


def test_create_library_validates_folders(
    client: AppClient, admin: dict[str, str], tmp_path: Path
) -> None:
    for paths in (["relative/path"], ["/does/not/exist"], [str(tmp_path / "file.txt")]):
        (tmp_path / "file.txt").write_text("x")
        r = client.post(
            "/api/libraries", json={"name": "x", "kind": "movies", "paths": paths}, headers=admin
        )
        assert r.status_code == 400, paths
        assert r.json()["error"]["code"] == "bad_request"
    for body in (
        {"name": "x", "kind": "movies", "paths": []},
        {"name": "x", "kind": "films", "paths": [str(tmp_path)]},
        {"name": "", "kind": "movies", "paths": [str(tmp_path)]},
        {"name": "x", "kind": "movies", "paths": str(tmp_path)},
    ):
        assert client.post("/api/libraries", json=body, headers=admin).status_code == 422, body
    ok = client.post(
        "/api/libraries",
        json={"name": "x", "kind": "movies", "paths": [str(tmp_path)]},
        headers=admin,
    )
    assert ok.status_code == 201
    inner = tmp_path / "inner"
    inner.mkdir()
    clash = client.post(
        "/api/libraries", json={"name": "y", "kind": "movies", "paths": [str(inner)]}, headers=admin
    )
    assert clash.status_code == 409
