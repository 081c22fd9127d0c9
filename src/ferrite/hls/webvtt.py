"""WebVTT subtitle segments and files, rendered from cues extracted once per track.

Text subtitles are extracted into cues at scan time (``SubtitleCue``: milliseconds and a
payload), so serving a subtitle segment never touches the media file. A segment holds
every cue that overlaps its window, with the cue's full times: a cue that spans a segment
boundary is repeated in both segments, and players drop the duplicate (cutting it in two
would make it blink or show twice).

Times: cues are on the *cue timeline*, which the probe defines as milliseconds from the
media's start (``MediaInfo.start_time_s``); ``origin_s`` is the cue time of playlist time 0
(the segment plan's first boundary), i.e. ``plan.start_s - media.start_time_s``. Everything
written out is on the playlist timeline, ``HH:MM:SS.mmm``, never negative.

Cue text: the probe already stores WebVTT-safe payloads; this module makes them safe again
idempotently (character references such as ``&amp;`` pass through, a bare ``&`` is
escaped), so cues from any source render correctly and none is escaped twice.

``mpegts_offset`` writes ``X-TIMESTAMP-MAP=MPEGTS:<n>,LOCAL:00:00:00.000``, which tells the
player which media timestamp (90 kHz) playlist time 0 is. Pass the plan start in 90 kHz
units whenever the media segments carry source timestamps (always for MPEG-TS; hls.js and
Safari also use it with fMP4), so cues line up with a timeline that starts at e.g. 36000 s.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Iterator

from ferrite.media.info import SubtitleCue

#: Cues longer than this (signs, karaoke, a forced title card) are kept apart and scanned
#: linearly; they are few, and keeping them out of the bisect window keeps that window
#: small for the thousands of ordinary dialogue cues.
LONG_CUE_MS = 30_000
_MPEGTS_WRAP = 1 << 33  # MPEG-TS timestamps are 33 bits

_ALLOWED_TAGS = {"<i>", "</i>", "<b>", "</b>", "<u>", "</u>"}
# Anything that looks like markup: <i>, </font>, <font color="red">, <c.yellow>, <v Bob>.
_TAG_RE = re.compile(r"</?[A-Za-z][^<>\n]*>")
# A character reference that is already escaped: &amp; &lt; &nbsp; &#8212; &#x2014;
_CHAR_REF_RE = re.compile(r"&(?:[A-Za-z][A-Za-z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});")


class CueIndex:
    """The cues of one track, sorted by start, found by time window in O(log n + k).

    Built once per track and kept with it. Cue text is made safe for WebVTT here, once
    (see ``_payload``); cues without a duration or without text are dropped, so every
    renderer sees only cues worth showing.
    """

    __slots__ = ("_all", "_long", "_lookback", "_short", "_starts")

    def __init__(self, cues: Iterable[SubtitleCue]) -> None:
        kept = [
            SubtitleCue(c.start_ms, c.end_ms, text)
            for c in cues
            if c.end_ms > c.start_ms and (text := _payload(c.text))
        ]
        # Stable sort: cues with equal times keep the order the file gave them.
        kept.sort(key=lambda c: (c.start_ms, c.end_ms))
        self._all = tuple(kept)
        self._short = tuple(c for c in kept if c.end_ms - c.start_ms <= LONG_CUE_MS)
        self._long = tuple(c for c in kept if c.end_ms - c.start_ms > LONG_CUE_MS)
        self._starts = tuple(c.start_ms for c in self._short)
        self._lookback = max((c.end_ms - c.start_ms for c in self._short), default=0)

    def __len__(self) -> int:
        return len(self._all)

    def __iter__(self) -> Iterator[SubtitleCue]:
        return iter(self._all)

    def overlapping(self, start_ms: int, end_ms: int) -> list[SubtitleCue]:
        """Cues shown at some instant of ``[start_ms, end_ms)``, in start order."""
        if end_ms <= start_ms:
            return []
        # A short cue that still shows at start_ms began less than _lookback before it.
        lo = bisect_left(self._starts, start_ms - self._lookback + 1)
        hi = bisect_left(self._starts, end_ms, lo)
        found = [c for c in self._short[lo:hi] if c.end_ms > start_ms]
        found += [c for c in self._long if c.start_ms < end_ms and c.end_ms > start_ms]
        if self._long:
            found.sort(key=lambda c: (c.start_ms, c.end_ms))
        return found


def render_segment(
    cues: CueIndex,
    start_s: float,
    end_s: float,
    *,
    origin_s: float = 0.0,
    mpegts_offset: int | None = None,
) -> str:
    """One WebVTT segment: the cues overlapping playlist time ``[start_s, end_s)``.

    For segment ``i`` of a plan: ``render_segment(cues, plan.position(i),
    plan.end_position(i), origin_s=...)``. An empty window still makes a valid file.
    """
    origin_ms = round(origin_s * 1000)
    window = cues.overlapping(round(start_s * 1000) + origin_ms, round(end_s * 1000) + origin_ms)
    return _render(window, origin_ms, mpegts_offset)


def render_track(
    cues: CueIndex | Iterable[SubtitleCue],
    *,
    origin_s: float = 0.0,
    mpegts_offset: int | None = None,
) -> str:
    """A whole track as one .vtt file (sidecar download, direct play)."""
    index = cues if isinstance(cues, CueIndex) else CueIndex(cues)
    return _render(index, round(origin_s * 1000), mpegts_offset)


def _render(cues: Iterable[SubtitleCue], origin_ms: int, mpegts_offset: int | None) -> str:
    parts = ["WEBVTT\n"]
    if mpegts_offset is not None:
        parts.append(f"X-TIMESTAMP-MAP=MPEGTS:{mpegts_offset % _MPEGTS_WRAP},LOCAL:00:00:00.000\n")
    for c in cues:
        start, end = c.start_ms - origin_ms, c.end_ms - origin_ms
        if end <= 0:
            continue  # before playlist time 0: nothing to show
        start = max(start, 0)
        parts.append(f"\n{_timestamp(start)} --> {_timestamp(end)}\n{c.text}\n")
    return "".join(parts)


def _timestamp(ms: int) -> str:
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    seconds, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{ms:03d}"


def _payload(text: str) -> str:
    """Cue text made safe for WebVTT.

    Keeps <i> <b> <u> and character references, drops other markup (SRT's <font>, WebVTT
    classes and voices), escapes every other & < >, which also means ``-->`` can never
    appear, and removes blank lines, which would end the cue early. Idempotent.
    """
    lines = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = _escape_line(raw).rstrip()
        if line.strip():
            lines.append(line)
    return "\n".join(lines)


def _escape_line(line: str) -> str:
    out = []
    pos = 0
    for m in _TAG_RE.finditer(line):
        out.append(_escape(line[pos : m.start()]))
        tag = m.group().lower()
        if tag in _ALLOWED_TAGS:
            out.append(tag)
        pos = m.end()
    out.append(_escape(line[pos:]))
    return "".join(out)


def _escape(text: str) -> str:
    out = []
    pos = 0
    for m in _CHAR_REF_RE.finditer(text):
        out.append(_escape_plain(text[pos : m.start()]))
        out.append(m.group())
        pos = m.end()
    out.append(_escape_plain(text[pos:]))
    return "".join(out)


def _escape_plain(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
