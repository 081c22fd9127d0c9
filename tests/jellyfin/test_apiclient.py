"""jellyfin-apiclient-python (the library behind the Kodi add-on and jellyfin-mpv-shim)
against a real Ferrite server: connect, log in, browse, PlaybackInfo, play direct and HLS
with FFmpeg decoding every frame, report progress, and find the position in Ferrite's own
``/api/continue`` for that user only. Every response is checked against the Jellyfin 10.11
OpenAPI document."""

from __future__ import annotations

import pytest

from tests.jellyfin import openapi
from tests.jellyfin.clientflow import (
    DIRECT_PROFILE,
    HLS_PROFILE,
    Recorder,
    connect,
    decode,
    play_url,
    report,
)
from tests.jellyfin.conftest import Jf

FRAMES = 96  # 4 s at 24 fps (tests/media.py's default clip)


def _conforms(recorder: Recorder) -> None:
    problems: list[str] = []
    checked = 0
    for ex in recorder.exchanges:
        if ex.path.startswith("/api/") or ex.status >= 300:
            continue  # Ferrite's own HLS routes (playlists, segments), redirects
        problems += openapi.check(ex.method, ex.path, ex.status, ex.body, ex.content_type)
        checked += 1
    assert checked >= 8
    assert problems == []


def _continue(jf: Jf, user: str) -> dict[int, float]:
    r = jf.client.get("/api/continue", headers=jf.ferrite_login(user))
    assert r.status_code == 200
    return {i["id"]: i["progress"]["position_s"] for i in r.json()["items"]}


@pytest.mark.slow
def test_full_flow_direct_play(jf: Jf) -> None:
    with Recorder().installed() as rec:
        client = connect(jf.url, "alice", "alice password")
        try:
            api = client.jellyfin
            views = api.get_views()["Items"]
            assert {v["Name"]: v["CollectionType"] for v in views} == {
                "Movies": "movies",
                "Shows": "tvshows",
            }
            movies = next(v for v in views if v["Name"] == "Movies")
            listed = api.get_user_items(parent_id=movies["Id"], sort_by="SortName")
            assert [i["Name"] for i in listed["Items"]] == ["Other", "Plain"]
            assert listed["TotalRecordCount"] == 2
            plain = next(i for i in listed["Items"] if i["Name"] == "Plain")
            detail = api.get_item(plain["Id"])
            assert detail["RunTimeTicks"] == 40_000_000
            assert detail["MediaSources"][0]["MediaStreams"][0]["Codec"] == "h264"

            info = api.get_play_info(plain["Id"], profile=DIRECT_PROFILE)
            source = info["MediaSources"][0]
            assert source["SupportsDirectPlay"] is True
            assert "TranscodingUrl" not in source
            url = play_url(client, jf.url, plain["Id"], info)
            assert "/Videos/" in url
            frames, _ = decode(url)
            assert frames == FRAMES

            report(client, plain["Id"], info, [1.0, 2.5])
        finally:
            client.stop()
    assert _continue(jf, "alice").get(jf.items["Plain"]) == pytest.approx(2.5)
    assert jf.items["Plain"] not in _continue(jf, "bob")  # bob sees Plain, not alice's place
    _conforms(rec)


@pytest.mark.slow
def test_full_flow_hls_with_seasons_and_episodes(jf: Jf) -> None:
    with Recorder().installed() as rec:
        client = connect(jf.url, "alice", "alice password", device_id="pytest-hls")
        try:
            api = client.jellyfin
            shows = next(v for v in api.get_views()["Items"] if v["Name"] == "Shows")
            series = api.get_user_items(parent_id=shows["Id"])["Items"]
            assert [(s["Name"], s["Type"]) for s in series] == [("Test Show", "Series")]
            seasons = api.get_seasons(series[0]["Id"])["Items"]
            assert [(s["Name"], s["IndexNumber"]) for s in seasons] == [("Season 1", 1)]
            episodes = api.get_episodes(series[0]["Id"], season_id=seasons[0]["Id"])["Items"]
            assert [(e["IndexNumber"], e["Name"]) for e in episodes] == [
                (1, "Pilot"),
                (2, "Second"),
            ]
            assert episodes[0]["SeriesName"] == "Test Show"
            assert episodes[0]["SeasonId"] == seasons[0]["Id"]
            pilot = episodes[0]["Id"]

            info = api.get_play_info(pilot, profile=HLS_PROFILE)
            source = info["MediaSources"][0]
            assert source["SupportsDirectPlay"] is False
            assert source["TranscodingSubProtocol"] == "hls"
            assert "master.m3u8" in source["TranscodingUrl"]
            frames, _ = decode(play_url(client, jf.url, pilot, info))
            assert frames == FRAMES

            report(client, pilot, info, [1.5])
            resume = api.get_resume_items()["Items"]
            assert [i["Name"] for i in resume][:1] == ["Pilot"]
            assert resume[0]["UserData"]["PlaybackPositionTicks"] == 15_000_000
        finally:
            client.stop()
    assert _continue(jf, "alice").get(jf.items["Pilot"]) == pytest.approx(1.5)
    assert jf.items["Pilot"] not in _continue(jf, "bob")
    _conforms(rec)


def test_user_without_grant_sees_nothing_of_that_library(jf: Jf) -> None:
    client = connect(jf.url, "bob", "bob password", device_id="pytest-bob")
    try:
        api = client.jellyfin
        assert [v["Name"] for v in api.get_views()["Items"]] == ["Movies"]
        everything = api.get_user_items(recursive=True, include_item_types="Episode,Series")
        assert everything["Items"] == []
    finally:
        client.stop()
    token, _ = jf.jf_login("bob")
    h = jf.headers(token)
    assert jf.client.get(f"/Items/{jf.guid('Pilot')}", headers=h).status_code == 404
    assert jf.client.get(f"/Shows/{jf.guid('Test Show')}/Seasons", headers=h).status_code == 404
    r = jf.client.post(f"/Items/{jf.guid('Pilot')}/PlaybackInfo", json={}, headers=h)
    assert r.status_code == 404
