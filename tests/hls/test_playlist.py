"""Playlist rendering: golden files, RFC 8216 lint, exact durations, bandwidth math."""

from __future__ import annotations

import math
import os
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path

import m3u8
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferrite.hls.plan import make_plans
from ferrite.hls.playlist import (
    AudioRendition,
    Bandwidth,
    SubtitleRendition,
    Variant,
    estimate_bandwidth,
    measure_bandwidth,
    render_master_playlist,
    render_media_playlist,
    target_duration,
)
from ferrite.media.info import KeyframeIndex
from tests.hls.m3u8lint import lint_master, lint_media

GOLDEN = Path(__file__).parents[1] / "resources" / "hls"


def golden(name: str, text: str) -> None:
    """Compare with tests/resources/hls/<name>; FERRITE_UPDATE_GOLDEN=1 rewrites it."""
    path = GOLDEN / name
    if os.environ.get("FERRITE_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8", newline="\n")
    assert text == path.read_text(encoding="utf-8")


def film_plan():  # type: ignore[no-untyped-def]
    # 23.976 fps in Matroska's 1 ms time base: 1.001 s GOPs, then a scene cut, 20.5 s long.
    pts = [*range(0, 12_000, 1001), 12_500, 13_000, *range(14_014, 20_000, 1001)]
    index = KeyframeIndex(0, Fraction(1, 1000), tuple(pts), 20_500)
    return make_plans(index, duration_s=20.5).copy


def test_media_playlist_fmp4_golden() -> None:
    plan = film_plan()
    text = render_media_playlist(
        plan.durations(), lambda i: f"{i}.m4s?t=tok3n", map_uri="init.mp4?t=tok3n"
    )
    golden("media_fmp4.m3u8", text)
    assert lint_media(text) == []


def test_media_playlist_ts_golden() -> None:
    plan = make_plans(None, duration_s=9.3, start_s=36000.0, target_s=4.0).grid
    text = render_media_playlist(plan.durations(), lambda i: f"seg{i}.ts")
    golden("media_ts.m3u8", text)
    assert lint_media(text) == []
    assert "#EXT-X-VERSION:3\n" in text
    assert "EXT-X-MAP" not in text


def master_inputs() -> tuple[list[Variant], list[AudioRendition], list[SubtitleRendition]]:
    variants = [
        Variant("copy/index.m3u8", 18_000_000, 11_000_000, "hvc1.2.4.L150.B0", (3840, 2160),
                24000 / 1001, "PQ", "aac", "subs"),
        Variant("1080/index.m3u8", 8_000_000, 6_000_000, "avc1.640028", (1920, 1080),
                24000 / 1001, "SDR", "aac", "subs"),
        Variant("720/index.m3u8", 4_000_000, 3_000_000, "avc1.64001f", (1280, 720), 23.976,
                "SDR", "aac", "subs"),
    ]  # fmt: skip
    audio = [
        AudioRendition("aac", "English", "a/0/index.m3u8", "mp4a.40.2", "en", 2, True,
                       bandwidth=200_000, average_bandwidth=130_000),
        AudioRendition("aac", 'Director\'s "Commentary"\nTrack', "a/1/index.m3u8",
                       "mp4a.40.2", "en", 2, bandwidth=150_000, average_bandwidth=100_000),
        AudioRendition("aac", "French", "a/2/index.m3u8", "mp4a.40.5", "fr", 6, True,
                       bandwidth=100_000, average_bandwidth=64_000),
    ]  # fmt: skip
    subtitles = [
        SubtitleRendition("subs", "English", "s/0/index.m3u8", "en", default=True),
        SubtitleRendition("subs", "English", "s/1/index.m3u8", "en", autoselect=False),
        SubtitleRendition("subs", "Spanish (signs)", "s/2/index.m3u8", "es", forced=True,
                          autoselect=False),
    ]  # fmt: skip
    return variants, audio, subtitles


def test_master_playlist_golden() -> None:
    text = render_master_playlist(*master_inputs())
    golden("master.m3u8", text)
    assert lint_master(text) == []


