"""Scale-out figures (issue 16): three ``ferrite serve`` nodes on one PostgreSQL database
and one redis-server behind the nginx front (deploy/nginx/ferrite.conf), all started here
by PID on 127.0.0.1 (tests/cluster/harness.py). Prints numbers; asserts nothing.

    .venv/bin/python bench/cluster.py                 # defaults: --viewers 10 --trials 50

1. **front cache hit ratio**: ``--viewers`` sessions of one title (a 60 s 320x180 clip)
   fetch every video and audio segment of their rendition through the front at once;
   hits / requests from the front's access log.
2. **origin productions per unique segment**: segments the nodes made (``/metrics``
   ``hls_segment_generation_ms_count``, prefetches included, summed over the nodes) /
   unique segments (the viewers fetch as fast as they can, not at the playback rate).
3. **revocation latency**: ``--trials`` logouts on node 1; the time until every node's
   token check and the front refuse the stream token (polled: an upper bound), p50/p99.
4. **failover gap**: three bench viewers play through the front while the title's owner
   node is SIGKILLed; the longest stall (needs shared sessions, cluster/sessions.py).
5. **CPU-seconds per GB served, per node** (during phase 1): the node's user+system CPU
   (``/proc``) over the bytes it sent the front.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests import media, postgres  # noqa: E402
from tests.cluster.harness import (  # noqa: E402
    Cluster,
    Node,
    Play,
    make_viewer,
    media_items,
    play_on_owner,
    revocation_trial,
    running_cluster,
    setup_library,
)

TITLE = "Bench"
#: Segments a node made (its packager or a transcode run), prefetches included.
MADE = "hls_segment_generation_ms_count"
_TICK = 100  # USER_HZ: /proc/<pid>/stat times are in clock ticks


def cpu_seconds(node: Node) -> float:
    assert node.process is not None
    fields = Path(f"/proc/{node.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime


def uris(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def rendition_urls(cluster: Cluster, p: Play) -> list[str]:
    """Every media segment URL (through the front) of the session's first video and
    audio renditions, init segments included."""
    audio = re.findall(r'TYPE=AUDIO[^\n]*URI="([^"]+)"', p.master)
    out = []
    for uri in [p.video_uri, *audio[:1]]:
        playlist = cluster.front.url + p.base + uri
        text = httpx.get(playlist, timeout=60).text
        stem = playlist.removesuffix(".m3u8")
        if "#EXT-X-MAP" in text:
            out.append(stem + "/init.mp4")
        out.extend(stem + "/" + u.rsplit("/", 1)[-1] for u in uris(text))
    return out


def front_lines(cluster: Cluster) -> list[str]:
    return cluster.front.access_log.read_text().splitlines()


def cache_phase(cluster: Cluster, viewers: int) -> None:
    item = media_items(cluster)[TITLE]
    plays = [play_on_owner(cluster, cluster.admin, item) for _ in range(viewers)]
    lists = [rendition_urls(cluster, p) for p in plays]
    unique = {u.split("/c/", 1)[1] for u in lists[0] if not u.endswith("init.mp4")}
    made_before = cluster.metric_sum(MADE)
    cpu_before = {n.name: cpu_seconds(n) for n in cluster.nodes}
    log_from = len(front_lines(cluster))

    def watch(urls: list[str]) -> int:
        with httpx.Client(timeout=60) as client:
            return sum(client.get(u).status_code == 200 for u in urls)

    began = time.monotonic()
    with ThreadPoolExecutor(viewers) as pool:
        ok = sum(pool.map(watch, lists))
    wall = time.monotonic() - began
    made = cluster.metric_sum(MADE) - made_before
    lines = [line for line in front_lines(cluster)[log_from:] if "/c/" in line]
    hits = sum("cache=HIT" in line for line in lines)
    total = sum(map(len, lists))
    ratio = hits / max(1, len(lines))
    per = made / max(1, len(unique))
    print(f"viewers of one title             {viewers} ({ok}/{total} ok, {wall:.1f} s)")
    print(f"front cache hit ratio            {ratio:.3f} ({hits}/{len(lines)})")
    print(f"origin productions / unique seg  {per:.2f} ({made:.0f}/{len(unique)})")
    by_node: dict[str, int] = {}
    for line in lines:
        m = re.search(r'" 200 (\d+) cache=\w+ upstream=(\S+)', line)
        if m and m.group(2) != "-":
            by_node[m.group(2)] = by_node.get(m.group(2), 0) + int(m.group(1))
    for node in cluster.nodes:
        cpu = cpu_seconds(node) - cpu_before[node.name]
        sent = by_node.get(node.address, 0)
        per_gb = f"{cpu / (sent / 1e9):.1f}" if sent else "-"
        mb = sent / 1e6
        print(f"  {node.name}: cpu {cpu:.2f} s, sent the front {mb:.1f} MB, cpu-s/GB {per_gb}")


def revocation_phase(cluster: Cluster, trials: int) -> None:
    make_viewer(cluster)
    item = media_items(cluster)[TITLE]
    ms = sorted(revocation_trial(cluster, item, t) * 1000 for t in range(trials))
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(
        f"revocation (every node + front)  p50 {ms[len(ms) // 2]:.0f} ms, p99 {p99:.0f} ms "
        f"({trials} trials, polled)"
    )


def failover_phase(cluster: Cluster) -> None:
    if importlib.util.find_spec("ferrite.cluster.sessions") is None:
        print("failover gap                     n/a: needs shared sessions (cluster/sessions.py)")
        return
    from tests.cluster.failover import play_through_failover

    r = play_through_failover(cluster, title=TITLE, viewers=3)
    print(
        f"failover gap                     {r.max_gap_s:.2f} s (killed {r.killed}; "
        f"errors {r.errors or 0}; segments differing {r.mismatched_segments}/{r.segments})"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--viewers", type=int, default=10)
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--nodes", type=int, default=3)
    opts = ap.parse_args()
    try:
        pg = postgres.Cluster()
    except postgres.Unavailable as exc:
        print(f"PostgreSQL is needed: {exc}")
        return 2
    with tempfile.TemporaryDirectory(prefix="ferrite-cluster-") as tmp:
        root = Path(tmp)
        movies = root / "movies"
        media.make_clip(movies / "Bench (2020)" / "Bench (2020).mp4", media.Clip(duration=60.0))
        try:
            url = pg.create_database()
            with running_cluster(root, url, movies, nodes=opts.nodes) as cluster:
                setup_library(cluster)
                print(f"{opts.nodes} nodes + redis-server + nginx front on 127.0.0.1")
                cache_phase(cluster, opts.viewers)
                revocation_phase(cluster, opts.trials)
                failover_phase(cluster)
        finally:
            pg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
