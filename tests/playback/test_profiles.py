"""Device profiles: the built-ins say what the real devices decode; explicit capability
objects are validated with messages that name the bad field."""

from __future__ import annotations

import pytest

from ferrite.errors import BadRequest, Unprocessable
from ferrite.media.codecnames import level_from_human, normalize_container, normalize_profile
from ferrite.playback.capabilities import profile_from_dict, resolve_device
from ferrite.playback.devices import BUILTIN_PROFILES, get_profile
from ferrite.playback.profiles import DeviceProfile

NAMES = (
    "chrome",
    "firefox",
    "safari",
    "ios",
    "android",
    "androidtv",
    "tvos",
    "roku",
    "webos",
    "tizen",
    "generic-hls",
)


def test_every_builtin_exists_and_can_take_a_transcode() -> None:
    assert set(BUILTIN_PROFILES) == set(NAMES)
    for name in NAMES:
        p = get_profile(name)
        assert p.name == name
        h264 = p.video_caps("h264")
        assert h264 is not None, name
        assert h264.supports_profile("High"), name
        assert h264.max_bit_depth == 8, name  # no device is assumed to take High 10
        assert p.audio_caps("aac") is not None, name
        assert p.hls, name  # every built-in can fall back to HLS
        assert "webvtt" in p.subtitles, name


@pytest.mark.parametrize("name", ["chrome", "firefox"])
def test_browsers(name: str) -> None:
    p = get_profile(name)
    assert p.video_caps("hevc") is None  # hardware-dependent: not assumed
    assert p.audio_caps("ac3") is None
    assert p.audio_caps("eac3") is None
    vp9 = p.video_caps("vp9")
    assert vp9 is not None
    assert vp9.supports_profile("Profile 2")
    assert vp9.max_bit_depth == 10
    assert not vp9.supports_profile("Profile 1")
    assert p.video_caps("av1") is not None
    caps = p.audio_caps("opus")
    assert caps is not None
    assert caps.max_channels == 2
    assert {"mp4", "webm"} <= p.containers
    assert "matroska" not in p.containers
    assert all(not v.hdr for v in p.video)
    assert p.hls_fmp4
    assert p.hls_ts


@pytest.mark.parametrize("name", ["safari", "ios", "tvos"])
def test_apple(name: str) -> None:
    p = get_profile(name)
    hevc = p.video_caps("hevc")
    assert hevc is not None
    assert hevc.supports_profile("Main 10")
    assert hevc.max_bit_depth == 10
    assert {"hdr10", "hlg"} <= hevc.hdr
    ac3, eac3 = p.audio_caps("ac3"), p.audio_caps("eac3")
    assert ac3 is not None
    assert ac3.max_channels == 6
    assert eac3 is not None
    assert eac3.max_channels >= 6
    assert p.hls_fmp4
    assert p.hls_ts
    assert p.video_caps("vp9") is None


def test_tvos_shows_dolby_vision_and_roku_wants_ts() -> None:
    hevc = get_profile("tvos").video_caps("hevc")
    assert hevc is not None
    assert "dolby_vision" in hevc.hdr
    roku = get_profile("roku")
    assert roku.hls_ts
    assert not roku.hls_fmp4
    ac3 = roku.audio_caps("ac3")
    assert ac3 is not None
    assert ac3.max_channels == 6
    generic = get_profile("generic-hls")
    assert not generic.direct_play
    assert generic.hls_ts
    assert not generic.hls_fmp4


def test_profile_implication_and_levels() -> None:
    h264 = get_profile("chrome").video_caps("h264")
    assert h264 is not None
    assert h264.supports_profile("Main")
    assert h264.supports_profile("Constrained Baseline")
    assert not h264.supports_profile("High 10")
    assert not h264.supports_profile("High 4:4:4 Predictive")
    assert h264.max_level == 52
    hevc = get_profile("roku").video_caps("hevc")
    assert hevc is not None
    assert hevc.max_level == 153
    assert level_from_human("av1", 5.1) == 13
    assert normalize_profile("hevc", "Main 10") == "main10"
    assert normalize_profile("vp9", "2") == "profile2"
    assert normalize_container("mov,mp4,m4a,3gp,3g2,mj2") == "mp4"
    assert normalize_container("matroska,webm") == "matroska"


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(Unprocessable, match="known: chrome"):
        get_profile("commodore64")
    assert get_profile(" Chrome ") is BUILTIN_PROFILES["chrome"]
    assert resolve_device("roku").name == "roku"
    with pytest.raises(BadRequest, match="device"):
        resolve_device(42)


FULL = {
    "name": "living-room",
    "containers": ["mp4", "mkv", "ts"],
    "direct_play": True,
    "video": [
        {
            "codec": "avc",
            "profiles": ["High"],
            "max_level": "4.2",
            "max_bit_depth": 8,
            "max_width": 1920,
            "max_height": 1080,
            "max_frame_rate": 60,
        },
        {
            "codec": "H265",
            "profiles": ["main10"],
            "max_level": 5.1,
            "max_bit_depth": 10,
            "hdr": ["HDR10", "dv"],
        },
    ],
    "audio": {"aac": 6, "e-ac-3": 8, "mp3": None},
    "subtitles": ["vtt", "srt", "pgs"],
    "max_bitrate": 20_000_000,
    "hls": {"fmp4": True, "ts": False},
    "interlaced": True,
}


