"""WebVTT segments: cue selection by window, timelines, escaping, file structure."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from ferrite.hls.plan import make_plans
from ferrite.hls.webvtt import LONG_CUE_MS, CueIndex, render_segment, render_track
from ferrite.media.info import SubtitleCue

TIMING = re.compile(r"(\d{2,}):(\d{2}):(\d{2})\.(\d{3}) --> (\d{2,}):(\d{2}):(\d{2})\.(\d{3})")


def parse_vtt(text: str) -> tuple[list[str], list[tuple[int, int, str]]]:
    """A strict reader of what we emit: header block, then timing + payload blocks."""
    assert text.endswith("\n")
    blocks = text.split("\n\n")
    header = blocks[0].rstrip("\n").split("\n")
    assert header[0] == "WEBVTT"
    cues = []
    for block in blocks[1:]:
        lines = block.rstrip("\n").split("\n")
        m = TIMING.fullmatch(lines[0])
        assert m, lines[0]
        g = [int(x) for x in m.groups()]
        start = ((g[0] * 60 + g[1]) * 60 + g[2]) * 1000 + g[3]
        end = ((g[4] * 60 + g[5]) * 60 + g[6]) * 1000 + g[7]
        assert 0 <= start < end
        payload = lines[1:]
        assert payload, "a cue without text"
        assert all(line.strip() and "-->" not in line for line in payload)
        cues.append((start, end, "\n".join(payload)))
    starts = [c[0] for c in cues]
    assert starts == sorted(starts), "WebVTT cues must be in start order"
    return header, cues


CUES = [
    SubtitleCue(500, 1500, "Hello there"),
    SubtitleCue(1800, 2400, "Across the boundary"),
    SubtitleCue(2000, 3250, "Second line\nwith a break"),
    SubtitleCue(4000, 4000, "zero length: dropped"),
    SubtitleCue(3500, 3900, "   "),
    SubtitleCue(4000, 90_000, "A long sign"),
    SubtitleCue(5000, 5500, "Later"),
]


def test_segment_holds_overlapping_cues_with_full_times() -> None:
    index = CueIndex(CUES)
    assert len(index) == 5
    text = render_segment(index, 0.0, 2.0)
    assert text == (
        "WEBVTT\n"
        "\n00:00:00.500 --> 00:00:01.500\nHello there\n"
        "\n00:00:01.800 --> 00:00:02.400\nAcross the boundary\n"
    )
    _, second = parse_vtt(render_segment(index, 2.0, 4.0))
    # The cue spanning 2.0 is repeated, with the same times; 3.25 - ... starts inside.
    assert [c[:2] for c in second] == [(1800, 2400), (2000, 3250)]
    _, third = parse_vtt(render_segment(index, 4.0, 6.0))
    assert [c[2] for c in third] == ["A long sign", "Later"]
    _, far = parse_vtt(render_segment(index, 60.0, 62.0))
    assert [c[2] for c in far] == ["A long sign"]


def test_window_is_half_open() -> None:
    index = CueIndex([SubtitleCue(1000, 2000, "a")])
    assert "a" not in render_segment(index, 2.0, 4.0)  # ends exactly at the window start
    assert "a" not in render_segment(index, 0.0, 1.0)  # starts exactly at the window end
    assert "a" in render_segment(index, 1.999, 4.0)


def test_empty_segment_is_a_valid_file() -> None:
    assert render_segment(CueIndex([]), 0.0, 2.0) == "WEBVTT\n"
    header, cues = parse_vtt(render_segment(CueIndex(CUES), 100.0, 102.0, mpegts_offset=0))
    assert header == ["WEBVTT", "X-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000"]
    assert cues == []


def test_source_timeline_origin_and_timestamp_map() -> None:
    # Cues stored on a MPEG-TS source timeline starting at 10 hours.
    base = 36_000_000
    index = CueIndex(
        [SubtitleCue(base + 500, base + 1500, "Hi"), SubtitleCue(base - 10, base + 5, "x")]
    )
    plan = make_plans(None, duration_s=10.0, start_s=36000.0).grid
    text = render_segment(
        index,
        plan.position(0),
        plan.end_position(0),
        origin_s=plan.start_s,
        mpegts_offset=plan.boundaries[0],
    )
    header, cues = parse_vtt(text)
    assert header[1] == "X-TIMESTAMP-MAP=MPEGTS:3240000000,LOCAL:00:00:00.000"
    # The cue that began before playlist time 0 is clamped to 0, never negative.
    assert cues == [(0, 5, "x"), (500, 1500, "Hi")]
    # 33-bit MPEG-TS timestamps wrap.
    assert "MPEGTS:5," in render_segment(index, 0, 1, mpegts_offset=(1 << 33) + 5)


def test_hours_and_long_timestamps() -> None:
    text = render_track([SubtitleCue(3_723_004, 363_600_000, "late")])
    assert "01:02:03.004 --> 101:00:00.000" in text


def test_escaping_and_markup() -> None:
    cue = SubtitleCue(
        0,
        1000,
        '<font color="#ffff00">Tom & Jerry</font> say <I>hi</I>\r\n\r\n'
        "a < b --> c <3 <c.yellow>x</c> <v Bob>y</v> <b>bold</b> <u>u</u>",
    )
    _, cues = parse_vtt(render_track([cue]))
    assert cues[0][2] == (
        "Tom &amp; Jerry say <i>hi</i>\na &lt; b --&gt; c &lt;3 x y <b>bold</b> <u>u</u>"
    )


def test_payloads_already_escaped_by_the_probe_pass_unchanged() -> None:
    # What ferrite.library.cues emits: escaped text, balanced <i>/<b>/<u> only.
    text = "Tom &amp; Jerry &lt;3 <i>&quot;hi&quot;</i>\n&#8212; x &#x2014; &nbsp;"
    _, cues = parse_vtt(render_track([SubtitleCue(0, 1000, text)]))
    assert cues[0][2] == text
    # A bare ampersand that is not a character reference is still escaped.
    _, cues = parse_vtt(render_track([SubtitleCue(0, 1000, "R&D &; &amp")]))
    assert cues[0][2] == "R&amp;D &amp;; &amp;amp"


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("ab <>&;#x1-/iu\n")), max_size=40))
def test_payload_cleaning_is_idempotent(text: str) -> None:
    once = [c.text for c in CueIndex([SubtitleCue(0, 1000, text)])]
    twice = [c.text for c in CueIndex([SubtitleCue(0, 1000, t) for t in once])]
    assert once == twice
    for payload in once:
        # No raw markup survives except the allowed tags; no bare '&' either.
        stripped = re.sub(r"</?[ibu]>", "", payload)
        assert "<" not in stripped
        assert ">" not in stripped
        assert "-->" not in payload
        assert re.fullmatch(
            r"([^&]|&(amp|lt|gt|[A-Za-z][A-Za-z0-9]+|#[0-9]+|#x[0-9A-Fa-f]+);)*",
            stripped.replace("\n", ""),
        )


def test_markup_only_cue_is_dropped() -> None:
    assert len(CueIndex([SubtitleCue(0, 1000, "<font color=red></font>\n\n")])) == 0


def test_render_track_sorts_and_drops_before_origin() -> None:
    cues = [SubtitleCue(5000, 6000, "b"), SubtitleCue(1000, 2000, "a"), SubtitleCue(0, 500, "z")]
    _, parsed = parse_vtt(render_track(cues, origin_s=0.8))
    assert parsed == [(200, 1200, "a"), (4200, 5200, "b")]


cue_lists = st.lists(
    st.builds(
        lambda start, length, text: SubtitleCue(start, start + length, text),
        st.integers(0, 600_000),
        st.one_of(st.integers(-5, 8_000), st.integers(LONG_CUE_MS - 2, 400_000)),
        st.text(alphabet=st.sampled_from(list("ab <>&-/i\n\r")), max_size=30),
    ),
    max_size=300,
)


@settings(max_examples=200, deadline=None)
@given(cues=cue_lists, start=st.integers(0, 700_000), length=st.integers(0, 12_000))
def test_overlapping_matches_brute_force(cues: list[SubtitleCue], start: int, length: int) -> None:
    index = CueIndex(cues)
    expected = sorted(
        (c for c in index if c.start_ms < start + length and c.end_ms > start and length > 0),
        key=lambda c: (c.start_ms, c.end_ms),
    )
    assert index.overlapping(start, start + length) == expected
    _, parsed = parse_vtt(render_segment(index, start / 1000, (start + length) / 1000))
    assert [(s, e) for s, e, _ in parsed] == [(c.start_ms, c.end_ms) for c in expected]


@settings(max_examples=100, deadline=None)
@given(cues=cue_lists)
def test_every_segment_of_a_plan_is_valid_and_nothing_is_lost(cues: list[SubtitleCue]) -> None:
    index = CueIndex(cues)
    plan = make_plans(None, duration_s=700.0, target_s=6.0).grid
    seen: set[tuple[int, int, str]] = set()
    for i in range(len(plan)):
        _, parsed = parse_vtt(render_segment(index, plan.position(i), plan.end_position(i)))
        seen.update(parsed)
    shown = {(c.start_ms, c.end_ms, c.text) for c in index if c.start_ms < 700_000}
    assert seen == shown
