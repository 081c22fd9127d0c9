"""Stream-copy packaging of real clips: fMP4 video/audio renditions and MPEG-TS segments.

Every clip is cut by a plan made from a demux pass (keyframes, 2 s target); the segments
are concatenated and decoded, played through ffmpeg as an HLS client, compared packet by
packet with the source, produced in random order, read from damaged and replaced files.
"""

from __future__ import annotations

import itertools
import random
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import pytest

from ferrite.errors import MediaChanged, MediaError, Unprocessable
from ferrite.hls import fmp4
from ferrite.hls.demux import time_base
from ferrite.hls.packager import Packager, Span, timeline_offset
from ferrite.hls.pool import ContainerPool, SourceFile
from ferrite.hls.timeline import reorder_delay
from ferrite.media import bitstream
from tests import media
from tests.hls.packager_support import (
    ffmpeg_play,
    packets,
    pes_pts,
    plan,
    source,
    start_time,
    ts_packets,
    video_pts,
    write_playlist,
)

ClipFactory = Callable[..., Path]


@dataclass(frozen=True)
class Case:
    name: str
    spec: media.Clip
    ext: str
    video_entry: str
    audio_entry: str


CASES = [
    Case("h264_bframes", media.PKG_H264_BFRAMES, ".mp4", "avc1", "mp4a"),
    Case("moov_at_end", media.PKG_MOOV_AT_END, ".mp4", "avc1", "mp4a"),
    Case("hevc10_ac3", media.PKG_HEVC10_AC3, ".mkv", "hvc1", "ac-3"),
    Case("ts_36000", media.PKG_TS_OFFSET, ".ts", "avc1", "mp4a"),
    Case("vp9_opus", media.PKG_VP9_OPUS, ".webm", "vp09", "Opus"),
    Case("av1_flac", media.PKG_AV1_FLAC, ".mkv", "av01", "fLaC"),
    Case("h264_eac3", media.PKG_H264_EAC3, ".mkv", "avc1", "ec-3"),
]
TS_CASES = [c for c in CASES if c.video_entry in ("avc1", "hvc1")]


@dataclass
class Made:
    path: Path
    spans: list[Span]
    offset: int
    init: dict[int, bytes]
    segments: dict[int, list[bytes]]


@pytest.fixture(scope="module")
def packager() -> Iterator[Packager]:
    pk = Packager()
    yield pk
    pk.close()


@pytest.fixture(scope="module")
def made(clip: ClipFactory, packager: Packager) -> Callable[[Case], Made]:
    """Init + every segment of the video (0) and audio (1) renditions, made once per clip."""
    cache: dict[str, Made] = {}

    def get(case: Case) -> Made:
        if case.name not in cache:
            path = clip("pkg_" + case.name, case.spec, case.ext)
            src = source(path)
            spans = plan(path)
            offset = timeline_offset(start_time(path))
            m = Made(path, spans, offset, {}, {})
            for idx in (0, 1):
                m.init[idx] = packager.init_segment(src, idx)
                m.segments[idx] = [
                    packager.media_segment(src, idx, sp, offset=offset) for sp in spans
                ]
            cache[case.name] = m
        return cache[case.name]

    return get


