"""Subtitle text to WebVTT-safe cue text, and sidecar file parsing."""

from __future__ import annotations

import pytest

from ferrite.library.cues import (
    ass_dialogue_text,
    ass_to_text,
    decode_text,
    markup_to_text,
    parse_ass,
    parse_srt,
    parse_subtitle_file,
    parse_vtt,
)
from ferrite.media.info import SubtitleCue


@pytest.mark.parametrize(
    ("ass", "text"),
    [
        ("Hello there", "Hello there"),
        ("Second line\\Nwith a break", "Second line\nwith a break"),
        ("soft\\nbreak and\\hhard space", "soft\nbreak and hard space"),
        ("{\\an8}On top", "On top"),
        ("{\\i1}italic{\\i0} plain", "<i>italic</i> plain"),
        ("{\\i1}never closed", "<i>never closed</i>"),
        ("{\\b1}bold {\\i1}both{\\b0} italic{\\i}", "<b>bold <i>both</i></b><i> italic</i>"),
        ("{\\b700}heavy{\\b400} normal", "<b>heavy</b> normal"),
        ("{\\u1}under{\\r}reset", "<u>under</u>reset"),
        ("{\\pos(1,2)\\fs20\\c&H00FF00&}styled", "styled"),
        ("{\\p1}m 0 0 l 100 0 100 100{\\p0}after drawing", "after drawing"),
        ("{a comment}text", "text"),
        ("x < y & z > w", "x &lt; y &amp; z &gt; w"),
        ("arrow --> here", "arrow --&gt; here"),
        ("line\\N\\Nblank lines\\N", "line\nblank lines"),
        ("{\\i1}{\\i0}", ""),
    ],
)
def test_ass_to_webvtt_text(ass: str, text: str) -> None:
    assert ass_to_text(ass) == text


def test_ass_event_fields() -> None:
    assert ass_dialogue_text("0,0,Default,,0,0,0,,Hi, there") == "Hi, there"
    assert (
        ass_dialogue_text("Dialogue: 0,0:00:01.00,0:00:02.00,Default,,0,0,0,,Hi, you") == "Hi, you"
    )


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("<i>italic</i> and <b>bold</b>", "<i>italic</i> and <b>bold</b>"),
        ('<font color="#ff0000">red</font>', "red"),
        ("<I>upper</I>", "<i>upper</i>"),
        ("{\\an8}{\\i1}ass in srt{\\i0}", "<i>ass in srt</i>"),
        ("Tom &amp; Jerry", "Tom &amp; Jerry"),
        ("a < b", "a &lt; b"),
        ("<v Bob>voice", "voice"),
        ("<c.yellow>class</c>", "class"),
    ],
)
def test_srt_and_vtt_markup(markup: str, text: str) -> None:
    assert markup_to_text(markup) == text


def test_parse_srt_with_odd_formatting() -> None:
    data = (
        "\ufeff1\r\n00:00:00,500 --> 00:00:01,500\r\nHello\r\n\r\n"
        "2\n00:00:02.000 --> 00:00:03.250 X1:0\nTwo\nlines\n\n\n"
        "3\n01:02:03,004 --> 01:02:04,000\n<i>late</i>\n\n"
        "4\n00:00:05,000 --> 00:00:04,000\nbackwards, dropped\n"
    )
    assert parse_srt(decode_text(data.encode("utf-8"))) == (
        SubtitleCue(500, 1500, "Hello"),
        SubtitleCue(2000, 3250, "Two\nlines"),
        SubtitleCue(3723004, 3724000, "<i>late</i>"),
    )


def test_parse_vtt_skips_header_notes_and_styles() -> None:
    data = (
        "WEBVTT - title\n\nSTYLE\n::cue { color: red }\n\nNOTE hi\n\n"
        "intro\n00:01.000 --> 00:02.000 line:0\nFirst\n\n"
        "00:00:03.000 --> 00:00:04.500\nSecond\n"
    )
    assert parse_vtt(data) == (SubtitleCue(1000, 2000, "First"), SubtitleCue(3000, 4500, "Second"))


def test_parse_ass_honours_the_format_line() -> None:
    data = (
        "[Script Info]\nTitle: x\n\n[V4+ Styles]\nFormat: Name, Fontname\nStyle: Default,Arial\n\n"
        "[Events]\n"
        "Format: Layer, Start, End, Style, Actor, MarginL, MarginR, MarginV, Effect, Text\n"
        "Comment: 0,0:00:00.00,0:00:01.00,Default,,0,0,0,,not shown\n"
        "Dialogue: 0,0:00:02.50,0:00:03.00,Default,,0,0,0,,Later, with comma\n"
        "Dialogue: 0,0:00:01.00,0:00:02.00,Default,,0,0,0,,{\\i1}Earlier{\\i0}\n"
    )
    assert parse_ass(data) == (
        SubtitleCue(1000, 2000, "<i>Earlier</i>"),
        SubtitleCue(2500, 3000, "Later, with comma"),
    )
    ssa = "[Events]\n"
    ssa += "Format: Marked, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
    ssa += "Dialogue: Marked=0,0:00:01.00,0:00:02.00,Default,NTP,0000,0000,0000,,SSA line\n"
    assert parse_ass(ssa) == (SubtitleCue(1000, 2000, "SSA line"),)


def test_encodings() -> None:
    assert decode_text("Café".encode("cp1252")) == "Café"
    assert decode_text("Café".encode("utf-16")) == "Café"
    assert decode_text(b"\xef\xbb\xbfCaf\xc3\xa9") == "Café"
    cues = parse_subtitle_file(
        "subrip", "1\n00:00:01,000 --> 00:00:02,000\nÉté\n".encode("latin-1")
    )
    assert cues == (SubtitleCue(1000, 2000, "Été"),)
