"""RFC 6381 codec strings from real encoder output (PyAV) and hand-built corner cases."""

from __future__ import annotations

import io
from fractions import Fraction
from functools import cache

import av
import pytest

from ferrite.media.codecs import UnsupportedCodec, codec_string, video_range
from ferrite.media.info import Stream


@cache
def encoded(
    codec: str, pix_fmt: str, container: str, options: tuple[tuple[str, str], ...]
) -> Stream:
    """Encode 3 tiny frames, mux, demux again, and describe the stream as the probe would."""
    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        stream = out.add_stream(codec, rate=25, options=dict(options))
        stream.width, stream.height, stream.pix_fmt = 64, 64, pix_fmt
        for i in range(3):
            frame = av.VideoFrame(64, 64, "yuv420p").reformat(format=pix_fmt)
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    buf.seek(0)
    with av.open(buf) as inp:
        s = inp.streams.video[0]
        cc = s.codec_context
        return Stream(
            index=0,
            type="video",
            codec=cc.name,
            profile=cc.profile,
            level=cc.level,
            width=cc.width,
            height=cc.height,
            frame_rate=Fraction(25),
            pix_fmt=cc.format.name if cc.format else None,
            extradata=bytes(cc.extradata or b""),
            codec_tag=s.codec_tag or None,
        )


X265_QUIET = ("x265-params", "log-level=error:level-idc=40")


def test_x264_high_40_avcc() -> None:
    s = encoded("libx264", "yuv420p", "mp4", (("profile", "high"), ("level", "4.0")))
    assert s.extradata is not None
    assert s.extradata[:4] == bytes([1, 0x64, 0x00, 0x28])  # really an avcC
    assert codec_string(s) == "avc1.640028"


def test_x264_in_mpegts_reads_the_annex_b_sps() -> None:
    s = encoded("libx264", "yuv420p", "mpegts", (("profile", "high"), ("level", "4.0")))
    assert s.extradata is not None
    assert s.extradata.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01"))  # Annex B
    assert codec_string(s) == "avc1.640028"


@pytest.mark.parametrize(
    ("profile", "level", "expected"),
    [("baseline", "3.0", "avc1.42c01e"), ("main", "3.1", "avc1.4d401f")],
)
def test_x264_other_profiles(profile: str, level: str, expected: str) -> None:
    s = encoded("libx264", "yuv420p", "mp4", (("profile", profile), ("level", level)))
    assert codec_string(s) == expected


def test_x265_main10_hvcc() -> None:
    s = encoded("libx265", "yuv420p10le", "mp4", (("profile", "main10"), X265_QUIET))
    # What x265 writes (decoded by hand from its hvcC): profile_space 0, tier flag 1
    # (x265 defaults to high-tier=1), profile_idc 2, compatibility flag 2 only, constraint
    # bytes 90 00 00 00 00 00 (progressive_source + frame_only), general_level_idc 120.
    assert s.extradata is not None
    assert s.extradata[1:13].hex() == "222000000090000000000078"
    assert codec_string(s) == "hvc1.2.4.H120.90"


def test_x265_in_mpegts_parses_sps_with_emulation_prevention() -> None:
    s = encoded("libx265", "yuv420p10le", "mpegts", (("profile", "main10"), X265_QUIET))
    assert s.extradata is not None
    assert b"\x00\x00\x03" in s.extradata  # the PTL really is escaped in the byte stream
    assert codec_string(s) == "hvc1.2.4.H120.90"


def test_x265_main_low_tier() -> None:
    params = ("x265-params", "log-level=error:level-idc=31:no-high-tier=1")
    s = encoded("libx265", "yuv420p", "mp4", (("profile", "main"), params))
    assert codec_string(s) == "hvc1.1.6.L93.90"


def test_svt_av1_av1c() -> None:
    s = encoded("libsvtav1", "yuv420p10le", "mp4", (("preset", "12"),))
    assert s.extradata is not None
    assert s.extradata[0] == 0x81
    assert codec_string(s) == "av01.0.00M.10"


def test_vp9_from_profile_and_resolution() -> None:
    options = (("deadline", "realtime"), ("cpu-used", "8"))
    s = encoded("libvpx-vp9", "yuv420p", "mp4", options)
    assert codec_string(s) == "vp09.00.10.08"  # 64x64 at 25 fps fits level 1