def _ids(cases: list[Case]) -> list[str]:
    return [c.name for c in cases]


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_video_copy_decodes_like_the_source(
    case: Case, made: Callable[[Case], Made], tmp_path: Path
) -> None:
    m = made(case)
    init, segs = m.init[0], m.segments[0]
    assert fmp4.init_info(init).sample_entry == case.video_entry
    assert len(segs) == len(m.spans) == 3
    out = tmp_path / "video.mp4"
    out.write_bytes(init + b"".join(segs))

    src_pts = video_pts(m.path)
    got = video_pts(out)
    assert len(got) == len(src_pts) == round(case.spec.duration * case.spec.fps)
    # Every frame at its source presentation time plus the file's offset, exactly.
    assert got == [t + m.offset for t in src_pts]

    # mfhd = index + 1; each segment's decode time starts where the previous one ended.
    frags = [fmp4.read_fragment(s) for s in segs]
    assert [f[0].sequence for f in frags] == [1, 2, 3]
    assert all(len(f) == 1 for f in frags)
    for a, b in itertools.pairwise(frags):
        assert (
            a[0].base_decode_time + sum(s.duration for s in a[0].samples) == b[0].base_decode_time
        )
    # Decode order is kept: every segment opens with its keyframe, and no composition
    # offset is negative (FFmpeg players would show video late by the largest one).
    for f in frags:
        assert f[0].samples[0].sync
        assert min(s.cto for s in f[0].samples) >= 0


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_audio_copy_carries_every_packet_exactly_once(
    case: Case, made: Callable[[Case], Made], tmp_path: Path
) -> None:
    m = made(case)
    init, segs = m.init[1], m.segments[1]
    assert fmp4.init_info(init).sample_entry == case.audio_entry
    out = tmp_path / "audio.mp4"
    out.write_bytes(init + b"".join(segs))

    src = packets(m.path, 1)
    got = packets(out, 0)
    # AAC from MPEG-TS loses its ADTS headers (MP4 carries the config once, in the init).
    adts = case.audio_entry == "mp4a" and case.ext == ".ts"
    expected = [bitstream.strip_adts(data) if adts else data for _, data in src]
    assert expected == [data for _, data in got]
    # On the source timeline, gapless from segment to segment.
    tb = Fraction(1, fmp4.init_info(init).timescale)
    with av.open(str(m.path)) as c:
        src_tb = time_base(c.streams[1])
    assert got[0][0] * tb == src[0][0] * src_tb + m.offset
    frags = [fmp4.read_fragment(s)[0] for s in segs]
    for a, b in itertools.pairwise(frags):
        assert a.base_decode_time + sum(s.duration for s in a.samples) == b.base_decode_time
    # Each packet went to the segment whose span holds its pts.
    for sp, frag in zip(m.spans, frags, strict=True):
        t0 = Fraction(frag.base_decode_time) * tb - m.offset
        assert sp.start is None or t0 >= sp.start
        assert sp.end is None or t0 < sp.end


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_ffmpeg_plays_the_fmp4_playlists(
    case: Case, made: Callable[[Case], Made], tmp_path: Path
) -> None:
    m = made(case)
    video = write_playlist(tmp_path / "v", m.segments[0], m.spans, init=m.init[0], ext="m4s")
    frames, errors = ffmpeg_play(video)
    assert errors == ""
    assert len(frames) == len(video_pts(m.path))
    audio = write_playlist(tmp_path / "a", m.segments[1], m.spans, init=m.init[1], ext="m4s")
    frames, errors = ffmpeg_play(audio)
    assert errors == ""
    assert len(frames) == len(packets(m.path, 1))


@pytest.mark.parametrize(
    "case", [CASES[0], CASES[2], CASES[3]], ids=_ids([CASES[0], CASES[2], CASES[3]])
)
def test_any_order_any_packager_same_bytes(case: Case, made: Callable[[Case], Made]) -> None:
    m = made(case)
    src = source(m.path)
    order = [(idx, sp) for idx in (0, 1) for sp in m.spans]
    random.Random(7).shuffle(order)
    fresh = Packager()
    try:
        got = {
            (idx, sp.index): fresh.media_segment(src, idx, sp, offset=m.offset) for idx, sp in order
        }
        # The init is the same whether made before or after any segment.
        assert fresh.init_segment(src, 1) == m.init[1]
        assert fresh.init_segment(src, 0) == m.init[0]
    finally:
        fresh.close()
    for idx in (0, 1):
        in_order = b"".join(m.segments[idx])
        shuffled = b"".join(got[idx, sp.index] for sp in m.spans)
        assert shuffled == in_order


