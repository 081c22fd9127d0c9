"""HTTP Range and If-Range, as pure functions over strings and sizes (RFC 9110 §13.1.5, §14).

Nothing here touches a file or a socket: :func:`parse_range` turns a ``Range`` header and
the representation's size into the byte ranges to send, :func:`if_range_allows` decides
whether a conditional range still applies, and :func:`multipart_layout` computes the exact
bytes that frame a ``multipart/byteranges`` body (so its ``Content-Length`` is known before
the first byte is read). ``ferrite.http.files`` carries the result out.

The rules, with the RFC's latitude resolved one way and written down:

- A header we cannot parse (unknown unit, garbage, ``first > last``, an absurd number of
  specs) is *ignored*: the whole representation is sent with 200 (§14.2 "a server MAY
  ignore the Range header field"). Ignoring never sends more than a plain GET would.
- A well-formed header none of whose ranges is satisfiable (``bytes=-0``, a first byte at
  or past the end, anything on an empty file) is 416 with ``Content-Range: bytes */size``.
- Unsatisfiable specs among satisfiable ones are dropped; the rest are clamped to the end
  of the file and overlapping or nearly adjacent ranges are coalesced (§14.1.2 allows it),
  so ``bytes=0-,0-,0-...`` is one range and 500 tiny ranges cost at most a few parts.
  If more than ``max_ranges`` distinct parts remain, 416 (§15.5.17: "an excessive number
  of small or overlapping ranges").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from ferrite.errors import InvalidRange

#: Parts left after coalescing beyond which a request is refused with 416.
MAX_RANGES = 32
#: Specs in one header beyond which the header is ignored without parsing further.
MAX_SPECS = 1000
#: Ranges separated by fewer bytes than this are merged: a part header costs about as much.
COALESCE_GAP = 80
#: Longest decimal number accepted in a range spec (2**63 has 19 digits).
_MAX_DIGITS = 19

# ASCII digits only: int() also accepts digits like "٣".
_SPEC = re.compile(r"[ \t]*([0-9]*)[ \t]*-[ \t]*([0-9]*)[ \t]*")


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Bytes ``start`` to ``stop - 1`` of a representation (half-open, never empty)."""

    start: int
    stop: int

    @property
    def length(self) -> int:
        return self.stop - self.start

    def content_range(self, size: int) -> str:
        """The ``Content-Range`` value for this range of a ``size``-byte representation."""
        return f"bytes {self.start}-{self.stop - 1}/{size}"


def parse_range(
    header: str | None,
    size: int,
    *,
    max_ranges: int = MAX_RANGES,
    coalesce_gap: int = COALESCE_GAP,
) -> list[ByteRange] | None:
    """The ranges to send for ``Range: header`` over ``size`` bytes.

    Returns ``None`` when the header is absent or must be ignored (send everything with
    200), otherwise a non-empty list of sorted, disjoint ranges. Raises
    :class:`~ferrite.errors.InvalidRange` (416) when nothing requested is satisfiable or
    the request asks for too many separate parts.
    """
    if header is None:
        return None
    unit, sep, spec_text = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None  # unknown unit or no '=': MUST ignore (§14.2)
    specs = spec_text.split(",")
    if len(specs) > MAX_SPECS:
        return None
    wanted: list[ByteRange] = []
    saw_spec = False
    for spec in specs:
        if not spec.strip():
            continue  # "bytes=0-1,,2-3": empty list elements are allowed (§5.6.1)
        match = _SPEC.fullmatch(spec)
        if match is None:
            return None
        first_text, last_text = match.groups()
        if len(first_text) > _MAX_DIGITS or len(last_text) > _MAX_DIGITS:
            return None
        saw_spec = True
        if first_text:
            first = int(first_text)
            if last_text:
                last = int(last_text)
                if last < first:
                    return None  # invalid range-spec makes the whole header invalid
                stop = min(last + 1, size)
            else:
                stop = size
            if first < size:
                wanted.append(ByteRange(first, stop))
        elif last_text:
            suffix = int(last_text)
            if suffix > 0 and size > 0:
                wanted.append(ByteRange(max(0, size - suffix), size))
        else:
            return None  # "-" alone
    if not saw_spec:
        return None
    if not wanted:
        raise InvalidRange("None of the requested byte ranges is within the file.", size=size)
    merged = coalesce(wanted, gap=coalesce_gap)
    if len(merged) > max_ranges:
        raise InvalidRange(
            f"Too many separate byte ranges ({len(merged)}); ask for at most {max_ranges}.",
            size=size,
        )
    return merged


def coalesce(ranges: list[ByteRange], *, gap: int = COALESCE_GAP) -> list[ByteRange]:
    """Sort ``ranges`` and merge those that overlap or lie less than ``gap`` bytes apart."""
    ordered = sorted(ranges, key=lambda r: (r.start, r.stop))
    out: list[ByteRange] = []
    for r in ordered:
        if out and r.start <= out[-1].stop + gap:
            last = out[-1]
            if r.stop > last.stop:
                out[-1] = ByteRange(last.start, r.stop)
        else:
            out.append(r)
    return out


def if_range_allows(if_range: str | None, *, etag: str, last_modified: str) -> bool:
    """Whether a range request with ``If-Range: if_range`` may be answered with 206.

    An entity tag must match our strong ETag exactly (weak tags never match, §13.1.5); a
    date must equal our ``Last-Modified`` exactly. Anything else — a stale validator, a
    malformed value — means "send the whole, current representation".
    """
    if if_range is None:
        return True
    value = if_range.strip()
    if value.startswith('W/"'):
        return False
    if value.startswith('"'):
        return value == etag
    try:
        theirs = parsedate_to_datetime(value)
        ours = parsedate_to_datetime(last_modified)
    except (TypeError, ValueError, IndexError):
        return False
    return theirs == ours


def etag_matches(if_none_match: str, etag: str) -> bool:
    """``If-None-Match`` evaluation (weak comparison, §13.1.2): does any listed tag match?"""
    value = if_none_match.strip()
    if value == "*":
        return True
    ours = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == ours for tag in value.split(","))


@dataclass(frozen=True, slots=True)
class MultipartLayout:
    """The framing of a ``multipart/byteranges`` body: ``heads[i]`` precedes ``ranges[i]``'s
    bytes, ``tail`` ends the body, and ``content_length`` is the exact total."""

    content_type: str
    ranges: tuple[ByteRange, ...]
    heads: tuple[bytes, ...]
    tail: bytes
    content_length: int


def multipart_layout(
    ranges: list[ByteRange], size: int, part_type: str, boundary: str
) -> MultipartLayout:
    """Lay out ``ranges`` of a ``size``-byte ``part_type`` representation as multipart.

    Each part is ``--boundary CRLF headers CRLF CRLF data CRLF``; the body ends with
    ``--boundary--`` (RFC 9110 §14.6, RFC 2046 §5.1.1).
    """
    heads = tuple(
        (
            f"--{boundary}\r\nContent-Type: {part_type}\r\n"
            f"Content-Range: {r.content_range(size)}\r\n\r\n"
        ).encode("latin-1")
        for r in ranges
    )
    tail = f"--{boundary}--\r\n".encode("latin-1")
    length = sum(len(h) + r.length + 2 for h, r in zip(heads, ranges, strict=True)) + len(tail)
    return MultipartLayout(
        content_type=f"multipart/byteranges; boundary={boundary}",
        ranges=tuple(ranges),
        heads=heads,
        tail=tail,
        content_length=length,
    )
