"""The wire rules over HTTP on a real server: case-insensitive paths and keys, GUID forms,
every token form, CORS, 404 ``{}``, clear 400/401s, token-less stream URLs, Range,
images, played/favourite marks, next up, latest, and the keep-alive WebSocket."""

from __future__ import annotations

import json
import logging
import time

import pytest
import websocket

from ferrite.jellyfin.wire import dashed
from tests.jellyfin import openapi
from tests.jellyfin.clientflow import DIRECT_PROFILE, HLS_PROFILE, decode
from tests.jellyfin.conftest import DEVICE, Jf


def _ok(r: object, method: str, path: str) -> None:
    """Assert a 2xx response conforms to the OpenAPI document."""
    status = r.status_code  # type: ignore[attr-defined]
    assert 200 <= status < 300, r.text  # type: ignore[attr-defined]
    problems = openapi.check(
        method,
        path,
        status,
        r.content,  # type: ignore[attr-defined]
        r.headers.get("content-type", ""),  # type: ignore[attr-defined]
    )
    assert problems == []


def test_system_info_says_jellyfin_10_11(jf: Jf) -> None:
    r = jf.client.get("/system/info/public")  # lower case, as apiclient-python sends it
    _ok(r, "GET", "/System/Info/Public")
    info = r.json()
    assert info["ProductName"] == "Jellyfin Server"
    assert info["Version"].startswith("10.11.")
    assert len(info["Id"]) == 32
    token, auth = jf.jf_login("alice")
    assert auth["ServerId"] == info["Id"]
    assert auth["User"]["ServerId"] == info["Id"]
    r = jf.client.get("/System/Info", headers=jf.headers(token))
    _ok(r, "GET", "/System/Info")
    assert r.json()["Id"] == info["Id"]
    assert jf.client.get("/System/Info").status_code == 401
    for path in (
        "/System/Ping",
        "/Users/Public",
        "/Branding/Configuration",
        "/QuickConnect/Enabled",
    ):
        _ok(jf.client.get(path), "GET", path)
    assert "access-control-allow-origin" in jf.client.get("/System/Ping").headers


def test_login_lower_case_path_and_body_keys(jf: Jf) -> None:
    r = jf.client.post(
        "/users/authenticatebyname",
        json={"username": "alice", "pw": "alice password"},
        headers={"X-Emby-Authorization": DEVICE},
    )
    _ok(r, "POST", "/Users/AuthenticateByName")
    body = r.json()
    assert body["User"]["Name"] == "alice"
    assert body["User"]["Policy"]["IsAdministrator"] is False
    r = jf.client.post("/Users/AuthenticateByName", json={"Username": "alice", "Pw": "wrong"})
    assert r.status_code == 401


def test_every_token_form(jf: Jf) -> None:
    token, _ = jf.jf_login("alice")
    forms = [
        ({"Authorization": f'{DEVICE}, Token="{token}"'}, {}),
        ({"Authorization": f"MediaBrowser Client=x, DeviceId=y, Token={token}"}, {}),
        ({"X-Emby-Authorization": f'Emby Token="{token}"'}, {}),
        ({"X-Emby-Token": token}, {}),
        ({"X-MediaBrowser-Token": token}, {}),
        ({}, {"api_key": token}),
        ({}, {"ApiKey": token}),
        ({}, {"APIKEY": token}),
    ]
    for headers, params in forms:
        r = jf.client.get("/Users/Me", headers=headers, params=params)
        assert r.status_code == 200, (headers, params, r.text)
        assert r.json()["Name"] == "alice"


def test_bad_and_revoked_tokens_are_401(jf: Jf) -> None:
    assert jf.client.get("/Users/Me", headers={"X-Emby-Token": "garbage"}).status_code == 401
    token, _ = jf.jf_login("bob")
    assert jf.client.get("/Users/Me", headers={"X-Emby-Token": token}).status_code == 200
    assert jf.client.post("/Sessions/Logout", headers={"X-Emby-Token": token}).status_code == 204
    assert jf.client.get("/Users/Me", headers={"X-Emby-Token": token}).status_code == 401


