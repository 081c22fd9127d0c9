"""How long a magnet's metadata takes from one rate-limited loopback seeder, and why.
Prints numbers; asserts nothing.

    .venv/bin/python bench/torrent_metadata.py                          # Ferrite's pack
    .venv/bin/python bench/torrent_metadata.py --set tick_interval=100  # our session's knob
    .venv/bin/python bench/torrent_metadata.py --seed-set tick_interval=100   # the seeder's
    .venv/bin/python bench/torrent_metadata.py --rate 0                 # an unlimited seeder
    .venv/bin/python bench/torrent_metadata.py --runs 1 --log           # every alert, timed

A libtorrent session with Ferrite's settings pack (``torrent.source.session_settings``,
127.0.0.1 only) adds the magnet of a fresh torrent (``--piece``, 30 MiB of noise) whose
only peer is a ``tests.torrent.swarm.Seeder`` limited to ``--rate`` bytes/s (as in
``bench/torrent_compare.py``), named both in ``x.pe`` and by ``connect_peer`` (what
``POST /api/torrents`` does with ``peers``). Measured: add -> ``metadata_received_alert``.
``--set``/``--seed-set key=value`` change one libtorrent setting of our session / of the
seeder. No Ferrite server, no database: this is libtorrent and the seeder alone.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

import libtorrent as lt  # noqa: E402
from tests.torrent.swarm import Seeder, make_torrent  # noqa: E402

from ferrite.config import load  # noqa: E402
from ferrite.torrent import source as src  # noqa: E402


def setting(text: str) -> tuple[str, Any]:
    key, value = text.split("=", 1)
    if value in ("true", "false"):
        return key, value == "true"
    return key, int(value) if value.lstrip("-").isdigit() else value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rate", type=int, default=3_000_000, help="seeder limit, B/s (0: none)")
    ap.add_argument("--piece", type=int, default=512 * 1024)
    ap.add_argument("--set", nargs="*", default=[], type=setting, help="our key=value")
    ap.add_argument("--seed-set", nargs="*", default=[], type=setting, help="seeder's")
    ap.add_argument("--log", action="store_true", help="print every alert with its time")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ferrite-metadata-"))
    settings = load(
        {"data_dir": tmp / "data", "torrent_dht": False, "torrent_lsd": False,
         "torrent_upnp": False, "torrent_listen_port": 0},
        environ={},
    )  # fmt: skip
    pack = src.session_settings(settings, listen_hosts=["127.0.0.1"])
    pack["alert_mask"] = int(lt.alert_category.all if args.log else lt.alert_category.status)
    pack.update(dict(args.set))
    session = lt.session(pack)
    data = os.urandom(30 * 1024 * 1024)
    times = []
    for n in range(args.runs):
        folder = tmp / f"seed{n}" / f"Clip {n}"
        folder.mkdir(parents=True)
        (folder / "clip.mp4").write_bytes(data)
        torrent = make_torrent(folder, args.piece)
        with Seeder(torrent, tmp / f"seed{n}", upload_limit=args.rate) as seeder:
            if args.seed_set:
                seeder.session.apply_settings(dict(args.seed_set))
            magnet = lt.make_magnet_uri(lt.torrent_info(lt.bdecode(torrent)))
            params = lt.parse_magnet_uri(f"{magnet}&x.pe=127.0.0.1:{seeder.port}")
            src.prepare_params(params, str(tmp / f"get{n}"))
            started = time.monotonic()
            handle = session.add_torrent(params)
            handle.connect_peer(("127.0.0.1", seeder.port), src.EXPLICIT_PEER_SOURCE)
            took = None
            while took is None and time.monotonic() - started < 30:
                session.wait_for_alert(50)
                for alert in session.pop_alerts():
                    at = time.monotonic() - started
                    if args.log:
                        print(f"{at:7.3f} {type(alert).__name__}: {alert.message()[:150]}")
                    if isinstance(alert, lt.metadata_received_alert):
                        took = at
            session.remove_torrent(handle)
        print(f"  run {n + 1}: metadata after {took if took is None else round(took, 3)} s")
        if took is not None:
            times.append(took)
    if times:
        low, high = min(times), max(times)
        print(f"median {statistics.median(times):.3f} s (min {low:.3f}, max {high:.3f})")


if __name__ == "__main__":
    main()
