"""The pure parts: GUIDs, ticks, the MediaBrowser header, the DeviceProfile translation,
and the OpenAPI checker itself (so a vacuous checker can't pass the flow tests)."""

from __future__ import annotations

import pytest

from ferrite.errors import BadRequest
from ferrite.jellyfin import profile, wire
from ferrite.playback.capabilities import profile_from_dict
from tests.jellyfin import openapi
from tests.jellyfin.clientflow import DIRECT_PROFILE, HLS_PROFILE


def test_guids_round_trip_with_or_without_dashes_in_any_case() -> None:
    g = wire.item_guid(1234)
    assert len(g) == 32
    assert g == g.lower()
    assert wire.parse_guid(g) == (wire.ITEM, 1234)
    assert wire.parse_guid(wire.dashed(g).upper()) == (wire.ITEM, 1234)
    assert wire.parse_id(wire.view_guid(7), wire.VIEW) == 7
    assert wire.parse_id(wire.view_guid(7), wire.ITEM) is None  # a view is not an item
    assert wire.user_guid(3) != wire.item_guid(3) != wire.view_guid(3)


def test_foreign_guid_is_none_and_garbage_is_400() -> None:
    assert wire.parse_guid("0123456789abcdef0123456789abcdef") is None
    for bad in ("12", "zz23456789abcdef0123456789abcdef", "", "f3e1" * 9):
        with pytest.raises(BadRequest):
            wire.parse_guid(bad)


def test_ticks() -> None:
    assert wire.ticks(2.5) == 25_000_000
    assert wire.parse_ticks(25_000_000) == 2.5
    assert wire.parse_ticks("25000000") == 2.5
    assert wire.parse_ticks(None) is None
    for bad in (-1, "1.5", "abc", True, wire.MAX_TICKS + 1, 1.5):
        with pytest.raises(BadRequest):
            wire.parse_ticks(bad)


def test_date_is_dotnet_iso() -> None:
    assert wire.date(0) == "1970-01-01T00:00:00.0000000Z"


@pytest.mark.parametrize(
    "header",
    [
        'MediaBrowser Client="Jellyfin Web", Device="Firefox", DeviceId="abc", Version="10.11.0", '
        'Token="T1"',
        "MediaBrowser Client=Jellyfin%20Web, Device=Firefox, DeviceId=abc, Version=10.11.0, "
        "Token=T1",
        'Emby Client="Jellyfin Web",Device="Firefox",DeviceId="abc",Version="10.11.0",Token="T1"',
        'MediaBrowser Client="Jellyfin Web", Device="Firefox", DeviceId="abc", Version="10.11.0", '
        'Token="None", Token="T1"',
    ],
)
def test_authorization_header_forms(header: str) -> None:
    info = wire.parse_authorization(header)
    assert info is not None
    assert info.client == "Jellyfin Web"
    assert info.device_id == "abc"
    assert info.token == "T1"


def test_malformed_mediabrowser_header_is_400() -> None:
    for bad in ("MediaBrowser ,,,", "MediaBrowser " + "x" * 5000, 'Emby "token"'):
        with pytest.raises(BadRequest):
            wire.parse_authorization(bad)


def test_authorization_header_not_mediabrowser() -> None:
    assert wire.parse_authorization("Bearer xyz") is None
    assert wire.parse_authorization(None) is None
    info = wire.parse_authorization('MediaBrowser Client="x"')
    assert info is not None
    assert info.token is None


def test_device_profile_translates_into_ferrite_capabilities() -> None:
    caps = profile.capabilities(DIRECT_PROFILE)
    dp = profile_from_dict(caps)
    assert dp.direct_play
    assert dp.containers == {"mp4", "matroska"}
    h264 = dp.video_caps("h264")
    assert h264 is not None
    assert h264.max_level == 51
    assert h264.max_bit_depth == 8
    assert h264.supports_profile("High")
    assert not h264.supports_profile("High 10")
    assert dp.audio_caps("aac") is not None
    assert dp.audio_caps("aac").max_channels == 2  # type: ignore[union-attr]
    assert dp.hls_ts
    assert not dp.hls_fmp4
    assert dp.max_bitrate == 120_000_000
    assert "webvtt" in dp.subtitles


