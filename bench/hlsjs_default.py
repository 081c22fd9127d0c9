"""hls.js at its default configuration against Ferrite and against the static floor.

    .venv/bin/python bench/hlsjs_default.py [--runs 3] [--quick]

For media shaped like real libraries (x264's default 10 s GOPs, a copyable 1080p H.264
film, irregular and open GOPs, 1080p HEVC Main 10 with a 10 s GOP and two audio tracks, VFR,
4K H.264, MPEG-2 in MPEG-TS at ten hours), each run:

1. starts a fresh ``ferrite serve`` process on a data directory scanned (and warmed: the
   first segments of the variant default players start on, made in the background as a
   server does after a scan) once before the runs;
2. creates a playback (``POST /api/playback``, device ``chrome``, ``protocol: hls``), then
   in real Chromium a page *of another origin* loads hls.js with ``new Hls()`` (no
   configuration at all) and plays the master: time from ``loadSource`` to the first frame
   presented (``requestVideoFrameCallback``);
3. seeks to 25 %, 50 % and 90 %: time from setting ``currentTime`` to a frame of the new
   place presented;
4. does the same with the **static floor**: the same file packaged beforehand by ffmpeg
   into a three-rung fMP4 HLS ladder (the source copied where it is H.264, and 720p and
   360p H.264; AAC audio), served by a static file server of a third origin in the same
   run.

For files Ferrite transcodes, it also times ffmpeg writing the first 2 s segment of the
360p rung from a cold start (``ffmpeg -t 2 ...``), the bound of the goal. Prints medians
per file with the ratios the issue sets as goals: copyable files' first frame within 1.15x
of the floor, transcoded files' within 1.2x of (ffmpeg's first segment + the floor).
Media and the packaged floors are cached in ``/tmp/ferrite-bench/hlsjs``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests import media  # noqa: E402
from tests.api.server import ServerThread  # noqa: E402
from tests.web.hlsjs import StaticOrigin, player_log, seek, start_playing  # noqa: E402
from tests.web.server import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

from ferrite import config  # noqa: E402
from ferrite.app import create_app  # noqa: E402

CACHE = Path("/tmp/ferrite-bench/hlsjs")
ADMIN = {"username": "bench", "password": "bench password"}
STEP_MS = 90_000


@dataclass
class Film:
    title: str
    ext: str
    clip: media.Clip
    copyable: bool  # Chrome decodes the video as it is (H.264)
    quick: media.Clip | None = None  # a shorter stand-in for --quick

    def spec(self, quick: bool) -> media.Clip:
        return self.quick if quick and self.quick is not None else self.clip


def _films() -> list[Film]:
    return [
        Film(
            "Two Hours",
            "mp4",
            media.Clip(duration=7200.0, size=(426, 240), fps=24, gop=250 / 24),
            True,
            quick=media.Clip(duration=600.0, size=(426, 240), fps=24, gop=250 / 24),
        ),
        Film(
            "Feature",
            "mp4",
            media.Clip(duration=60.0, size=(1920, 1080), fps=24, gop=250 / 24),
            True,
        ),
        Film(
            "Irregular",
            "mkv",
            media.Clip(**{**media.IRREGULAR_GOP_MKV.__dict__, "size": (1280, 720)}),
            True,
        ),
        Film("Open Gop", "mkv", media.Clip(**{**media.OPEN_GOP_MKV.__dict__}), False),
        Film(
            "Hevc Ten",
            "mkv",
            media.Clip(**{**media.HEVC10_GOP10.__dict__, "size": (1920, 1080), "duration": 60.0}),
            False,
        ),
        Film("Variable", "mp4", media.Clip(**{**media.VFR_MP4.__dict__, "duration": 30.0}), True),
        Film("Ultra", "mp4", media.Clip(duration=10.0, size=(3840, 2160), fps=24, gop=2.0), True),
        Film("Broadcast", "ts", media.Clip(**{**media.MPEG2_TS.__dict__, "duration": 30.0}), False),
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- media, floors, ffmpeg's first segment --------------------------------------------------


def make_media(films: list[Film], quick: bool) -> Path:
    movies = CACHE / ("movies-quick" if quick else "movies")
    for f in films:
        path = movies / f"{f.title} (2020)" / f"{f.title} (2020).{f.ext}"
        if path.exists() and path.stat().st_size:
            continue
        print(f"generating {path.name} ...", flush=True)
        tmp = path.with_name(".partial." + f.ext)
        media.make_clip(tmp, f.spec(quick))
        tmp.rename(path)
    return movies


def film_path(movies: Path, f: Film) -> Path:
    return movies / f"{f.title} (2020)" / f"{f.title} (2020).{f.ext}"


def make_floor(src: Path, out: Path, copyable: bool) -> Path:
    """The static floor: ffmpeg packages ``src`` into a 3-rung fMP4 ladder (master.m3u8)."""
    master = out / "master.m3u8"
    if master.exists():
        return master
    out.mkdir(parents=True, exist_ok=True)
    top = (
        ["-c:v:0", "copy"]
        if copyable
        else ["-c:v:0", "libx264", "-b:v:0", "5M", "-s:v:0", "1920x1080"]
    )
    cmd = [
        media.FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-i", str(src),
        "-map", "0:v:0", "-map", "0:v:0", "-map", "0:v:0", "-map", "0:a:0",
        *top,
        "-c:v:1", "libx264", "-b:v:1", "2500k", "-s:v:1", "1280x720",
        "-c:v:2", "libx264", "-b:v:2", "700k", "-s:v:2", "640x360",
        "-preset", "veryfast", "-pix_fmt", "yuv420p",
        "-force_key_frames", "expr:gte(t,n_forced*2)",
        "-c:a", "aac", "-ac", "2", "-b:a", "128k",
        "-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod",
        "-hls_segment_type", "fmp4", "-hls_flags", "independent_segments",
        "-master_pl_name", "master.m3u8",
        "-var_stream_map", "v:0,agroup:aud v:1,agroup:aud v:2,agroup:aud a:0,agroup:aud",
        "-hls_segment_filename", str(out / "v%v_%d.m4s"),
        str(out / "v%v.m3u8"),
    ]  # fmt: skip
    subprocess.run(cmd, check=True)
    return master


def ffmpeg_first_segment_s(src: Path, preset: str) -> float:
    """ffmpeg's own cold time to write a 2 s 360p H.264 segment of ``src``."""
    out = CACHE / "first.ts"
    cmd = [
        media.FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-i", str(src), "-t", "2",
        "-map", "0:v:0", "-vf", "scale=-2:360,format=yuv420p", "-c:v", "libx264",
        "-preset", preset, "-an", "-f", "mpegts", str(out),
    ]  # fmt: skip
    began = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - began


