"""Ferrite vs webtorrent-cli and peerflix: play a video while its torrent downloads from
the same rate-limited loopback seeder, measured with the same decoder, as ratios in one
run. Prints numbers; asserts nothing about speed.

    .venv/bin/python bench/torrent_compare.py                 # fast mp4, tail mp4, mkv; 2 runs
    .venv/bin/python bench/torrent_compare.py --runs 1 --containers fast --json out.json
    .venv/bin/python bench/torrent_compare.py --piece 524288 --rate 3000000   # as issue #15

Network isolation. webtorrent-cli has no switch for DHT, local service discovery, UPnP
or trackers, so this script never runs it where it could reach anything but 127.0.0.1:
it re-executes itself under ``unshare --net`` (a private network namespace whose only
interface is ``lo``, brought up first) and, inside, checks that ``lo`` is the only
interface before it starts anything. Everything -- the encode, the seeders, the Ferrite
server, webtorrent and the decoder -- runs inside. If no namespace can be made, it stops
with a message (``bench/torrent.py`` measures Ferrite alone without one). Before that,
outside the namespace, it installs the pinned ``webtorrent-cli`` with
``npm ci --ignore-scripts --prefix bench/webtorrent`` when ``node_modules`` is missing
(see ``bench/webtorrent/package.json``: two dependencies are replaced by stubs because
they cannot be installed from the registry alone; WebRTC is unused on a TCP/uTP swarm).

Setup (as ``bench/torrent.py``): one encode of ``--duration`` s of 640x360 H.264 at
``--bitrate`` (noise keeps the encoder at the bitrate) + AAC, remuxed to an MP4 with the
``moov`` at the end and to Matroska. Every measurement adds a fresh torrent (a distinct
name over the same bytes: 64 KiB pieces, libtorrent's hybrid v1+v2 format with no pad
files, which webtorrent reads through its v1 info hash), seeded by its own libtorrent
session on 127.0.0.1 with an upload limit of ``--rate`` bytes/s. Both clients get the
same magnet link, ``magnet:?xt=urn:btih:<v1>&dn=<name>&x.pe=127.0.0.1:<seeder port>``,
so both fetch the metadata from the seeder first:

* **Ferrite**: a real ``create_app`` under uvicorn in this process, its engine on
  127.0.0.1 (no DHT/LSD/UPnP), started before the first measurement; the magnet goes to
  ``POST /api/torrents`` with the seeder also named in ``peers``.
* **peerflix** (pinned in ``bench/peerflix/``, installed like webtorrent-cli): ``peerflix
  <magnet> --port <p> --quiet --peer <seeder> --path <dir> --hostname 127.0.0.1``, one
  process per torrent; its HTTP server serves the largest file at ``/`` once the metadata
  is in (polled with ``HEAD /`` every 20 ms). Its clock starts when the process is
  spawned (it adds the torrent at once; Node's start-up is included, as in issue #15);
  bytes downloaded by then are its swarm counter (``/.json``).
* **webtorrent**: the ``webtorrent download <magnet> --out <dir> --port <p> --quiet
  --keep-seeding`` CLI from ``bench/webtorrent/node_modules`` (its streaming HTTP server
  at ``/webtorrent/<info hash>/<path>``, raw file with Range), one process per torrent.
  Its clock starts when its HTTP server first answers: the CLI adds the torrent just
  before it listens. Node's start-up until then is reported apart (``startup_s``).

The player is one model for both: FFmpeg's demuxer and decoder through PyAV (``av.open``
of a URL, default options), reading

* **Ferrite HLS**: the master playlist from ``POST /api/playback`` (``chrome``, HLS; it
  waits for the probe through the piece reader);
* **Ferrite direct**: ``POST /api/playback`` with the ``android`` profile (direct play of
  MP4 and Matroska), right after ``POST /api/torrents`` answered, then the session's
  file URL (Range) -- as a new user's player would;
* **webtorrent**: its file URL, once ``/webtorrent/<info hash>/`` lists the file
  (polled every 20 ms: metadata has arrived).

Measured:

* **first frame**: from adding the magnet until the decoder returns the first video
  frame, and the bytes downloaded by then (Ferrite: verified pieces x piece length from
  ``GET /api/torrents/{id}``; webtorrent: blocks allocated by its output file, which it
  writes piece by piece after each hash check);
* **stalls** during real-time playback of the whole file: after the first frame a clock
  runs in real time; each frame is due at ``first + (pts - first pts) + stalled so far``;
  the decoder sleeps until a frame is due (no read-ahead beyond FFmpeg's own buffers), and
  a frame that decodes more than 100 ms late is a stall (count and total time, the clock
  then waits for it);
* **seek to 75 %**: on another fresh torrent, play in real time for 2 s after the first
  frame, then ``container.seek`` to 75 % of the clip: the time until a frame within a GOP
  of the target decodes.

Ratios are Ferrite / the best dedicated client (the lower median of webtorrent and
peerflix) of the medians over ``--runs`` (lower is better for times). The sides of one
container and run are measured one after another (their order
rotates from run to run), never at the same time.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

WEBTORRENT_DIR = ROOT / "bench" / "webtorrent"
PEERFLIX_DIR = ROOT / "bench" / "peerflix"
NETNS_MARK = "FERRITE_BENCH_NETNS"  # set in the re-executed process inside the namespace

NAMES = {"fast": "MP4, moov at the start", "tail": "MP4, moov at the end", "mkv": "Matroska"}
SIDES = {
    "ferrite-hls": "Ferrite HLS",
    "ferrite-direct": "Ferrite direct",
    "webtorrent": "webtorrent",
    "peerflix": "peerflix",
}
DEDICATED = ("webtorrent", "peerflix")
STALL_S = 0.1  # a frame this late is a stall
SEEK_AT = 0.75
SEEK_AFTER_S = 2.0  # play this long before the seek
GOP_SLACK_S = 2.5  # a frame this close before the seek target counts as "there" (GOP = 2 s)
OPEN_TIMEOUT_S = 60.0
READ_TIMEOUT_S = 60.0
POLL_S = 0.02


# -- isolation: a network namespace with loopback only ------------------------------------


def interfaces() -> list[str]:
    """Network interfaces of this process's namespace (``if_nameindex`` asks the kernel
    for the caller's namespace, unlike ``/sys/class/net``)."""
    return sorted(name for _, name in socket.if_nameindex())


