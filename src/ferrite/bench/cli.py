"""The ``ferrite bench`` command line: options -> :class:`~ferrite.bench.run.Options`.

    ferrite bench                                   # in-process server, generated library,
                                                    # copy mode, 1, 10 and 50 viewers, 60 s
    ferrite bench --mode transcode --viewers 1,2,4 --duration 60 --json out.json
    ferrite bench --url http://host:8420 --username u --password p --viewers 10
    ferrite bench --compare before.json after.json  # ratios after / before

Kept free of heavy imports: ``ferrite --help`` builds this parser.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path


def _counts(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("viewer counts are positive numbers, e.g. 1,10,50")
    return values


def _size(text: str) -> tuple[int, int]:
    w, _, h = text.partition("x")
    try:
        return int(w), int(h)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not WIDTHxHEIGHT: {text!r}") from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--viewers",
        type=_counts,
        default=[1, 10, 50],
        help="viewer counts, one run each (default 1,10,50)",
    )
    p.add_argument(
        "--mode",
        choices=("copy", "transcode"),
        default="copy",
        help="copy: stream-copied renditions; transcode: a max_height below the source, "
        "so only transcoded rungs exist",
    )
    p.add_argument("--duration", type=float, default=60.0, help="seconds per run (default 60)")
    p.add_argument("--seed", type=int, default=1, help="seed of the viewers' schedule (default 1)")
    p.add_argument("--seeks", type=int, default=2, help="seeks per viewer (default 2)")
    p.add_argument(
        "--switch-fraction",
        type=float,
        default=0.3,
        help="share of viewers that switch rendition once (default 0.3)",
    )
    p.add_argument(
        "--ramp",
        type=float,
        default=5.0,
        help="viewers start spread over this many seconds (default 5)",
    )
    p.add_argument(
        "--buffer",
        type=float,
        default=30.0,
        help="seconds a viewer buffers ahead (hls.js default: 30)",
    )
    p.add_argument(
        "--connections",
        type=int,
        default=0,
        help="HTTP connection pool size (default 2 per viewer, at most 128)",
    )
    p.add_argument("--titles", type=int, default=10, help="at most this many titles are played")
    p.add_argument("--json", type=Path, metavar="PATH", help="write the results as JSON")
    p.add_argument(
        "--compare",
        nargs=2,
        type=Path,
        metavar=("A.json", "B.json"),
        help="print B/A ratios of two result files and exit",
    )
    g = p.add_argument_group(
        "server under test (default: started in-process on a generated library)"
    )
    g.add_argument("--url", help="benchmark this running server instead")
    g.add_argument("--username", help="account to log in with (with --url)")
    g.add_argument("--password", help="its password (with --url)")
    g.add_argument(
        "--server-pid",
        type=int,
        help="with --url on this machine: the server's pid, for CPU and memory",
    )
    g.add_argument(
        "--spawn",
        action="store_true",
        help="run the server as a child process instead of in-process",
    )
    g.add_argument(
        "--data-dir",
        type=Path,
        help="data directory of the started server (default: a temporary one)",
    )
    g.add_argument(
        "--media-dir",
        type=Path,
        help="where generated clips are kept "
        "(default DATA_DIR/bench-media, else ~/.cache/ferrite/bench-media)",
    )
    g.add_argument("--clips", type=int, default=3, help="generated clips (default 3)")
    g.add_argument(
        "--clip-seconds", type=int, default=120, help="length of each clip (default 120)"
    )
    g.add_argument(
        "--clip-size", type=_size, default=(1280, 720), help="clip size (default 1280x720)"
    )


def main(args: argparse.Namespace) -> int:
    from ferrite.bench import report

    if args.compare:
        a, b = (json.loads(path.read_text()) for path in args.compare)
        print(report.compare(a, b))
        return 0

    from ferrite.bench.media import LibrarySpec
    from ferrite.bench.run import Options, run

    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    width, height = args.clip_size
    opts = Options(
        viewers=args.viewers,
        mode=args.mode,
        duration_s=args.duration,
        seed=args.seed,
        seeks=args.seeks,
        switch_fraction=args.switch_fraction,
        ramp_s=args.ramp,
        buffer_s=args.buffer,
        connections=args.connections,
        titles=args.titles,
        url=args.url,
        username=args.username,
        password=args.password,
        server_pid=args.server_pid,
        spawn=args.spawn,
        data_dir=args.data_dir,
        media_dir=args.media_dir,
        library=LibrarySpec(
            clips=args.clips, seconds=args.clip_seconds, width=width, height=height
        ),
        json_path=args.json,
    )
    doc = run(opts, echo=lambda line: print(line, flush=True))
    print()
    print(report.render_table(doc["runs"]))
    if args.json:
        print(f"\nresults: {args.json}")
    return 0
