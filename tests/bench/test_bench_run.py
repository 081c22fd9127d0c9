"""``ferrite bench`` end to end, in its short mode: a tiny generated library, an in-process
server, two viewers for a few seconds; the JSON has every field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ferrite import cli

RUN_FIELDS = {
    "mode",
    "viewers",
    "duration_s",
    "wall_s",
    "seed",
    "connections",
    "sessions",
    "ttff_ms",
    "seek_ms",
    "segment_wait_ms",
    "init_wait_ms",
    "playlist_wait_ms",
    "create_ms",
    "stalls",
    "seeks",
    "switches",
    "titles_finished",
    "segments",
    "requests",
    "bytes",
    "throughput_mbps",
    "errors",
    "server",
    "client",
    "server_metrics",
    "load_avg",
}
SUMMARY_FIELDS = {"n", "median", "p95", "p99", "max", "mean"}
SERVER_FIELDS = {
    "cpu_s",
    "cpu_cores",
    "cpu_ms_per_segment",
    "peak_rss_mib",
    "peak_children_rss_mib",
    "vm_hwm_mib",
    "max_ffmpeg",
}


@pytest.mark.slow
def test_short_benchmark_writes_every_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    argv = ["bench", "--viewers", "2", "--duration", "5", "--ramp", "0.5", "--seeks", "1"]
    argv += ["--switch-fraction", "0.5", "--clips", "2", "--clip-seconds", "12"]
    argv += ["--clip-size", "320x180", "--data-dir", str(tmp_path / "data"), "--json", str(out)]
    assert cli.main(argv) == cli.EXIT_OK
    printed = capsys.readouterr().out
    assert "| mode | viewers | TTFF ms" in printed
    assert "| copy | 2 |" in printed

    doc = json.loads(out.read_text())
    assert {"ferrite_version", "started_at", "host", "options", "library", "server", "runs"} <= set(
        doc
    )
    assert doc["server"] == "in-process"
    assert doc["library"]["clips"] == 2
    assert doc["library"]["path"].startswith(str(tmp_path))
    (run,) = doc["runs"]
    assert set(run) == RUN_FIELDS
    for name in ("ttff_ms", "seek_ms", "segment_wait_ms", "init_wait_ms", "playlist_wait_ms"):
        assert set(run[name]) == SUMMARY_FIELDS, name
    assert set(run["stalls"]) == {"count", "total_ms", "viewers_stalled", "stall_ms"}
    assert set(run["server"]) == SERVER_FIELDS
    assert run["mode"] == "copy"
    assert run["viewers"] == 2
    assert run["errors"]["count"] == 0, run["errors"]
    assert run["sessions"] >= 2
    assert run["ttff_ms"]["n"] >= 2
    assert run["ttff_ms"]["median"] > 0
    assert run["segments"] > 4
    assert run["bytes"] > 0
    assert run["switches"] == 1
    assert run["server"]["cpu_s"] > 0
    assert run["server"]["peak_rss_mib"] > 0
    sm = run["server_metrics"]
    assert sm["cache_misses"] + sm["cache_inflight_waits"] > 0
    assert "copy" in sm["segment_generation"]

    # Two result files compare as ratios.
    assert cli.main(["bench", "--compare", str(out), str(out)]) == cli.EXIT_OK
    assert "| copy | 2 | 1.00x |" in capsys.readouterr().out
