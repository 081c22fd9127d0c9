"""Text subtitles to WebVTT-safe cues: pure parsing of SRT, WebVTT and ASS/SSA.

Cue text leaves here as a WebVTT cue payload: plain text with ``\\n`` line breaks, ``&``,
``<`` and ``>`` escaped, and only ``<i>``, ``<b>`` and ``<u>`` tags (balanced). ASS
override blocks (``{\\an8\\pos(10,10)}``) are dropped except italics/bold/underline, ``\\N``
and ``\\n`` become line breaks, ``\\h`` a space, and drawings (``\\p1``) disappear. Blank
lines inside a cue (which would end a WebVTT cue early) are removed.

The probe feeds embedded tracks through :func:`ass_to_text` (FFmpeg's text subtitle
decoders all emit ASS dialogue); sidecar files are parsed here without FFmpeg.
"""

from __future__ import annotations

import re

from ferrite.media.info import SubtitleCue

_TAGS = ("i", "b", "u")


class _Styler:
    """Tracks open <i>/<b>/<u> and emits balanced tags."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.open: list[str] = []

    def text(self, s: str) -> None:
        self.out.append(s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))

    def set(self, tag: str, on: bool) -> None:
        if on and tag not in self.open:
            self.open.append(tag)
            self.out.append(f"<{tag}>")
        elif not on and tag in self.open:
            # Close inner tags too, then reopen them: WebVTT tags must nest.
            i = self.open.index(tag)
            inner = self.open[i + 1 :]
            for t in reversed(self.open[i:]):
                self.out.append(f"</{t}>")
            self.open = self.open[:i]
            for t in inner:
                self.set(t, True)

    def reset(self) -> None:
        for t in reversed(self.open):
            self.out.append(f"</{t}>")
        self.open = []

    def result(self) -> str:
        self.reset()
        return _tidy("".join(self.out))


def _tidy(text: str) -> str:
    # Empty tag pairs left by styling around nothing, then whitespace and blank lines.
    prev = None
    while prev != text:
        prev = text
        text = re.sub(r"<([ibu])>(\s*)</\1>", r"\2", text)
    text = text.replace("-->", "--&gt;")
    lines = [line.strip() for line in text.split("\n")]
    return "\n".join(line for line in lines if line)


_OVERRIDE_TAG = re.compile(r"\\(i|b|u)(\d*)|\\(r)[^\\]*|\\p(\d+)")


def ass_to_text(text: str) -> str:
    """Convert an ASS ``Text`` field (with override tags) to WebVTT cue text.

    >>> ass_to_text(r"{\\an8}Hello {\\i1}there{\\i0}\\Nfriend")
    'Hello <i>there</i>\\nfriend'
    """
    styler = _Styler()
    drawing = False
    pos = 0
    for m in re.finditer(r"\{([^}]*)\}", text):
        if not drawing:
            _ass_plain(styler, text[pos : m.start()])
        drawing = _apply_override(styler, m.group(1), drawing)
        pos = m.end()
    if not drawing:
        _ass_plain(styler, text[pos:])
    return styler.result()


def _apply_override(styler: _Styler, block: str, drawing: bool) -> bool:
    """Apply the tags of one ``{...}`` block; returns whether drawing mode is on."""
    for tag in _OVERRIDE_TAG.finditer(block):
        name, value, reset, draw = tag.groups()
        if draw is not None:
            drawing = draw != "0"
        elif reset:
            styler.reset()
        elif name:
            # \i1 on, \i0 or bare \i off; \b700 (a weight) is bold, \b400 is not.
            weight = int(value) if value.isdigit() else 0
            styler.set(name, value not in ("", "0") and not (name == "b" and 1 < weight < 600))
    return drawing


def _ass_plain(styler: _Styler, s: str) -> None:
    s = s.replace("\\N", "\n").replace("\\n", "\n").replace("\\h", " ")
    styler.text(s)


def ass_dialogue_text(line: str) -> str:
    """The ``Text`` field of an ASS event as FFmpeg hands it out: either a full
    ``Dialogue: Layer,Start,End,Style,Name,MarginL,MarginR,MarginV,Effect,Text`` line or
    the packet form ``ReadOrder,Layer,Style,Name,MarginL,MarginR,MarginV,Effect,Text``."""
    line = line.rstrip("\r\n")
    if line.startswith("Dialogue:"):
        return line.split(":", 1)[1].split(",", 9)[-1]
    parts = line.split(",", 8)
    return parts[-1] if len(parts) == 9 else line


_SRT_TAG = re.compile(r"<\s*(/?)\s*([a-zA-Z]+)[^>]*>|\{\\[^}]*\}")


def markup_to_text(text: str) -> str:
    """SRT/WebVTT cue markup to WebVTT-safe text: keep <i>/<b>/<u>, drop <font>, <c.x>,
    voice spans and stray ASS override blocks, escape the rest."""
    styler = _Styler()
    pos = 0
    for m in _SRT_TAG.finditer(text):
        styler.text(_unescape(text[pos : m.start()]))
        closing, name = m.group(1), (m.group(2) or "").lower()
        if name in _TAGS:
            styler.set(name, not closing)
        elif m.group(0).startswith("{"):
            _apply_override(styler, m.group(0)[1:-1], drawing=False)
        pos = m.end()
    styler.text(_unescape(text[pos:]))
    return styler.result()


def _unescape(s: str) -> str:
    return s.replace("&lt;", "<").replace("&gt;", ">").replace("&nbsp;", " ").replace("&amp;", "&")


# -- files -------------------------------------------------------------------------------


def decode_text(data: bytes) -> str:
    """Subtitle files come in any encoding: BOMs first, then UTF-8, then Windows-1252."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