# -- hand-built bytes -------------------------------------------------------------------


def video(codec: str, extradata: bytes | None = None, **kw: object) -> Stream:
    return Stream(index=0, type="video", codec=codec, extradata=extradata, **kw)  # type: ignore[arg-type]


def audio(codec: str, extradata: bytes | None = None, **kw: object) -> Stream:
    return Stream(index=1, type="audio", codec=codec, extradata=extradata, **kw)  # type: ignore[arg-type]


def test_avc_annex_b_with_three_byte_start_codes_and_aud() -> None:
    data = bytes.fromhex("0000010910000001674d401fecA000000168ee3c80")
    assert codec_string(video("h264", data)) == "avc1.4d401f"


def test_avc_fallbacks() -> None:
    assert codec_string(video("h264", profile="Main", level=31)) == "avc1.4d401f"
    assert codec_string(video("h264", profile="High 10", level=51)) == "avc1.6e0033"
    assert codec_string(video("h264", profile="Constrained Baseline", level=30)) == "avc1.42c01e"
    # No level: from the picture size and rate (1080p30 is level 4.0; 4K30 is 5.1).
    assert codec_string(video("h264", profile="High", width=1920, height=1080)) == "avc1.640028"
    s = video("h264", profile="High", width=3840, height=2160, frame_rate=Fraction(30))
    assert codec_string(s) == "avc1.640033"
    assert codec_string(video("h264", profile="High", level=-99, width=1280, height=720)) == (
        "avc1.64001f"
    )
    assert codec_string(video("libx264")) == "avc1.640028"  # unknown everything: High 4.0


def hvcc(ptl: str) -> bytes:
    """An hvcC prefix: configurationVersion 1 then the 12 general PTL bytes (enough here)."""
    return bytes.fromhex("01" + ptl) + bytes(10)


def test_hevc_hvcc_corner_cases() -> None:
    # Main, main-tier, level 3.1, with the usual B0 constraint byte.
    assert codec_string(video("hevc", hvcc("0160000000b000000000005d"))) == ("hvc1.1.6.L93.B0")
    # profile_space 1 (A), high tier, Rext (4) with compat flag 4, several constraint bytes
    # with a zero in the middle kept and trailing zeros dropped.
    assert codec_string(video("hevc", hvcc("64080000009f008000000099"))) == (
        "hvc1.A4.10.H153.9F.0.80"
    )
    # All constraint bytes zero: the whole tail is omitted.
    assert codec_string(video("hevc", hvcc("02200000000000000000005a"))) == ("hvc1.2.4.L90")
    # Source said hev1; the packager writes hvc1 sample entries, so the string is hvc1.
    s = video("hevc", hvcc("016000000090000000000078"), codec_tag="hev1")
    assert codec_string(s).startswith("hvc1.")


def test_hevc_annex_b_vps_only() -> None:
    # A VPS whose PTL (22 20000000 900000000000 78) is escaped with 00 00 03.
    vps = "40010c01ffff222000000300900000030000030078959809"
    assert codec_string(video("hevc", bytes.fromhex("00000001" + vps))) == "hvc1.2.4.H120.90"


def test_hevc_fallbacks() -> None:
    assert codec_string(video("hevc", profile="Main 10", level=153)) == "hvc1.2.4.L153.B0"
    assert codec_string(video("hevc", profile="Main", level=120)) == "hvc1.1.6.L120.B0"
    s = video("hevc", profile="Main", width=3840, height=2160, frame_rate=Fraction(24))
    assert codec_string(s) == "hvc1.1.6.L150.B0"
    s = video("hevc", profile="Main", level=93, field_order="tt")
    assert codec_string(s) == "hvc1.1.6.L93"


def test_av1_av1c_corner_cases() -> None:
    # Profile 2, level idx 13 (5.1), high tier, 12-bit.
    assert codec_string(video("av1", bytes.fromhex("814de0"))) == "av01.2.13H.12"
    # Profile 0, level 8 (4.0), 8-bit.
    assert codec_string(video("av1", bytes.fromhex("81080c"))) == "av01.0.08M.08"
    s = video("libdav1d", profile="Main", level=9, pix_fmt="yuv420p10le")
    assert codec_string(s) == "av01.0.09M.10"
    s = video("av1", width=3840, height=2160, frame_rate=Fraction(60), bit_depth=10)
    assert codec_string(s) == "av01.0.13M.10"