@pytest.mark.parametrize("case", TS_CASES, ids=_ids(TS_CASES))
def test_ts_segments_on_the_source_timeline(
    case: Case, made: Callable[[Case], Made], packager: Packager, tmp_path: Path
) -> None:
    m = made(case)
    src = source(m.path)
    segs = [
        packager.ts_segment(src, sp, offset=m.offset, video_index=0, audio_index=1)
        for sp in m.spans
    ]
    assert (
        segs
        == [
            packager.ts_segment(src, sp, offset=m.offset, video_index=0, audio_index=1)
            for sp in reversed(m.spans)
        ][::-1]
    )
    first_pts = video_pts(m.path)
    for sp, seg in zip(m.spans, segs, strict=True):
        pkts = ts_packets(seg)
        assert pkts[0].pid == 0, "a segment starts with its PAT"
        assert pkts[1].pid == 0x1000, "then its PMT"
        counters: dict[int, int] = {}
        for p in pkts:
            if not p.has_payload:
                continue
            if p.pid in counters:
                assert p.cc == (counters[p.pid] + 1) % 16, f"CC jump on PID {p.pid:#x}"
            elif p.pid not in (0, 0x11, 0x1000):
                # Each segment restarts its counters and says so.
                assert p.discontinuity, f"first packet of PID {p.pid:#x} not flagged"
            counters[p.pid] = p.cc
        video_pid = min(pid for pid in counters if pid >= 0x100)
        first = next(p for p in pkts if p.pid == video_pid and p.pusi)
        # The segment's first picture (its keyframe) at its source time + offset, 90 kHz.
        key_t = first_pts[0] if sp.start is None else sp.start
        assert pes_pts(first.payload) == round((key_t + m.offset) * 90000) % (1 << 33)

    playlist = write_playlist(tmp_path, segs, m.spans, init=None, ext="ts")
    frames, errors = ffmpeg_play(playlist, "0:v")
    assert errors == ""
    assert len(frames) == len(first_pts)
    whole = tmp_path / "all.ts"
    whole.write_bytes(b"".join(segs))
    got = video_pts(whole)
    assert [round(t * 90000) for t in got] == [round((t + m.offset) * 90000) for t in first_pts]
    with av.open(str(whole)) as c:
        assert [s.type for s in c.streams] == ["video", "audio"]
        audio_frames = sum(1 for _ in c.demux(c.streams.audio[0]))
    assert audio_frames > 0


def test_segment_reads_only_its_own_packets(clip: ClipFactory) -> None:
    for ext in (".mp4", ".mkv"):
        path = clip("pkg_long", media.PKG_LONG, ext)
        src = source(path)
        spans = plan(path)
        assert len(spans) == 10
        with av.open(str(path)) as c:
            v = c.streams.video[0]
            tb = time_base(v)
            all_video = [p.pts * tb for p in c.demux(v) if p.pts is not None]
        pk = Packager()
        try:
            pk.init_segment(src, 0)
            pk.media_segment(src, 0, spans[0], offset=10)  # per-file facts, measured once
            before = pk.packets_demuxed
            sp = spans[7]
            pk.media_segment(src, 0, sp, offset=10)
            read = pk.packets_demuxed - before
        finally:
            pk.close()
        assert sp.start is not None
        assert sp.end is not None
        own = sum(1 for t in all_video if sp.start <= t < sp.end)
        earlier = sum(1 for t in all_video if t < sp.start)
        assert own == 48
        # Its own GOPs, the next keyframe, at most one GOP of seek slack: never 0..N-1.
        assert own <= read <= own + 24 + 2, (ext, read)
        assert read < earlier / 4


def _first_gops_delay(path: Path, gops: int = 3) -> int:
    """The reorder delay of the first GOPs, by the packager's rule."""
    pts: list[int] = []
    with av.open(str(path)) as c:
        keys = 0
        for pkt in c.demux(c.streams.video[0]):
            if pkt.pts is None:
                continue
            keys += bool(pkt.is_keyframe)
            if keys > gops:
                break
            pts.append(pkt.pts)
    return reorder_delay(pts)


def _promised_segment(
    src: SourceFile, sp: Span, settle_with: Callable[[Callable[[int | None], None]], None]
) -> tuple[bytes, int]:
    """Segment ``sp`` asked for while its delay is promised; (bytes, packets demuxed)."""
    pk = Packager()
    try:
        settle = pk.promise_video_delay([src], 0)
        with ThreadPoolExecutor(1) as pool:
            segment = pool.submit(pk.media_segment, src, 0, sp, offset=10)
            with pytest.raises(TimeoutError):
                segment.result(timeout=0.3)  # it waits for the promise
            settle_with(settle)
            return segment.result(timeout=30), pk.packets_demuxed
    finally:
        pk.close()