def isolated() -> bool:
    return interfaces() == ["lo"]


def refuse(reason: str) -> NoReturn:
    sys.exit(
        f"torrent_compare: {reason}\n"
        "webtorrent-cli cannot turn off DHT, local service discovery, UPnP or trackers, so "
        "this benchmark runs it only inside a network namespace that has nothing but "
        "loopback (`unshare --net`, as root or with unprivileged user namespaces).\n"
        "Ferrite alone can be measured without one: .venv/bin/python bench/torrent.py"
    )


def enter_namespace() -> None:
    """Re-execute this script inside a new network namespace with ``lo`` up."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        refuse("`unshare` (util-linux) and `ip` (iproute2) are needed to isolate the run.")
    # Without root, a user namespace maps us to root inside it, which may create the
    # network namespace (where the kernel allows unprivileged user namespaces).
    unshare = ["unshare", "--net"] if os.geteuid() == 0 else ["unshare", "--map-root-user", "--net"]
    probe = subprocess.run([*unshare, "ip", "link", "set", "lo", "up"], capture_output=True)
    if probe.returncode != 0:
        refuse(f"cannot create a network namespace: {probe.stderr.decode().strip()}")
    cmd = [*unshare, "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]
    cmd += [sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]]
    os.execvpe(cmd[0], cmd, {**os.environ, NETNS_MARK: "1"})


# -- webtorrent-cli: installed on demand, one process per torrent -------------------------


def pinned_cli_version() -> str:
    manifest = json.loads((WEBTORRENT_DIR / "package.json").read_text())
    return str(manifest["dependencies"]["webtorrent-cli"])


def cli_js() -> Path:
    return WEBTORRENT_DIR / "node_modules" / "webtorrent-cli" / "bin" / "cmd.js"


def ensure_webtorrent(reinstall: bool) -> None:
    """``npm ci`` the pinned webtorrent-cli unless that version is already installed.
    Runs outside the namespace (npm needs the registry). ``--ignore-scripts``: no
    dependency needs an install step here (uTP and the WebSocket helpers ship prebuilt
    binaries), and one (``ip-set``) has a broken one (``npx only-allow pnpm``)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        refuse("Node.js (node, npm) is needed to run webtorrent-cli.")
    installed = WEBTORRENT_DIR / "node_modules" / "webtorrent-cli" / "package.json"
    version = pinned_cli_version()
    if (
        not reinstall
        and installed.exists()
        and json.loads(installed.read_text()).get("version") == version
    ):
        return
    print(f"installing webtorrent-cli {version} into {WEBTORRENT_DIR / 'node_modules'} ...")
    subprocess.run(
        ["npm", "ci", "--prefix", str(WEBTORRENT_DIR), "--ignore-scripts", "--no-audit",
         "--no-fund", "--loglevel=error"],
        check=True,
    )  # fmt: skip


