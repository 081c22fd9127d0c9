"""``ferrite``: the command line. A thin front end over the library; exit codes live here.

    ferrite serve [--host H] [--port P] [--data-dir D] [--library PATH ...]
    ferrite user add NAME [--admin] [--password-stdin] [--data-dir D]
    ferrite scan PATH ... [--data-dir D]
    ferrite demo [DIR]
    ferrite bench ...

Exit codes: 0 success, 1 a Ferrite error (message on stderr), 2 bad usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import logging
import sys
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ferrite import config
from ferrite.bench import cli as bench_cli
from ferrite.errors import BadRequest, FerriteError, Unprocessable

if TYPE_CHECKING:
    from ferrite.db.engine import Database
    from ferrite.library.naming import LibraryKind
    from ferrite.library.scanner import ScanReport

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_STARTUP_FAILURE = 3  # uvicorn's code when the app's startup fails


class UsageError(Exception):
    """Bad settings or arguments (exit code 2)."""


def _settings(args: argparse.Namespace, **extra: Any) -> config.Settings:
    overrides: dict[str, Any] = {"data_dir": getattr(args, "data_dir", None), **extra}
    try:
        return config.load(overrides)
    except (ValueError, KeyError) as exc:  # e.g. FERRITE_PORT=abc
        raise UsageError(str(exc)) from exc


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


# -- serve ----------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ferrite.app import create_app
    from ferrite.cluster.node import DrainingServer

    settings = _settings(
        args,
        host=args.host,
        port=args.port,
        libraries=tuple(args.library) if args.library else None,
        role=args.role,
    )
    if settings.role == "worker" and not settings.redis_url:
        raise UsageError("--role worker needs FERRITE_REDIS_URL (the cluster's Redis)")
    _setup_logging(settings.log_level)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level,
        # Ferrite logs each request itself (ferrite.api.requestlog) by route template;
        # uvicorn's access log would print raw paths, and playback paths hold tokens.
        access_log=False,
        # Open direct-play streams must not hold shutdown hostage.
        timeout_graceful_shutdown=5,
    )
    # SIGTERM: /readyz turns 503 at once, the node serves on for drain_s, then stops.
    server = DrainingServer(config, app.state.node, settings.drain_s)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the SIGINT it handled
        server.run()
    if not server.started:
        return EXIT_STARTUP_FAILURE  # as uvicorn.run: the app's startup failed
    return EXIT_OK


# -- user add ------------------------------------------------------------------------------
def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line.removesuffix("\n").removesuffix("\r")
    else:
        if not sys.stdin.isatty():
            raise FerriteError("No terminal to ask for a password on; use --password-stdin.")
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != password:
            raise FerriteError("The passwords do not match.")
    if not password:
        raise FerriteError("The password is empty.")
    return password


def cmd_user_add(args: argparse.Namespace) -> int:
    from ferrite.auth import users
    from ferrite.auth.passwords import Passwords
    from ferrite.db.engine import Database

    settings = _settings(args)
    users.validate_username(args.name)
    password = _read_password(args.password_stdin)
    if len(password) < settings.password_min_length:
        raise Unprocessable(
            f"A password must be at least {settings.password_min_length} characters."
        )
    passwords = Passwords()
    db = Database(settings.db_url)
    try:
        db.migrate()
        password_hash = passwords.hash_sync(password)
        record = db.write_sync(
            lambda conn: users.create_user(
                conn,
                username=args.name,
                password_hash=password_hash,
                is_admin=args.admin,
                library_ids=(),
                now=time.time(),
            )
        )
    finally:
        passwords.close()
        db.close()
    role = "admin" if record.is_admin else "user"
    print(f"created {role} {record.username!r} (id {record.id})")
    return EXIT_OK


# -- scan ----------------------------------------------------------------------------------
def cmd_scan(args: argparse.Namespace) -> int:
    """Add/rescan libraries; exit 1 if a library folder could not be read."""
    from ferrite.db.engine import Database

    settings = _settings(args)
    _setup_logging("warning")
    db = Database(settings.db_url)
    try:
        db.migrate()
        report = scan_cli(db, settings, [Path(p) for p in args.paths])
    finally:
        db.close()
    return EXIT_ERROR if report.errors else EXIT_OK


def format_report(report: ScanReport) -> str:
    """A scan's counts on one line, then one line per failed file and unreadable folder."""
    c = report.counts()
    lines = [
        f"{c['new']} new, {c['changed']} changed, {c['unchanged']} unchanged, "
        f"{c['removed']} removed, {c['moved']} moved, {c['failed']} failed "
        f"({report.duration_s:.1f} s)"
    ]
    lines += [f"  failed: {p}: {r}" for p, r in report.failed]
    lines += [f"  error: {e}" for e in report.errors]
    return "\n".join(lines)


