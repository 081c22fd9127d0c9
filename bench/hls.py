"""HLS path figures (issue 4): cold start, warm latency, segments per core, 50 viewers.

Prints numbers (and writes JSON with ``--json``); asserts nothing about speed.

    .venv/bin/python bench/hls.py                        # defaults: --samples 5 --warm 200
    .venv/bin/python bench/hls.py --samples 3 --rate-segments 60 --viewers 50 --json out.json

Sources (generated once into ``/tmp/ferrite-bench`` and reused; the first run takes a few
minutes): the 10-minute 1080p24 H.264/AAC MP4 of ``bench/packager.py`` (x264 ultrafast,
2 s GOPs, ~13 Mb/s) and a **2-hour** 1080p24 H.264/AAC MP4 (a 60 s x264 veryfast clip
stream-copied 120 times: 172,800 video samples, 3,600 keyframes in its index, a 3,600
segment plan). Both are hard-linked into a library that a real ``ferrite serve`` child
process scans once; every measurement talks HTTP to that process, so its CPU is its own.

1. **cold start**, per source, ``--samples`` times, each on a freshly started server (no
   open container, empty cache; the file itself is in the page cache): ``POST
   /api/playback`` (loads the file's keyframe index from the database, builds the plan
   and the renditions) -> master playlist -> video and audio media playlists -> both init
   segments -> both first media segments. Against it, alternating with it: ffmpeg's own
   time to write the first segment of the same file in copy mode (``ffmpeg -i SRC -map 0
   -c copy -t D0 -f hls -hls_time 2 -hls_segment_type fmp4 -hls_playlist_type vod``,
   wall time from spawn to exit, i.e. init + first segment + playlist written), and the
   ratio of the medians.
2. **warm-cache segment latency**: the first video segment requested ``--warm`` times
   again over one keep-alive connection (cache hits), next to ``GET /healthz`` (the HTTP
   and client floor).
3. **segments per second on one core**: the server's threads pinned to CPU 0 and
   ``--rate-segments`` distinct, never-made video segments of the 1080p source requested
   by 4 client threads (the packager has 4 workers); segments produced (from
   ``/metrics``, prefetches included) per wall second, and per CPU second of the server
   (``/proc``), which holds even on a loaded machine.
4. **N viewers at real-time rate** (``--viewers``, default 50; 0 skips): ``ferrite bench``'s
   viewers (copy mode) against the same server and both titles for ``--viewer-duration``
   seconds: does any fall behind (stall)?
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import imageio_ffmpeg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ferrite.bench import procstat, report
from ferrite.bench.playlists import parse_master, parse_media
from ferrite.bench.run import Options, parse_metrics
from ferrite.bench.run import run as run_viewers
from ferrite.bench.server import SpawnedServer
from ferrite.bench.stats import Summary

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
WORK = Path(tempfile.gettempdir()) / "ferrite-bench"
USER, PASSWORD = "bench", "bench-password-0"


def _ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def source_10min() -> Path:
    path = WORK / "src_1080p_10min.mp4"  # shared with bench/packager.py
    if not path.exists():
        print(f"generating {path} (once) ...", flush=True)
        WORK.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part.mp4")
        _ffmpeg(
            "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=24:duration=600",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=600",
            "-c:v", "libx264", "-preset", "ultrafast", "-g", "48", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-ac", "2", "-movflags", "+faststart", str(tmp),
        )  # fmt: skip
        tmp.rename(path)
    return path


def source_2h() -> Path:
    path = WORK / "src_1080p_2h.mp4"
    if path.exists():
        return path
    WORK.mkdir(parents=True, exist_ok=True)
    clip = WORK / "src_1080p_60s_veryfast.mp4"
    print(f"generating {path} (once) ...", flush=True)
    if not clip.exists():
        part = clip.with_suffix(".part.mp4")
        _ffmpeg(
            "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=24:duration=60",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=60",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "28", "-pix_fmt", "yuv420p",
            "-x264-params", "keyint=48:min-keyint=48:scenecut=0",
            "-c:a", "aac", "-ac", "2", "-movflags", "+faststart", str(part),
        )  # fmt: skip
        part.rename(clip)
    tmp = path.with_suffix(".part.mp4")
    _ffmpeg(
        "-stream_loop", "119", "-i", str(clip), "-map", "0", "-c", "copy",
        "-movflags", "+faststart", str(tmp),
    )  # fmt: skip
    tmp.rename(path)
    return path


def library(sources: dict[str, Path]) -> Path:
    root = WORK / "hls-lib"
    for title, src in sources.items():
        dst = root / f"{title} (2024)" / f"{title} (2024).mp4"
        if dst.exists():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)
        except OSError:
            dst.symlink_to(src)
    return root


# -- the server ------------------------------------------------------------------------------
class Api:
    def __init__(self, server: SpawnedServer) -> None:
        self.server = server
        self.c = httpx.Client(base_url=server.url, timeout=120)
        self.c.post("/api/setup", json={"username": USER, "password": PASSWORD})
        r = self.c.post("/api/auth/login", json={"username": USER, "password": PASSWORD})
        r.raise_for_status()
        self.headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        deadline = time.monotonic() + 900
        while True:
            libs = self.c.get("/api/libraries", headers=self.headers).json()
            if libs and not any(lib["scanning"] for lib in libs):
                break
            if time.monotonic() > deadline:
                raise SystemExit("the scan did not finish")
            time.sleep(0.2)
        items = self.c.get("/api/items", params={"limit": 50}, headers=self.headers).json()
        self.items = {i["title"]: i["id"] for i in items["items"]}

    def metrics(self) -> report.Samples:
        return parse_metrics(self.c.get("/metrics").text)

    def close(self) -> None:
        self.c.close()


def cold_start(api: Api, item_id: int, *, keep: bool = False) -> dict[str, Any]:
    """Session -> master -> media playlists -> inits -> first segments, timed by step."""
    c = api.c
    marks = [time.perf_counter()]
    r = c.post(
        "/api/playback",
        json={"item_id": item_id, "device": "chrome", "protocol": "hls", "start_s": 0},
        headers=api.headers,
    )
    r.raise_for_status()
    pb = r.json()
    marks.append(time.perf_counter())
    master_url = str(c.base_url.join(pb["url"]))
    master = parse_master(c.get(master_url).raise_for_status().text)
    marks.append(time.perf_counter())
    (video,) = [v for v in master.variants if v.uri.endswith("v/copy.m3u8")]
    audio = next(a for a in master.audio if a.default)
    urls = [httpx.URL(master_url).join(u) for u in (video.uri, audio.uri)]
    playlists = [parse_media(c.get(u).raise_for_status().text) for u in urls]
    marks.append(time.perf_counter())
    for u, p in zip(urls, playlists, strict=True):
        assert p.init_uri is not None
        c.get(u.join(p.init_uri)).raise_for_status()
    marks.append(time.perf_counter())
    first = [
        c.get(u.join(p.segments[0].uri)).raise_for_status()
        for u, p in zip(urls, playlists, strict=True)
    ]
    marks.append(time.perf_counter())
    if not keep:
        c.delete(f"/api/playback/{pb['session_id']}", params={"token": pb["token"]})
    steps = ("create", "master", "playlists", "inits", "segments")
    out = {s: (b - a) * 1000 for s, a, b in zip(steps, marks, marks[1:], strict=False)}
    out["total"] = (marks[-1] - marks[0]) * 1000
    out["first_segment_s"] = playlists[0].segments[0].end_s
    out["segment_bytes"] = sum(len(r.content) for r in first)
    out["video_segment_bytes"] = len(first[0].content)
    out["segments_in_plan"] = len(playlists[0].segments)
    out["_video_url"] = str(urls[0].join(playlists[0].segments[0].uri))
    out["_video_playlist"] = (str(urls[0]), playlists[0])
    return out


def ffmpeg_first_segment(src: Path, duration_s: float) -> float:
    with tempfile.TemporaryDirectory(prefix="ffhls-") as out:
        argv = [
            FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-i", str(src),
            "-map", "0:v:0", "-map", "0:a:0", "-c", "copy", "-t", f"{duration_s:.3f}",
            "-f", "hls", "-hls_time", "2", "-hls_segment_type", "fmp4",
            "-hls_playlist_type", "vod", f"{out}/p.m3u8",
        ]  # fmt: skip
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)
        elapsed = (time.perf_counter() - t0) * 1000
        assert any(Path(out).glob("*.m4s")), "ffmpeg wrote no segment"
        return elapsed


def warm_latency(api: Api, url: str, n: int) -> dict[str, Any]:
    seg, floor = [], []
    for _ in range(n):
        t = time.perf_counter()
        api.c.get(url).raise_for_status()
        seg.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        api.c.get("/healthz").raise_for_status()
        floor.append((time.perf_counter() - t) * 1000)
    return {"segment": Summary.of(seg).to_dict(3), "healthz": Summary.of(floor).to_dict(3)}


def pin(pid: int, cpus: set[int]) -> None:
    for task in Path(f"/proc/{pid}/task").iterdir():  # every thread, not only the main one
        with contextlib.suppress(OSError):
            os.sched_setaffinity(int(task.name), cpus)


def segment_rate(api: Api, playlist_url: str, playlist: Any, count: int) -> dict[str, Any]:
    pid = api.server.pid
    assert pid is not None
    n_segments = len(playlist.segments)
    # every third segment from 10 on: never made before (prefetch makes the two after each)
    picks = list(range(10, min(n_segments, 10 + 3 * count), 3))[:count]
    base = httpx.URL(playlist_url)
    urls = [str(base.join(playlist.segments[i].uri)) for i in picks]
    pin(pid, {0})
    try:
        before = api.metrics()
        cpu0 = procstat.cpu_seconds(pid)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            clients = [httpx.Client(timeout=120) for _ in range(4)]
            try:
                list(
                    pool.map(
                        lambda iu: clients[iu[0] % 4].get(iu[1]).raise_for_status(), enumerate(urls)
                    )
                )
            finally:
                for cl in clients:
                    cl.close()
        time.sleep(0.5)  # let the last prefetches finish (they count as produced)
        wall = time.perf_counter() - t0
        cpu = procstat.cpu_seconds(pid) - cpu0
        after = api.metrics()
    finally:
        pin(pid, set(range(os.cpu_count() or 1)))
    key = ("hls_segment_generation_ms_count", frozenset({("mode", "copy")}))
    made = after.get(key, 0) - before.get(key, 0)
    gen_sum = ("hls_segment_generation_ms_sum", frozenset({("mode", "copy")}))
    return {
        "requested": len(urls),
        "produced": int(made),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "per_wall_s": round(made / wall, 1),
        "per_cpu_s": round(made / cpu, 1) if cpu else None,
        "mean_generation_ms": round((after.get(gen_sum, 0) - before.get(gen_sum, 0)) / made, 1),
    }


def fmt(s: dict[str, Any]) -> str:
    return f"{s['median']:.1f} / {s['p95']:.1f} / {s['p99']:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument("--warm", type=int, default=200)
    ap.add_argument("--rate-segments", type=int, default=60)
    ap.add_argument("--viewers", type=int, default=50)
    ap.add_argument("--viewer-duration", type=float, default=60.0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    sources = {"Ten Minutes": source_10min(), "Two Hours": source_2h()}  # 1080p24 both
    lib = library(sources)
    load = [procstat.load_average()]
    out: dict[str, Any] = {"sources": {k: str(v) for k, v in sources.items()}, "cold": {}}
    with tempfile.TemporaryDirectory(prefix="ferrite-hls-bench-") as tmp:
        data = Path(tmp)
        cold: dict[str, list[dict[str, Any]]] = {t: [] for t in sources}
        ff: dict[str, list[float]] = {t: [] for t in sources}
        last: dict[str, dict[str, Any]] = {}
        for sample in range(args.samples):
            for title, src in sources.items():
                server = SpawnedServer(data, lib)
                server.start()
                api = Api(server)
                try:
                    result = cold_start(api, api.items[title])
                finally:
                    api.close()
                    server.stop()
                cold[title].append(result)
                last[title] = result
                ff[title].append(ffmpeg_first_segment(src, result["first_segment_s"]))
                print(
                    f"sample {sample + 1} {title}: ferrite {result['total']:.0f} ms "
                    f"(create {result['create']:.0f}, master {result['master']:.0f}, "
                    f"playlists {result['playlists']:.0f}, inits {result['inits']:.0f}, "
                    f"segments {result['segments']:.0f}), ffmpeg {ff[title][-1]:.0f} ms",
                    flush=True,
                )
        print(f"\ncold start, ms (median of {args.samples}; p95)")
        print(
            "| source | segments in plan | create | master | media playlists | inits "
            "| first segments | total | ffmpeg -c copy -f hls | ferrite / ffmpeg |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for title in sources:
            rows = cold[title]
            med = {
                k: statistics.median(r[k] for r in rows)
                for k in ("create", "master", "playlists", "inits", "segments", "total")
            }
            p95 = Summary.of([r["total"] for r in rows]).p95
            ffm = statistics.median(ff[title])
            ratio = med["total"] / ffm
            out["cold"][title] = {
                **{k: round(v, 1) for k, v in med.items()},
                "total_p95": round(p95, 1),
                "ffmpeg_ms": round(ffm, 1),
                "ffmpeg_p95": round(Summary.of(ff[title]).p95, 1),
                "ratio": round(ratio, 2),
                "segments_in_plan": rows[0]["segments_in_plan"],
                "first_segments_bytes": rows[0]["segment_bytes"],
            }
            print(
                f"| {title} | {rows[0]['segments_in_plan']} | {med['create']:.0f} | "
                f"{med['master']:.1f} | "
                f"{med['playlists']:.1f} | {med['inits']:.0f} | {med['segments']:.0f} | "
                f"{med['total']:.0f} (p95 {p95:.0f}) | {ffm:.0f} | {ratio:.2f}x |"
            )

        server = SpawnedServer(data, lib)
        server.start()
        api = Api(server)
        try:
            title = "Ten Minutes"
            first = cold_start(api, api.items[title], keep=True)
            warm = warm_latency(api, first["_video_url"], args.warm)
            out["warm"] = warm
            print(
                f"\nwarm-cache video segment ({first['video_segment_bytes'] / 1e6:.1f} MB), "
                "ms median / p95 / p99:"
            )
            print(f"  GET first video segment (cache hit): {fmt(warm['segment'])}")
            print(f"  GET /healthz (floor):                {fmt(warm['healthz'])}")
            url, playlist = first["_video_playlist"]
            rate = segment_rate(api, url, playlist, args.rate_segments)
            out["rate"] = rate
            print(
                f"\nsegments on one core ({title}, copy video, 4 client threads, server pinned "
                f"to CPU 0): {rate['produced']} produced in {rate['wall_s']} s = "
                f"{rate['per_wall_s']}/s wall, {rate['per_cpu_s']}/s per CPU second "
                f"(mean generation {rate['mean_generation_ms']} ms)"
            )
            if args.viewers:
                opts = Options(
                    viewers=[args.viewers],
                    duration_s=args.viewer_duration,
                    url=server.url,
                    username=USER,
                    password=PASSWORD,
                    server_pid=server.pid,
                )
                doc = run_viewers(opts, echo=lambda _line: None)
                out["viewers"] = doc["runs"][0]
                print(
                    f"\n{args.viewers} viewers at real-time rate on the 1080p titles "
                    f"({args.viewer_duration:.0f} s):"
                )
                print(report.render_table(doc["runs"]))
        finally:
            api.close()
            server.stop()
    load.append(procstat.load_average())
    out["load_avg"] = load
    print(
        f"\nload average: {load[0][0]:.1f} -> {load[-1][0]:.1f} (2-core machine shared with others)"
    )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
