"""The playback decision, table-driven: every built-in profile against representative files,
then the request options, the subtitle rules and the impossible cases."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest

from ferrite.errors import NoPlayableMethod, Unprocessable
from ferrite.media.info import MediaInfo
from ferrite.media.subtitles import SubtitleChoice
from ferrite.playback.capabilities import profile_from_dict
from ferrite.playback.decision import decide
from ferrite.playback.decision_records import REASONS, Decision, PlaybackRequest
from ferrite.playback.devices import BUILTIN_PROFILES, get_profile
from tests.playback import samples as s

DIRECT = ("direct", ())
CONTAINER = "container_not_supported"
VCODEC = "video_codec_not_supported"
ACODEC = "audio_codec_not_supported"
HDR = "hdr_not_supported"
HLS = "hls_required"
BURN = "subtitle_burn_in"
SUBFMT = "subtitle_format_not_supported"

PGS = SubtitleChoice(codec="hdmv_pgs_subtitle", stream_index=2)

# (file, request) -> {profile: (method, reasons)}
TABLE: dict[str, tuple[MediaInfo, PlaybackRequest, dict[str, tuple[str, tuple[str, ...]]]]] = {
    "h264-aac-mp4": (
        s.MP4_H264_AAC,
        PlaybackRequest(),
        {
            **{name: DIRECT for name in BUILTIN_PROFILES},
            "generic-hls": ("remux", (HLS,)),
        },
    ),
    "hevc10-hdr10-mkv-ac3": (
        s.MKV_HEVC10_HDR10,
        PlaybackRequest(),
        {
            "chrome": ("transcode", (CONTAINER, VCODEC, HDR, ACODEC)),
            "firefox": ("transcode", (CONTAINER, VCODEC, HDR, ACODEC)),
            "safari": ("remux", (CONTAINER,)),
            "ios": ("remux", (CONTAINER,)),
            "tvos": ("remux", (CONTAINER,)),
            "android": ("transcode", (HDR, ACODEC)),
            "androidtv": DIRECT,
            "roku": DIRECT,
            "webos": DIRECT,
            "tizen": DIRECT,
            "generic-hls": ("transcode", (HLS, VCODEC, HDR, ACODEC)),
        },
    ),
    "vp9-opus-webm": (
        s.WEBM_VP9_OPUS,
        PlaybackRequest(),
        {
            "chrome": DIRECT,
            "firefox": DIRECT,
            "safari": ("transcode", (CONTAINER, VCODEC, ACODEC)),
            "ios": ("transcode", (CONTAINER, VCODEC, ACODEC)),
            "tvos": ("transcode", (CONTAINER, VCODEC, ACODEC)),
            "android": DIRECT,
            "androidtv": DIRECT,
            "roku": ("transcode", (CONTAINER, VCODEC, ACODEC)),
            "webos": DIRECT,
            "tizen": DIRECT,
            "generic-hls": ("transcode", (HLS, VCODEC, ACODEC)),
        },
    ),
    "h264-ac3-ts": (
        s.TS_H264_AC3,
        PlaybackRequest(),
        {
            "chrome": ("remux", (CONTAINER, ACODEC)),
            "firefox": ("remux", (CONTAINER, ACODEC)),
            "safari": ("remux", (CONTAINER,)),
            "ios": ("remux", (CONTAINER,)),
            "tvos": ("remux", (CONTAINER,)),
            "android": ("remux", (ACODEC,)),
            "androidtv": DIRECT,
            "roku": DIRECT,
            "webos": DIRECT,
            "tizen": DIRECT,
            "generic-hls": ("remux", (HLS, ACODEC)),
        },
    ),
    "mpeg2-interlaced-ts": (
        s.TS_MPEG2_INTERLACED,
        PlaybackRequest(),
        {
            "chrome": ("transcode", (CONTAINER, VCODEC, "interlaced", ACODEC)),
            "firefox": ("transcode", (CONTAINER, VCODEC, "interlaced", ACODEC)),
            "safari": ("transcode", (CONTAINER, VCODEC, "interlaced", ACODEC)),
            "ios": ("transcode", (CONTAINER, VCODEC, "interlaced", ACODEC)),
            "tvos": ("transcode", (CONTAINER, VCODEC, "interlaced", ACODEC)),
            "android": ("transcode", (VCODEC, "interlaced", ACODEC)),
            "androidtv": ("transcode", (VCODEC, ACODEC)),
            "roku": ("transcode", (VCODEC, ACODEC)),
            "webos": ("transcode", (VCODEC, ACODEC)),
            "tizen": ("transcode", (VCODEC, ACODEC)),
            "generic-hls": ("transcode", (HLS, VCODEC, "interlaced", ACODEC)),
        },
    ),
    "h264-mkv-pgs": (
        s.MKV_H264_PGS,
        PlaybackRequest(subtitle=PGS),
        {
            "chrome": ("transcode", (CONTAINER, SUBFMT, BURN)),
            "firefox": ("transcode", (CONTAINER, SUBFMT, BURN)),
            "safari": ("transcode", (CONTAINER, SUBFMT, BURN)),
            "ios": ("transcode", (CONTAINER, SUBFMT, BURN)),
            "tvos": ("transcode", (CONTAINER, SUBFMT, BURN)),
            "android": DIRECT,
            "androidtv": DIRECT,
            "roku": ("transcode", (SUBFMT, BURN)),
            "webos": ("transcode", (SUBFMT, BURN)),
            "tizen": ("transcode", (SUBFMT, BURN)),
            "generic-hls": ("transcode", (HLS, SUBFMT, BURN)),
        },
    ),
    "h264-4k60-high-bitrate": (
        s.MP4_H264_4K60_HIGH_BITRATE,
        PlaybackRequest(),
        {
            **{name: DIRECT for name in BUILTIN_PROFILES},
            "generic-hls": ("transcode", (HLS, "video_level_exceeds", "resolution_exceeds")),
        },
    ),
}

CASES = [
    pytest.param(info, request_, name, expected, id=f"{key}-{name}")
    for key, (info, request_, by_profile) in TABLE.items()
    for name, expected in by_profile.items()
]


def test_table_covers_every_profile() -> None:
    for _, _, by_profile in TABLE.values():
        assert set(by_profile) == set(BUILTIN_PROFILES)


def check_invariants(info: MediaInfo, decision: Decision) -> None:
    assert len(set(decision.reasons)) == len(decision.reasons)
    assert all(r in REASONS for r in decision.reasons)
    assert list(decision.reasons) == sorted(decision.reasons, key=REASONS.index)
    assert (decision.method == "direct") == (decision.reasons == ())
    if decision.method == "direct":
        assert decision.segment_container is None
        assert decision.video is None or decision.video.action == "copy"
        assert decision.audio is None or decision.audio.action == "copy"
    else:
        assert decision.segment_container in ("fmp4", "ts")
    if decision.video is not None:
        transcoding = decision.video.action == "transcode"
        assert (decision.method == "transcode") == transcoding
        src = info.video
        assert src is not None
        assert decision.video.tone_map == (transcoding and src.hdr != "none")
        assert decision.video.deinterlace == (transcoding and src.interlaced)
        assert decision.video.codec == ("h264" if transcoding else decision.video.source_codec)
    if decision.audio is not None and decision.audio.action == "transcode":
        assert decision.audio.codec == "aac"
        assert decision.audio.channels in (1, 2, 6)


@pytest.mark.parametrize(("info", "request_", "name", "expected"), CASES)
def test_builtin_profiles(
    info: MediaInfo, request_: PlaybackRequest, name: str, expected: tuple[str, tuple[str, ...]]
) -> None:
    decision = decide(info, get_profile(name), request_)
    assert (decision.method, decision.reasons) == expected
    check_invariants(info, decision)


def test_hdr_transcode_tone_maps_and_downmixes_for_a_browser() -> None:
    d = decide(s.MKV_HEVC10_HDR10, get_profile("chrome"), PlaybackRequest())
    assert d.video is not None
    assert d.video.tone_map
    assert d.video.codec == "h264"
    assert d.audio is not None
    assert (d.audio.action, d.audio.codec, d.audio.channels, d.audio.stream_index) == (
        "transcode",
        "aac",
        2,
        1,
    )
    assert d.segment_container == "fmp4"


def test_apple_remux_copies_hevc_hdr_and_ac3_into_fmp4() -> None:
    d = decide(s.MKV_HEVC10_HDR10, get_profile("tvos"), PlaybackRequest())
    assert d.video is not None
    assert d.video.action == "copy"
    assert not d.video.tone_map
    assert d.audio is not None
    assert (d.audio.action, d.audio.codec, d.audio.channels) == (
        "copy",
        "ac3",
        6,
    )
    assert d.segment_container == "fmp4"


def test_android_keeps_surround_as_aac_5_1() -> None:
    d = decide(s.TS_H264_AC3, get_profile("android"), PlaybackRequest())
    assert d.method == "remux"
    assert d.audio is not None
    assert (d.audio.codec, d.audio.channels, d.audio.bitrate) == (
        "aac",
        6,
        384_000,
    )


def test_roku_remux_uses_ts() -> None:
    d = decide(s.MKV_HEVC10_HDR10, get_profile("roku"), PlaybackRequest(protocol="hls"))
    assert (d.method, d.reasons, d.segment_container) == ("remux", (HLS,), "ts")
    assert d.video is not None
    assert d.video.action == "copy"


def test_interlaced_transcode_deinterlaces() -> None:
    d = decide(s.TS_MPEG2_INTERLACED, get_profile("roku"), PlaybackRequest())
    assert d.video is not None
    assert d.video.deinterlace
    assert d.segment_container == "ts"


def test_protocol_hls_forces_remux() -> None:
    d = decide(s.MP4_H264_AAC, get_profile("chrome"), PlaybackRequest(protocol="hls"))
    assert (d.method, d.reasons, d.segment_container) == ("remux", (HLS,), "fmp4")
    assert d.copy_video
    assert d.audio is not None
    assert d.audio.action == "copy"


def test_request_bitrate_limit_forces_a_transcode() -> None:
    d = decide(s.MP4_H264_AAC, get_profile("chrome"), PlaybackRequest(max_bitrate=4_000_000))
    assert (d.method, d.reasons) == ("transcode", ("bitrate_exceeds_limit",))
    assert d.max_bitrate == 4_000_000
    d = decide(
        s.MP4_H264_4K60_HIGH_BITRATE, get_profile("tvos"), PlaybackRequest(max_bitrate=20_000_000)
    )
    assert d.reasons == ("bitrate_exceeds_limit",)


def test_device_bitrate_limit_and_request_combine() -> None:
    device = replace(get_profile("chrome"), max_bitrate=10_000_000)
    assert decide(s.MP4_H264_AAC, device, PlaybackRequest()).method == "direct"
    d = decide(s.MP4_H264_AAC, device, PlaybackRequest(max_bitrate=5_000_000))
    assert d.max_bitrate == 5_000_000
    assert d.method == "transcode"


def test_request_max_height() -> None:
    d = decide(s.MP4_H264_AAC, get_profile("chrome"), PlaybackRequest(max_height=720))
    assert (d.method, d.reasons, d.max_height) == ("transcode", ("resolution_exceeds",), 720)


def test_all_reasons_are_collected_not_just_the_first() -> None:
    tiny = profile_from_dict(
        {
            "containers": ["mp4"],
            "video": [{"codec": "hevc", "profiles": ["main"], "max_level": "4.1", "max_width": 1920,
                       "max_height": 1080, "max_frame_rate": 30}, "h264"],
            "audio": {"aac": 2},
            "subtitles": ["subrip"],
            "max_bitrate": 8_000_000,
        }
    )  # fmt: skip
    request = PlaybackRequest(subtitle=SubtitleChoice(codec="ass", stream_index=4))
    info = replace(
        s.MKV_HEVC10_HDR10,
        streams=tuple(
            replace(x, frame_rate=Fraction(60), field_order="tt") if x.type == "video" else x
            for x in s.MKV_HEVC10_HDR10.streams
        ),
    )
    d = decide(info, tiny, request)
    assert d.reasons == (
        CONTAINER,
        "video_profile_not_supported",
        "video_level_exceeds",
        "bit_depth_exceeds",
        "resolution_exceeds",
        "frame_rate_exceeds",
        HDR,
        "interlaced",
        "bitrate_exceeds_limit",
        ACODEC,
        SUBFMT,
        BURN,
    )
    assert d.method == "transcode"
    assert d.burn_subtitle is not None


def test_audio_track_choice() -> None:
    french = PlaybackRequest(audio_stream=2)
    d = decide(s.MKV_HEVC10_HDR10, get_profile("android"), french)
    assert d.reasons == (HDR,)  # the French AAC track needs nothing
    assert d.audio is not None
    assert (d.audio.stream_index, d.audio.action) == (2, "copy")
    with pytest.raises(Unprocessable, match="audio_stream: no audio stream with index 3"):
        decide(s.MKV_HEVC10_HDR10, get_profile("android"), PlaybackRequest(audio_stream=3))


def test_default_audio_track_is_the_flagged_one() -> None:
    info = replace(
        s.MKV_HEVC10_HDR10,
        streams=tuple(
            replace(x, default=(x.index == 2)) if x.type == "audio" else x
            for x in s.MKV_HEVC10_HDR10.streams
        ),
    )
    d = decide(info, get_profile("tvos"), PlaybackRequest())
    assert d.audio is not None
    assert d.audio.stream_index == 2


class TestSubtitles:
    def test_text_subtitle_becomes_webvtt_without_changing_the_method(self) -> None:
        srt = SubtitleChoice(codec="subrip", stream_index=3)
        d = decide(s.MKV_H264_PGS, get_profile("chrome"), PlaybackRequest(subtitle=srt))
        assert (d.method, d.reasons) == ("remux", (CONTAINER,))
        assert d.subtitle is not None
        assert d.subtitle.delivery == "webvtt"
        assert d.webvtt_subtitle == srt
        assert d.burn_subtitle is None

    def test_text_subtitle_with_direct_play_on_a_browser_is_a_webvtt_track(self) -> None:
        sidecar = SubtitleChoice(codec="srt", path="/m/movie.en.srt")
        d = decide(s.MP4_H264_AAC, get_profile("chrome"), PlaybackRequest(subtitle=sidecar))
        assert d.method == "direct"
        assert d.subtitle is not None
        assert d.subtitle.delivery == "webvtt"

    def test_native_player_keeps_embedded_subtitles(self) -> None:
        srt = SubtitleChoice(codec="subrip", stream_index=3)
        d = decide(s.MKV_H264_PGS, get_profile("android"), PlaybackRequest(subtitle=srt))
        assert d.method == "direct"
        assert d.subtitle is not None
        assert d.subtitle.delivery == "embedded"
        d = decide(s.MKV_H264_PGS, get_profile("android"), PlaybackRequest(subtitle=PGS))
        assert d.subtitle is not None
        assert d.subtitle.delivery == "embedded"

    def test_pgs_is_burned_once_hls_is_needed(self) -> None:
        d = decide(
            s.MKV_H264_PGS, get_profile("android"), PlaybackRequest(subtitle=PGS, protocol="hls")
        )
        assert (d.method, d.reasons) == (
            "transcode",
            (HLS, BURN),
        )  # format is fine, HLS can't carry it
        assert d.burn_subtitle == PGS

    def test_user_asked_burn(self) -> None:
        srt = SubtitleChoice(codec="subrip", stream_index=3, burn=True)
        d = decide(s.MKV_H264_PGS, get_profile("androidtv"), PlaybackRequest(subtitle=srt))
        assert (d.method, d.reasons) == ("transcode", (BURN,))

    def test_text_subtitle_on_a_device_without_webvtt_is_burned(self) -> None:
        device = profile_from_dict(
            {"containers": ["mp4"], "video": ["h264"], "audio": ["aac"], "subtitles": []}
        )
        sidecar = SubtitleChoice(codec="ass", path="/m/signs.ass")
        d = decide(s.MP4_H264_AAC, device, PlaybackRequest(subtitle=sidecar))
        assert (d.method, d.reasons) == ("transcode", (SUBFMT, BURN))

    def test_sidecar_in_a_format_the_device_renders(self) -> None:
        device = profile_from_dict(
            {"containers": ["mp4"], "video": ["h264"], "audio": ["aac"], "subtitles": ["srt"]}
        )
        sidecar = SubtitleChoice(codec="srt", path="/m/movie.srt")
        d = decide(s.MP4_H264_AAC, device, PlaybackRequest(subtitle=sidecar))
        assert d.method == "direct"
        assert d.subtitle is not None
        assert d.subtitle.delivery == "external"

    def test_bad_subtitle_requests(self) -> None:
        chrome = get_profile("chrome")
        with pytest.raises(Unprocessable, match="no subtitle stream with index 1"):
            decide(
                s.MKV_H264_PGS,
                chrome,
                PlaybackRequest(subtitle=SubtitleChoice("subrip", stream_index=1)),
            )
        with pytest.raises(Unprocessable, match="exactly one"):
            decide(s.MKV_H264_PGS, chrome, PlaybackRequest(subtitle=SubtitleChoice("subrip")))
        with pytest.raises(Unprocessable, match="can't be shown"):
            decide(
                s.MKV_H264_PGS,
                chrome,
                PlaybackRequest(subtitle=SubtitleChoice("eia_608", path="/x")),
            )
        with pytest.raises(Unprocessable, match="without video"):
            decide(
                s.MKV_FLAC_ONLY,
                chrome,
                PlaybackRequest(subtitle=SubtitleChoice("srt", path="/x.srt", burn=True)),
            )
        lyrics = PlaybackRequest(subtitle=SubtitleChoice("srt", path="/x.srt"))
        d = decide(s.MKV_FLAC_ONLY, chrome, lyrics)  # a text track needs no picture
        assert d.subtitle is not None
        assert d.subtitle.delivery == "webvtt"


class TestAudioOnly:
    def test_flac_in_matroska_on_chrome_is_remuxed(self) -> None:
        d = decide(s.MKV_FLAC_ONLY, get_profile("chrome"), PlaybackRequest())
        assert (d.method, d.reasons, d.segment_container) == (
            "remux",
            (CONTAINER, "no_video"),
            "fmp4",
        )
        assert d.video is None
        assert d.audio is not None
        assert d.audio.action == "copy"

    def test_flac_on_a_ts_only_device_is_transcoded(self) -> None:
        d = decide(s.MKV_FLAC_ONLY, get_profile("roku"), PlaybackRequest(protocol="hls"))
        assert (d.method, d.reasons, d.segment_container) == (
            "transcode",
            (HLS, "no_video", ACODEC),
            "ts",
        )
        assert d.audio is not None
        assert d.audio.codec == "aac"

    def test_direct_when_it_fits(self) -> None:
        d = decide(s.MKV_FLAC_ONLY, get_profile("android"), PlaybackRequest())
        assert (d.method, d.reasons, d.video) == ("direct", (), None)


def test_hdr_signalled_only_by_the_transfer_function() -> None:
    pq = tuple(
        replace(x, hdr="none") if x.type == "video" else x for x in s.MKV_HEVC10_HDR10.streams
    )
    info = replace(s.MKV_HEVC10_HDR10, streams=pq)
    d = decide(info, get_profile("android"), PlaybackRequest(audio_stream=2))
    assert d.reasons == (HDR,)
    assert d.video is not None
    assert d.video.tone_map


class TestDolbyVision:
    def dv(self, transfer: str | None) -> MediaInfo:
        return replace(
            s.MKV_HEVC10_HDR10,
            streams=tuple(
                replace(x, hdr="dolby_vision", color_transfer=transfer) if x.type == "video" else x
                for x in s.MKV_HEVC10_HDR10.streams
            ),
        )

    def test_hdr10_compatible_base_layer_plays_on_an_hdr10_device(self) -> None:
        assert (
            decide(self.dv("smpte2084"), get_profile("androidtv"), PlaybackRequest()).method
            == "direct"
        )

    def test_profile_5_without_fallback_is_tone_mapped(self) -> None:
        d = decide(self.dv(None), get_profile("androidtv"), PlaybackRequest())
        assert (d.method, d.reasons) == ("transcode", (HDR,))
        assert d.video is not None
        assert d.video.tone_map
        assert (
            decide(self.dv(None), get_profile("tvos"), PlaybackRequest(protocol="hls")).method
            == "remux"
        )


class TestImpossible:
    def test_device_without_h264_when_video_must_be_transcoded(self) -> None:
        vp9_only = profile_from_dict(
            {"containers": ["webm"], "video": ["vp9"], "audio": ["opus", "aac"]}
        )
        with pytest.raises(NoPlayableMethod, match=r"doesn't decode H\.264") as info:
            decide(s.MKV_HEVC10_HDR10, vp9_only, PlaybackRequest())
        assert info.value.status == 422
        assert info.value.code == "no_playable_method"
        assert decide(s.WEBM_VP9_OPUS, vp9_only, PlaybackRequest()).method == "direct"

    def test_device_without_hls_gets_a_progressive_stream(self) -> None:
        no_hls = profile_from_dict(
            {"containers": ["mp4"], "video": ["h264"], "audio": ["aac"], "hls": False}
        )
        d = decide(s.TS_H264_AC3, no_hls, PlaybackRequest())
        assert (d.method, d.progressive, d.hls) == ("remux", "mp4", False)
        assert d.video is not None
        assert d.video.action == "copy"
        assert d.audio is not None
        assert (d.audio.action, d.audio.codec) == ("transcode", "aac")
        assert "container_not_supported" in d.reasons
        hevc = decide(s.MKV_HEVC10_HDR10, no_hls, PlaybackRequest())
        assert (hevc.method, hevc.progressive) == ("transcode", "mp4")
        assert decide(s.MP4_H264_AAC, no_hls, PlaybackRequest()).method == "direct"

    def test_device_without_hls_mp4_or_matroska(self) -> None:
        webm_only = profile_from_dict(
            {"containers": ["webm"], "video": ["h264"], "audio": ["aac"], "hls": False}
        )
        with pytest.raises(NoPlayableMethod, match="doesn't support HLS"):
            decide(s.TS_H264_AC3, webm_only, PlaybackRequest())

    def test_device_without_aac_when_audio_must_be_transcoded(self) -> None:
        no_aac = profile_from_dict({"containers": ["mp4"], "video": ["h264"], "audio": ["opus"]})
        with pytest.raises(NoPlayableMethod, match="doesn't decode AAC"):
            decide(s.TS_H264_AC3, no_aac, PlaybackRequest())

    def test_bad_request_values(self) -> None:
        chrome = get_profile("chrome")
        for request_, field in (
            (PlaybackRequest(max_bitrate=10), "max_bitrate"),
            (PlaybackRequest(max_height=10), "max_height"),
            (PlaybackRequest(start_s=-1), "start_s"),
        ):
            with pytest.raises(Unprocessable, match=field):
                decide(s.MP4_H264_AAC, chrome, request_)