def test_master_playlist_rules() -> None:
    text = render_master_playlist(*master_inputs())
    lines = text.splitlines()
    media = [line for line in lines if line.startswith("#EXT-X-MEDIA:")]
    # Quotes and newlines in names are sanitized; duplicate names are made unique.
    assert "NAME=\"Director's 'Commentary' Track\"" in media[1]
    assert 'NAME="English (2)"' in media[4]
    # Only the first DEFAULT=YES of a group survives; AUTOSELECT follows DEFAULT and FORCED.
    assert "DEFAULT=YES" in media[0]
    assert "DEFAULT=NO" in media[2]
    assert "AUTOSELECT=YES,FORCED=YES" in media[5]
    # Variants add the audio group's codecs and largest audio bandwidth.
    first = next(line for line in lines if line.startswith("#EXT-X-STREAM-INF:"))
    assert 'CODECS="hvc1.2.4.L150.B0,mp4a.40.2,mp4a.40.5"' in first
    assert "BANDWIDTH=18200000,AVERAGE-BANDWIDTH=11130000" in first
    assert "FRAME-RATE=23.976" in first
    parsed = m3u8.loads(text)
    assert [p.uri for p in parsed.playlists] == [
        "copy/index.m3u8",
        "1080/index.m3u8",
        "720/index.m3u8",
    ]
    assert parsed.playlists[0].stream_info.resolution == (3840, 2160)


def test_audio_only_master() -> None:
    audio = [AudioRendition("a", "English", "a/0.m3u8", "mp4a.40.2", "en", 2, True, 64000, 64000)]
    text = render_master_playlist(
        [Variant("a/0.m3u8", 64_000, 64_000, "mp4a.40.2", audio_group="a")], audio
    )
    assert "RESOLUTION" not in text
    assert "VIDEO-RANGE" not in text
    assert 'CODECS="mp4a.40.2"' in text  # not repeated from the group
    assert lint_master(text) == []


def test_master_rejects_unknown_groups_and_bad_values() -> None:
    v = Variant("v.m3u8", 1000, 1000, "avc1.640028", (640, 360), 25.0, "SDR", audio_group="x")
    with pytest.raises(ValueError, match="audio group 'x'"):
        render_master_playlist([v])
    v = Variant("v.m3u8", 1000, 1000, "avc1.640028", subtitles_group="s")
    with pytest.raises(ValueError, match="subtitles group 's'"):
        render_master_playlist([v])
    with pytest.raises(ValueError, match="URI"):
        render_master_playlist([Variant("v.m3u8\n#EXT-X-ENDLIST", 1, 1, "avc1.640028")])
    with pytest.raises(ValueError, match="GROUP-ID"):
        render_master_playlist(
            [Variant("v.m3u8", 1, 1, "avc1.640028")],
            [AudioRendition('a"b', "A", "a.m3u8", "mp4a.40.2")],
        )
    with pytest.raises(ValueError, match="bandwidth"):
        render_master_playlist([Variant("v.m3u8", 0, 0, "avc1.640028")])
    with pytest.raises(ValueError, match="at least one variant"):
        render_master_playlist([])


def test_language_tags_that_are_not_bcp47_are_left_out() -> None:
    audio = [
        AudioRendition("a", "One", "1.m3u8", "mp4a.40.2", "pt-BR", 2),
        AudioRendition("a", "Two", "2.m3u8", "mp4a.40.2", "english (US)", 2),
    ]
    text = render_master_playlist([Variant("v.m3u8", 1, 1, "avc1.640028", audio_group="a")], audio)
    assert 'LANGUAGE="pt-BR"' in text
    assert "english" not in text


def test_media_playlist_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="at least one segment"):
        render_media_playlist([], str)
    with pytest.raises(ValueError, match="positive"):
        render_media_playlist([2.0, 0.0], str)
    with pytest.raises(ValueError, match="URI"):
        render_media_playlist([2.0], lambda i: "#0.ts")
    with pytest.raises(ValueError, match="URI"):
        render_media_playlist([2.0], str, map_uri='init".mp4')


def extinf_values(text: str) -> list[Decimal]:
    return [
        Decimal(line[len("#EXTINF:") :].rstrip(","))
        for line in text.splitlines()
        if line.startswith("#EXTINF:")
    ]


