"""The packager's pure parts: bitstream re-framing, fMP4 boxes, timeline rules. No media."""

from __future__ import annotations

import struct
from fractions import Fraction

import pytest

from ferrite.hls import fmp4, mpegts, timeline
from ferrite.hls.timeline import Span
from ferrite.media import bitstream

# --- bitstream ---------------------------------------------------------------------------

SPS = bytes([0x67, 0x64, 0x00, 0x1F, 0xAC])
PPS = bytes([0x68, 0xEE, 0x3C, 0x80])
IDR = bytes([0x65, 0x88, 0x84, 0x00, 0x00, 0x03, 0x00, 0x10])  # contains emulation prevention
AUD = bytes([0x09, 0xF0])


def annexb(*nals: bytes, long: bool = True) -> bytes:
    code = b"\x00\x00\x00\x01" if long else b"\x00\x00\x01"
    return b"".join(code + n for n in nals)


def lp(*nals: bytes, size: int = 4) -> bytes:
    return b"".join(len(n).to_bytes(size, "big") + n for n in nals)


def test_annexb_to_length_prefixed_keeps_every_nal() -> None:
    data = annexb(AUD, SPS, PPS) + annexb(IDR, long=False)
    out = bitstream.to_length_prefixed(data, source_length_size=None, codec="h264")
    assert out == lp(AUD, SPS, PPS, IDR)
    assert bitstream.split_length_prefixed(out) == [AUD, SPS, PPS, IDR]


def test_trailing_zero_bytes_belong_to_no_nal() -> None:
    data = annexb(SPS) + b"\x00\x00" + annexb(IDR)
    assert bitstream.split_annexb(data) == [SPS, IDR]


def test_length_prefixed_resized_and_hevc_parameter_sets_dropped() -> None:
    vps, sps, pps = b"\x40\x01\xaa", b"\x42\x01\xbb", b"\x44\x01\xcc"
    slice_ = b"\x26\x01\xaf\x12"  # IDR_W_RADL
    src = lp(vps, sps, pps, slice_, size=2)
    out = bitstream.to_length_prefixed(
        src, source_length_size=2, codec="hevc", drop_types=bitstream.HEVC_PARAMETER_SETS
    )
    assert out == lp(slice_)


@pytest.mark.parametrize(
    "bad",
    [
        lp(SPS)[:-1],  # truncated NAL
        b"\x00\x00\x10\x00" + IDR,  # length overruns the sample
        lp(bytes([0xE5, 0x00])),  # forbidden_zero_bit set
        b"",
    ],
)
def test_garbage_is_not_a_length_prefixed_sample(bad: bytes) -> None:
    with pytest.raises(bitstream.BitstreamError):
        bitstream.check_length_prefixed(bad, 4)


def test_nal_length_size_reads_avcc_and_hvcc() -> None:
    avcc = bytes([1, 0x64, 0, 0x1F, 0xFF, 0xE1]) + b"\x00\x05" + SPS
    assert bitstream.nal_length_size(avcc, "h264") == 4
    assert bitstream.nal_length_size(bytes([1, 0x64, 0, 0x1F, 0xFD, 0xE1]), "h264") == 2
    hvcc = bytes([1]) + bytes(20) + bytes([0xF3]) + bytes([0])
    assert bitstream.nal_length_size(hvcc, "hevc") == 4
    assert bitstream.nal_length_size(annexb(SPS), "h264") is None
    assert bitstream.nal_length_size(None, "h264") is None


def test_adts_round_trip() -> None:
    asc = bytes([0x11, 0x90])  # AAC-LC, 48 kHz, stereo
    raw = bytes(range(50))
    frame = bitstream.adts_frame(asc, raw)
    header = bitstream.adts_header(frame)
    assert header is not None
    assert (header.profile, header.sample_rate, header.channel_config) == (1, 48000, 2)
    assert header.frame_size == len(frame) == len(raw) + 7
    assert bitstream.strip_adts(frame) == raw
    assert bitstream.audio_specific_config(header) == asc
    assert bitstream.strip_adts(raw) == raw  # no ADTS: untouched