_TIMING = re.compile(
    r"(?P<a>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})\s*-->\s*(?P<b>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})"
)


def _ms(stamp: str) -> int:
    stamp = stamp.replace(",", ".")
    main, frac = stamp.split(".")
    parts = [int(p) for p in main.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    h, m, s = parts
    return ((h * 60 + m) * 60 + s) * 1000 + int(frac.ljust(3, "0")[:3])


def _finish(cues: list[SubtitleCue]) -> tuple[SubtitleCue, ...]:
    kept = [c for c in cues if c.text and c.end_ms > c.start_ms]
    kept.sort(key=lambda c: (c.start_ms, c.end_ms))
    return tuple(kept)


def parse_srt(text: str) -> tuple[SubtitleCue, ...]:
    """SubRip (and WebVTT, which shares the timing line): blocks of timing + text."""
    cues: list[SubtitleCue] = []
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    for block in re.split(r"\n\s*\n", text):
        lines = block.strip("\n").split("\n")
        for i, line in enumerate(lines):
            m = _TIMING.search(line)
            if m:
                payload = "\n".join(lines[i + 1 :])
                cues.append(
                    SubtitleCue(_ms(m.group("a")), _ms(m.group("b")), markup_to_text(payload))
                )
                break
    return _finish(cues)


def parse_vtt(text: str) -> tuple[SubtitleCue, ...]:
    """WebVTT: like SRT once NOTE/STYLE/REGION blocks and the header are gone."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks = [
        b for b in re.split(r"\n\s*\n", text) if not re.match(r"\s*(WEBVTT|NOTE|STYLE|REGION)\b", b)
    ]
    return parse_srt("\n\n".join(blocks))


def _ass_time(stamp: str) -> int:
    h, m, s = stamp.strip().split(":")
    sec, _, cs = s.partition(".")
    return ((int(h) * 60 + int(m)) * 60 + int(sec)) * 1000 + int(cs.ljust(2, "0")[:2]) * 10


def parse_ass(text: str) -> tuple[SubtitleCue, ...]:
    """ASS/SSA ``[Events]`` ``Dialogue`` lines, honouring the section's ``Format`` line."""
    cues: list[SubtitleCue] = []
    fields = [
        "layer",
        "start",
        "end",
        "style",
        "name",
        "marginl",
        "marginr",
        "marginv",
        "effect",
        "text",
    ]
    in_events = False
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if line.startswith("["):
            in_events = line.lower() == "[events]"
            continue
        if not in_events:
            continue
        key, _, value = line.partition(":")
        if key.lower() == "format":
            fields = [f.strip().lower() for f in value.split(",")]
        elif key.lower() == "dialogue":
            parts = value.lstrip().split(",", len(fields) - 1)
            if len(parts) != len(fields):
                continue
            row = dict(zip(fields, parts, strict=True))
            try:
                start, end = _ass_time(row["start"]), _ass_time(row["end"])
            except (KeyError, ValueError):
                continue
            cues.append(SubtitleCue(start, end, ass_to_text(row.get("text", ""))))
    return _finish(cues)


def parse_subtitle_file(codec: str, data: bytes) -> tuple[SubtitleCue, ...]:
    """Cues of a sidecar file whose codec (``subrip``, ``webvtt``, ``ass``, ``ssa``) is known
    from its extension."""
    text = decode_text(data)
    if codec in ("ass", "ssa"):
        return parse_ass(text)
    if codec == "webvtt":
        return parse_vtt(text)
    return parse_srt(text)
