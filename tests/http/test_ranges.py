"""Range / If-Range parsing: pure, including hostile headers."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ferrite.errors import InvalidRange
from ferrite.http.ranges import (
    MAX_RANGES,
    ByteRange,
    coalesce,
    etag_matches,
    if_range_allows,
    multipart_layout,
    parse_range,
)

SIZE = 10_000


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", [ByteRange(0, 100)]),
        ("bytes=100-", [ByteRange(100, SIZE)]),
        ("bytes=-500", [ByteRange(SIZE - 500, SIZE)]),
        ("bytes=-20000", [ByteRange(0, SIZE)]),  # suffix longer than the file: all of it
        ("bytes=9990-20000", [ByteRange(9990, SIZE)]),  # last clamped to the end
        ("bytes=0-0", [ByteRange(0, 1)]),
        ("bytes=9999-", [ByteRange(9999, SIZE)]),
        ("BYTES = 5-9", [ByteRange(5, 10)]),
        ("bytes= 0-9 , 20-29", [ByteRange(0, 10), ByteRange(20, 30)]),
        ("bytes=0-9,,20-29", [ByteRange(0, 10), ByteRange(20, 30)]),
    ],
)
def test_satisfiable(header: str, expected: list[ByteRange]) -> None:
    assert parse_range(header, SIZE, coalesce_gap=0) == expected


def test_multiple_ranges_are_sorted_and_kept_apart_beyond_the_gap() -> None:
    got = parse_range("bytes=5000-5099,0-99,-100", SIZE)
    assert got == [ByteRange(0, 100), ByteRange(5000, 5100), ByteRange(9900, SIZE)]


@pytest.mark.parametrize(
    "header",
    ["bytes=-0", "bytes=999999999-", f"bytes={SIZE}-", f"bytes={SIZE}-{SIZE + 5}", "bytes=-0,-0"],
)
def test_unsatisfiable_is_416_with_size(header: str) -> None:
    with pytest.raises(InvalidRange) as info:
        parse_range(header, SIZE)
    assert info.value.status == 416
    assert info.value.size == SIZE


def test_any_range_of_an_empty_file_is_416() -> None:
    for header in ("bytes=0-", "bytes=-1", "bytes=0-0"):
        with pytest.raises(InvalidRange):
            parse_range(header, 0)


def test_unsatisfiable_parts_are_dropped_when_others_are_fine() -> None:
    assert parse_range("bytes=999999999-,0-9", SIZE) == [ByteRange(0, 10)]


@pytest.mark.parametrize(
    "header",
    [
        "",
        "bytes",
        "bytes=",
        "bytes=,",
        "items=0-10",
        "bytes=abc",
        "bytes=5-1",  # last before first: the whole header is invalid
        "bytes=-",
        "bytes=1-2-3",
        "bytes=0x10-20",
        "bytes=--5",
        "bytes=٣-٤",  # non-ASCII digits that int() would accept
        "bytes=1" + "0" * 30 + "-",  # absurdly long number
        "bytes=0-1;2-3",
        "\x00\xff",
    ],
)
def test_garbage_is_ignored(header: str) -> None:
    assert parse_range(header, SIZE) is None


def test_no_header_means_whole_file() -> None:
    assert parse_range(None, SIZE) is None


def test_500_overlapping_ranges_coalesce_to_one() -> None:
    header = "bytes=" + ",".join(["0-"] * 500)
    assert parse_range(header, SIZE) == [ByteRange(0, SIZE)]


def test_500_adjacent_small_ranges_coalesce() -> None:
    header = "bytes=" + ",".join(f"{i * 10}-{i * 10 + 9}" for i in range(500))
    assert parse_range(header, SIZE) == [ByteRange(0, 5000)]


def test_500_scattered_ranges_are_refused() -> None:
    header = "bytes=" + ",".join(f"{i * 1000}-{i * 1000}" for i in range(500))
    with pytest.raises(InvalidRange):
        parse_range(header, 1_000_000)


def test_ranges_up_to_the_cap_are_served() -> None:
    header = "bytes=" + ",".join(f"{i * 1000}-{i * 1000}" for i in range(MAX_RANGES))
    assert len(parse_range(header, 1_000_000) or []) == MAX_RANGES


def test_too_many_specs_are_ignored_without_parsing() -> None:
    assert parse_range("bytes=" + ",".join(["0-0"] * 5000), SIZE) is None


def test_coalesce_merges_overlaps_and_near_neighbours() -> None:
    ranges = [ByteRange(50, 60), ByteRange(0, 10), ByteRange(5, 20), ByteRange(100, 110)]
    assert coalesce(ranges, gap=0) == [ByteRange(0, 20), ByteRange(50, 60), ByteRange(100, 110)]
    assert coalesce(ranges, gap=30) == [ByteRange(0, 60), ByteRange(100, 110)]


@given(
    size=st.integers(0, 5000),
    specs=st.lists(
        st.tuples(
            st.one_of(st.none(), st.integers(0, 6000)), st.one_of(st.none(), st.integers(0, 6000))
        ),
        min_size=1,
        max_size=40,
    ),
)
def test_result_is_always_within_the_file_sorted_and_disjoint(
    size: int, specs: list[tuple[int | None, int | None]]
) -> None:
    parts = []
    for first, last in specs:
        parts.append(f"{'' if first is None else first}-{'' if last is None else last}")
    header = "bytes=" + ",".join(parts)
    try:
        got = parse_range(header, size)
    except InvalidRange as exc:
        got, refused_size = None, exc.size
        assert refused_size == size
    if got is None:
        return
    assert got
    for r in got:
        assert 0 <= r.start < r.stop <= size
    for a, b in itertools.pairwise(got):
        assert a.stop < b.start


def test_content_range() -> None:
    assert ByteRange(0, 100).content_range(1000) == "bytes 0-99/1000"


ETAG = '"abc-123"'
LAST_MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT"


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        (None, True),
        (ETAG, True),
        ('"other"', False),
        ('W/"abc-123"', False),  # weak tags never match If-Range
        (LAST_MODIFIED, True),
        ("Wed, 21 Oct 2015 07:28:01 GMT", False),
        ("not a date", False),
        ("", False),
    ],
)
def test_if_range(value: str | None, allowed: bool) -> None:
    assert if_range_allows(value, etag=ETAG, last_modified=LAST_MODIFIED) is allowed


def test_if_none_match() -> None:
    assert etag_matches(ETAG, ETAG)
    assert etag_matches(f'"x", {ETAG}', ETAG)
    assert etag_matches('W/"abc-123"', ETAG)
    assert etag_matches("*", ETAG)
    assert not etag_matches('"x"', ETAG)


def test_multipart_layout_length_is_exact() -> None:
    ranges = [ByteRange(0, 10), ByteRange(100, 150)]
    layout = multipart_layout(ranges, 1000, "video/mp4", "BOUNDARY")
    body = b""
    data = bytes(range(256)) * 4
    for head, r in zip(layout.heads, layout.ranges, strict=True):
        body += head + data[r.start : r.stop] + b"\r\n"
    body += layout.tail
    assert len(body) == layout.content_length
    assert layout.content_type == "multipart/byteranges; boundary=BOUNDARY"
    assert layout.heads[1] == (
        b"--BOUNDARY\r\nContent-Type: video/mp4\r\nContent-Range: bytes 100-149/1000\r\n\r\n"
    )
    assert layout.tail == b"--BOUNDARY--\r\n"