def test_truncated_adts_frame_is_an_error() -> None:
    frame = bitstream.adts_frame(bytes([0x11, 0x90]), bytes(50))
    with pytest.raises(bitstream.BitstreamError):
        bitstream.strip_adts(frame[:30])


# --- fMP4 --------------------------------------------------------------------------------


def test_fragment_layout_and_round_trip() -> None:
    samples = [
        fmp4.Sample(b"I" * 10, 512, True, 1024),
        fmp4.Sample(b"P" * 7, 512, False, 1536),
        fmp4.Sample(b"B" * 3, 512, False, -512),
    ]
    data = fmp4.fragment(5, 1, 2**40, samples)
    assert [t for t, _ in fmp4.split_top_level(data)] == ["moof", "mdat"]
    (frag,) = fmp4.read_fragment(data)
    assert (frag.sequence, frag.track_id, frag.base_decode_time) == (5, 1, 2**40)
    assert frag.samples == samples
    moof = fmp4.parse_boxes(data)[0]
    tfhd = moof.find("traf/tfhd")
    trun = moof.find("traf/trun")
    assert tfhd is not None
    assert trun is not None
    assert struct.unpack(">I", tfhd.payload[:4])[0] & 0x020000  # default-base-is-moof
    assert trun.payload[0] == 1  # version 1: signed composition offsets
    # data_offset points at the first sample, just after the mdat header
    (offset,) = struct.unpack_from(">i", trun.payload, 8)
    assert data[offset : offset + 10] == b"I" * 10


def test_fragment_refuses_negative_decode_time() -> None:
    with pytest.raises(ValueError, match="negative"):
        fmp4.fragment(1, 1, -1, [fmp4.Sample(b"x", 1)])


def _box(type_: str, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), type_.encode()) + payload


def _ffmpeg_like_init() -> bytes:
    tkhd = (
        struct.pack(">IIIIII", 7, 11, 12, 1, 0, 999)
        + bytes(8)
        + bytes(44)
        + struct.pack(">II", 320 << 16, 180 << 16)
    )
    mdhd = struct.pack(">IIIII", 0, 11, 12, 12288, 999) + b"\x15\xc7" + b"\x00\x00"
    hdlr = bytes(8) + b"vide" + bytes(12) + b"VideoHandler\x00"
    entry = _box("avc1", bytes(78))
    stsd = _box("stsd", struct.pack(">II", 0, 1) + entry)
    stbl = _box("stbl", stsd + _box("stts", bytes(8)))
    minf = _box("minf", _box("vmhd", bytes(12)) + stbl)
    mdia = _box("mdia", _box("mdhd", mdhd) + _box("hdlr", hdlr) + minf)
    edts = _box("edts", _box("elst", bytes(20)))
    trak = _box("trak", _box("tkhd", tkhd) + edts + mdia)
    moov = _box("moov", _box("mvhd", bytes(100)) + trak + _box("udta", _box("meta", bytes(8))))
    return _box("ftyp", b"iso5\x00\x00\x02\x00iso6mp41") + moov + _box("moof", bytes(8))


def test_normalize_init_makes_a_fixed_single_track_moov() -> None:
    out = fmp4.normalize_init(_ffmpeg_like_init(), timescale=90000)
    boxes = fmp4.parse_boxes(out)
    assert [b.type for b in boxes] == ["ftyp", "moov"]
    moov = boxes[1]
    assert [c.type for c in moov.children or ()] == ["mvhd", "trak", "mvex"]
    trak = moov.child("trak")
    assert trak is not None
    assert trak.child("edts") is None
    info = fmp4.init_info(out)
    assert info == fmp4.InitInfo(90000, 1, "vide", "avc1")
    mdhd = trak.find("mdia/mdhd")
    assert mdhd is not None
    assert mdhd.payload[20:22] == b"\x15\xc7"
    tkhd = trak.child("tkhd")
    assert tkhd is not None
    assert tkhd.payload[-8:] == struct.pack(">II", 320 << 16, 180 << 16)
    trex = moov.find("mvex/trex")
    assert trex is not None
    assert struct.unpack_from(">I", trex.payload, 4)[0] == 1
    assert fmp4.normalize_init(out, timescale=90000) == out  # idempotent