def test_a_promised_delay_is_awaited_not_measured(clip: ClipFactory) -> None:
    """A torrent promises its first GOP's reorder delay: a segment asked for before it
    settles waits for it (and reads only its own packets), the same bytes as a packager
    that measured the delay itself; a promise given up lets the segment measure it."""
    path = clip("pkg_long", media.PKG_LONG, ".mp4")
    src = source(path)
    sp = plan(path)[7]
    reference = Packager()
    try:
        expected = reference.media_segment(src, 0, sp, offset=10)
        measured = reference.packets_demuxed
    finally:
        reference.close()

    delay = _first_gops_delay(path)
    got, demuxed = _promised_segment(src, sp, lambda settle: settle(delay))
    assert got == expected
    assert demuxed < measured  # no GOPs read for the delay

    def give_up(settle: Callable[[int | None], None]) -> None:
        settle(None)
        settle(None)  # twice is harmless

    got, demuxed = _promised_segment(src, sp, give_up)
    assert got == expected
    assert demuxed == measured  # measured it itself


def test_changed_or_deleted_file_is_media_changed(clip: ClipFactory, tmp_path: Path) -> None:
    original = clip("pkg_h264_bframes", media.PKG_H264_BFRAMES, ".mp4")
    path = tmp_path / "movie.mp4"
    shutil.copyfile(original, path)
    src = source(path)
    spans = plan(path)
    pk = Packager()
    try:
        first = pk.media_segment(src, 0, spans[1], offset=10)
        # Replaced by another file (a re-encode, a different cut...): no stale bytes.
        other = clip("pkg_moov_at_end", media.PKG_MOOV_AT_END, ".mp4")
        shutil.copyfile(other, path)
        with pytest.raises(MediaChanged):
            pk.media_segment(src, 0, spans[1], offset=10)
        with pytest.raises(MediaChanged):
            pk.init_segment(src, 0)
        with pytest.raises(MediaChanged):
            pk.ts_segment(src, spans[1], offset=10, video_index=0, audio_index=1)
        # Rescanned: the new identity works, and reads the new file.
        again = pk.media_segment(source(path), 0, spans[1], offset=10)
        assert again != first
        path.unlink()
        with pytest.raises(MediaChanged):
            pk.media_segment(src, 0, spans[1], offset=10)
        assert pk.pool.idle_count() == 0
    finally:
        pk.close()


@pytest.mark.parametrize(
    "case", [CASES[0], CASES[2], CASES[3]], ids=_ids([CASES[0], CASES[2], CASES[3]])
)
def test_corrupt_region_fails_only_its_segment(
    case: Case, made: Callable[[Case], Made], tmp_path: Path
) -> None:
    m = made(case)
    # Garbage over the video packets at 2.3-2.6 s: inside segment 1.
    with av.open(str(m.path)) as c:
        v = c.streams.video[0]
        tb = time_base(v)
        t0 = Fraction(v.start_time or 0) * tb
        pos = next(
            p.pos
            for p in c.demux(v)
            if p.pts is not None and p.pos is not None and 2.3 < p.pts * tb - t0 < 2.6
        )
    size = m.path.stat().st_size
    damaged = media.corrupt_copy(m.path, tmp_path / ("damaged" + case.ext), at=pos / size)
    src = source(damaged)
    pk = Packager()
    try:
        with pytest.raises(MediaError, match=r"corrupt|damaged") as info:
            pk.media_segment(src, 0, m.spans[1], offset=m.offset)
        assert not isinstance(info.value, MediaChanged)
        # The segments around it are untouched, byte for byte.
        assert pk.media_segment(src, 0, m.spans[0], offset=m.offset) == m.segments[0][0]
        assert pk.media_segment(src, 0, m.spans[2], offset=m.offset) == m.segments[0][2]
        assert pk.init_segment(src, 0) == m.init[0]
    finally:
        pk.close()


def test_pool_shares_a_few_containers_between_many_threads(
    made: Callable[[Case], Made],
) -> None:
    m = made(CASES[0])
    src = source(m.path)
    pk = Packager(ContainerPool(per_file=2))
    jobs = [(idx, sp) for idx in (0, 1) for sp in m.spans] * 6
    seen_threads: set[int] = set()

    def run(job: tuple[int, Span]) -> tuple[int, int, bytes]:
        seen_threads.add(threading.get_ident())
        idx, sp = job
        return idx, sp.index, pk.media_segment(src, idx, sp, offset=m.offset)

    try:
        with ThreadPoolExecutor(max_workers=8) as ex:
            results = list(ex.map(run, jobs))
        assert pk.pool.opened <= 2
        assert pk.pool.idle_count() == pk.pool.opened
    finally:
        pk.close()
    assert len(seen_threads) > 1
    for idx, i, data in results:
        assert data == m.segments[idx][i]
    assert pk.pool.idle_count() == 0