def peerflix_js() -> Path:
    return PEERFLIX_DIR / "node_modules" / "peerflix" / "app.js"


def ensure_peerflix(reinstall: bool) -> None:
    """``npm ci`` the pinned peerflix (``bench/peerflix/package-lock.json``) if missing."""
    manifest = json.loads((PEERFLIX_DIR / "package.json").read_text())
    version = manifest["dependencies"]["peerflix"]
    installed = PEERFLIX_DIR / "node_modules" / "peerflix" / "package.json"
    if (
        not reinstall
        and installed.exists()
        and json.loads(installed.read_text()).get("version") == version
    ):
        return
    print(f"installing peerflix {version} into {PEERFLIX_DIR / 'node_modules'} ...")
    subprocess.run(
        ["npm", "ci", "--prefix", str(PEERFLIX_DIR), "--ignore-scripts", "--no-audit",
         "--no-fund", "--loglevel=error"],
        check=True,
    )  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the player: FFmpeg's demuxer and decoder through PyAV --------------------------------


class Player:
    """Decodes the video of ``url`` (demuxing every stream, as a player does) and keeps
    a real-time playback clock."""

    def __init__(self, url: str, *, headers: dict[str, str] | None = None, hls: bool) -> None:
        import av

        options = {"allowed_extensions": "ALL"} if hls else {}
        if headers:
            options["headers"] = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.container: Any = av.open(
            url, options=options, timeout=(OPEN_TIMEOUT_S, READ_TIMEOUT_S)
        )
        self._frames: Iterator[Any] = iter(())
        self._restart()
        self.wall0 = 0.0  # wall clock of the frame the playback clock started at
        self.pts0 = 0.0

    def _restart(self) -> None:
        self._frames = self.container.decode(self.container.streams.video[0])

    def frame(self) -> float | None:
        """The next video frame's time in seconds, ``None`` at the end."""
        for frame in self._frames:
            if frame.time is not None:
                return float(frame.time)
        return None

    def start_clock(self, pts: float) -> None:
        self.wall0, self.pts0 = time.monotonic(), pts

    def play(self, limit_s: float | None = None) -> tuple[int, float]:
        """Decode at real-time pace until the end (or ``limit_s`` of wall time); returns
        (stalls, stalled seconds)."""
        stalls, stalled = 0, 0.0
        end = None if limit_s is None else time.monotonic() + limit_s
        while end is None or time.monotonic() < end:
            pts = self.frame()
            if pts is None:
                break
            due = self.wall0 + stalled + (pts - self.pts0)
            late = time.monotonic() - due
            if late > STALL_S:
                stalls += 1
                stalled += late
            elif late < 0:
                time.sleep(-late)
        return stalls, stalled

    def seek(self, target: float) -> tuple[float, float]:
        """Seek to ``target`` s; (seconds until a frame there decoded, that frame's time)."""
        import av

        started = time.monotonic()
        self.container.seek(int(target * av.time_base), backward=True)
        self._restart()
        while (pts := self.frame()) is not None:
            if pts >= target - GOP_SLACK_S:
                return time.monotonic() - started, pts
        raise RuntimeError(f"no frame at or after {target:.1f} s after the seek")

    def close(self) -> None:
        self.container.close()