def test_boxes_with_impossible_sizes_are_rejected() -> None:
    with pytest.raises(fmp4.BoxError):
        fmp4.parse_boxes(struct.pack(">I4s", 100, b"moov"))


# --- timeline ----------------------------------------------------------------------------


def test_timeline_offset_is_whole_seconds_covering_negative_starts() -> None:
    assert timeline.timeline_offset(0.0) == 10
    assert timeline.timeline_offset(None) == 10
    assert timeline.timeline_offset(36000.0) == 10
    assert timeline.timeline_offset(-0.021) == 11
    assert timeline.timeline_offset(Fraction(-5, 2)) == 13


def test_mpegts_timestamp_map_wraps_at_33_bits() -> None:
    assert timeline.mpegts_timestamp_map(10) == 900000
    assert timeline.mpegts_timestamp_map(10, Fraction(95443)) == (95453 * 90000) % (1 << 33)


def test_spans_are_open_at_both_ends() -> None:
    b = [Fraction(0), Fraction(2), Fraction(4)]
    assert timeline.spans(b) == [
        Span(0, None, Fraction(2)),
        Span(1, Fraction(2), Fraction(4)),
        Span(2, Fraction(4), None),
    ]
    assert timeline.span(b, 1).contains(Fraction(2))
    assert not timeline.span(b, 1).contains(Fraction(4))
    with pytest.raises(IndexError):
        timeline.span(b, 3)


def test_derived_decode_times_butt_between_segments() -> None:
    # I P B B | I P B B in decode order, frame = 10 ticks: one frame of reorder delay.
    seg0 = [0, 30, 10, 20]
    seg1 = [40, 70, 50, 60]
    d = timeline.reorder_delay(seg0)
    assert d == 10
    dts0, dur0 = timeline.derived_decode_times(seg0, 40, 10, d)
    dts1, dur1 = timeline.derived_decode_times(seg1, None, 10, d)
    assert dts0 == [-10, 0, 10, 20]
    assert dur0 == [10, 10, 10, 10]
    assert dts0[-1] + dur0[-1] == dts1[0]
    assert all(p - t >= 0 for p, t in zip(seg0, dts0, strict=True))  # no negative offsets
    assert dur1[-1] == 10


def test_aac_frame_grid() -> None:
    # 48 kHz, audio starts at 0: segment [2 s, 4 s) owns frames starting in it.
    k0, k1 = timeline.aac_frame_range(0, 48000, Fraction(2), Fraction(4))
    assert (k0, k1) == (94, 188)  # 94 * 1024 = 96256 >= 96000 > 93 * 1024
    first0, last0 = timeline.aac_frame_range(0, 48000, None, Fraction(2))
    assert (first0, last0) == (-1, 94)  # the priming frame goes with segment 0
    assert timeline.aac_frame_range(-240, 48000, Fraction(4), None) == (188, None)


# --- MPEG-TS -----------------------------------------------------------------------------


def _ts(pid: int, tag: int) -> bytes:
    return bytes([0x47, (pid >> 8) & 0x1F, pid & 0xFF, 0x10]) + bytes([tag]) * 184


def test_pat_and_pmt_move_in_front_of_the_sdt() -> None:
    sdt, pat, pmt, pes = _ts(0x11, 1), _ts(0, 2), _ts(0x1000, 3), _ts(0x100, 4)
    out = mpegts.pat_pmt_first(sdt + pat + pmt + pes + sdt)
    assert mpegts.pids(out) == [0, 0x1000, 0x11, 0x100, 0x11]
    assert out == pat + pmt + sdt + pes + sdt
    with pytest.raises(ValueError, match="whole"):
        mpegts.pids(b"\x47" * 100)


def test_unwrap_33_bit_timestamps_next_to_a_reference() -> None:
    wrap = 1 << 33
    assert timeline.unwrap_ts(100, 90000) == 100
    assert timeline.unwrap_ts(100, wrap + 5000) == wrap + 100
    assert timeline.unwrap_ts(wrap - 100, 50) == -100