def scan_cli(
    db: Database,
    settings: config.Settings,
    paths: Sequence[Path | str],
    *,
    kind: LibraryKind | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> ScanReport:
    """``ferrite scan PATH ...``: add each folder as a library (kind from ``kind`` or guessed
    from the folder name: "TV", "Shows", "Series" -> shows; "Movies", "Films" -> movies;
    else mixed) or rescan the library it already belongs to (a folder inside a library is
    rescanned alone). Shows a progress bar on ``err`` (stderr) and prints a summary per
    library to ``out`` (stdout). Raises :class:`BadRequest` for a path that isn't a folder
    and :class:`~ferrite.errors.Conflict` for one that contains another library's folder."""
    from tqdm import tqdm

    from ferrite.library import libraries
    from ferrite.library.naming import guess_library_kind
    from ferrite.library.scanner import Scanner, ScanReport

    out = out or sys.stdout
    err = err or sys.stderr
    targets: list[tuple[int, list[Path] | None]] = []
    for raw in paths:
        p = Path(raw).expanduser().resolve()
        if not p.is_dir():
            raise BadRequest(f"{raw}: not a folder")
        owner = db.read_sync(libraries.library_for_path, p)
        if owner is None:
            lib = db.write_sync(
                partial(
                    libraries.create_library,
                    name=p.name,
                    kind=kind or guess_library_kind(p.name),
                    paths=[p],
                )
            )
            print(f"Added library '{lib.name}' ({lib.kind}): {p}", file=out)
            targets.append((lib.id, None))
        elif Path(owner[1]) == p:
            targets.append((owner[0], None))
        else:
            targets.append((owner[0], [p]))
    reports = []
    scanner = Scanner(db, settings)
    try:
        for library_id, subset in targets:
            lib = db.read_sync(libraries.get_library, library_id)
            with tqdm(desc=lib.name, unit="file", file=err, leave=False, disable=None) as bar:

                def update(done: int, total: int, bar: Any = bar) -> None:
                    bar.total = total
                    bar.n = done
                    bar.refresh()

                report = scanner.scan_library(library_id, paths=subset, progress=update)
            print(f"Library '{lib.name}' ({lib.kind}): {format_report(report)}", file=out)
            reports.append(report)
    finally:
        scanner.close()
    return ScanReport.merge(reports)


def cmd_demo(args: argparse.Namespace) -> int:
    from ferrite import demo

    root = (args.dir or Path("ferrite-demo")).expanduser().resolve()
    print(f"generating the demo library in {root} ...", file=sys.stderr)
    try:
        folders = demo.generate(root)
    except FerriteError as exc:
        print(f"ferrite demo: {exc.message}", file=sys.stderr)
        return 1
    for folder in folders:
        print(folder)
    print(
        f"serve it with: ferrite serve --library {folders[0]} --library {folders[1]}",
        file=sys.stderr,
    )
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from ferrite.bench.cli import main as bench_main

    return bench_main(args)


# -- parsing ----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ferrite", description="Ferrite: a self-hosted media streaming server."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def data_dir(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--data-dir",
            type=Path,
            help="data directory (default ./ferrite-data or FERRITE_DATA_DIR)",
        )

    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8420)")
    serve.add_argument(
        "--role",
        choices=config.ROLES,
        help="all (default) or worker: transcodes for a cluster's playback nodes only",
    )
    data_dir(serve)
    serve.add_argument(
        "--library",
        action="append",
        type=Path,
        metavar="PATH",
        help="a folder to add as a library and scan (repeatable)",
    )
    serve.set_defaults(func=cmd_serve)

    user = sub.add_parser("user", help="manage users")
    user_sub = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = user_sub.add_parser("add", help="create a user")
    add.add_argument("name", help="username")
    add.add_argument("--admin", action="store_true", help="make the user an admin")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    data_dir(add)
    add.set_defaults(func=cmd_user_add)

    scan = sub.add_parser("scan", help="add/rescan library folders, then exit")
    scan.add_argument("paths", nargs="+", metavar="PATH")
    data_dir(scan)
    scan.set_defaults(func=cmd_scan)

    demo = sub.add_parser("demo", help="generate a small sample library")
    demo.add_argument("dir", nargs="?", type=Path, metavar="DIR")
    demo.set_defaults(func=cmd_demo)

    bench = sub.add_parser(
        "bench", help="synthetic playback benchmark (N viewers; TTFF, seek, segment latency)"
    )
    bench_cli.add_arguments(bench)
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except FerriteError as exc:
        print(f"ferrite: {exc.message}", file=sys.stderr)
        return EXIT_ERROR
    except UsageError as exc:
        print(f"ferrite: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return code


if __name__ == "__main__":
    sys.exit(main())
