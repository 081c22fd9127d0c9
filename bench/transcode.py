"""Transcoding benchmark: first-segment latency, encoding speed, parallel runs, paused CPU.

    .venv/bin/python bench/transcode.py [--duration 120] [--trials 5] [--speed-media 20]
                                        [--max-parallel 4] [--preset veryfast] [--keep]

1. Generates (once, cached in ``/tmp/ferrite-bench``) a 1080p24 H.264 source with 2 s
   GOPs (libx264 ultrafast, ``testsrc2`` + a sine tone), probes it with
   :func:`ferrite.library.probe.probe` and builds its 2 s segment plan with
   :func:`ferrite.hls.plan.make_plans` (the grid plan of transcoded rungs), as the server does.
2. **First segment.** For each trial and start segment (0 = play, middle of the file =
   seek): the time from ``RunManager.segment(...)`` to the first 720p segment's bytes
   (fresh manager, so a new ffmpeg), and ffmpeg's own time to finish that segment with the
   same argv (``transcode_argv``) as a plain ``subprocess.Popen`` reading stdout until the
   first csv line. Trials alternate the two, medians are reported with their ratio.
3. **Speed per rung.** One plain ffmpeg per rung (1080p, 720p, 480p, 360p) over
   ``--speed-media`` seconds of the file: media seconds / wall seconds (x real time).
4. **Parallel 720p.** N = 1..``--max-parallel`` ffmpeg runs at once (different parts of
   the file), each over ``--speed-media`` seconds: the slowest run's speed; N runs "stay
   real time" while that is >= 1.0.
5. **Paused run.** A run paused by the manager's throttle (``transcode_ahead_s`` = 4):
   its CPU time (``/proc/<pid>/stat`` utime + stime) over 3 s, next to a running one's.

Prints numbers for docs/benchmarks.md. The machine's load average is printed too: on a
shared machine the spread between runs is mostly other people's work.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from ferrite import config  # noqa: E402
from ferrite.hls.plan import SegmentPlan, make_plans  # noqa: E402
from ferrite.library.probe import probe  # noqa: E402
from ferrite.media.info import MediaInfo  # noqa: E402
from ferrite.media.renditions import Rung  # noqa: E402
from ferrite.playback.ladder import STANDARD_RUNGS, h264_level  # noqa: E402
from ferrite.transcode.argv import transcode_argv  # noqa: E402
from ferrite.transcode.binary import ffmpeg_path  # noqa: E402
from ferrite.transcode.job import TranscodeJob, VideoJob  # noqa: E402
from ferrite.transcode.run_key import RenditionKey  # noqa: E402
from ferrite.transcode.runs import JobFactory, RunManager  # noqa: E402

CACHE = Path(tempfile.gettempdir()) / "ferrite-bench"
FPS = 24
TICKS = os.sysconf("SC_CLK_TCK")


def rung(name: str) -> Rung:
    _, w, h, bitrate = next(spec for spec in STANDARD_RUNGS if spec[0] == name)
    return Rung(
        id=name,
        codec="h264",
        width=w,
        height=h,
        bitrate=bitrate,
        maxrate=bitrate,
        bufsize=2 * bitrate,
        frame_rate=None,
        profile="high",
        level=h264_level(w, h, FPS, bitrate),
    )


#: Source kinds: (file suffix, frame size, video encoder arguments).
SOURCES = {
    "1080p-h264": (
        "1080p.mp4", "1920x1080",
        ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
         "-x264-params", f"keyint={2 * FPS}:min-keyint={2 * FPS}:scenecut=0"],
    ),
    # 4K HEVC Main 10 tagged HDR10: the source that needs decode + tone map + scale.
    "2160p-hevc": (
        "2160p-hevc10.mkv", "3840x2160",
        ["-vf", "format=yuv420p10le,setparams=color_primaries=bt2020:color_trc=smpte2084"
         ":colorspace=bt2020nc", "-c:v", "libx265", "-preset", "ultrafast",
         "-x265-params", f"keyint={2 * FPS}:min-keyint={2 * FPS}:scenecut=0:log-level=error"],
    ),
}  # fmt: skip


def make_source(duration: int, kind: str = "1080p-h264") -> Path:
    suffix, size, video_args = SOURCES[kind]
    path = CACHE / f"src-{duration}s-{suffix}"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("part-" + path.name)
    print(f"generating {path} ({duration} s of {kind}, ultrafast) ...", flush=True)
    argv = [
        ffmpeg_path(), "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={FPS}:duration={duration}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={duration}",
        "-g", str(2 * FPS), *video_args, "-c:a", "aac", str(tmp),
    ]  # fmt: skip
    subprocess.run(argv, check=True)
    tmp.rename(path)
    return path


class Bench:
    def __init__(self, path: Path, preset: str) -> None:
        self.path = path
        self.info: MediaInfo = probe(path)
        self.plan: SegmentPlan = make_plans(
            self.info.keyframes,
            duration_s=self.info.duration_s,
            start_s=self.info.start_time_s,
            target_s=2.0,
        ).grid
        self.boundaries = tuple(self.plan.start(i) for i in range(len(self.plan)))
        self.preset = preset
        self.work = Path(tempfile.mkdtemp(prefix="ferrite-bench-"))

    def job(
        self, r: Rung, start: int, *, segments: int | None = None, out: str = ""
    ) -> TranscodeJob:
        video = self.info.video
        assert video is not None
        return TranscodeJob(
            input=str(self.path),
            boundaries=self.boundaries,
            start_index=start,
            end_index=None if segments is None else start + segments,
            out_dir=out,
            # As the server decides for an SDR device: HDR sources are tone-mapped.
            video=VideoJob.for_stream(video, r, tone_map=video.hdr != "none"),
            source_start_s=self.info.start_time_s,
            ffmpeg=ffmpeg_path(),
            preset=self.preset,
        )

    def out_dir(self) -> str:
        return tempfile.mkdtemp(dir=self.work)

    def settings(self, **overrides: object) -> config.Settings:
        values: dict[str, object] = {
            "data_dir": Path(tempfile.mkdtemp(dir=self.work)),
            "transcode_slots": 4,
            "transcode_ahead_s": 600.0,
        }
        values.update(overrides)
        return config.load(values, environ={})

    # -- 2. first segment --------------------------------------------------------------

    async def manager_first(self, r: Rung, start: int) -> float:
        factory = self.factory(r)
        key = RenditionKey.for_job("bench", self.plan.key, r.id, factory(0))
        async with RunManager(self.settings()) as mgr:
            began = time.perf_counter()
            data = await mgr.segment(factory, key, start, session="bench")
            took = time.perf_counter() - began
        assert data[:1] == b"\x47"  # an MPEG-TS packet
        return took

    def plain_first(self, r: Rung, start: int) -> float:
        argv = transcode_argv(self.job(r, start, out=self.out_dir()))
        began = time.perf_counter()
        with subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        ) as proc:
            assert proc.stdout is not None
            proc.stdout.readline()
            took = time.perf_counter() - began
            proc.kill()
        return took

    def factory(self, r: Rung) -> JobFactory:
        return lambda start: self.job(r, start)

    # -- 3./4. speed -------------------------------------------------------------------

    def speeds(self, r: Rung, starts: list[int], segments: int) -> list[float]:
        """Run one plain ffmpeg per start at once; each one's x real time."""
        procs = []
        for start in starts:
            job = self.job(r, start, segments=segments, out=self.out_dir())
            media = self.plan.end(start + segments - 1) - self.plan.start(start)
            began = time.perf_counter()
            proc = subprocess.Popen(
                transcode_argv(job),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            procs.append((proc, began, media))
        out = []
        for proc, began, media in procs:
            if proc.wait() != 0:
                raise RuntimeError("ffmpeg failed")
            out.append(media / (time.perf_counter() - began))
        return out

    # -- 5. paused CPU -------------------------------------------------------------------

    async def paused_cpu(self, r: Rung, seconds: float = 3.0) -> tuple[float, float]:
        factory = self.factory(r)
        key = RenditionKey.for_job("bench", self.plan.key, r.id, factory(0))
        async with RunManager(self.settings(transcode_ahead_s=4.0)) as mgr:
            await mgr.segment(factory, key, 0, session="bench")
            # While it runs (it is producing segments 1, 2 ... until 4 s ahead).
            (run,) = mgr.runs(key)
            assert run.pid is not None
            before = ticks(run.pid)
            await asyncio.sleep(0.5)
            running = (ticks(run.pid) - before) / TICKS / 0.5
            while mgr.runs(key)[0].state != "paused":  # noqa: ASYNC110 (watching from outside)
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.1)  # let SIGSTOP land
            before = ticks(run.pid)
            await asyncio.sleep(seconds)
            paused = (ticks(run.pid) - before) / TICKS / seconds
        return running, paused


