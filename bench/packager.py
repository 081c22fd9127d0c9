"""Packager benchmark: cold stream-copy segment generation vs ffmpeg's own HLS muxer.

Prints numbers; asserts nothing about speed.

    .venv/bin/python bench/packager.py                       # 10 min 1080p source in /tmp
    .venv/bin/python bench/packager.py --minutes 10 --samples 7

The source (1080p24 H.264 ultrafast, 2 s GOPs, AAC stereo) is generated once with the
ffmpeg binary into ``/tmp/ferrite-bench`` and reused. Segment boundaries come from a demux
pass (keyframes, 2 s target), as the scanner's keyframe index would give them.

For each position (0 %, 50 %, 95 % of the file) and ``--samples`` consecutive segments:

* **cold**: a new ``Packager`` (nothing open, nothing cached): open the container, read
  the per-file facts, seek, demux, write the segment. What the first request for a file
  pays.
* **pooled**: the container is already open (the pool's steady state), the segment was
  never made before. What a playing client pays per segment.
* **pooled AAC transc.**: the audio re-encoded to AAC stereo for the segment (decode from
  0.5 s before, encode with pre-roll and look-ahead; see ``hls/aacenc.py``).
* **ffmpeg**: ``ffmpeg -ss X -i src -t 2 -c copy -f hls -hls_time 2
  -hls_segment_type fmp4`` in a fresh process, wall time until it exits with the first
  segment written: what a server spawning ffmpeg per seek pays.

Files are in the page cache (the source was just written or read): these are CPU and
syscall costs, not disk seeks.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import imageio_ffmpeg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ferrite.hls.packager import (
    AacTranscode,
    Packager,
    SourceFile,
    Span,
    spans,
    timeline_offset,
)

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
WORK = Path(tempfile.gettempdir()) / "ferrite-bench"


def make_source(minutes: int) -> Path:
    path = WORK / f"src_1080p_{minutes}min.mp4"
    if path.exists():
        return path
    WORK.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.mp4")
    seconds = minutes * 60
    cmd = [
        FFMPEG, "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=24:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "48", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-ac", "2", "-movflags", "+faststart", str(tmp),
    ]  # fmt: skip
    print(f"generating {path} (once) ...", flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    tmp.rename(path)
    print(f"  done in {time.perf_counter() - t0:.0f} s", flush=True)
    return path


def keyframe_plan(path: Path) -> list[Span]:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        tb = Fraction(v.time_base or Fraction(1, 90000))
        keys = sorted(p.pts for p in c.demux(v) if p.is_keyframe and p.pts is not None)
    starts: list[Fraction] = []
    for k in keys:
        if not starts or k * tb >= starts[-1] + 2:
            starts.append(k * tb)
    return spans(starts)


def ms(f: Callable[..., object], *args: object, **kwargs: object) -> float:
    t0 = time.perf_counter()
    f(*args, **kwargs)
    return (time.perf_counter() - t0) * 1000


def summary(xs: list[float]) -> str:
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]
    return f"median {statistics.median(xs):6.1f} ms   p95 {p95:6.1f} ms   (n={len(xs)})"


def ffmpeg_first_segment(path: Path, at: float) -> float:
    with tempfile.TemporaryDirectory(dir=WORK) as d:
        cmd = [
            FFMPEG, "-hide_banner", "-loglevel", "error", "-ss", f"{at:.3f}", "-i", str(path),
            "-t", "2", "-c", "copy", "-f", "hls", "-hls_time", "2",
            "-hls_segment_type", "fmp4", "-hls_playlist_type", "vod",
            str(Path(d) / "p.m3u8"),
        ]  # fmt: skip
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        took = (time.perf_counter() - t0) * 1000
        assert any(Path(d).glob("*.m4s")), "ffmpeg wrote no segment"
    return took


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--minutes", type=int, default=10)
    ap.add_argument("--samples", type=int, default=7, help="segments per position")
    args = ap.parse_args()

    path = make_source(args.minutes)
    st = path.stat()
    src = SourceFile(path, st.st_size, st.st_mtime_ns)
    plan = keyframe_plan(path)
    offset = timeline_offset(0.0)
    print(f"source: {path} ({st.st_size / 2**20:.0f} MiB, {len(plan)} segments of ~2 s)")
    print(f"python {sys.version.split()[0]}, PyAV {av.__version__}")

    for pct in (0, 50, 95):
        first = min(len(plan) - args.samples, round(len(plan) * pct / 100))
        chosen = plan[first : first + args.samples]
        cold_v: list[float] = []
        cold_a: list[float] = []
        pooled_v: list[float] = []
        pooled_a: list[float] = []
        pooled_ts: list[float] = []
        pooled_aac: list[float] = []
        ff: list[float] = []
        aac = AacTranscode(2)
        for sp in chosen:
            for idx, out in ((0, cold_v), (1, cold_a)):
                pk = Packager()
                out.append(ms(pk.media_segment, src, idx, sp, offset=offset))
                pk.close()
        warm = Packager()
        warm.media_segment(src, 0, plan[0], offset=offset)  # open + per-file facts
        warm.media_segment(src, 1, plan[0], offset=offset)
        for sp in chosen:
            pooled_v.append(ms(warm.media_segment, src, 0, sp, offset=offset))
            pooled_a.append(ms(warm.media_segment, src, 1, sp, offset=offset))
            pooled_ts.append(
                ms(warm.ts_segment, src, sp, offset=offset, video_index=0, audio_index=1)
            )
            pooled_aac.append(ms(warm.media_segment, src, 1, sp, offset=offset, transcode=aac))
        warm.close()
        for sp in chosen:
            assert sp.start is not None or pct == 0
            ff.append(ffmpeg_first_segment(path, float(sp.start or 0)))
        print(f"\n@ {pct:2d} % (segments {first}..{first + len(chosen) - 1})")
        print(f"  cold   video fMP4 : {summary(cold_v)}")
        print(f"  cold   audio fMP4 : {summary(cold_a)}")
        print(f"  pooled video fMP4 : {summary(pooled_v)}")
        print(f"  pooled audio fMP4 : {summary(pooled_a)}")
        print(f"  pooled TS (v+a)   : {summary(pooled_ts)}")
        print(f"  pooled AAC transc.: {summary(pooled_aac)}")
        print(f"  ffmpeg first seg  : {summary(ff)}")
        print(
            f"  ffmpeg / cold video = {statistics.median(ff) / statistics.median(cold_v):.1f}x, "
            f"ffmpeg / pooled video = {statistics.median(ff) / statistics.median(pooled_v):.1f}x"
        )


if __name__ == "__main__":
    main()
