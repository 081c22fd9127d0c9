"""AAC transcode renditions: segments encoded apart must join into one seamless stream.

The sources hold a 440 Hz sine, so any gap, overlap or misplaced segment shows as a
large sample error against the decoded source, and a click as a sample-to-sample step
no sine of that frequency makes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import av
import pytest

from ferrite.hls import fmp4
from ferrite.hls.demux import time_base
from ferrite.hls.packager import AacTranscode, Packager, timeline_offset
from tests import media
from tests.hls.packager_support import (
    Pcm,
    decode_audio,
    ffmpeg_play,
    plan,
    source,
    start_time,
    write_playlist,
)

ClipFactory = Callable[..., Path]
RATE = 48000

CASES = {
    # AC-3 5.1 in Matroska: millisecond timestamps, a first packet at -5 ms.
    "ac3_51_mkv": ("pkg_hevc10_ac3", media.PKG_HEVC10_AC3, ".mkv"),
    # AAC in Matroska: 1024-sample frames on a millisecond clock (21.333 ms -> 21/22 ms).
    "aac_mkv": ("pkg_h264_bframes", media.PKG_H264_BFRAMES, ".mkv"),
    # ADTS AAC in MPEG-TS at 36000 s: 90 kHz timestamps.
    "aac_ts": ("pkg_ts_36000", media.PKG_TS_OFFSET, ".ts"),
}


def _align(src: Pcm, out: Pcm, expected: int, c: int) -> int:
    """Index in ``out`` of ``src``'s first sample (searched around ``expected``)."""
    n = src.channels
    probe = range(4000, min(src.frames, 60000), 23)

    def err(lag: int) -> float:
        return max(
            float(abs(src.samples[i * n + c] - out.samples[(i + lag) * n + c])) for i in probe
        )

    return min(range(expected - 64, expected + 65), key=err)


def _max_step(pcm: Pcm, start: int, stop: int, c: int) -> float:
    n = pcm.channels
    s = pcm.samples
    return max(float(abs(s[i * n + c] - s[(i - 1) * n + c])) for i in range(start + 1, stop))


@pytest.mark.parametrize(
    ("case", "layout", "channels"),
    [
        ("ac3_51_mkv", "stereo", 2),
        ("ac3_51_mkv", "5.1", 6),
        ("aac_mkv", "stereo", 2),
        ("aac_ts", "stereo", 2),
    ],
)
def test_transcoded_segments_join_without_gaps_or_clicks(
    case: str, layout: str, channels: int, clip: ClipFactory, tmp_path: Path
) -> None:
    name, spec, ext = CASES[case]
    path = clip(name, spec, ext)
    src = source(path)
    spans = plan(path)
    offset = timeline_offset(start_time(path))
    tc = AacTranscode(channels)
    pk = Packager()
    try:
        init = pk.init_segment(src, 1, transcode=tc)
        segs = [pk.media_segment(src, 1, sp, offset=offset, transcode=tc) for sp in spans]
        # Produced in another order by another packager: the same bytes.
        fresh = Packager()
        try:
            backwards = [
                fresh.media_segment(src, 1, sp, offset=offset, transcode=tc)
                for sp in reversed(spans)
            ]
            assert fresh.init_segment(src, 1, transcode=tc) == init
        finally:
            fresh.close()
        assert backwards[::-1] == segs
    finally:
        pk.close()

    info = fmp4.init_info(init)
    assert (info.sample_entry, info.timescale) == ("mp4a", RATE)
    with av.open(str(path)) as c:
        a = c.streams[1]
        first_pts = next(p.pts for p in c.demux(a) if p.pts is not None)
        anchor = round(first_pts * time_base(a) * RATE)
    frags = [fmp4.read_fragment(s)[0] for s in segs]
    for frag in frags:
        # Every segment's frames sit on one global 1024-sample grid ...
        assert (frag.base_decode_time - offset * RATE - anchor) % 1024 == 0
        assert all(s.duration == 1024 for s in frag.samples[:-1])
    for x, y in itertools.pairwise(frags):
        # ... and each segment ends where the next begins.
        assert x.base_decode_time + sum(s.duration for s in x.samples) == y.base_decode_time
    # Segment 0 opens with the encoder's priming frame, one frame before the audio.
    assert frags[0].base_decode_time == offset * RATE + anchor - 1024

    out = tmp_path / "aac.mp4"
    out.write_bytes(init + b"".join(segs))
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.channels == channels
    reference = decode_audio(path, 1, layout)
    got = decode_audio(out, 0, layout)
    # The sine is in the loudest channel (a mono source upmixed to 5.1 is all centre).
    ch = max(range(reference.channels), key=lambda i: max(reference.channel(i)))
    expected = round((reference.first + offset - got.first) * RATE)
    lag = _align(reference, got, expected, ch)
    assert abs(lag - expected) <= 48  # the source's own timestamps are this precise
    # Same length as the source, within a frame (the encoder pads the last one).
    assert 0 <= got.frames - lag - reference.frames < 1024

    peak = max(abs(x) for x in reference.channel(ch))
    n = reference.channels
    worst = max(
        abs(reference.samples[i * n + ch] - got.samples[(i + lag) * n + ch])
        for i in range(reference.frames - 1)
    )
    assert worst < 0.1 * peak, f"decoded audio strays {worst / peak:.0%} from the source"
    # No clicks: nowhere, and in particular not at segment boundaries, does the output
    # move faster than the source does.
    source_step = _max_step(reference, 0, reference.frames, ch)
    assert _max_step(got, lag, lag + reference.frames - 1, ch) < 1.5 * source_step
    for sp in spans[1:]:
        assert sp.start is not None
        at = lag + round((sp.start - reference.first) * RATE)
        around = max(
            abs(reference.samples[(i - lag) * n + ch] - got.samples[i * n + ch])
            for i in range(at - 2048, at + 2048)
        )
        assert around < 0.1 * peak, f"boundary at {float(sp.start):.2f} s"

    playlist = write_playlist(tmp_path / "hls", segs, spans, init=init, ext="m4s")
    frames, errors = ffmpeg_play(playlist)
    assert errors == ""
    assert len(frames) == sum(len(f.samples) for f in frags)


def test_ts_segments_with_transcoded_audio(clip: ClipFactory, tmp_path: Path) -> None:
    name, spec, ext = CASES["ac3_51_mkv"]
    path = clip(name, spec, ext)
    src = source(path)
    spans = plan(path)
    pk = Packager()
    try:
        segs = [
            pk.ts_segment(
                src, sp, offset=10, video_index=0, audio_index=1, audio_transcode=AacTranscode()
            )
            for sp in spans
        ]
    finally:
        pk.close()
    playlist = write_playlist(tmp_path, segs, spans, init=None, ext="ts")
    _, errors = ffmpeg_play(playlist)
    assert errors == ""
    whole = tmp_path / "all.ts"
    whole.write_bytes(b"".join(segs))
    with av.open(str(whole)) as c:
        audio = c.streams.audio[0]
        assert audio.codec_context.name == "aac"
        pts = [f.pts for f in c.decode(audio)]
    steps = {b - a for a, b in itertools.pairwise(pts) if a is not None and b is not None}
    assert steps == {1920}, "AAC frames back to back across segments (1024 samples at 90 kHz)"
    assert len(pts) * 1024 >= spec.duration * RATE