def ticks(pid: int) -> int:
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--duration", type=int, default=120, help="source length, seconds")
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--speed-media", type=float, default=20.0, help="media seconds per run")
    ap.add_argument("--max-parallel", type=int, default=4)
    ap.add_argument("--preset", default="veryfast", help="x264 preset (setting x264_preset)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--source", choices=sorted(SOURCES), default="1080p-h264")
    ap.add_argument("--first-only", action="store_true", help="only the first-segment figures")
    args = ap.parse_args()

    bench = Bench(make_source(args.duration, args.source), args.preset)
    r720 = rung("720p")
    segments = max(1, round(args.speed_media / 2))
    n = len(bench.plan)
    print(f"source: {bench.path} ({bench.info.duration_s:.0f} s, {n} segments of 2 s)")
    print(f"cpus: {os.cpu_count()}, load before: {load()}, preset: {args.preset}\n")
    try:
        print("first 720p segment (median over trials, ms):")
        print("  start  manager  plain ffmpeg  ratio")
        for start in (0, n // 2):
            mgr_times: list[float] = []
            plain_times: list[float] = []
            for trial in range(args.trials):
                # Alternate the order so neither side always gets the warmer page cache.
                if trial % 2:
                    plain_times.append(bench.plain_first(r720, start))
                    mgr_times.append(asyncio.run(bench.manager_first(r720, start)))
                else:
                    mgr_times.append(asyncio.run(bench.manager_first(r720, start)))
                    plain_times.append(bench.plain_first(r720, start))
            m, p = statistics.median(mgr_times), statistics.median(plain_times)
            print(f"  {start:5d}  {m * 1000:7.0f}  {p * 1000:12.0f}  {m / p:5.2f}")
        if args.first_only:
            return

        print(f"\nencoding speed, one run alone, {segments * 2} s of media (x real time):")
        for name in ("1080p", "720p", "480p", "360p"):
            (speed,) = bench.speeds(rung(name), [n // 4], segments)
            print(f"  {name:>6}  {speed:5.2f}x")

        print(f"\nsimultaneous 720p runs, {segments * 2} s of media each (x real time):")
        print("  runs  slowest  mean   real time?")
        spread = max(1, (n - segments) // max(1, args.max_parallel))
        for count in range(1, args.max_parallel + 1):
            starts = [(i * spread) % max(1, n - segments) for i in range(count)]
            s = bench.speeds(r720, starts, segments)
            verdict = "yes" if min(s) >= 1.0 else "no"
            print(f"  {count:4d}  {min(s):6.2f}x  {statistics.mean(s):4.2f}x  {verdict}")

        running, paused = asyncio.run(bench.paused_cpu(r720))
        print("\n720p run CPU (cores busy, from /proc/<pid>/stat utime+stime):")
        print(f"  running: {running:.2f}   paused (3 s): {paused:.3f}")
        print(f"\nload after: {load()}")
    finally:
        if not args.keep:
            shutil.rmtree(bench.work, ignore_errors=True)


if __name__ == "__main__":
    main()