def test_a_token_of_another_user_is_401(jf: Jf) -> None:
    alice, auth = jf.jf_login("alice")
    bob, bob_auth = jf.jf_login("bob")
    r = jf.client.get(f"/Users/{auth['User']['Id']}/Items", headers={"X-Emby-Token": bob})
    assert r.status_code == 401
    assert (
        jf.client.get(
            f"/Users/{bob_auth['User']['Id']}", headers={"X-Emby-Token": alice}
        ).status_code
        == 401
    )


def test_dashed_guids(jf: Jf) -> None:
    token, _ = jf.jf_login("alice")
    h = jf.headers(token)
    r = jf.client.get(f"/Items/{dashed(jf.guid('Plain')).upper()}", headers=h)
    _ok(r, "GET", "/Items/{itemId}")
    assert r.json()["Id"] == jf.guid("Plain")  # always answered in the N form
    r = jf.client.get(f"/Shows/{dashed(jf.guid('Test Show'))}/Seasons", headers=h)
    assert [s["Name"] for s in r.json()["Items"]] == ["Season 1"]
    r = jf.client.get(
        "/Items", params={"Ids": f"{jf.guid('Plain')},{dashed(jf.guid('Other'))}"}, headers=h
    )
    assert sorted(i["Name"] for i in r.json()["Items"]) == ["Other", "Plain"]


def test_mixed_case_query_keys(jf: Jf) -> None:
    token, _ = jf.jf_login("alice")
    h = jf.headers(token)
    views = jf.client.get("/UserViews", headers=h).json()["Items"]
    movies = next(v["Id"] for v in views if v["Name"] == "Movies")
    r = jf.client.get(
        f"/items?PARENTID={movies}&includeitemtypes=Movie&SortBy=SortName&sortorder=Descending",
        headers=h,
    )
    _ok(r, "GET", "/Items")
    assert [i["Name"] for i in r.json()["Items"]] == ["Plain", "Other"]
    r = jf.client.get(
        "/Items",
        params={"recursive": "true", "IncludeItemTypes": "Episode", "limit": "1"},
        headers=h,
    )
    _ok(r, "GET", "/Items")
    assert r.json()["TotalRecordCount"] == 2
    assert len(r.json()["Items"]) == 1
    r = jf.client.get("/Items", params={"SEARCHTERM": "pla", "Recursive": "true"}, headers=h)
    assert [i["Name"] for i in r.json()["Items"]] == ["Plain"]
    r = jf.client.get(
        "/Items", params={"includeItemTypes": "Movie,Series", "recursive": "1"}, headers=h
    )
    assert sorted(i["Name"] for i in r.json()["Items"]) == ["Other", "Plain", "Test Show"]
    r = jf.client.get(
        "/Items",
        params=[
            ("IncludeItemTypes", "Movie"),
            ("IncludeItemTypes", "Series"),
            ("Recursive", "true"),
        ],
        headers=h,
    )  # repeated instead of comma-separated
    assert sorted(i["Name"] for i in r.json()["Items"]) == ["Other", "Plain", "Test Show"]


def test_unknown_routes_are_404_empty_object_logged_once(
    jf: Jf, caplog: pytest.LogCaptureFixture
) -> None:
    token, _ = jf.jf_login("alice")
    caplog.set_level(logging.INFO, logger="ferrite.jellyfin")
    for _ in range(3):
        r = jf.client.get("/Studios/Some%20Studio", headers=jf.headers(token))
        assert r.status_code == 404
        assert r.json() == {}
        assert r.headers["access-control-allow-origin"] == "*"
    assert sum("no route for GET /studios" in m for m in caplog.messages) == 1
    r = jf.client.get(f"/Items/{jf.guid('Plain')}/Nothing", headers=jf.headers(token))
    assert (r.status_code, r.json()) == (404, {})
    assert jf.client.get("/healthz").status_code == 200  # Ferrite's own routes untouched
    assert jf.client.get("/api/items").status_code == 401