def test_vp9_fallbacks() -> None:
    s = video("vp9", profile="Profile 2", width=3840, height=2160, pix_fmt="yuv420p10le")
    assert codec_string(s) == "vp09.02.50.10"  # 4K at 30 fps (the default) is level 5
    s = video("vp9", width=1920, height=1080, pix_fmt="yuv444p")
    assert codec_string(s) == "vp09.01.40.08"
    s = video("vp9", width=1920, height=1080, pix_fmt="yuv420p12le", frame_rate=Fraction(60))
    assert codec_string(s) == "vp09.02.41.12"


def asc(*fields: tuple[int, int]) -> bytes:
    """Pack (value, bit width) fields MSB first into bytes (an AudioSpecificConfig)."""
    bits = "".join(f"{v:0{n}b}" for v, n in fields)
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


@pytest.mark.parametrize(
    ("extradata", "profile", "expected"),
    [
        (bytes.fromhex("1190"), None, "mp4a.40.2"),  # real: PyAV's aac encoder, 48 kHz stereo
        (bytes.fromhex("119056e500"), "LC", "mp4a.40.2"),  # with a no-SBR sync extension
        (asc((5, 5), (6, 4), (1, 4), (3, 4), (2, 5)), None, "mp4a.40.5"),  # explicit SBR
        (asc((29, 5), (6, 4), (1, 4), (3, 4), (2, 5)), None, "mp4a.40.29"),  # explicit PS
        (asc((31, 5), (10, 6), (3, 4), (2, 4)), None, "mp4a.40.42"),  # escaped AOT: USAC
        (asc((1, 5), (4, 4), (2, 4)), None, "mp4a.40.1"),  # AAC Main
        (bytes.fromhex("1190"), "HE-AAC", "mp4a.40.5"),  # backward-compatible signalling
        (bytes.fromhex("1190"), "HE-AACv2", "mp4a.40.29"),
        (None, "LC", "mp4a.40.2"),  # ADTS in MPEG-TS: no extradata
        (None, "HE-AAC", "mp4a.40.5"),
        (None, None, "mp4a.40.2"),
    ],
)
def test_aac(extradata: bytes | None, profile: str | None, expected: str) -> None:
    assert codec_string(audio("aac", extradata, profile=profile)) == expected


@pytest.mark.parametrize(
    ("codec", "profile", "expected"),
    [
        ("mp3", None, "mp4a.40.34"),
        ("mp3float", None, "mp4a.40.34"),
        ("ac3", None, "ac-3"),
        ("eac3", None, "ec-3"),
        ("opus", None, "Opus"),
        ("libopus", None, "Opus"),
        ("flac", None, "fLaC"),
        ("alac", None, "alac"),
        ("dts", "DTS", "dtsc"),
        ("dts", "DTS-HD MA", "dtsh"),
        ("dts", "DTS-HD MA + DTS:X", "dtsx"),
        ("dts", "DTS Express", "dtse"),
        ("truehd", None, "mlpa"),
    ],
)
def test_fixed_audio_strings(codec: str, profile: str | None, expected: str) -> None:
    assert codec_string(audio(codec, profile=profile)) == expected


def test_unknown_codec_is_an_error() -> None:
    with pytest.raises(UnsupportedCodec, match="pcm_s16le"):
        codec_string(audio("pcm_s16le"))
    with pytest.raises(ValueError, match="mpeg2video"):
        codec_string(video("mpeg2video"))


def test_video_range() -> None:
    assert video_range(video("hevc", color_transfer="smpte2084")) == "PQ"
    assert video_range(video("hevc", color_transfer="arib-std-b67")) == "HLG"
    assert video_range(video("h264", color_transfer="bt709")) == "SDR"
    assert video_range(video("h264")) == "SDR"
    assert video_range(video("hevc", hdr="hdr10")) == "PQ"
    assert video_range(video("hevc", hdr="hlg", color_transfer="unknown")) == "HLG"
    assert video_range(video("hevc", hdr="dolby_vision")) == "PQ"
