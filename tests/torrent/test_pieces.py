"""Piece math with plain numbers: geometry, deadlines, the window, fast start, resume."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ferrite.torrent.pieces import (
    DEFAULT_BITRATE,
    FileSpan,
    KiB,
    Layout,
    MiB,
    WindowPolicy,
    bytes_done,
    container_kind,
    contiguous_ahead,
    deadline_schedule,
    estimate_bitrate,
    file_pieces,
    fraction_done,
    head_tail_pieces,
    head_tail_ranges,
    is_video_path,
    late_tail_pieces,
    late_tail_range,
    piece_at,
    piece_file_span,
    piece_range,
    plan_window,
    resume_pieces,
    resume_range,
)

# A torrent of 3 files: 100 B, 1000 B, 50 B, pieces of 64 B (last piece 1150 - 17*64 = 62 B).
LAYOUT = Layout(piece_length=64, total_size=1150)
A, B, C = FileSpan(0, 100), FileSpan(100, 1000), FileSpan(1100, 50)


def test_layout_counts_pieces_and_the_short_last_one() -> None:
    assert LAYOUT.num_pieces == 18
    assert LAYOUT.piece_size(0) == 64
    assert LAYOUT.piece_size(17) == 1150 - 17 * 64
    with pytest.raises(IndexError):
        LAYOUT.piece_size(18)
    with pytest.raises(ValueError, match="piece_length"):
        Layout(0, 10)


def test_byte_range_of_a_file_maps_to_pieces() -> None:
    assert piece_range(LAYOUT, A, 0, 100) == range(0, 2)
    assert piece_range(LAYOUT, B, 0, 1) == range(1, 2)  # file B starts inside piece 1
    assert piece_range(LAYOUT, B, 28, 29) == range(2, 3)  # byte 128 of the torrent
    assert piece_range(LAYOUT, B, 0, 1000) == range(1, 18)
    assert piece_range(LAYOUT, C, 0, 50) == range(17, 18)
    assert piece_range(LAYOUT, B, 500, 500) == range(0)  # empty
    assert piece_range(LAYOUT, B, 990, 5000) == range(17, 18)  # clipped to the file
    assert file_pieces(LAYOUT, B) == range(1, 18)


def test_piece_to_file_span_is_clipped_to_the_file() -> None:
    assert piece_file_span(LAYOUT, B, 1) == (0, 28)  # torrent bytes 100..128
    assert piece_file_span(LAYOUT, B, 2) == (28, 92)
    assert piece_file_span(LAYOUT, B, 17) == (988, 1000)
    start, end = piece_file_span(LAYOUT, A, 5)  # piece 5 holds nothing of A
    assert start == end
    assert piece_at(LAYOUT, B, 28) == (2, 0)
    assert piece_at(LAYOUT, B, 27) == (1, 63)
    with pytest.raises(ValueError, match="outside"):
        piece_at(LAYOUT, B, 1000)


def test_contiguous_bytes_ahead_stop_at_the_first_missing_piece() -> None:
    have = {1, 2, 3, 5}
    assert contiguous_ahead(LAYOUT, B, 0, have) == piece_file_span(LAYOUT, B, 4)[0]
    assert contiguous_ahead(LAYOUT, B, 300, have) == 0  # piece 6 is missing
    assert contiguous_ahead(LAYOUT, B, 0, set(range(18))) == 1000


def test_deadlines_now_for_the_read_then_spaced_by_bitrate() -> None:
    layout = Layout(MiB, 100 * MiB)
    movie = FileSpan(0, 100 * MiB)
    # 8 Mb/s = 1 MiB every 1.048576 s; urgency 0.5 halves the spacing.
    schedule = deadline_schedule(
        layout, movie, 0, bitrate=8_000_000, window_bytes=4 * MiB, immediate_bytes=64 * KiB
    )
    assert [d.piece for d in schedule] == [0, 1, 2, 3]
    assert schedule[0].ms == 0
    assert [d.ms for d in schedule[1:]] == [524, 1048, 1572]
    # A read spanning two pieces needs both now; pieces we have are skipped.
    schedule = deadline_schedule(
        layout,
        movie,
        MiB - 10,
        bitrate=8_000_000,
        window_bytes=3 * MiB,
        immediate_bytes=20,
        have={2},
    )
    assert [(d.piece, d.ms) for d in schedule] == [(0, 0), (1, 0), (3, 1048)]


def test_window_grows_with_throughput_and_after_a_seek_and_shrinks_far_ahead() -> None:
    policy = WindowPolicy(min_s=10, max_s=60, seek_boost=2, seek_boost_s=15, far_ahead=2)

    def window(throughput: float, since_seek: float | None = None, buffered: float = 0) -> float:
        return plan_window(
            policy,
            piece_length=MiB,
            bitrate=4_000_000,
            throughput=throughput,
            since_seek_s=since_seek,
            buffered_s=buffered,
        ).seconds

    assert window(0) == 10  # nothing measured yet: the minimum
    assert window(2_000_000) == 10  # slower than playback: keep the window tight
    assert window(12_000_000) == 30  # 3x playback speed: 3x the window
    assert window(400_000_000) == 60  # capped
    assert window(4_000_000, since_seek=1) == 20  # right after a seek
    assert window(4_000_000, since_seek=30) == 10  # boost over
    assert window(12_000_000, buffered=100) == 10  # far ahead: let rarest-first work
    size = plan_window(
        policy, piece_length=MiB, bitrate=4_000_000, throughput=0, since_seek_s=None, buffered_s=0
    )
    assert size.bytes == 10 * 4_000_000 // 8  # seconds x bitrate
    tiny = plan_window(
        policy, piece_length=4 * MiB, bitrate=100_000, throughput=0, since_seek_s=None, buffered_s=0
    )
    assert tiny.bytes == policy.min_pieces * 4 * MiB  # never fewer than min_pieces


def test_head_and_tail_by_container() -> None:
    size = 4000 * MiB
    # The head only (a moov or the cues at the end are read on demand), capped.
    assert head_tail_ranges("mp4", size) == [(0, 8 * MiB)]
    assert head_tail_ranges("mp4", 1000 * MiB) == [(0, 2 * MiB)]
    assert head_tail_ranges("mp4", 10 * MiB) == [(0, 128 * KiB)]
    assert head_tail_ranges("matroska", size) == [(0, 4 * MiB)]
    assert head_tail_ranges("avi", size) == [(0, 512 * KiB), (size - 4 * MiB, size)]
    assert head_tail_ranges("other", size) == [(0, 512 * KiB)]
    assert head_tail_ranges("avi", 200 * KiB) == [(0, 200 * KiB)]  # small: all of it
    assert head_tail_ranges("mp4", 100 * KiB) == [(0, 100 * KiB)]  # small file: all of it
    assert head_tail_ranges("mp4", 0) == []
    layout = Layout(64 * KiB, 10 * MiB + 100)
    movie = FileSpan(100, 10 * MiB)
    pieces = head_tail_pieces(layout, movie, "avi")
    assert pieces[:3] == [0, 1, 2]  # head first
    assert pieces[-1] == layout.num_pieces - 1
    assert len(pieces) == len(set(pieces))


def test_an_mp4s_tail_comes_a_moment_later() -> None:
    size = 4000 * MiB
    assert late_tail_range("mp4", size) == (size - 8 * MiB, size)
    assert late_tail_range("mp4", 10 * MiB) == (10 * MiB - 128 * KiB, 10 * MiB)
    assert late_tail_range("mp4", 200 * KiB) is None  # the head holds all of it
    assert late_tail_range("matroska", size) is None  # the cues: on demand
    assert late_tail_pieces(Layout(512 * KiB, 30 * MiB), FileSpan(0, 30 * MiB), "mp4") == [59]
    assert late_tail_pieces(Layout(16 * MiB, 10 * MiB), FileSpan(0, 10 * MiB), "mp4") == []


def test_container_and_video_guesses_by_name() -> None:
    assert container_kind("Movie (2020)/movie.MKV") == "matroska"
    assert container_kind("a.mp4") == "mp4"
    assert container_kind("a.m2ts") == "other"
    assert is_video_path("x/y.m2ts")
    assert not is_video_path("x/readme.nfo")


def test_resume_range_brackets_the_position() -> None:
    size = 1000 * MiB
    start, end = resume_range(size, 3000, 6000, bitrate=8_000_000)
    middle = size // 2
    assert start < middle < end
    assert middle - start >= 10 * 1_000_000  # 10 s back at 1 MB/s, at least 1 %
    assert end - middle >= 30 * 1_000_000
    assert resume_range(size, 0, 6000)[0] == 0
    assert resume_range(size, 7000, 6000)[1] == size
    assert resume_range(size, 10, 0) == (0, 0)
    layout = Layout(4 * MiB, size)
    assert len(resume_pieces(layout, FileSpan(0, size), 3000, 6000)) > 0


def test_bitrate_estimate() -> None:
    assert estimate_bitrate(10_000_000, 80.0) == 1_000_000
    assert estimate_bitrate(10_000_000, None) == DEFAULT_BITRATE


# -- properties -------------------------------------------------------------------------

geometry = st.tuples(
    st.integers(1, 4096),  # piece length
    st.integers(0, 50_000),  # file offset
    st.integers(1, 200_000),  # file size
    st.integers(0, 10_000),  # bytes after the file
)


@given(geometry, st.data())
def test_every_byte_of_a_range_lies_in_exactly_the_pieces_returned(
    g: tuple[int, int, int, int], data: st.DataObject
) -> None:
    piece_length, offset, size, tail = g
    layout = Layout(piece_length, offset + size + tail)
    file = FileSpan(offset, size)
    start = data.draw(st.integers(0, size - 1))
    end = data.draw(st.integers(start + 1, size))
    pieces = piece_range(layout, file, start, end)
    assert pieces.start == (offset + start) // piece_length
    assert pieces.stop - 1 == (offset + end - 1) // piece_length
    # The spans of the pieces tile [start, end) without gaps.
    covered = 0
    for p in pieces:
        a, b = piece_file_span(layout, file, p)
        assert a < b
        covered += min(b, end) - max(a, start)
    assert covered == end - start


@given(geometry, st.data())
def test_file_spans_of_all_pieces_partition_the_file(
    g: tuple[int, int, int, int], data: st.DataObject
) -> None:
    piece_length, offset, size, tail = g
    layout = Layout(piece_length, offset + size + tail)
    file = FileSpan(offset, size)
    spans = [piece_file_span(layout, file, p) for p in file_pieces(layout, file)]
    assert spans[0][0] == 0
    assert spans[-1][1] == size
    assert all(prev[1] == nxt[0] for prev, nxt in itertools.pairwise(spans))
    position = data.draw(st.integers(0, size - 1))
    piece, inside = piece_at(layout, file, position)
    assert layout.piece_start(piece) + inside == offset + position


@given(
    geometry,
    st.integers(100_000, 50_000_000),
    st.integers(0, 2_000_000),
    st.frozensets(st.integers(0, 300)),
    st.data(),
)
def test_deadlines_are_sorted_start_now_and_skip_what_we_have(
    g: tuple[int, int, int, int],
    bitrate: int,
    window: int,
    have: frozenset[int],
    data: st.DataObject,
) -> None:
    piece_length, offset, size, tail = g
    layout = Layout(piece_length, offset + size + tail)
    file = FileSpan(offset, size)
    position = data.draw(st.integers(0, size - 1))
    schedule = deadline_schedule(
        layout, file, position, bitrate=bitrate, window_bytes=window, have=have
    )
    pieces = [d.piece for d in schedule]
    assert pieces == sorted(set(pieces))
    assert not set(pieces) & have
    assert [d.ms for d in schedule] == sorted(d.ms for d in schedule)
    assert all(d.ms >= 0 for d in schedule)
    current = piece_at(layout, file, position)[0]
    if current not in have:
        assert schedule[0].piece == current
        assert schedule[0].ms == 0
    wanted = piece_range(layout, file, position, position + max(1, window))
    assert set(pieces) == set(wanted) - have


@given(
    st.integers(1, 64 * MiB),
    st.integers(10_000, 100_000_000),
    st.floats(0, 1e9),
    st.floats(0, 1e9),
    st.one_of(st.none(), st.floats(0, 100)),
    st.floats(0, 10_000),
)
def test_window_stays_within_bounds_and_grows_with_throughput(
    piece_length: int,
    bitrate: int,
    throughput: float,
    more: float,
    since_seek: float | None,
    buffered: float,
) -> None:
    policy = WindowPolicy()

    def plan(t: float) -> float:
        return plan_window(
            policy,
            piece_length=piece_length,
            bitrate=bitrate,
            throughput=t,
            since_seek_s=since_seek,
            buffered_s=0,
        ).seconds

    w = plan_window(
        policy,
        piece_length=piece_length,
        bitrate=bitrate,
        throughput=throughput,
        since_seek_s=since_seek,
        buffered_s=buffered,
    )
    assert policy.min_s <= w.seconds <= policy.max_s
    assert w.bytes >= policy.min_pieces * piece_length
    assert plan(throughput + more) >= plan(throughput)


@given(st.integers(1, 10**12), st.floats(0, 10**5), st.floats(1, 10**5))
def test_resume_range_is_inside_the_file(size: int, position: float, duration: float) -> None:
    start, end = resume_range(size, position, duration)
    assert 0 <= start <= end <= size


def test_bytes_done_weighs_pieces_by_their_bytes_and_clips_to_a_file() -> None:
    assert bytes_done(LAYOUT, set()) == 0
    assert bytes_done(LAYOUT, set(range(18))) == 1150
    assert bytes_done(LAYOUT, {17}) == 62  # the short last piece
    assert fraction_done(LAYOUT, {0}) == pytest.approx(64 / 1150)
    # Piece 1 holds A's bytes 64..100 and B's first 28; piece 17 B's last 12 and all of C.
    assert bytes_done(LAYOUT, {1}, A) == 36
    assert bytes_done(LAYOUT, {1}, B) == 28
    assert fraction_done(LAYOUT, {17}, C) == 1.0
    assert bytes_done(LAYOUT, {17}, B) == 12
    assert fraction_done(LAYOUT, set(), FileSpan(100, 0)) == 1.0
    # Only the head and the tail (what the start-up hold wants): far from done, whatever
    # libtorrent's wanted-only progress says.
    assert fraction_done(LAYOUT, {1, 2, 16, 17}, B) == pytest.approx((28 + 64 + 64 + 12) / 1000)


@given(st.sets(st.integers(0, 17)))
def test_the_files_bytes_done_add_up_to_the_torrents(have: set[int]) -> None:
    assert sum(bytes_done(LAYOUT, have, f) for f in (A, B, C)) == bytes_done(LAYOUT, have)