# -- the two servers ------------------------------------------------------------------------


@dataclasses.dataclass
class Added:
    """A torrent added to one side: where to play it and how to inspect it."""

    t0: float  # when the clock started (the magnet was added)
    url: str = ""
    headers: dict[str, str] | None = None
    hls: bool = False
    info: dict[str, Any] = dataclasses.field(default_factory=dict)
    downloaded: Callable[[], int] = lambda: 0
    remove: Callable[[], None] = lambda: None


class Ferrite:
    """The real server (``tests/torrent/streaming.serve``), playing over HLS or direct."""

    def __init__(self, live: Any) -> None:
        self.live = live

    def warm_up(self, torrent: bytes) -> None:
        """Start the torrent engine (it starts on the first ``POST /api/torrents``) so no
        measurement pays for it: add a .torrent with no peers and remove it again."""
        r = self.live.add(torrent, [])
        r.raise_for_status()
        self._delete(r.json()["id"])

    def _delete(self, torrent_id: int) -> None:
        self.live.client.delete(
            f"/api/torrents/{torrent_id}", params={"delete_data": True}, headers=self.live.headers
        )

    def add(self, magnet: str, peer: str, mode: str) -> Added:
        client, headers = self.live.client, self.live.headers
        t0 = time.monotonic()
        r = client.post("/api/torrents", json={"magnet": magnet, "peers": [peer]}, headers=headers)
        r.raise_for_status()
        added = r.json()
        tid = added["id"]
        end = time.monotonic() + 60
        while not added["files"] or added["files"][0].get("item_id") is None:  # 202: wait
            if time.monotonic() > end:
                raise RuntimeError("Ferrite did not list the torrent's files within 60 s")
            time.sleep(POLL_S)
            added = self.live.torrent(tid)
        item_id = next(f["item_id"] for f in added["files"] if f.get("is_video"))
        out = Added(t0=t0, info={"added_s": time.monotonic() - t0})
        if mode == "hls":
            pb = self.live.play(item_id)
            out.url, out.hls = self.live.url(pb["url"]), True
            out.info["session_s"] = time.monotonic() - t0
        else:
            pb = self.live.play(item_id, device="android", protocol=None)
            if pb["method"] != "direct":
                raise RuntimeError(f"expected direct play, got {pb['method']}: {pb['reasons']}")
            out.url = self.live.url(pb["url"])
            out.info["session_s"] = time.monotonic() - t0

        def downloaded() -> int:
            s = self.live.torrent(tid)
            return int(min(s["pieces_have"] * s["piece_length"], s["total_size"]))

        def remove() -> None:
            # Let the download finish first: a segment the player abandoned may still be
            # packaged through the piece reader, and removing the torrent under it (which
            # works) makes PyAV print the reader's NotFound to stderr. Bounded; not timed.
            end = time.monotonic() + 30
            while time.monotonic() < end:
                s = self.live.torrent(tid)
                readers = s.get("readers") or []
                if s["progress"] >= 1 and all(r.get("waiting_for") is None for r in readers):
                    break
                time.sleep(0.1)
            self._delete(tid)

        out.downloaded = downloaded
        out.remove = remove
        return out