# --- Ferrite ---------------------------------------------------------------------------------


def prepare(data_dir: Path, movies: Path) -> None:
    """Scan the library once and let the warmer finish (as a server does after a scan)."""
    if (data_dir / ".prepared").exists():
        return
    shutil.rmtree(data_dir, ignore_errors=True)
    settings = config.load({"data_dir": data_dir, "watch": False, "demo": False}, environ={})
    server = ServerThread(create_app(settings)).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            assert c.post("/api/setup", json=ADMIN).status_code == 201
            h = _login(c)
            r = c.post(
                "/api/libraries",
                json={"name": "Films", "kind": "movies", "paths": [str(movies)]},
                headers=h,
            )
            assert r.status_code == 201, r.text
            while any(lib["scanning"] for lib in c.get("/api/libraries", headers=h).json()):
                time.sleep(0.2)
        warmer = server.app.state.services.warmer
        warmer.poke()
        time.sleep(1)
        while not warmer.idle.is_set():
            time.sleep(0.5)
        print(f"warmed the start of {warmer.warmed} files", flush=True)
    finally:
        server.stop()
    (data_dir / ".prepared").touch()


def _login(c: httpx.Client) -> dict[str, str]:
    token = c.post("/api/auth/login", json=ADMIN).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def ferrite_process(data_dir: Path):  # type: ignore[no-untyped-def]
    port = _free_port()
    env = {**os.environ, "FERRITE_WATCH": "false", "FERRITE_DEMO": "false"}
    cmd = [
        str(ROOT / ".venv/bin/ferrite"),
        "serve",
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("ferrite did not start")
            time.sleep(0.05)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- one measurement -------------------------------------------------------------------------


@dataclass
class Sample:
    ttff_ms: float
    seeks_ms: list[float]
    start_height: int | None
    errors: list[str] = field(default_factory=list)


def play(browser: Any, origin: StaticOrigin, master_url: str, duration: float) -> Sample:
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        log = start_playing(page, origin, master_url, STEP_MS)
        if log["fatal"] is not None:
            raise RuntimeError(f"hls.js fatal error: {log['errors']}")
        seeks = [seek(page, round(duration * f, 1), STEP_MS) for f in (0.25, 0.5, 0.9)]
        log = player_log(page)
        return Sample(log["firstFrameMs"], seeks, log["startLevel"], log["errors"])
    finally:
        ctx.close()


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="cold runs per file (default 3)")
    ap.add_argument("--quick", action="store_true", help="a 10-minute long-GOP film, not 2 h")
    ap.add_argument("--only", nargs="*", help="film titles to measure")
    ap.add_argument("--json", type=Path, help="write the raw samples here")
    args = ap.parse_args()

    films = [f for f in _films() if not args.only or f.title in args.only]
    movies = make_media(_films(), args.quick)
    data_dir = CACHE / ("data-quick" if args.quick else "data")
    prepare(data_dir, movies)
    preset = config.load({}, environ={}).x264_preset
    for f in films:  # packaged once, cached
        make_floor(film_path(movies, f), CACHE / "floor" / f.title, f.copyable)

    from playwright.sync_api import sync_playwright

    results: dict[str, dict[str, Any]] = {}
    with sync_playwright() as pw, StaticOrigin() as player, StaticOrigin(CACHE / "floor") as floor:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for f in films:
            duration = f.spec(args.quick).duration
            ours: list[Sample] = []
            theirs: list[Sample] = []
            first_seg: list[float] = []
            method = ""
            for run in range(args.runs):
                with (
                    ferrite_process(data_dir) as base,
                    httpx.Client(base_url=base, timeout=60) as c,
                ):
                    h = _login(c)
                    items = c.get("/api/items", params={"q": f.title}, headers=h).json()["items"]
                    item = next(i for i in items if i["title"] == f.title)
                    began = time.perf_counter()
                    pb = c.post(
                        "/api/playback",
                        json={"item_id": item["id"], "device": "chrome", "protocol": "hls"},
                        headers=h,
                    ).json()
                    create_ms = (time.perf_counter() - began) * 1000
                    method = pb["method"]
                    s = play(browser, player, base + pb["url"], duration)
                    s.errors.append(f"create {create_ms:.0f} ms")
                    ours.append(s)
                theirs.append(play(browser, player, f"{floor.url}/{f.title}/master.m3u8", duration))
                if not f.copyable:
                    first_seg.append(ffmpeg_first_segment_s(film_path(movies, f), preset) * 1000)
                print(
                    f"{f.title} run {run + 1}: ferrite {ours[-1].ttff_ms:.0f} ms "
                    f"(start {ours[-1].start_height}p), floor {theirs[-1].ttff_ms:.0f} ms",
                    flush=True,
                )
            ttff, floor_ttff = (
                _median([s.ttff_ms for s in ours]),
                _median([s.ttff_ms for s in theirs]),
            )
            bound = floor_ttff + (_median(first_seg) if first_seg else 0.0)
            results[f.title] = {
                "method": method,
                "ttff_ms": ttff,
                "floor_ms": floor_ttff,
                "ffmpeg_first_segment_ms": _median(first_seg) if first_seg else None,
                "ratio": ttff / bound,
                "goal": 1.2 if first_seg else 1.15,
                "seek_ms": [_median([s.seeks_ms[i] for s in ours]) for i in range(3)],
                "floor_seek_ms": [_median([s.seeks_ms[i] for s in theirs]) for i in range(3)],
                "start_height": ours[-1].start_height,
                "samples": {
                    "ferrite": [s.__dict__ for s in ours],
                    "floor": [s.__dict__ for s in theirs],
                },
            }
        browser.close()

    print()
    print(
        "| file | method | start | first frame | floor | ffmpeg 1st seg | ratio (goal) "
        "| seek 25/50/90 % | floor seek 25/50/90 % |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for title, r in results.items():
        seg = f"{r['ffmpeg_first_segment_ms']:.0f} ms" if r["ffmpeg_first_segment_ms"] else "-"
        seeks = " / ".join(f"{v:.0f}" for v in r["seek_ms"])
        fseeks = " / ".join(f"{v:.0f}" for v in r["floor_seek_ms"])
        print(
            f"| {title} | {r['method']} | {r['start_height']}p | {r['ttff_ms']:.0f} ms | "
            f"{r['floor_ms']:.0f} ms | {seg} | {r['ratio']:.2f} (≤ {r['goal']}) | {seeks} ms "
            f"| {fseeks} ms |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
