"""Representative probed files (MediaInfo values) for the decision and ladder tests."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from typing import Any

from ferrite.media.info import MediaInfo, Stream, SubtitleTrack

_VIDEO = Stream(
    index=0,
    type="video",
    codec="h264",
    profile="High",
    level=40,
    width=1920,
    height=1080,
    frame_rate=Fraction(24000, 1001),
    bit_depth=8,
    pix_fmt="yuv420p",
    field_order="progressive",
)


def video(**kw: Any) -> Stream:
    return replace(_VIDEO, **kw)


def audio(index: int = 1, codec: str = "aac", channels: int = 2, **kw: Any) -> Stream:
    return Stream(
        index=index, type="audio", codec=codec, channels=channels, sample_rate=48000, **kw
    )


def sub(index: int, codec: str, **kw: Any) -> Stream:
    return Stream(index=index, type="subtitle", codec=codec, **kw)


MP4_H264_AAC = MediaInfo(
    container="mp4",
    duration_s=5400.0,
    bitrate=8_000_000,
    streams=(video(bitrate=7_800_000), audio(profile="LC", bitrate=160_000, default=True)),
)

MKV_HEVC10_HDR10 = MediaInfo(
    container="matroska",
    duration_s=7200.0,
    bitrate=40_000_000,
    streams=(
        video(
            codec="hevc",
            profile="Main 10",
            level=150,
            width=3840,
            height=2160,
            bit_depth=10,
            pix_fmt="yuv420p10le",
            hdr="hdr10",
            color_transfer="smpte2084",
            color_primaries="bt2020",
            color_space="bt2020nc",
            color_range="tv",
        ),
        audio(1, "ac3", 6, default=True, bitrate=640_000, language="eng"),
        audio(2, "aac", 2, bitrate=160_000, language="fre"),
        sub(3, "subrip", language="eng", default=True),
        sub(4, "ass", language="spa"),
    ),
    subtitles=(
        SubtitleTrack(codec="subrip", stream_index=3, language="eng", default=True),
        SubtitleTrack(codec="ass", stream_index=4, language="spa"),
    ),
)

WEBM_VP9_OPUS = MediaInfo(
    container="webm",
    duration_s=600.0,
    bitrate=3_000_000,
    streams=(
        video(codec="vp9", profile="Profile 0", level=None, frame_rate=Fraction(30)),
        audio(1, "opus", 2, default=True),
    ),
)

TS_H264_AC3 = MediaInfo(
    container="mpegts",
    duration_s=3600.0,
    bitrate=12_000_000,
    start_time_s=1.4,
    streams=(
        video(level=41, frame_rate=Fraction(30000, 1001)),
        audio(1, "ac3", 6, bitrate=448_000),
    ),
)

TS_MPEG2_INTERLACED = MediaInfo(
    container="mpegts",
    duration_s=1800.0,
    bitrate=6_000_000,
    streams=(
        video(
            codec="mpeg2video",
            profile="Main",
            level=8,
            width=720,
            height=576,
            frame_rate=Fraction(25),
            field_order="tt",
        ),
        audio(1, "mp2", 2, bitrate=256_000),
    ),
)

MKV_H264_PGS = MediaInfo(
    container="matroska",
    duration_s=6000.0,
    bitrate=10_000_000,
    streams=(
        video(level=41),
        audio(1, "aac", 2, default=True),
        sub(2, "hdmv_pgs_subtitle", language="eng"),
        sub(3, "subrip", language="eng"),
    ),
)

MP4_H264_4K60_HIGH_BITRATE = MediaInfo(
    container="mp4",
    duration_s=600.0,
    bitrate=60_000_000,
    streams=(
        video(level=51, width=3840, height=2160, frame_rate=Fraction(60), bitrate=59_000_000),
        audio(1, "aac", 2, default=True, bitrate=192_000),
    ),
)

MKV_FLAC_ONLY = MediaInfo(
    container="matroska",
    duration_s=240.0,
    bitrate=900_000,
    streams=(audio(0, "flac", 2, default=True),),
)