def test_requests_the_packager_cannot_serve(
    made: Callable[[Case], Made], packager: Packager
) -> None:
    vp9 = made(CASES[4])
    src = source(vp9.path)
    with pytest.raises(Unprocessable):
        packager.ts_segment(src, vp9.spans[0], offset=10, video_index=0, audio_index=1)
    with pytest.raises(Unprocessable):
        packager.media_segment(src, 7, vp9.spans[0], offset=10)
    h264 = made(CASES[0])
    with pytest.raises(MediaError):
        # A plan that doesn't match the file: no keyframe in the span.
        packager.media_segment(
            source(h264.path), 0, Span(1, Fraction(1, 3), Fraction(1, 2)), offset=10
        )


def _transcode_run(src: Path, sp: Span, out: Path) -> bytes:
    """What a transcode run hands over: one segment re-encoded, PTS on the source timeline
    (no layer shifts timestamps, as in ``ferrite.transcode.argv``; the first segment's
    B-frame DTS are negative, i.e. wrapped in 33 bits)."""
    args = [media.FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-copyts"]
    if sp.start is not None:
        args += ["-ss", str(float(sp.start))]
    args += ["-i", str(src)]
    if sp.end is not None:
        args += ["-to", str(float(sp.end))]  # with -copyts: a source time
    args += ["-map", "0:v", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "2"]
    args += ["-s", "160x90", "-avoid_negative_ts", "disabled", "-muxdelay", "0"]
    args += ["-muxpreload", "0", "-f", "mpegts", "-mpegts_copyts", "1", str(out)]
    subprocess.run(args, check=True, capture_output=True)
    return out.read_bytes()


def test_transcode_run_output_is_repackaged_on_the_same_timeline(
    made: Callable[[Case], Made], packager: Packager, tmp_path: Path
) -> None:
    m = made(CASES[0])
    runs = [_transcode_run(m.path, sp, tmp_path / f"run{sp.index}.ts") for sp in m.spans]
    init = packager.init_from_ts(runs[0])
    assert fmp4.init_info(init).sample_entry == "avc1"
    assert packager.init_from_ts(runs[2]) == init
    frags = [
        packager.repackage_ts(r, sp, offset=m.offset, ts=False)
        for r, sp in zip(runs, m.spans, strict=True)
    ]
    out = tmp_path / "rung.mp4"
    out.write_bytes(init + b"".join(frags))
    src_pts = video_pts(m.path)
    # The rung's pictures at the copy rendition's times: ABR switches land on the same frame.
    assert video_pts(out) == [t + m.offset for t in src_pts]
    assert [fmp4.read_fragment(f)[0].sequence for f in frags] == [1, 2, 3]
    for a, b in itertools.pairwise(fmp4.read_fragment(f)[0] for f in frags):
        assert a.base_decode_time + sum(s.duration for s in a.samples) == b.base_decode_time

    ts = [
        packager.repackage_ts(r, sp, offset=m.offset, ts=True)
        for r, sp in zip(runs, m.spans, strict=True)
    ]
    playlist = write_playlist(tmp_path / "ts", ts, m.spans, init=None, ext="ts")
    frames, errors = ffmpeg_play(playlist)
    assert errors == ""
    assert len(frames) == len(src_pts)
    assert ts_packets(ts[1])[0].pid == 0


def _open_fds() -> int:
    return len(list(Path("/proc/self/fd").iterdir()))


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc")
def test_close_releases_every_file_descriptor(made: Callable[[Case], Made]) -> None:
    m = made(CASES[2])
    src = source(m.path)
    before = _open_fds()
    pk = Packager()
    for sp in m.spans:
        pk.media_segment(src, 0, sp, offset=m.offset)
        pk.ts_segment(src, sp, offset=m.offset, video_index=0, audio_index=1)
    pk.init_segment(src, 1)
    assert _open_fds() > before  # the pool keeps the file open between segments
    pk.close()
    assert _open_fds() == before