def test_capabilities_object_is_normalised() -> None:
    p = profile_from_dict(FULL)
    assert p.name == "living-room"
    assert p.containers == {"mp4", "matroska", "mpegts"}
    h264 = p.video_caps("h264")
    assert h264 is not None
    assert h264.max_level == 42
    assert h264.max_frame_rate == 60
    assert h264.supports_profile("Main")
    assert not h264.supports_profile("High 10")
    hevc = p.video_caps("hevc")
    assert hevc is not None
    assert hevc.max_level == 153
    assert hevc.hdr == {"hdr10", "dolby_vision"}
    eac3 = p.audio_caps("eac3")
    assert eac3 is not None
    assert eac3.max_channels == 8
    mp3 = p.audio_caps("mp3")
    assert mp3 is not None
    assert mp3.max_channels == 2
    assert p.subtitles == {"webvtt", "subrip", "hdmv_pgs_subtitle"}
    assert (p.hls_fmp4, p.hls_ts, p.interlaced, p.max_bitrate) == (True, False, True, 20_000_000)


@pytest.mark.parametrize("name", NAMES)
def test_builtins_round_trip_through_the_capabilities_form(name: str) -> None:
    p = get_profile(name)
    again = profile_from_dict(p.to_dict())
    assert again == p
    assert isinstance(again, DeviceProfile)


def test_minimal_object_defaults() -> None:
    p = profile_from_dict({"video": ["h264"], "audio": ["aac"]})
    assert p.name == "custom"
    assert p.direct_play
    assert p.hls_fmp4
    assert p.hls_ts
    assert p.subtitles == {"webvtt"}
    assert p.containers == frozenset()
    caps = p.video_caps("h264")
    assert caps is not None
    assert caps.profiles is None
    assert caps.max_bit_depth == 8


BAD: list[tuple[object, type[Exception], str]] = [
    ("chrome-ish", BadRequest, "device: expected an object"),
    ({"containers": "mp4", "video": ["h264"]}, BadRequest, "device.containers: expected a list"),
    ({"video": [{"codec": 5}]}, BadRequest, "device.video[0].codec"),
    ({"video": [{"profiles": ["high"]}]}, Unprocessable, "device.video[0].codec: required"),
    (
        {"video": [{"codec": "h264", "max_level": "four"}]},
        Unprocessable,
        "device.video[0].max_level",
    ),
    ({"video": [{"codec": "h264", "max_width": -5}]}, Unprocessable, "device.video[0].max_width"),
    ({"video": [{"codec": "h264", "max_width": 1.5}]}, Unprocessable, "device.video[0].max_width"),
    (
        {"video": [{"codec": "h264", "max_bit_depth": 9}]},
        Unprocessable,
        "device.video[0].max_bit_depth",
    ),
    ({"video": [{"codec": "h264", "hdr": ["hdr11"]}]}, Unprocessable, "device.video[0].hdr[0]"),
    ({"video": [{"codec": "h264", "hdr": "hdr10"}]}, BadRequest, "device.video[0].hdr"),
    (
        {"video": [{"codec": "h264", "max_frame_rate": "fast"}]},
        BadRequest,
        "device.video[0].max_frame_rate",
    ),
    (
        {"video": [{"codec": "h264", "fps": 30}]},
        Unprocessable,
        "device.video[0].fps: unknown field",
    ),
    ({"video": [{"codec": "h264"}, {"codec": "avc"}]}, Unprocessable, "codec 'h264' listed twice"),
    ({"audio": {"aac": "six"}}, BadRequest, "device.audio.aac.max_channels"),
    (
        {"audio": [{"codec": "aac", "max_channels": 0}]},
        Unprocessable,
        "device.audio[0].max_channels",
    ),
    ({"audio": ["aac"], "hls": ["dash"]}, Unprocessable, "device.hls[0]"),
    ({"audio": ["aac"], "hls": {"fmp4": "yes"}}, BadRequest, "device.hls.fmp4"),
    ({"audio": ["aac"], "direct_play": "yes"}, BadRequest, "device.direct_play"),
    ({"audio": ["aac"], "max_bitrate": True}, BadRequest, "device.max_bitrate"),
    ({"audio": ["aac"], "max_bitrate": 1000}, Unprocessable, "device.max_bitrate"),
    ({"audio": ["aac"], "colour": 1}, Unprocessable, "device.colour: unknown field"),
    ({"audio": ["aac"], "subtitles": [""]}, Unprocessable, "device.subtitles[0]"),
    ({"audio": ["aac"], "containers": ["mp4; rm -rf /"]}, Unprocessable, "device.containers[0]"),
    ({}, Unprocessable, "no video and no audio"),
    ({"video": ["h264"], "direct_play": False, "hls": False}, Unprocessable, "device.hls"),
]


@pytest.mark.parametrize(("obj", "error", "message"), BAD)
def test_invalid_objects_name_the_field(obj: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as info:
        profile_from_dict(obj)
    assert message in str(info.value)
    assert type(info.value) is error
