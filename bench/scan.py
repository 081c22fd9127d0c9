"""Library scan and search benchmark.

    .venv/bin/python bench/scan.py [--files 520] [--workers 2] [--items 50000] [--keep DIR]

1. Generates a few tiny clips with tests/media.py (MP4, Matroska with SRT + ASS, WebM,
   MPEG-TS) and lays out ``--files`` copies as movies and show episodes. Each copy gets a
   few unique bytes appended in a way its container ignores (an MP4 ``free`` box, a
   Matroska ``Void`` element, an MPEG-TS null packet), so every file has its own
   fingerprint and the scan can't mistake copies for moves.
2. Scans them into a fresh SQLite database (first scan), then scans again with nothing
   changed (unchanged rescan), and reports files/s for both and the probe time per file
   split into open / streams / keyframe index / subtitles (median and p95).
3. Inserts ``--items`` synthetic items straight into ``items`` + ``items_fts`` and times
   :func:`ferrite.library.search.search` (median and p95 over a few hundred queries of
   one or two word prefixes).

Prints a table; numbers for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from sqlalchemy import Connection, insert, text  # noqa: E402
from tests import media  # noqa: E402

from ferrite import config  # noqa: E402
from ferrite.db.engine import Database  # noqa: E402
from ferrite.db.schema import items  # noqa: E402
from ferrite.library import libraries  # noqa: E402
from ferrite.library.naming import sort_title  # noqa: E402
from ferrite.library.scanner import Scanner  # noqa: E402
from ferrite.library.search import search  # noqa: E402

_SMALL = media.Clip(duration=2.0, size=(160, 90))
BASES = {
    ".mp4": _SMALL,
    ".mkv": replace(_SMALL, subs=(media.Sub("srt"), media.Sub("ass", "fre"))),
    ".webm": replace(_SMALL, vcodec="libvpx-vp9", audio=(media.Audio("libopus"),)),
    ".ts": _SMALL,
}

WORDS = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
    "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
    "uniform", "victor", "whiskey", "xray", "yankee", "zulu", "amélie", "night", "day", "river",
    "mountain", "city", "ocean", "storm", "shadow", "light", "dark", "king", "queen", "ghost",
    "star", "summer", "winter", "spring", "autumn", "fire", "ice", "stone", "glass", "iron",
    "gold", "silver", "red", "blue", "green",
]  # fmt: skip


def _unique_tail(ext: str, n: int) -> bytes:
    tag = f"ferrite-bench-{n:08d}".encode()
    if ext == ".mp4":
        return struct.pack(">I", 8 + len(tag)) + b"free" + tag
    if ext in (".mkv", ".webm"):
        return b"\xec" + bytes([0x80 | len(tag)]) + tag  # EBML Void element
    # MPEG-TS null packet (PID 0x1FFF), payload only.
    return b"\x47\x1f\xff\x10" + tag.ljust(184, b"\xff")


def generate(root: Path, count: int) -> int:
    bases = {
        ext: media.make_clip(root / "_bases" / f"base{ext}", clip) for ext, clip in BASES.items()
    }
    exts = list(bases)
    movies = root / "movies"
    shows = root / "shows"
    n = 0
    show_count = max(1, count // 60)
    while n < count:
        ext = exts[n % len(exts)]
        if n % 2:
            title = f"{WORDS[n % len(WORDS)].title()} {WORDS[(n // 7) % len(WORDS)].title()} {n}"
            path = movies / f"{title} ({1950 + n % 70})" / f"{title} ({1950 + n % 70}){ext}"
        else:
            show = f"Show {WORDS[(n // 2) % show_count].title()} {(n // 2) % show_count}"
            season, episode = divmod(n // 2 // show_count, 20)
            path = (
                shows
                / show
                / f"Season {season + 1:02d}"
                / f"{show} - S{season + 1:02d}E{episode + 1:02d}{ext}"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            f.write(bases[ext].read_bytes())
            f.write(_unique_tail(ext, n))
        n += 1
    shutil.rmtree(root / "_bases")
    return n


def pct(values: Sequence[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def ms(x: float) -> str:
    return f"{x * 1000:.2f}"


def bench_scan(root: Path, workers: int) -> list[tuple[str, str]]:
    settings = config.load({"data_dir": root / "data", "scan_workers": workers}, environ={})
    db = Database(settings.db_url)
    db.migrate()
    rows: list[tuple[str, str]] = []
    try:
        lib_ids = [
            db.write_sync(
                lambda c, k=kind: libraries.create_library(c, name=k, kind=k, paths=[root / k])
            ).id
            for kind in ("movies", "shows")
        ]
        scanner = Scanner(db, settings)
        try:
            t0 = time.perf_counter()
            first = [scanner.scan_library(i) for i in lib_ids]
            t1 = time.perf_counter()
            again = [scanner.scan_library(i) for i in lib_ids]
            t2 = time.perf_counter()
        finally:
            scanner.close()
        n_first = sum(len(r.new) for r in first)
        n_again = sum(len(r.unchanged) for r in again)
        failed = sum(len(r.failed) for r in first)
        probed_again = sum(len(r.probed) for r in again)
        first_rate = f"{t1 - t0:.2f} s = {n_first / (t1 - t0):.0f} files/s"
        again_rate = f"{t2 - t1:.3f} s = {n_again / (t2 - t1):.0f} files/s, {probed_again} probed"
        rows += [
            ("files", f"{n_first} ({failed} failed)"),
            (f"first scan ({workers} probe threads)", first_rate),
            ("unchanged rescan", again_rate),
        ]
        timings = [t for r in first for t in r.timings]
        for name in ("open_s", "streams_s", "keyframes_s", "subtitles_s", "total_s"):
            values = [getattr(t, name) for t in timings]
            spread = f"{ms(statistics.median(values))} / {ms(pct(values, 95))}"
            rows.append((f"probe {name[:-2]} ms (median / p95)", spread))
        methods: dict[str, int] = {}
        for t in timings:
            methods[t.keyframe_method] = methods.get(t.keyframe_method, 0) + 1
        rows.append(
            ("keyframe index source", ", ".join(f"{k}: {v}" for k, v in sorted(methods.items())))
        )
    finally:
        db.close()
    return rows


def bench_search(root: Path, count: int, queries: int = 400) -> list[tuple[str, str]]:
    db = Database(f"sqlite:///{root / 'search.db'}")
    db.migrate()
    rng = random.Random(42)
    try:
        (root / "lib-a").mkdir(exist_ok=True)
        (root / "lib-b").mkdir(exist_ok=True)
        a = db.write_sync(
            lambda c: libraries.create_library(c, name="a", kind="mixed", paths=[root / "lib-a"])
        ).id
        b = db.write_sync(
            lambda c: libraries.create_library(c, name="b", kind="mixed", paths=[root / "lib-b"])
        ).id

        def fill(conn: Connection) -> None:
            rows = []
            fts = []
            for i in range(1, count + 1):
                title = " ".join(rng.choice(WORDS).title() for _ in range(rng.randint(1, 4)))
                kind = "movie" if i % 3 else "episode"
                rows.append({
                    "id": i, "library_id": a if i % 5 else b, "kind": kind, "title": title,
                    "sort_title": sort_title(title), "year": 1950 + i % 70, "added_at": 0.0,
                })  # fmt: skip
                context = (
                    f"Show {rng.choice(WORDS).title()} Season {i % 9 + 1}"
                    if kind == "episode"
                    else str(1950 + i % 70)
                )
                fts.append(
                    {"id": i, "t": title, "c": context, "f": f"{title.replace(' ', '.')}.1080p.mkv"}
                )
            conn.execute(insert(items), rows)
            conn.execute(
                text(
                    "INSERT INTO items_fts (rowid, title, context, filename) "
                    "VALUES (:id, :t, :c, :f)"
                ),
                fts,
            )

        t0 = time.perf_counter()
        db.write_sync(fill)
        load_s = time.perf_counter() - t0
        qs = []
        for _ in range(queries):
            words = [rng.choice(WORDS) for _ in range(rng.randint(1, 2))]
            qs.append(" ".join(w[: rng.randint(2, len(w))] for w in words))
        lat: list[float] = []
        hits: list[int] = []

        def run(conn: Connection) -> None:
            for q in qs:
                s = time.perf_counter()
                found = search(conn, q, library_ids=[a, b], limit=50)
                lat.append(time.perf_counter() - s)
                hits.append(len(found))
            search(conn, "amelie", library_ids=[a], limit=50)

        db.read_sync(run)
        return [
            ("search items", f"{count} ({load_s:.1f} s to insert)"),
            (
                f"search latency ms over {queries} queries (median / p95)",
                f"{ms(statistics.median(lat))} / {ms(pct(lat, 95))}",
            ),
            ("search results per query (median, limit 50)", f"{statistics.median(hits):.0f}"),
        ]
    finally:
        db.close()


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--files", type=int, default=520)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--items", type=int, default=50_000)
    ap.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    args = ap.parse_args(argv)
    root = args.keep or Path(tempfile.mkdtemp(prefix="ferrite-bench-scan-"))
    try:
        t0 = time.perf_counter()
        n = generate(root, args.files)
        print(
            f"generated {n} files in {time.perf_counter() - t0:.1f} s under {root}", file=sys.stderr
        )
        rows = bench_scan(root, args.workers)
        rows += bench_search(root, args.items)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    width = max(len(k) for k, _ in rows)
    print(f"| {'measure'.ljust(width)} | value |")
    print(f"| {'-' * width} | ----- |")
    for k, v in rows:
        print(f"| {k.ljust(width)} | {v} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
