"""A benchmark run's numbers: the JSON document and the table (pure).

:func:`run_result` turns what the viewers measured, the server's CPU/memory and the
difference between two ``/metrics`` scrapes into one run's dict; :func:`render_table`
prints runs as a Markdown table (the same one ``docs/benchmarks.md`` shows);
:func:`compare` lines two reports up run by run as ratios (``b / a``), which is how two
commits are compared.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ferrite.bench.procstat import ServerUsage
from ferrite.bench.stats import Summary, ViewerStats

MiB = 1024 * 1024

#: (label, key in a scrape) -> how to read /metrics deltas
Samples = Mapping[tuple[str, frozenset[tuple[str, str]]], float]


def metrics_delta(
    before: Samples, after: Samples
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items()}


def _sum(delta: Samples, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, ls), v in delta.items() if n == name and want <= ls)


def _label_values(delta: Samples, name: str, label: str) -> list[str]:
    return sorted({dict(ls)[label] for (n, ls) in delta if n == name and label in dict(ls)})


def server_metrics(delta: Samples) -> dict[str, Any]:
    """The server's own view of the run, from ``/metrics`` (counter and histogram deltas)."""

    def mean(name: str, **labels: str) -> float | None:
        count = _sum(delta, name + "_count", **labels)
        return round(_sum(delta, name + "_sum", **labels) / count, 2) if count else None

    generation = {
        mode: {
            "count": int(_sum(delta, "hls_segment_generation_ms_count", mode=mode)),
            "mean_ms": mean("hls_segment_generation_ms", mode=mode),
        }
        for mode in _label_values(delta, "hls_segment_generation_ms_count", "mode")
    }
    waits = {
        f"{mode}/{cache}": {
            "count": int(_sum(delta, "hls_segment_wait_ms_count", mode=mode, cache=cache)),
            "mean_ms": mean("hls_segment_wait_ms", mode=mode, cache=cache),
        }
        for mode in _label_values(delta, "hls_segment_wait_ms_count", "mode")
        for cache in _label_values(delta, "hls_segment_wait_ms_count", "cache")
        if _sum(delta, "hls_segment_wait_ms_count", mode=mode, cache=cache)
    }
    return {
        "cache_hits": int(_sum(delta, "cache_hits_total", kind="segment")),
        "cache_misses": int(_sum(delta, "cache_misses_total", kind="segment")),
        "cache_inflight_waits": int(_sum(delta, "cache_inflight_waits_total", kind="segment")),
        "cache_evictions": int(_sum(delta, "cache_evictions_total")),
        "segment_generation": generation,
        "segment_wait": waits,
        "server_ttff_mean_ms": mean("playback_server_ttff_ms"),
        "transcode_queue_wait_mean_ms": mean("transcode_queue_wait_ms"),
        "transcode_queue_waits": int(_sum(delta, "transcode_queue_wait_ms_count")),
        "ffmpeg_processes": int(_sum(delta, "ffmpeg_processes_total")),
        "ffmpeg_restarts": int(_sum(delta, "ffmpeg_restarts_total")),
        "auth_stream_mean_ms": mean("auth_hotpath_ms", kind="stream"),
    }


def run_result(
    *,
    mode: str,
    viewers: int,
    duration_s: float,
    wall_s: float,
    seed: int,
    connections: int,
    stats: Iterable[ViewerStats],
    usage: ServerUsage | None,
    client_cpu_s: float | None = None,
    delta: Samples | None,
    load_avg: Sequence[Sequence[float]],
) -> dict[str, Any]:
    per_viewer = list(stats)
    total = ViewerStats()
    for s in per_viewer:
        total.merge(s)
    stalled = sum(1 for s in per_viewer if s.stall_ms)
    server: dict[str, Any] | None = None
    if usage is not None:
        server = {
            "cpu_s": round(usage.cpu_s, 2),
            "cpu_cores": round(usage.cpu_s / wall_s, 3) if wall_s else None,
            "cpu_ms_per_segment": (
                round(usage.cpu_s * 1000 / total.segments, 2) if total.segments else None
            ),
            "peak_rss_mib": round(usage.peak_rss / MiB, 1),
            "peak_children_rss_mib": round(usage.peak_children_rss / MiB, 1),
            "vm_hwm_mib": round(usage.vm_hwm / MiB, 1),
            "max_ffmpeg": usage.max_children,
        }
    return {
        "mode": mode,
        "viewers": viewers,
        "duration_s": duration_s,
        "wall_s": round(wall_s, 2),
        "seed": seed,
        "connections": connections,
        "sessions": total.sessions,
        "ttff_ms": Summary.of(total.ttff_ms).to_dict(),
        "seek_ms": Summary.of(total.seek_ms).to_dict(),
        "segment_wait_ms": Summary.of(total.segment_ms).to_dict(),
        "init_wait_ms": Summary.of(total.init_ms).to_dict(),
        "playlist_wait_ms": Summary.of(total.playlist_ms).to_dict(),
        "create_ms": Summary.of(total.create_ms).to_dict(),
        "stalls": {
            "count": len(total.stall_ms),
            "total_ms": round(sum(total.stall_ms), 1),
            "viewers_stalled": stalled,
            "stall_ms": Summary.of(total.stall_ms).to_dict(),
        },
        "seeks": total.seeks,
        "switches": total.switches,
        "titles_finished": total.titles_finished,
        "segments": total.segments,
        "requests": total.requests,
        "bytes": total.bytes,
        "throughput_mbps": round(total.bytes * 8 / wall_s / 1e6, 2) if wall_s else None,
        "errors": {"count": sum(total.errors.values()), "by_kind": dict(total.errors)},
        "server": server,
        "client": {
            "cpu_s": round(client_cpu_s, 2) if client_cpu_s is not None else None,
            "cpu_cores": (
                round(client_cpu_s / wall_s, 3) if client_cpu_s is not None and wall_s else None
            ),
        },
        "server_metrics": server_metrics(delta) if delta is not None else None,
        "load_avg": {"start": list(load_avg[0]), "end": list(load_avg[-1])},
    }


