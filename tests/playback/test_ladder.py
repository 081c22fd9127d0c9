"""The ABR ladder: copy rung plus H.264 rungs strictly below it, capped by every limit."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest

from ferrite.media.info import MediaInfo, Stream
from ferrite.media.renditions import Rung
from ferrite.playback.capabilities import profile_from_dict
from ferrite.playback.decision import decide
from ferrite.playback.decision_records import AudioPlan, PlaybackRequest
from ferrite.playback.devices import BUILTIN_PROFILES, get_profile
from ferrite.playback.ladder import audio_rendition, build_ladder, h264_level
from ferrite.playback.profiles import DeviceProfile
from tests.playback import samples as s


def ladder(
    info: MediaInfo,
    profile: DeviceProfile,
    request: PlaybackRequest | None = None,
) -> tuple[Rung, ...]:
    request = request or PlaybackRequest()
    decision = decide(info, profile, request)
    assert info.video is not None
    return build_ladder(
        info.video,
        decision,
        profile,
        max_bitrate=request.max_bitrate,
        max_height=request.max_height,
    )


def check(rungs: tuple[Rung, ...], video: Stream, profile: DeviceProfile) -> None:
    assert rungs, "never empty"
    assert len({r.id for r in rungs}) == len(rungs)
    assert all(r.id.replace("p", "").isalnum() for r in rungs)
    copies = [r for r in rungs if r.copy]
    assert len(copies) <= 1
    if copies:
        assert rungs[0].copy
    caps = profile.video_caps("h264")
    assert caps is not None
    assert video.width is not None
    assert video.height is not None
    transcoded = [r for r in rungs if not r.copy]
    for r in transcoded:
        assert r.codec == "h264"
        assert r.width % 2 == 0
        assert r.height % 2 == 0
        # aspect preserved to within the rounding to even sizes
        assert abs(r.width / r.height - video.width / video.height) < 2.5 / r.height * (
            r.width / r.height
        )
        assert r.height <= video.height
        assert caps.max_height is None or r.height <= caps.max_height
        assert r.level is not None
        assert caps.max_level is None or r.level <= caps.max_level
        assert r.maxrate >= r.bitrate
        assert r.bufsize == 2 * r.bitrate
        assert r.codec_string is not None
        assert r.codec_string.startswith("avc1.")
        if copies:
            assert r.height < copies[0].height
            assert r.bitrate < copies[0].bitrate
    heights = [r.height for r in transcoded]
    assert heights == sorted(heights, reverse=True)
    assert [r.bitrate for r in transcoded] == sorted((r.bitrate for r in transcoded), reverse=True)


def test_1080p_h264_on_chrome() -> None:
    chrome = get_profile("chrome")
    rungs = ladder(s.MP4_H264_AAC, chrome, PlaybackRequest(protocol="hls"))
    assert [r.id for r in rungs] == ["copy", "720p", "480p", "360p"]
    copy, r720, r480, r360 = rungs
    assert (copy.codec, copy.width, copy.height, copy.bitrate) == ("h264", 1920, 1080, 7_800_000)
    assert copy.codec_string is None
    assert (r720.width, r720.height, r720.bitrate, r720.level, r720.profile) == (
        1280,
        720,
        3_000_000,
        31,
        "high",
    )
    assert r720.codec_string == "avc1.64001f"
    assert (r480.width, r480.height) == (854, 480)
    assert (r360.width, r360.height, r360.bitrate) == (640, 360, 800_000)
    assert s.MP4_H264_AAC.video is not None
    check(rungs, s.MP4_H264_AAC.video, chrome)


def test_4k_hevc_transcoded_for_chrome_has_no_copy_rung() -> None:
    chrome = get_profile("chrome")
    rungs = ladder(s.MKV_HEVC10_HDR10, chrome)
    assert [r.id for r in rungs] == ["2160p", "1080p", "720p", "480p", "360p"]
    assert rungs[0].bitrate == 16_000_000
    assert rungs[0].level == 51
    assert s.MKV_HEVC10_HDR10.video is not None
    check(rungs, s.MKV_HEVC10_HDR10.video, chrome)


@pytest.mark.parametrize("name", sorted(BUILTIN_PROFILES))
@pytest.mark.parametrize(
    "info",
    [s.MP4_H264_AAC, s.MKV_HEVC10_HDR10, s.WEBM_VP9_OPUS, s.TS_H264_AC3, s.TS_MPEG2_INTERLACED,
     s.MP4_H264_4K60_HIGH_BITRATE],
    ids=["h264", "hevc10", "vp9", "ts", "mpeg2", "4k60"],
)  # fmt: skip
def test_invariants_for_every_profile(info: MediaInfo, name: str) -> None:
    profile = get_profile(name)
    assert info.video is not None
    for request in (PlaybackRequest(protocol="hls"), PlaybackRequest(max_bitrate=3_000_000)):
        check(ladder(info, profile, request), info.video, profile)


def test_request_max_height_caps_and_drops_the_copy() -> None:
    rungs = ladder(s.MP4_H264_AAC, get_profile("chrome"), PlaybackRequest(max_height=720))
    assert [r.id for r in rungs] == ["720p", "480p", "360p"]


def test_odd_height_cap_gets_its_own_id() -> None:
    rungs = ladder(s.MP4_H264_AAC, get_profile("chrome"), PlaybackRequest(max_height=600))
    assert [(r.id, r.width, r.height) for r in rungs] == [
        ("600p", 1066, 600),
        ("480p", 854, 480),
        ("360p", 640, 360),
    ]


def test_bitrate_budget_leaves_room_for_the_audio() -> None:
    # 2.5 Mb/s total; the AAC stereo rendition takes 160 kb/s.
    rungs = ladder(s.MP4_H264_AAC, get_profile("chrome"), PlaybackRequest(max_bitrate=2_500_000))
    assert [r.id for r in rungs] == ["720p", "480p", "360p"]
    assert rungs[0].bitrate == 2_500_000 - 160_000


def test_tiny_budget_still_gets_one_rung() -> None:
    rungs = ladder(s.MP4_H264_AAC, get_profile("chrome"), PlaybackRequest(max_bitrate=300_000))
    assert len(rungs) == 1
    assert rungs[0].id == "240p"
    assert rungs[0].bitrate <= 300_000


def test_device_bitrate_limit() -> None:
    device = replace(get_profile("roku"), max_bitrate=5_000_000)
    rungs = ladder(s.MP4_H264_AAC, device)
    # The 7.8 Mb/s source doesn't fit; 1080p does, squeezed to the budget minus the audio.
    assert [(r.id, r.bitrate) for r in rungs[:2]] == [("1080p", 4_840_000), ("720p", 3_000_000)]


def test_scope_picture_keeps_its_aspect() -> None:
    info = replace(
        s.MP4_H264_AAC,
        streams=(replace(s.MP4_H264_AAC.streams[0], height=800), s.MP4_H264_AAC.streams[1]),
    )
    rungs = ladder(info, get_profile("chrome"), PlaybackRequest(protocol="hls"))
    assert [(r.id, r.width, r.height) for r in rungs] == [
        ("copy", 1920, 800),
        ("720p", 1280, 534),
        ("480p", 854, 356),
        ("360p", 640, 266),
    ]


def test_high_frame_rate_costs_more_and_is_halved_for_a_30fps_device() -> None:
    source = replace(s.MP4_H264_AAC.streams[0], frame_rate=Fraction(60), bitrate=12_000_000)
    info = replace(s.MP4_H264_AAC, streams=(source, s.MP4_H264_AAC.streams[1]))
    rungs = ladder(info, get_profile("chrome"), PlaybackRequest(protocol="hls"))
    assert rungs[1].id == "720p"
    assert rungs[1].bitrate == 4_500_000
    assert rungs[1].frame_rate == 60
    slow = profile_from_dict(
        {
            "containers": ["mp4"],
            "video": [{"codec": "h264", "max_frame_rate": 30}],
            "audio": ["aac"],
        }
    )
    rungs = ladder(info, slow)
    assert rungs[0].id == "1080p"
    assert {r.frame_rate for r in rungs} == {30}
    assert rungs[0].bitrate == 6_000_000


def test_generic_hls_4k60_fits_level_4_1_by_halving_the_rate() -> None:
    profile = get_profile("generic-hls")
    rungs = ladder(s.MP4_H264_4K60_HIGH_BITRATE, profile)
    assert [r.id for r in rungs] == ["1080p", "720p", "480p", "360p"]
    top = rungs[0]
    assert (top.width, top.height, top.frame_rate) == (1920, 1080, Fraction(30))
    assert top.level is not None
    assert top.level <= 41
    assert rungs[1].frame_rate == 60  # 720p60 fits 4.1 (3.2 in fact)


def test_low_bitrate_source_rungs_spend_less_than_the_source() -> None:
    source = replace(s.MP4_H264_AAC.streams[0], bitrate=2_000_000)
    info = replace(s.MP4_H264_AAC, bitrate=2_200_000, streams=(source, s.MP4_H264_AAC.streams[1]))
    rungs = ladder(info, get_profile("chrome"), PlaybackRequest(protocol="hls"))
    assert rungs[0].id == "copy"
    assert all(r.bitrate < 2_000_000 for r in rungs[1:])


def test_tiny_source() -> None:
    small = replace(s.MP4_H264_AAC.streams[0], width=320, height=180, bitrate=300_000)
    info = replace(s.MP4_H264_AAC, bitrate=460_000, streams=(small, s.MP4_H264_AAC.streams[1]))
    assert [r.id for r in ladder(info, get_profile("chrome"), PlaybackRequest(protocol="hls"))] == [
        "copy"
    ]
    rungs = ladder(info, get_profile("chrome"), PlaybackRequest(max_bitrate=400_000))
    assert [(r.id, r.width, r.height) for r in rungs] == [("180p", 320, 180)]


def test_h264_levels() -> None:
    assert h264_level(1920, 1080, 30, 6_000_000) == 40
    assert h264_level(1920, 1080, 60, 6_000_000) == 42
    assert h264_level(1280, 720, 30, 3_000_000) == 31
    assert h264_level(3840, 2160, 30, 16_000_000) == 51
    assert h264_level(3840, 2160, 60, 24_000_000) == 52
    assert h264_level(640, 360, 30, 800_000) == 30
    assert h264_level(1920, 1080, 30, 30_000_000, "main") == 41


def test_audio_renditions() -> None:
    copy = AudioPlan(1, "copy", "ac3", 6, 640_000, "ac3", 6)
    aac = AudioPlan(1, "transcode", "aac", 2, 160_000, "ac3", 6)
    assert audio_rendition(copy).id == "copy"
    assert audio_rendition(copy).codec_string is None
    r = audio_rendition(aac)
    assert (r.id, r.channels, r.bitrate, r.codec_string) == ("aac-2ch", 2, 160_000, "mp4a.40.2")