def test_malformed_input_is_a_clear_400(jf: Jf) -> None:
    token, _ = jf.jf_login("alice")
    h = jf.headers(token)
    r = jf.client.get("/Items/not-a-guid", headers=h)
    assert r.status_code == 400
    assert "32 hex" in r.json()["title"]
    assert jf.client.get("/Items/0123456789abcdef0123456789abcdef", headers=h).status_code == 404
    r = jf.client.post(
        "/Sessions/Playing/Progress",
        json={"ItemId": jf.guid("Plain"), "PositionTicks": "soon"},
        headers=h,
    )
    assert r.status_code == 400
    r = jf.client.post(
        f"/Items/{jf.guid('Plain')}/PlaybackInfo",
        json={"DeviceProfile": {"DirectPlayProfiles": "everything"}},
        headers=h,
    )
    assert r.status_code == 400
    assert "DirectPlayProfiles" in r.json()["title"]
    r = jf.client.post(f"/Items/{jf.guid('Plain')}/PlaybackInfo", content=b"{nope", headers=h)
    assert r.status_code == 400
    r = jf.client.get("/Items", params={"Limit": "lots"}, headers=h)
    assert r.status_code == 400
    r = jf.client.get("/Users/Me", headers={"Authorization": "MediaBrowser ,,,"})
    assert r.status_code == 400
    assert "Authorization" in r.json()["title"]


def test_cors_preflight(jf: Jf) -> None:
    r = jf.client.options(
        "/Users/AuthenticateByName",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-emby-authorization",
        },
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "*"
    assert "x-emby-authorization" in r.headers["access-control-allow-headers"]
    assert "POST" in r.headers["access-control-allow-methods"]


def _play(jf: Jf, token: str, device: str) -> dict[str, object]:
    r = jf.client.post(
        f"/Items/{jf.guid('Other')}/PlaybackInfo",
        json={"DeviceProfile": DIRECT_PROFILE},
        headers={"Authorization": f'MediaBrowser Client="t", DeviceId="{device}", Token="{token}"'},
    )
    _ok(r, "POST", "/Items/{itemId}/PlaybackInfo")
    info: dict[str, object] = r.json()
    return info


def test_stream_with_token_and_range(jf: Jf) -> None:
    token, _ = jf.jf_login("alice")
    size = jf.paths["Other"].stat().st_size
    r = jf.client.get(
        f"/videos/{jf.guid('Other')}/stream.mkv",
        params={"static": "true", "api_key": token},
        headers={"Range": "bytes=100-199"},
    )
    assert r.status_code == 206
    assert r.content == jf.paths["Other"].read_bytes()[100:200]
    assert r.headers["content-range"] == f"bytes 100-199/{size}"
    r = jf.client.head(f"/Videos/{jf.guid('Other')}/stream", params={"ApiKey": token})
    assert r.status_code == 200
    assert int(r.headers["content-length"]) == size


def test_token_less_stream_only_for_a_live_play_session_of_the_same_device(jf: Jf) -> None:
    token, _ = jf.jf_login("alice")
    info = _play(jf, token, "tv-1")
    sid = info["PlaySessionId"]
    url = f"/Videos/{jf.guid('Other')}/stream"
    assert jf.client.get(url, params={"static": "true"}).status_code == 401
    ok = jf.client.get(url, params={"PlaySessionId": sid, "DeviceId": "tv-1"})
    assert ok.status_code == 200
    assert ok.content == jf.paths["Other"].read_bytes()
    assert jf.client.get(url, params={"PlaySessionId": sid, "DeviceId": "tv-2"}).status_code == 401
    other_item = f"/Videos/{jf.guid('Plain')}/stream"
    r = jf.client.get(other_item, params={"PlaySessionId": sid, "DeviceId": "tv-1"})
    assert r.status_code == 401
    stop = jf.client.post(
        "/Sessions/Playing/Stopped",
        json={"ItemId": jf.guid("Other"), "PlaySessionId": sid, "PositionTicks": 0},
        headers={"X-Emby-Token": token},
    )
    assert stop.status_code == 204
    assert jf.client.get(url, params={"PlaySessionId": sid, "DeviceId": "tv-1"}).status_code == 401