def _triple(d: Mapping[str, Any]) -> str:
    if not d.get("n"):
        return "-"
    return " / ".join(_num(d[k]) for k in ("median", "p95", "p99"))


def _num(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.1f}" if v < 10 else f"{v:.0f}"


COLUMNS = (
    "mode",
    "viewers",
    "TTFF ms (med / p95 / p99)",
    "seek ms",
    "segment wait ms",
    "stalls (viewers)",
    "stall s",
    "segments",
    "MiB",
    "errors",
    "server CPU (cores)",
    "client CPU",
    "peak RSS MiB (+ffmpeg)",
    "load avg",
)


def table_row(run: Mapping[str, Any]) -> list[str]:
    server = run.get("server") or {}
    client = run.get("client") or {}
    stalls = run["stalls"]
    return [
        run["mode"],
        str(run["viewers"]),
        _triple(run["ttff_ms"]),
        _triple(run["seek_ms"]),
        _triple(run["segment_wait_ms"]),
        f"{stalls['count']} ({stalls['viewers_stalled']})",
        f"{stalls['total_ms'] / 1000:.1f}",
        str(run["segments"]),
        f"{run['bytes'] / MiB:.0f}",
        str(run["errors"]["count"]),
        f"{server['cpu_cores']:.2f}" if server.get("cpu_cores") is not None else "-",
        f"{client['cpu_cores']:.2f}" if client.get("cpu_cores") is not None else "-",
        (
            f"{server['peak_rss_mib'] - server['peak_children_rss_mib']:.0f}"
            f" (+{server['peak_children_rss_mib']:.0f})"
            if server
            else "-"
        ),
        "{:.1f} -> {:.1f}".format(run["load_avg"]["start"][0], run["load_avg"]["end"][0]),
    ]


def render_table(runs: Sequence[Mapping[str, Any]]) -> str:
    rows = [list(COLUMNS), ["---"] * len(COLUMNS), *(table_row(r) for r in runs)]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


COMPARED = (
    ("ttff_ms", "median"),
    ("ttff_ms", "p95"),
    ("seek_ms", "median"),
    ("seek_ms", "p95"),
    ("segment_wait_ms", "median"),
    ("segment_wait_ms", "p95"),
    ("segment_wait_ms", "p99"),
    ("server", "cpu_cores"),
    ("server", "cpu_ms_per_segment"),
    ("server", "peak_rss_mib"),
)


def compare(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    """A table of ``b / a`` per run (matched by mode and viewers) and measure: below 1.0
    means ``b`` is faster/smaller."""
    header = ["mode", "viewers", *(f"{k} {f}" for k, f in COMPARED), "stalls a -> b"]
    rows = [header, ["---"] * len(header)]
    runs_a = {(r["mode"], r["viewers"]): r for r in a["runs"]}
    for rb in b["runs"]:
        ra = runs_a.get((rb["mode"], rb["viewers"]))
        if ra is None:
            continue
        cells = [rb["mode"], str(rb["viewers"])]
        for key, field in COMPARED:
            va = (ra.get(key) or {}).get(field)
            vb = (rb.get(key) or {}).get(field)
            cells.append(f"{vb / va:.2f}x" if va and vb is not None else "-")
        cells.append(f"{ra['stalls']['count']} -> {rb['stalls']['count']}")
        rows.append(cells)
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)
