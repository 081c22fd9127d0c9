"""Title search over many items on SQLite (FTS5) and on PostgreSQL (tsvector + GIN).

    .venv/bin/python bench/search_pg.py [--items 100000] [--queries 400]
        [--database-url postgresql+psycopg://...]

Fills a fresh database on each backend with ``--items`` synthetic items (the titles,
contexts and file names of ``bench/scan.py``'s search part, same seed) straight into
``items`` and the search table (:func:`ferrite.db.dialect.index_new_items`), then times
:func:`ferrite.library.search.search` (limit 50, two libraries allowed) over the same
``--queries`` one- or two-word prefix queries (2+ letters, so many match thousands of
rows), after one untimed warm-up pass. PostgreSQL is a throwaway cluster started from
Debian's binaries (tests/postgres.py) unless ``--database-url`` names an empty database.

Prints a table (median / p95 / max latency, results per query); numbers for
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from sqlalchemy import Connection, insert, text  # noqa: E402
from tests import postgres  # noqa: E402

from ferrite.db import dialect  # noqa: E402
from ferrite.db.engine import Database  # noqa: E402
from ferrite.db.schema import items  # noqa: E402
from ferrite.library import libraries  # noqa: E402
from ferrite.library.naming import sort_title  # noqa: E402
from ferrite.library.search import search  # noqa: E402

WORDS = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
    "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
    "uniform", "victor", "whiskey", "xray", "yankee", "zulu", "amélie", "night", "day", "river",
    "mountain", "city", "ocean", "storm", "shadow", "light", "dark", "king", "queen", "ghost",
    "star", "summer", "winter", "spring", "autumn", "fire", "ice", "stone", "glass", "iron",
    "gold", "silver", "red", "blue", "green",
]  # fmt: skip


def pct(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


def queries(n: int) -> list[str]:
    rng = random.Random(7)
    out = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(1, 2))]
        out.append(" ".join(w[: rng.randint(2, len(w))] for w in words))
    return out


def fill(db: Database, root: Path, count: int) -> tuple[list[int], float]:
    rng = random.Random(42)
    libs = []
    for name in ("a", "b"):
        (root / f"lib-{name}").mkdir(exist_ok=True)
        libs.append(
            db.write_sync(
                lambda c, n=name: libraries.create_library(
                    c, name=n, kind="mixed", paths=[root / f"lib-{n}"]
                )
            ).id
        )
    a, b = libs

    def load(conn: Connection, start: int, stop: int) -> None:
        rows, search_rows = [], []
        for i in range(start, stop):
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
            search_rows.append((i, title, context, f"{title.replace(' ', '.')}.1080p.mkv"))
        conn.execute(insert(items), rows)
        dialect.index_new_items(conn, search_rows)

    t0 = time.perf_counter()
    for start in range(1, count + 1, 10_000):
        db.write_sync(load, start, min(count + 1, start + 10_000))
    if not db.is_sqlite:
        db.write_sync(lambda c: c.execute(text("ANALYZE")))
        # Explicit ids above: move the sequence past them like a real load would.
        db.write_sync(
            lambda c: c.execute(text("SELECT setval('items_id_seq', (SELECT max(id) FROM items))"))
        )
    return libs, time.perf_counter() - t0


def run(url: str, root: Path, count: int, qs: list[str]) -> list[str]:
    db = Database(url)
    db.migrate()
    try:
        libs, load_s = fill(db, root, count)
        lat: list[float] = []
        hits: list[int] = []

        def timed(conn: Connection, record: bool) -> None:
            for q in qs:
                s = time.perf_counter()
                found = search(conn, q, library_ids=libs, limit=50)
                if record:
                    lat.append(time.perf_counter() - s)
                    hits.append(len(found))

        db.read_sync(timed, False)  # warm the caches: both engines read from memory
        db.read_sync(timed, True)
        return [
            "SQLite (FTS5)" if db.is_sqlite else "PostgreSQL (tsvector, GIN)",
            f"{load_s:.1f}",
            f"{statistics.median(lat) * 1000:.2f}",
            f"{pct(lat, 95) * 1000:.2f}",
            f"{max(lat) * 1000:.2f}",
            f"{statistics.median(hits):.0f}",
        ]
    finally:
        db.close()


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=400)
    ap.add_argument("--database-url", help="an empty PostgreSQL database (default: throwaway)")
    args = ap.parse_args(argv)
    qs = queries(args.queries)
    rows = []
    with tempfile.TemporaryDirectory(prefix="ferrite-bench-search-") as tmp:
        root = Path(tmp)
        rows.append(run(f"sqlite:///{root / 'search.db'}", root, args.items, qs))
        cluster = None if args.database_url else postgres.Cluster()
        try:
            url = args.database_url or cluster.create_database()  # type: ignore[union-attr]
            rows.append(run(url, root, args.items, qs))
        finally:
            if cluster is not None:
                cluster.stop()
    head = ["backend", "load s", "median ms", "p95 ms", "max ms", "results/query"]
    print(f"{args.items} items, {args.queries} queries, limit 50")
    print("| " + " | ".join(head) + " |")
    print("|" + " --- |" * len(head))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