@settings(max_examples=80, deadline=None)
@given(
    gops=st.lists(st.integers(1, 400_000), min_size=1, max_size=3000),
    target_s=st.sampled_from([1.0, 2.0, 6.0]),
    tb=st.sampled_from([Fraction(1, 90000), Fraction(1, 1000), Fraction(1001, 24000)]),
)
def test_extinf_sums_to_the_plan_duration(gops: list[int], target_s: float, tb: Fraction) -> None:
    pts = [36_000 * 90_000]
    for g in gops[:-1]:
        pts.append(pts[-1] + g)
    plans = make_plans(
        KeyframeIndex(0, tb, tuple(pts), pts[-1] + gops[-1]), duration_s=1.0, target_s=target_s
    )
    plan = plans.copy or plans.grid
    text = render_media_playlist(plan.durations(), lambda i: f"{i}.m4s", map_uri="init.mp4")
    values = extinf_values(text)
    assert len(values) == len(plan)
    # The running-total rounding keeps the sum within a microsecond, whatever the count.
    assert abs(float(sum(values)) - plan.total_duration) <= 1e-6
    # And every EXTINF is within a microsecond of its segment's real duration.
    assert all(abs(float(v) - d) <= 1e-6 for v, d in zip(values, plan.durations(), strict=True))
    target = int(text.split("#EXT-X-TARGETDURATION:")[1].split("\n")[0])
    assert all(int(v.to_integral_value(rounding=ROUND_HALF_UP)) <= target for v in values)
    assert target == target_duration(plan.durations())
    assert lint_media(text) == []


def test_target_duration_rounds_half_up() -> None:
    assert target_duration([2.0, 2.5]) == 3
    assert target_duration([2.0, 2.4999]) == 2
    assert target_duration([0.2]) == 1  # never 0


def test_measure_bandwidth_uses_rfc_windows() -> None:
    # Target duration 2: windows of 1..3 s. Segment 2 alone (2 s at 8 Mbit/s) is the peak.
    sizes = [250_000, 250_000, 2_000_000, 250_000]
    durations = [2.0, 2.0, 2.0, 2.0]
    bw = measure_bandwidth(sizes, durations)
    assert bw == Bandwidth(peak=8_000_000, average=math.ceil(8 * 2_750_000 / 8.0))
    # A 0.4 s runt is too short to be a window on its own.
    bw = measure_bandwidth([500_000, 100_000], [2.0, 0.4])
    assert bw.peak == math.ceil(8 * 600_000 / 2.4)
    # A single tiny segment: no window qualifies, the average is the peak.
    assert measure_bandwidth([1000], [0.3]) == Bandwidth(26_667, 26_667)
    with pytest.raises(ValueError, match="one size per segment"):
        measure_bandwidth([1, 2], [1.0])


def test_estimate_bandwidth() -> None:
    assert estimate_bandwidth(1_000_000) == Bandwidth(peak=2_100_000, average=1_050_000)
    assert estimate_bandwidth(1_000_000, peak_bitrate=1_500_000, overhead=0.0) == Bandwidth(
        1_500_000, 1_000_000
    )
    # A cap below the average cannot make the peak smaller than the average.
    assert estimate_bandwidth(1_000_000, peak_bitrate=10, overhead=0.0).peak == 1_000_000
    with pytest.raises(ValueError, match="positive"):
        estimate_bandwidth(0)


def test_m3u8_package_reads_what_we_write() -> None:
    plan = film_plan()
    text = render_media_playlist(plan.durations(), lambda i: f"{i}.m4s", map_uri="init.mp4")
    parsed = m3u8.loads(text)
    assert parsed.version == 6
    assert parsed.playlist_type == "vod"
    assert parsed.is_endlist
    assert parsed.is_independent_segments
    assert parsed.segment_map[0].uri == "init.mp4"
    assert [s.uri for s in parsed.segments] == [f"{i}.m4s" for i in range(len(plan))]
    assert math.isclose(sum(s.duration for s in parsed.segments), 20.5, abs_tol=1e-6)