def test_images_by_token_or_tag(jf: Jf) -> None:
    token, _ = jf.jf_login("alice")
    item = jf.client.get(f"/Items/{jf.guid('Plain')}", headers=jf.headers(token)).json()
    tag = item["ImageTags"]["Primary"]
    path = f"/Items/{jf.guid('Plain')}/Images/Primary"
    r = jf.client.get(path, params={"tag": tag, "maxWidth": "300"})
    assert r.status_code == 200
    assert r.content[:3] == b"\xff\xd8\xff"  # a JPEG
    assert jf.client.head(path, params={"api_key": token}).status_code == 200
    assert jf.client.get(path, params={"tag": "0" * 32}).status_code == 404
    assert jf.client.get(path).status_code == 401
    stale = jf.client.get(path, params={"tag": tag, "api_key": "revoked-or-garbage"})
    assert stale.status_code == 200
    assert jf.client.get(path, params={"api_key": "garbage"}).status_code == 401


def test_played_and_favourite_marks_are_per_user(jf: Jf) -> None:
    alice, _ = jf.jf_login("alice")
    bob, _ = jf.jf_login("bob")
    ha, hb = jf.headers(alice), jf.headers(bob)
    other = jf.guid("Other")
    r = jf.client.post(f"/UserFavoriteItems/{other}", headers=ha)
    _ok(r, "POST", "/UserFavoriteItems/{itemId}")
    assert r.json()["IsFavorite"] is True
    fav = jf.client.get("/Items", params={"Filters": "IsFavorite", "Recursive": "true"}, headers=ha)
    assert [i["Name"] for i in fav.json()["Items"]] == ["Other"]
    fav = jf.client.get("/Items", params={"IsFavorite": "true", "Recursive": "true"}, headers=hb)
    assert fav.json()["Items"] == []
    r = jf.client.post(f"/UserPlayedItems/{other}", headers=ha)
    _ok(r, "POST", "/UserPlayedItems/{itemId}")
    assert r.json()["Played"] is True
    played = jf.client.get(
        "/Items", params={"Filters": "IsPlayed", "Recursive": "true"}, headers=ha
    )
    assert "Other" in [i["Name"] for i in played.json()["Items"]]
    bobs = jf.client.get(f"/Items/{other}", headers=hb).json()["UserData"]
    assert (bobs["Played"], bobs["IsFavorite"]) == (False, False)
    assert jf.client.delete(f"/UserPlayedItems/{other}", headers=ha).json()["Played"] is False
    assert jf.client.delete(f"/UserFavoriteItems/{other}", headers=ha).json()["IsFavorite"] is False
    # Through Ferrite's own API too: one progress record.
    mine = jf.client.get(f"/api/items/{jf.items['Other']}", headers=jf.ferrite_login("alice"))
    assert mine.json()["progress"] is None


def test_next_up_and_latest(jf: Jf) -> None:
    token, auth = jf.jf_login("root", "password-1")
    h = jf.headers(token)
    assert jf.client.post(f"/UserPlayedItems/{jf.guid('Pilot')}", headers=h).status_code == 200
    r = jf.client.get("/Shows/NextUp", params={"UserId": auth["User"]["Id"]}, headers=h)
    _ok(r, "GET", "/Shows/NextUp")
    assert [i["Name"] for i in r.json()["Items"]] == ["Second"]
    r = jf.client.get("/Items/Latest", params={"Limit": "2"}, headers=h)
    _ok(r, "GET", "/Items/Latest")
    assert isinstance(r.json(), list)
    assert len(r.json()) == 2


def test_keep_alive_websocket(jf: Jf) -> None:
    token, _ = jf.jf_login("alice")
    ws_url = jf.url.replace("http://", "ws://") + f"/socket?api_key={token}&deviceId=ws-1"
    ws = websocket.create_connection(ws_url, timeout=10)
    try:
        hello = json.loads(ws.recv())
        assert hello["MessageType"] == "ForceKeepAlive"
        assert hello["Data"] > 0
        ws.send(json.dumps({"MessageType": "KeepAlive"}))
        assert json.loads(ws.recv())["MessageType"] == "KeepAlive"
    finally:
        ws.close()
    with pytest.raises(websocket.WebSocketException):
        websocket.create_connection(
            jf.url.replace("http://", "ws://") + "/socket?api_key=bad", timeout=10
        )


