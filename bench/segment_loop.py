"""Per-request cost of the playback hot path: one cached segment, asked for in a loop.

    .venv/bin/python bench/segment_loop.py [--requests 300] [--rounds 5] [--keep DIR]

A real server (uvicorn in a thread, ``tests/live.py``) on one 6 s H.264/AAC clip made by
tests/media.py; one HLS session; its copy video rendition's init and segment 1 are made
once, then each of these is fetched ``--requests`` times in a row over one keep-alive
connection, ``--rounds`` times: a cached media segment, the init segment, the media
playlist, and ``/healthz`` (HTTP and client floor). Prints the median latency of each
round and the median of those (µs). Everything but the route -- dependency, session
lookup, cache hit -- is the same for every row, so the rows minus ``/healthz`` are what a
change to the playback routers costs. Compare two commits by running both alternately.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import media
from tests.live import rendition_base, start_live


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="media folder kept between runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        movies = root / "movies"
        clip = movies / "Plain (2020)" / "Plain (2020).mp4"
        if not clip.exists():
            media.make_clip(clip, media.Clip(bframes=2))
        data = Path(tmp) / "server"
        with start_live(data, [movies], {}, log_level="warning") as live:
            c = live.client
            pb = live.play("Plain", protocol="hls")
            base = rendition_base(pb)
            rid = pb["renditions"]["video"][0]["id"]
            urls = {
                "segment": f"{base}v/{rid}/1.m4s",
                "init": f"{base}v/{rid}/init.mp4",
                "playlist": f"{base}v/{rid}.m3u8",
                "healthz": "/healthz",
            }
            for url in urls.values():
                assert c.get(url).status_code == 200, url
            print(f"{'request':9s}  median µs  (round medians)")
            for name, url in urls.items():
                rounds = []
                for _ in range(args.rounds):
                    times = []
                    for _ in range(args.requests):
                        started = time.perf_counter_ns()
                        r = c.get(url)
                        times.append(time.perf_counter_ns() - started)
                        assert r.status_code == 200
                    rounds.append(statistics.median(times) / 1000)
                shown = ", ".join(f"{x:.0f}" for x in rounds)
                print(f"{name:9s}  {statistics.median(rounds):9.0f}  ({shown})")


if __name__ == "__main__":
    main()
