"""The benchmark's pure pieces: statistics, schedules, the virtual buffer, playlists,
the report."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from ferrite.bench import report
from ferrite.bench.buffer import VirtualBuffer
from ferrite.bench.playlists import attributes, parse_master, parse_media
from ferrite.bench.procstat import ServerUsage
from ferrite.bench.schedule import SETTLE_S, TAIL_FRACTION, make_plans
from ferrite.bench.stats import Summary, ViewerStats, percentile
from ferrite.bench.viewer import transcode_height


# -- stats ----------------------------------------------------------------------------------
def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([5], 99) == 5
    assert percentile(list(range(101)), 95) == 95
    assert percentile([10, 0], 0) == 0
    assert percentile([10, 0], 100) == 10
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError, match="out of range"):
        percentile([1], 101)


def test_summary() -> None:
    s = Summary.of([4.0, 1.0, 3.0, 2.0])
    assert (s.n, s.median, s.max, s.mean) == (4, 2.5, 4.0, 2.5)
    assert s.p95 == pytest.approx(3.85)
    assert s.triple() == "2.5 / 3.8 / 4.0"  # 3.85 is 3.8499... in binary
    empty = Summary.of([])
    assert empty.n == 0
    assert empty.to_dict()["median"] is None
    assert empty.triple() == "-"


# -- schedule -------------------------------------------------------------------------------
def test_plans_are_deterministic_and_in_range() -> None:
    kw = dict(viewers=20, duration_s=60, items=[3, 1, 2], seeks=3, switch_fraction=0.25)
    a = make_plans(seed=7, **kw)  # type: ignore[arg-type]
    assert a == make_plans(seed=7, **kw)  # type: ignore[arg-type]
    assert a != make_plans(seed=8, **kw)  # type: ignore[arg-type]
    assert len(a) == 20
    assert sum(p.switch_at_s is not None for p in a) == 5
    for p in a:
        assert 0 <= p.start_s <= 5
        assert sorted(p.items) == [1, 2, 3]
        assert len(p.seeks) == 3
        assert [s.at_s for s in p.seeks] == sorted(s.at_s for s in p.seeks)
        for s in p.seeks:
            assert SETTLE_S <= s.at_s <= 60
            assert 0 <= s.fraction < TAIL_FRACTION
        assert p.item(0) == p.items[0]
        assert p.item(3) == p.items[0]  # cycles


def test_plan_edge_cases() -> None:
    (only,) = make_plans(seed=1, viewers=1, duration_s=10, items=[5], seeks=0, switch_fraction=1)
    assert only.start_s == 0
    assert only.seeks == ()
    assert only.switch_at_s is not None
    assert make_plans(seed=1, viewers=0, duration_s=10, items=[5]) == []
    with pytest.raises(ValueError, match="no items"):
        make_plans(seed=1, viewers=1, duration_s=10, items=[])
    with pytest.raises(ValueError, match="duration_s > 0"):
        make_plans(seed=1, viewers=1, duration_s=0, items=[1])


# -- the virtual buffer -----------------------------------------------------------------------
def test_ttff_then_playing_without_stall() -> None:
    b = VirtualBuffer(media_end_s=10, now=100.0)
    assert b.received(100.25, 2.0) is not None
    assert b.events[-1].kind == "ttff"
    assert b.events[-1].ms == pytest.approx(250)
    assert b.state == "playing"
    assert b.ahead_s(101.0) == pytest.approx(1.25)
    assert b.received(101.5, 4.0) is None  # arrived in time
    assert b.position_s == pytest.approx(1.25)
    assert b.runs_dry_at() == pytest.approx(101.5 + 2.75)


def test_stall_is_measured_from_the_moment_the_buffer_ran_dry() -> None:
    b = VirtualBuffer(media_end_s=10, now=0.0)
    b.received(0.0, 2.0)  # ttff 0
    b.advance(3.0)  # ran dry at t=2
    assert b.state == "stalled"
    assert b.position_s == 2.0
    ev = b.received(3.5, 4.0)
    assert ev is not None
    assert ev.kind == "stall"
    assert ev.ms == pytest.approx(1500)
    assert b.state == "playing"


def test_seek_drops_the_buffer_and_measures_the_wait() -> None:
    b = VirtualBuffer(media_end_s=100, now=0.0)
    b.received(0.1, 2.0)
    b.received(0.2, 30.0)
    b.seek(1.0, 50.0)
    assert b.state == "seeking"
    assert b.ahead_s(1.0) == 0
    b.advance(5.0)  # no stall while seeking
    assert b.state == "seeking"
    assert b.received(1.2, 49.0) is None  # a segment before the position doesn't help
    ev = b.received(1.3, 52.0)
    assert ev is not None
    assert ev.kind == "seek"
    assert ev.ms == pytest.approx(300)


def test_end_of_title_is_not_a_stall() -> None:
    b = VirtualBuffer(media_end_s=4, now=0.0)
    b.received(0.0, 4.0)
    b.advance(10.0)
    assert b.ended
    assert b.position_s == 4
    assert [e.kind for e in b.events] == ["ttff"]


# -- playlists --------------------------------------------------------------------------------
MASTER = "\n".join(
    [
        "#EXTM3U",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="English, stereo",LANGUAGE="en",'
        'DEFAULT=YES,URI="t/TOK/a/a1-copy.m3u8"',
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="French",DEFAULT=NO,URI="t/TOK/a/a2-copy.m3u8"',
        "#EXT-X-STREAM-INF:BANDWIDTH=2800000,AVERAGE-BANDWIDTH=2500000,"
        'CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720,AUDIO="aud"',
        "t/TOK/v/copy.m3u8",
        '#EXT-X-STREAM-INF:BANDWIDTH=1500000,RESOLUTION=854x480,AUDIO="aud"',
        "t/TOK/v/480p.m3u8",
        "",
    ]
)

MEDIA = """#EXTM3U
#EXT-X-TARGETDURATION:2
#EXT-X-MAP:URI="copy/init.mp4"
#EXTINF:2.000,
copy/0.m4s
#EXTINF:2.000,
copy/1.m4s
#EXTINF:1.500,
copy/2.m4s
#EXT-X-ENDLIST
"""


def test_parse_master() -> None:
    m = parse_master(MASTER)
    assert [v.uri for v in m.variants] == ["t/TOK/v/copy.m3u8", "t/TOK/v/480p.m3u8"]
    assert m.variants[0].bandwidth == 2_800_000
    assert m.variants[0].audio_group == "aud"
    assert [(a.name, a.default) for a in m.audio] == [("English, stereo", True), ("French", False)]
    assert attributes('A=1,B="x,y",C=z') == {"A": "1", "B": "x,y", "C": "z"}
    with pytest.raises(ValueError, match="no variant"):
        parse_master("#EXTM3U\n")


def test_parse_media() -> None:
    p = parse_media(MEDIA)
    assert p.init_uri == "copy/init.mp4"
    assert [s.uri for s in p.segments] == ["copy/0.m4s", "copy/1.m4s", "copy/2.m4s"]
    assert p.duration_s == pytest.approx(5.5)
    assert [p.index_at(x) for x in (0, 1.99, 2.0, 5.0, 99)] == [0, 0, 1, 2, 2]


# -- report -----------------------------------------------------------------------------------
def _stats() -> ViewerStats:
    return ViewerStats(
        ttff_ms=[100, 200],
        seek_ms=[50],
        stall_ms=[1000],
        segment_ms=[5, 6, 7],
        bytes=10 * 1024 * 1024,
        requests=9,
        segments=3,
        sessions=1,
        errors=Counter({"segment 503": 1}),
    )


def test_run_result_and_table() -> None:
    key = ("cache_hits_total", frozenset({("kind", "segment")}))
    gen_count = ("hls_segment_generation_ms_count", frozenset({("mode", "copy")}))
    gen_sum = ("hls_segment_generation_ms_sum", frozenset({("mode", "copy")}))
    delta = report.metrics_delta(
        {key: 5.0, gen_count: 1.0, gen_sum: 10.0},
        {key: 8.0, gen_count: 3.0, gen_sum: 30.0},
    )
    run = report.run_result(
        mode="copy",
        viewers=2,
        duration_s=10,
        wall_s=10,
        seed=1,
        connections=4,
        stats=[_stats(), ViewerStats(ttff_ms=[300])],
        usage=ServerUsage(cpu_s=2.0, peak_rss=300 * report.MiB, peak_children_rss=100 * report.MiB),
        delta=delta,
        load_avg=[(1.0, 1.0, 1.0), (2.0, 1.0, 1.0)],
    )
    assert run["ttff_ms"]["n"] == 3
    assert run["ttff_ms"]["median"] == 200
    assert run["stalls"] == {
        "count": 1,
        "total_ms": 1000,
        "viewers_stalled": 1,
        "stall_ms": Summary.of([1000]).to_dict(),
    }
    assert run["server"]["cpu_cores"] == 0.2
    assert run["server"]["cpu_ms_per_segment"] == pytest.approx(666.67)
    assert run["server_metrics"]["cache_hits"] == 3
    assert run["server_metrics"]["segment_generation"] == {"copy": {"count": 2, "mean_ms": 10.0}}
    assert run["errors"] == {"count": 1, "by_kind": {"segment 503": 1}}
    table = report.render_table([run])
    assert "| copy | 2 | 200 / 290 / 298 |" in table
    assert "200 (+100)" in table
    doc = {"runs": [run]}
    faster = {"runs": [{**run, "ttff_ms": {**run["ttff_ms"], "median": 100.0}}]}
    assert "| copy | 2 | 0.50x |" in report.compare(doc, faster)


def test_transcode_height_is_below_the_source() -> None:
    assert transcode_height(720) == 480
    assert transcode_height(1080) == 720
    assert transcode_height(2160) == 1080
    assert transcode_height(180) == 144