def test_web_ui_pages_sharing_a_jellyfin_segment_stay_ferrites(jf: Jf) -> None:
    token, _ = jf.jf_login("alice")
    for path in ("/library/1", "/search", "/Search/Hints"):
        page = jf.client.get(path, headers={"Accept": "text/html,application/xhtml+xml"})
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        api = jf.client.get(path, headers=jf.headers(token))
        assert (api.status_code, api.json()) == (404, {})
        api = jf.client.get(path, params={"api_key": token})
        assert (api.status_code, api.json()) == (404, {})


def test_profile_without_hls_gets_a_progressive_stream(jf: Jf) -> None:
    token, _ = jf.jf_login("alice")
    profile = {
        "DirectPlayProfiles": [
            {"Container": "mkv", "Type": "Video", "VideoCodec": "h264", "AudioCodec": "aac"}
        ],
        "TranscodingProfiles": [
            {"Container": "mkv", "Type": "Video", "VideoCodec": "h264", "AudioCodec": "aac",
             "Protocol": "http"}
        ],
    }  # fmt: skip
    r = jf.client.post(
        f"/Items/{jf.guid('Plain')}/PlaybackInfo",  # an MP4: not a file this device plays
        json={"DeviceProfile": profile},
        headers=jf.headers(token),
    )
    _ok(r, "POST", "/Items/{itemId}/PlaybackInfo")
    source = r.json()["MediaSources"][0]
    assert source["SupportsDirectPlay"] is False
    assert source["TranscodingSubProtocol"] == "http"
    assert source["TranscodingUrl"].startswith("/api/playback/")
    frames, _ = decode(jf.url + source["TranscodingUrl"], frames=24)
    assert frames == 24


def test_active_encodings_delete_ends_the_play_session(jf: Jf) -> None:
    token, _ = jf.jf_login("alice")
    r = jf.client.post(
        f"/Items/{jf.guid('Plain')}/PlaybackInfo",
        json={"DeviceProfile": HLS_PROFILE},
        headers=jf.headers(token),
    )
    info = r.json()
    master = jf.url + info["MediaSources"][0]["TranscodingUrl"]
    assert jf.client.get(master).status_code == 200
    other, _ = jf.jf_login("bob")
    r = jf.client.delete(
        "/Videos/ActiveEncodings",
        params={"PlaySessionId": info["PlaySessionId"], "DeviceId": "x"},
        headers=jf.headers(other),
    )
    assert r.status_code == 204
    assert jf.client.get(master).status_code == 200  # bob can't end alice's session
    r = jf.client.delete(
        "/Videos/ActiveEncodings",
        params={"PlaySessionId": info["PlaySessionId"], "DeviceId": "x"},
        headers=jf.headers(token),
    )
    assert r.status_code == 204
    assert jf.client.get(master).status_code == 404


def test_request_log_names_the_route_template_never_the_token(
    jf: Jf, caplog: pytest.LogCaptureFixture
) -> None:
    token, _ = jf.jf_login("alice")
    caplog.set_level(logging.INFO, logger="ferrite.http")
    r = jf.client.head(f"/Videos/{jf.guid('Other')}/stream", params={"api_key": token})
    assert r.status_code == 200

    def ours() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name.startswith("ferrite")]

    deadline = time.monotonic() + 5  # the line is written once the response is sent
    while not any("route=/Videos/{itemId}/stream" in m for m in ours()):
        assert time.monotonic() < deadline, ours()
        time.sleep(0.02)
    assert not any(token in m for m in ours())