class Webtorrent:
    """``webtorrent download`` processes; every one started is stopped by :meth:`close`."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.procs: set[subprocess.Popen[bytes]] = set()

    def add(self, magnet: str, info_hash: str, title: str) -> Added:
        import httpx

        out_dir = self.work / title
        out_dir.mkdir(parents=True)
        port = free_port()
        log = (self.work / f"{title}.log").open("wb")
        spawned = time.monotonic()
        proc = subprocess.Popen(
            ["node", str(cli_js()), "download", magnet, "--out", str(out_dir),
             "--port", str(port), "--quiet", "--keep-seeding"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        self.procs.add(proc)

        def remove() -> None:
            self._stop(proc)
            shutil.rmtree(out_dir, ignore_errors=True)

        try:
            base = f"http://127.0.0.1:{port}/webtorrent"
            client = httpx.Client(timeout=10)
            try:
                t0 = self._wait(proc, title, lambda: client.get(f"{base}/").status_code == 200)
                page = f"{base}/{info_hash}/"
                link: list[str] = []

                def listed() -> bool:
                    r = client.get(page)
                    link[:] = re.findall(r'href="([^"]+)"', r.text) if r.status_code == 200 else []
                    return bool(link)

                self._wait(proc, title, listed)
            finally:
                client.close()
        except BaseException:
            remove()
            raise
        path = urllib.parse.unquote(link[0].removeprefix(f"/webtorrent/{info_hash}/"))
        on_disk = out_dir / path

        def downloaded() -> int:
            try:
                st = on_disk.stat()
            except FileNotFoundError:
                return 0
            return min(st.st_blocks * 512, st.st_size)

        return Added(
            t0=t0,
            url=f"http://127.0.0.1:{port}{link[0]}",
            info={"startup_s": t0 - spawned, "listed_s": time.monotonic() - t0},
            downloaded=downloaded,
            remove=remove,
        )

    def _wait(self, proc: subprocess.Popen[bytes], title: str, ready: Callable[[], bool]) -> float:
        """Poll ``ready`` until true; the time the successful poll started."""
        import httpx

        end = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                log = (self.work / f"{title}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"webtorrent exited with {proc.returncode}:\n{log}")
            started = time.monotonic()
            with contextlib.suppress(httpx.TransportError):
                if ready():
                    return started
            if started > end:
                raise RuntimeError("webtorrent's server did not get ready within 60 s")
            time.sleep(POLL_S)

    def _stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.terminate()  # webtorrent exits gracefully on SIGTERM
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.procs.discard(proc)

    def close(self) -> None:
        for proc in list(self.procs):
            self._stop(proc)


class Peerflix:
    """``peerflix`` processes; every one started is stopped by :meth:`close`."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.procs: set[subprocess.Popen[bytes]] = set()

    def add(self, magnet: str, peer: str, title: str) -> Added:
        import httpx

        out_dir = self.work / title
        out_dir.mkdir(parents=True)
        port = free_port()
        log = (self.work / f"{title}.log").open("wb")
        t0 = time.monotonic()
        proc = subprocess.Popen(
            ["node", str(peerflix_js()), magnet, "--port", str(port), "--quiet",
             "--peer", peer, "--path", str(out_dir), "--hostname", "127.0.0.1"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        self.procs.add(proc)
        base = f"http://127.0.0.1:{port}"

        def remove() -> None:
            stop(proc, self.procs)
            shutil.rmtree(out_dir, ignore_errors=True)

        try:
            with httpx.Client(timeout=10) as client:
                wait_ready(
                    proc,
                    self.work / f"{title}.log",
                    lambda: client.head(f"{base}/").status_code == 200,
                )
        except BaseException:
            remove()
            raise

        def downloaded() -> int:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                return int(httpx.get(f"{base}/.json", timeout=5).json()["downloaded"])
            return 0

        return Added(
            t0=t0,
            url=f"{base}/",
            info={"listed_s": time.monotonic() - t0},
            downloaded=downloaded,
            remove=remove,
        )

    def close(self) -> None:
        for proc in list(self.procs):
            stop(proc, self.procs)


def wait_ready(proc: subprocess.Popen[bytes], log: Path, ready: Callable[[], bool]) -> float:
    """Poll ``ready`` until true; the time the successful poll started."""
    import httpx

    end = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{proc.args[1]} exited with {proc.returncode}:\n{tail}")
        started = time.monotonic()
        with contextlib.suppress(httpx.TransportError):
            if ready():
                return started
        if started > end:
            raise RuntimeError("the client's server did not get ready within 60 s")
        time.sleep(POLL_S)


def stop(proc: subprocess.Popen[bytes], procs: set[subprocess.Popen[bytes]]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    procs.discard(proc)


# -- one measurement ------------------------------------------------------------------------


@dataclasses.dataclass
class Bench:
    ferrite: Ferrite
    webtorrent: Webtorrent
    peerflix: Peerflix
    seeds: Path
    rate: int
    piece: int
    limit: str = "seeder"  # "link": the rate is a link's (bench/shaper.py)

    @contextlib.contextmanager
    def added(self, side: str, clip: Path, title: str) -> Iterator[Added]:
        """A fresh torrent of ``clip`` on its own seeder, added to ``side``."""
        import libtorrent as lt
        from tests.torrent.streaming import torrent_of
        from tests.torrent.swarm import Seeder

        torrent = torrent_of(clip, title, self.seeds, piece=self.piece)
        info = lt.torrent_info(lt.bdecode(torrent))
        info_hash = str(info.info_hashes().v1)
        with contextlib.ExitStack() as stack:
            if self.limit == "link":
                from bench.shaper import Link, admit_only_the_link

                seeder = stack.enter_context(Seeder(torrent, self.seeds))
                admit_only_the_link(seeder.session)
                port = stack.enter_context(Link(seeder.port, self.rate)).port
            else:
                seeder = stack.enter_context(Seeder(torrent, self.seeds, upload_limit=self.rate))
                port = seeder.port
            peer = f"127.0.0.1:{port}"
            magnet = f"magnet:?xt=urn:btih:{info_hash}&dn={urllib.parse.quote(title)}&x.pe={peer}"
            if side == "webtorrent":
                added = self.webtorrent.add(magnet, info_hash, title)
            elif side == "peerflix":
                added = self.peerflix.add(magnet, peer, title)
            else:
                added = self.ferrite.add(magnet, peer, side.removeprefix("ferrite-"))
            try:
                yield added
            finally:
                added.remove()

    def start_run(self, side: str, clip: Path, title: str) -> dict[str, float]:
        with self.added(side, clip, title) as a:
            player = Player(a.url, headers=a.headers, hls=a.hls)
            try:
                pts = player.frame()
                first = time.monotonic()
                if pts is None:
                    raise RuntimeError("no video frame")
                out = {"first_frame_s": first - a.t0, "downloaded_mib": a.downloaded() / 2**20}
                player.start_clock(pts)
                stalls, stalled = player.play()
                out.update(stalls=stalls, stall_s=stalled, **a.info)
            finally:
                player.close()
        return out

    def seek_run(self, side: str, clip: Path, title: str, duration: float) -> dict[str, float]:
        with self.added(side, clip, title) as a:
            player = Player(a.url, headers=a.headers, hls=a.hls)
            try:
                pts = player.frame()
                if pts is None:
                    raise RuntimeError("no video frame")
                player.start_clock(pts)
                player.play(limit_s=SEEK_AFTER_S)
                target = pts + SEEK_AT * duration
                latency, landed = player.seek(target)
                before = a.downloaded()
            finally:
                player.close()
        return {"seek_s": latency, "seek_landed_s": landed - target,
                "seek_downloaded_mib": before / 2**20}  # fmt: skip


# -- the run and its report -----------------------------------------------------------------

ROWS = (  # (key, label, format)
    ("first_frame_s", "first frame", "{:.2f} s"),
    ("downloaded_mib", "downloaded by then", "{:.1f} MiB"),
    ("seek_s", "seek to 75 % (fresh torrent)", "{:.2f} s"),
    ("stalls", "stalls (real-time playback)", "{:.1f}"),
    ("stall_s", "stalled time", "{:.2f} s"),
)


def median(runs: list[dict[str, float]], key: str) -> float | None:
    values = [r[key] for r in runs if key in r]
    return statistics.median(values) if values else None


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return "–"
    if b == 0:
        return "=" if a == 0 else "∞"
    return f"{a / b:.2f}"


def report(results: dict[str, dict[str, list[dict[str, float]]]], sizes: dict[str, int]) -> str:
    lines = []
    ferrite_sides = [s for s in SIDES if s.startswith("ferrite")]
    for kind, by_side in results.items():
        lines.append(f"\n{NAMES[kind]}, {sizes[kind] / 2**20:.1f} MiB\n")
        head = [SIDES[s] for s in SIDES] + [f"{SIDES[s]} / best" for s in ferrite_sides]
        lines.append("| | " + " | ".join(head) + " |")
        lines.append("| --- " * (len(head) + 1) + "|")
        for key, label, fmt in ROWS:
            med = {s: median(by_side[s], key) for s in SIDES}
            cells = [fmt.format(med[s]) if med[s] is not None else "failed" for s in SIDES]
            known = [med[s] for s in DEDICATED if med[s] is not None]
            best = min(known) if known else None  # the best dedicated client (lower is better)
            cells += [ratio(med[s], best) for s in ferrite_sides]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        failed = {s: sum(1 for r in by_side[s] if "error" in r) for s in SIDES}
        if any(failed.values()):
            lines.append(
                "failed measurements: " + ", ".join(f"{SIDES[s]} {n}" for s, n in failed.items())
            )
        extra = []
        for key, side, label in (
            ("startup_s", "webtorrent", "webtorrent's Node start-up (not counted)"),
            ("listed_s", "webtorrent", "webtorrent: file listed (metadata) after"),
            ("listed_s", "peerflix", "peerflix: serving the file (from spawn) after"),
            ("added_s", "ferrite-direct", "Ferrite: POST /api/torrents answered after"),
            ("session_s", "ferrite-direct", "Ferrite direct: POST /api/playback answered after"),
            ("session_s", "ferrite-hls", "Ferrite HLS: POST /api/playback answered after"),
            ("seek_landed_s", "webtorrent", "webtorrent: first frame after the seek at target"),
            ("seek_landed_s", "peerflix", "peerflix: at target"),
            ("seek_landed_s", "ferrite-hls", "Ferrite HLS: at target"),
            ("seek_landed_s", "ferrite-direct", "Ferrite direct: at target"),
        ):
            m = median(by_side[side], key)
            if m is not None:
                extra.append(f"{label} {m:+.2f} s" if "landed" in key else f"{label} {m:.2f} s")
        lines.append("\n" + "; ".join(extra))
    return "\n".join(lines)


def measure(
    bench: Bench, kind: str, clip: Path, run: int, duration: float, sides: list[str]
) -> dict[str, Any]:
    """Every side once on ``clip``; the order of the sides rotates with ``run``."""
    sides = sides[run % len(sides) :] + sides[: run % len(sides)]
    out: dict[str, Any] = {}
    for side in sides:
        r: dict[str, Any] = {}
        try:
            r.update(bench.start_run(side, clip, f"Cmp {kind} {side} {run}"))
            r.update(bench.seek_run(side, clip, f"Cmp seek {kind} {side} {run}", duration))
        except Exception as exc:  # one failure must not lose the other numbers
            r["error"] = f"{type(exc).__name__}: {exc}"
        out[side] = r
        shown = ", ".join(
            f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()
        )
        print(f"  {kind} run {run + 1} {side}: {shown}", flush=True)
    return out


def clip_duration(path: Path) -> float:
    import av

    with av.open(str(path)) as c:
        return float(c.duration) / av.time_base


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rate", type=int, default=2_000_000, help="seeder upload limit, bytes/s")
    ap.add_argument("--duration", type=float, default=30.0, help="clip length, s")
    ap.add_argument("--bitrate", default="8000k", help="video bitrate of the clip")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--containers", nargs="+", default=list(NAMES), choices=list(NAMES))
    ap.add_argument("--json", type=Path, help="also write every run and the medians here")
    ap.add_argument("--reinstall", action="store_true", help="npm ci the clients again")
    ap.add_argument("--piece", type=int, default=64 * 1024, help="piece size, bytes")
    ap.add_argument("--sides", nargs="+", default=list(SIDES), choices=list(SIDES))
    ap.add_argument(
        "--limit",
        choices=("seeder", "link"),
        default="seeder",
        help="where --rate applies: libtorrent's upload limit on the seeder (quota on "
        "its 500 ms tick) or a link in front of it (bench/shaper.py: a token bucket)",
    )
    args = ap.parse_args()

    if os.environ.get(NETNS_MARK) != "1":
        ensure_webtorrent(args.reinstall)
        ensure_peerflix(args.reinstall)
        enter_namespace()  # does not return
    if not isolated():
        refuse(f"{NETNS_MARK} is set but this process sees the interfaces {interfaces()}.")
    run_isolated(args)


def run_isolated(args: argparse.Namespace) -> None:
    from tests.torrent.streaming import STREAM_CLIP, make_movies, serve, torrent_of

    # SIGTERM unwinds like Ctrl-C, so the finally blocks stop every child process.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    clip_spec = dataclasses.replace(
        STREAM_CLIP,
        duration=args.duration,
        video_bitrate=args.bitrate,
        extra=("-vf", "noise=alls=40:allf=t", "-maxrate", args.bitrate, "-bufsize", args.bitrate),
    )
    versions = subprocess.run(
        ["node", str(cli_js()), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    peerflix = json.loads((peerflix_js().parent / "package.json").read_text())["version"]
    print(
        f"isolated: interfaces {interfaces()}; webtorrent-cli {versions}, "
        f"peerflix {peerflix}, node {node}"
    )
    load_before = os.getloadavg()
    results: dict[str, dict[str, list[dict[str, Any]]]] = {
        k: {s: [] for s in SIDES} for k in args.containers
    }
    with tempfile.TemporaryDirectory(prefix="ferrite-bench-compare-") as tmp:
        tmp_path = Path(tmp)
        print(f"encoding {args.duration:g} s at {args.bitrate} ...", flush=True)
        movies = make_movies(tmp_path / "movies", clip_spec)
        sizes = {k: movies[k].stat().st_size for k in args.containers}
        seeds = tmp_path / "seeds"
        webtorrent = Webtorrent(tmp_path / "webtorrent")
        (tmp_path / "webtorrent").mkdir()
        flix = Peerflix(tmp_path / "peerflix")
        (tmp_path / "peerflix").mkdir()
        try:
            with serve(tmp_path / "server") as live:
                ferrite = Ferrite(live)
                ferrite.warm_up(torrent_of(movies["fast"], "Warm-up", seeds, piece=args.piece))
                bench = Bench(ferrite, webtorrent, flix, seeds, args.rate, args.piece, args.limit)
                for run in range(args.runs):
                    for kind in args.containers:
                        duration = clip_duration(movies[kind])
                        got = measure(bench, kind, movies[kind], run, duration, args.sides)
                        for side, r in got.items():
                            results[kind][side].append(r)
        finally:
            webtorrent.close()
            flix.close()
    load_after = os.getloadavg()
    print()
    print(
        f"seeder {args.rate / 1e6:g} MB/s ({args.limit} limit), "
        f"{args.duration:g} s at {args.bitrate}, "
        f"pieces {args.piece // 1024} KiB, {args.runs} run(s), median of runs; "
        f"ratio = Ferrite / the best of webtorrent and peerflix; "
        f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after"
    )
    print("ratio '=': both 0; '∞': best 0, Ferrite not; '–': a side failed every run")
    print(report(results, sizes))
    if args.json:
        medians = {
            kind: {
                side: {key: median(runs, key) for key in sorted({k for r in runs for k in r})
                       if key != "error"}
                for side, runs in by_side.items()
            }
            for kind, by_side in results.items()
        }  # fmt: skip
        args.json.write_text(
            json.dumps(
                {
                    "rate": args.rate,
                    "limit": args.limit,
                    "duration_s": args.duration,
                    "bitrate": args.bitrate,
                    "runs": args.runs,
                    "sizes": sizes,
                    "webtorrent": versions,
                    "peerflix": peerflix,
                    "piece": args.piece,
                    "node": node,
                    "python": platform.python_version(),
                    "load_average": [load_before, load_after],
                    "results": results,
                    "medians": medians,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
