"""Players through the front while a file's owner node dies (issue #16's failover test, and
bench/cluster.py's failover gap).

The bench viewers (``ferrite.bench.viewer``, what ``ferrite bench`` runs) play one title
through the nginx front; after ``kill_after_s`` the title's owner node is SIGKILLed. The
front fails over to the next node of the ring, which serves the sessions from the shared
registry (cluster/sessions.py) and makes the same segments. Reported: the viewers' errors,
their longest stall (the failover gap), and whether the segments the surviving nodes make
are byte for byte the ones the owner made.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx

from ferrite.bench.schedule import ViewerPlan
from ferrite.bench.stats import ViewerStats
from ferrite.bench.viewer import Target, Title, Viewer
from tests.cluster.harness import Cluster, Play, media_items, play


@dataclass
class FailoverReport:
    errors: dict[str, int]
    mismatched_segments: int
    max_gap_s: float
    failover_bound_s: float
    killed: str
    segments: int = 0
    stalls_ms: list[float] = field(default_factory=list)


def _segment_names(cluster: Cluster, p: Play) -> list[str]:
    """The segment file names of the first video rendition (its playlist's URIs are
    ``{rid}/{n}.m4s``, relative to the playlist)."""
    text = httpx.get(cluster.front.url + p.video_playlist, timeout=60).text
    uris = [line for line in text.splitlines() if line and not line.startswith("#")]
    return [uri.rsplit("/", 1)[-1] for uri in uris]


def _fetch(base: str, p: Play, names: list[str]) -> dict[str, bytes]:
    out = {}
    for name in names:
        r = httpx.get(base + p.segment(name), timeout=60)
        r.raise_for_status()
        out[name] = r.content
    return out


def play_through_failover(
    cluster: Cluster,
    *,
    title: str,
    viewers: int = 3,
    kill_after_s: float = 3.0,
    duration_s: float = 20.0,
    failover_bound_s: float = 5.0,
) -> FailoverReport:
    item = media_items(cluster)[title]
    reference = play(cluster.nodes[0], cluster.admin, item)
    names = _segment_names(cluster, reference)
    first = httpx.get(cluster.front.url + reference.segment(names[0]), timeout=60)
    owner = cluster.node(first.headers["x-ferrite-node"])
    before = _fetch(owner.url, reference, names)  # the owner's own bytes, uncached

    answer = reference.answer
    height = max(v["height"] for v in answer["renditions"]["video"])
    target = Target(
        base_url=cluster.front.url,
        headers=cluster.admin,
        titles={item: Title(item, float(answer["duration_s"]), height)},
        mode="copy",
        buffer_s=6.0,
    )

    async def run() -> list[ViewerStats]:
        start = time.monotonic()
        deadline = start + duration_s
        async with httpx.AsyncClient(timeout=60) as client:
            plans = [ViewerPlan(i, 0.2 * i, (item,), (), None) for i in range(viewers)]
            tasks = [
                asyncio.create_task(
                    Viewer(client, target, plan, run_start=start, deadline=deadline).run()
                )
                for plan in plans
            ]
            await asyncio.sleep(kill_after_s)
            await asyncio.to_thread(owner.kill)
            return list(await asyncio.gather(*tasks))

    stats = asyncio.run(run())
    errors: dict[str, int] = {}
    stalls: list[float] = []
    for s in stats:
        for kind, n in s.errors.items():
            errors[kind] = errors.get(kind, 0) + n
        stalls.extend(s.stall_ms)
    survivor = next(n for n in cluster.nodes if n.alive)
    after = _fetch(survivor.url, reference, names)  # the session, served by another node
    mismatched = sum(before[n] != after[n] for n in names)
    return FailoverReport(
        errors=errors,
        mismatched_segments=mismatched,
        max_gap_s=max(stalls, default=0.0) / 1000,
        failover_bound_s=failover_bound_s,
        killed=owner.name,
        segments=len(names),
        stalls_ms=stalls,
    )