def test_hls_only_profile_has_no_direct_play() -> None:
    dp = profile_from_dict(profile.capabilities(HLS_PROFILE))
    assert not dp.direct_play
    assert dp.hls_ts


def test_hdr_only_when_the_profile_says_so() -> None:
    with_hdr = {
        **DIRECT_PROFILE,
        "CodecProfiles": [
            {
                "Type": "Video",
                "Codec": "hevc",
                "Conditions": [
                    {
                        "Condition": "EqualsAny",
                        "Property": "VideoRangeType",
                        "Value": "SDR|HDR10|DOVI",
                    }
                ],
            }
        ],
    }
    hevc = profile_from_dict(profile.capabilities(with_hdr)).video_caps("hevc")
    assert hevc is not None
    assert hevc.hdr == {"hdr10", "dolby_vision"}
    plain = profile_from_dict(profile.capabilities(DIRECT_PROFILE)).video_caps("hevc")
    assert plain is not None
    assert plain.hdr == frozenset()


@pytest.mark.parametrize(
    "bad",
    [
        "not an object",
        {"DirectPlayProfiles": "mp4"},
        {"DirectPlayProfiles": [{"Type": "Video", "Container": 5}]},
        {
            **HLS_PROFILE,
            "CodecProfiles": [
                {
                    "Type": "Video",
                    "Conditions": [
                        {"Property": "Width", "Condition": "LessThanEqual", "Value": "wide"}
                    ],
                }
            ],
        },
        {},  # no codecs at all
    ],
)
def test_malformed_profiles_are_400(bad: object) -> None:
    with pytest.raises(BadRequest):
        profile.capabilities(bad)


def test_openapi_checker_catches_missing_non_null_fields() -> None:
    body = b'{"MediaSources": [{"Protocol": "File", "Id": "x"}], "PlaySessionId": "s"}'
    problems = openapi.check(
        "POST",
        "/items/f3e10000000100000000000000000001/playbackinfo",
        200,
        body,
        "application/json",
    )
    assert any("SupportsDirectPlay: missing" in p for p in problems)
    assert any("TranscodingSubProtocol: missing" in p for p in problems)
    wrong = (
        b'{"Items": [{"Id": "nope", "Type": "Movie", "MediaType": "Video"}],'
        b' "TotalRecordCount": 1, "StartIndex": 0}'
    )
    problems = openapi.check("GET", "/Items", 200, wrong, "application/json")
    assert any("not a GUID" in p for p in problems)


#: Non-null properties of MediaSourceInfo in the Kotlin SDK's generated model
#: (jellyfin-sdk-kotlin, jellyfin-model/.../api/MediaSourceInfo.kt); the checker derives its
#: list from the OpenAPI document's ``nullable`` flags, which is what that generator reads.
KOTLIN_MEDIA_SOURCE_NON_NULL = {
    "Protocol", "Type", "IsRemote", "ReadAtNativeFramerate", "IgnoreDts", "IgnoreIndex",
    "GenPtsInput", "SupportsTranscoding", "SupportsDirectStream", "SupportsDirectPlay",
    "IsInfiniteStream", "RequiresOpening", "RequiresClosing", "RequiresLooping",
    "SupportsProbing", "TranscodingSubProtocol",
}  # fmt: skip


def test_the_checkers_non_null_list_covers_the_kotlin_sdks() -> None:
    schema = openapi.document()["components"]["schemas"]["MediaSourceInfo"]
    derived = {k for k, v in schema["properties"].items() if not v.get("nullable")}
    assert derived >= KOTLIN_MEDIA_SOURCE_NON_NULL