def test_direct_play_subtitles_are_delivered_as_files(jf: Jf) -> None:
    token, _ = jf.jf_login("alice")
    r = jf.client.post(
        f"/Items/{jf.guid('Plain')}/PlaybackInfo",
        json={"DeviceProfile": DIRECT_PROFILE},
        headers=jf.headers(token),
    )
    _ok(r, "POST", "/Items/{itemId}/PlaybackInfo")
    source = r.json()["MediaSources"][0]
    assert source["SupportsDirectPlay"] is True
    sub = next(s for s in source["MediaStreams"] if s["Type"] == "Subtitle")
    assert sub["IsExternal"] is True
    assert sub["DeliveryMethod"] == "External"
    assert token not in sub["DeliveryUrl"]  # the session's stream token, not the user's
    vtt = jf.client.get(sub["DeliveryUrl"])  # no header: as a player fetches it
    assert vtt.status_code == 200
    assert vtt.text.startswith("WEBVTT")
    assert "00:00:00.500 --> 00:00:01.500\nHello there" in vtt.text
    srt_url = f"/Videos/{jf.guid('Plain')}/{jf.guid('Plain')}/Subtitles/{sub['Index']}/Stream.srt"
    srt = jf.client.get(srt_url, params={"api_key": token})
    assert srt.status_code == 200
    assert srt.text.startswith("1\n00:00:00,500 --> 00:00:01,500\nHello there")
    assert jf.client.get(srt_url).status_code == 401
    bob, _ = jf.jf_login("bob")
    other = sub["DeliveryUrl"].replace(jf.guid("Plain"), jf.guid("Other"))
    assert jf.client.get(other).status_code == 401  # the stream token is Plain's
    assert (
        jf.client.get(
            srt_url.replace(f"/{sub['Index']}/", "/99/"), params={"api_key": bob}
        ).status_code
        == 404
    )


def test_bitrate_test(jf: Jf) -> None:
    token, _ = jf.jf_login("alice")
    r = jf.client.get("/playback/bitratetest", params={"size": "500000"}, headers=jf.headers(token))
    assert r.status_code == 200
    assert len(r.content) == 500_000
    assert jf.client.get("/Playback/BitrateTest", params={"Size": "1"}).status_code == 401
    r = jf.client.get("/Playback/BitrateTest", params={"Size": "-5"}, headers=jf.headers(token))
    assert r.status_code == 400


def test_emby_prefixed_paths(jf: Jf) -> None:
    r = jf.client.get("/emby/System/Info/Public")
    _ok(r, "GET", "/System/Info/Public")
    token, _ = jf.jf_login("alice")
    assert jf.client.get("/emby/Users/Me", headers=jf.headers(token)).json()["Name"] == "alice"
    ws = websocket.create_connection(
        jf.url.replace("http://", "ws://") + f"/embywebsocket?api_key={token}", timeout=10
    )
    try:
        assert json.loads(ws.recv())["MessageType"] == "ForceKeepAlive"
    finally:
        ws.close()


def test_nothing_playable_is_jellyfins_no_compatible_stream(jf: Jf) -> None:
    token, _ = jf.jf_login("alice")
    vp9_only = {
        "DirectPlayProfiles": [
            {"Container": "webm", "Type": "Video", "VideoCodec": "vp9", "AudioCodec": "opus"}
        ],
        "TranscodingProfiles": [
            {"Container": "ts", "Type": "Video", "VideoCodec": "vp9", "AudioCodec": "opus",
             "Protocol": "hls"}
        ],
    }  # fmt: skip
    r = jf.client.post(
        f"/Items/{jf.guid('Plain')}/PlaybackInfo",
        json={"DeviceProfile": vp9_only},
        headers=jf.headers(token),
    )
    _ok(r, "POST", "/Items/{itemId}/PlaybackInfo")
    assert r.json() == {"MediaSources": [], "ErrorCode": "NoCompatibleStream"}


def test_a_show_cannot_be_marked_played_but_can_be_a_favourite(jf: Jf) -> None:
    token, _ = jf.jf_login("alice")
    show = jf.guid("Test Show")
    assert jf.client.post(f"/UserPlayedItems/{show}", headers=jf.headers(token)).status_code == 400
    r = jf.client.post(f"/UserFavoriteItems/{show}", headers=jf.headers(token))
    assert r.json()["IsFavorite"] is True
    assert (
        jf.client.delete(f"/UserFavoriteItems/{show}", headers=jf.headers(token)).status_code == 200
    )
