"""Torrent streaming benchmark: play a video over HLS while its torrent downloads from a
rate-limited seeder on 127.0.0.1. Prints numbers; asserts nothing about speed.

    .venv/bin/python bench/torrent.py                      # mp4 (moov first), mp4 (moov last), mkv
    .venv/bin/python bench/torrent.py --rate 4000000 --runs 2 --containers fast

Setup: one encode of ``--duration`` s of 640x360 H.264 at ``--bitrate`` (noise keeps the
encoder at the bitrate) + AAC, remuxed to an MP4 with the ``moov`` at the end and to a
Matroska file (cues at the end); each is put in its own torrent (64 KiB pieces) and seeded
by a second libtorrent session on 127.0.0.1 with an upload limit of ``--rate`` bytes/s.
The server is a real ``create_app`` under uvicorn in this process, its torrent engine on
127.0.0.1 only (no DHT/LSD/UPnP/trackers: the seeder is the only peer, named in
``POST /api/torrents``). Every measurement adds a fresh torrent (a distinct name over the
same bytes), so every run starts from an empty download.

The player is a model of hls.js over httpx: master -> video and audio media playlists ->
init segments -> segments, video and audio of one index fetched in parallel, fetching
ahead up to ``--buffer`` seconds of media. It measures:

* **time to first segment**: from ``POST /api/torrents`` until video and audio segment 0
  are both in (includes adding, the probe through the piece reader that
  ``POST /api/playback`` waits for, and the first segments), with the bytes downloaded by
  then (verified pieces x piece length);
* **stalls during real-time playback**: the playhead starts when segment 0 is in and runs
  in real time; a segment that arrives after the playhead reached it is a stall (count and
  total time);
* **seek-to-play latency**: on another fresh torrent, 2 s after playback started, a seek
  to 75 %: the time until video and audio segments there are both in, and how many pieces
  between 15 % and 70 % of the file were still missing at that moment.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

import httpx  # noqa: E402
from tests.torrent.streaming import STREAM_CLIP, make_movies, serve, torrent_of  # noqa: E402
from tests.torrent.swarm import Seeder  # noqa: E402

NAMES = {"fast": "MP4, moov at the start", "tail": "MP4, moov at the end", "mkv": "Matroska"}


@dataclasses.dataclass
class Playlist:
    init: str | None
    segments: list[tuple[str, float]]  # (url, duration)


def _playlist(client: httpx.Client, url: str) -> Playlist:
    text = client.get(url).raise_for_status().text
    base = httpx.URL(url)
    init = None
    m = re.search(r'#EXT-X-MAP:URI="([^"]+)"', text)
    if m:
        init = str(base.join(m.group(1)))
    segments = []
    duration = 0.0
    for line in text.splitlines():
        if line.startswith("#EXTINF:"):
            duration = float(line[8:].split(",")[0])
        elif line and not line.startswith("#"):
            segments.append((str(base.join(line)), duration))
    return Playlist(init, segments)


def renditions(client: httpx.Client, master_url: str) -> tuple[Playlist, Playlist | None]:
    text = client.get(master_url).raise_for_status().text
    base = httpx.URL(master_url)
    video = next(line for line in text.splitlines() if line and not line.startswith("#"))
    audio = re.search(r'#EXT-X-MEDIA:TYPE=AUDIO.*?URI="([^"]+)"', text)
    return (
        _playlist(client, str(base.join(video))),
        _playlist(client, str(base.join(audio.group(1)))) if audio else None,
    )


class Player:
    """Fetches segment pairs (video + audio of one index) in parallel."""

    def __init__(self, client: httpx.Client, video: Playlist, audio: Playlist | None) -> None:
        self.client = client
        self.video = video
        self.audio = audio
        self.pool = ThreadPoolExecutor(2)

    def _get(self, url: str) -> int:
        return len(self.client.get(url).raise_for_status().content)

    def fetch(self, index: int) -> None:
        urls = [self.video.segments[index][0]]
        if self.audio is not None:
            urls.append(self.audio.segments[index][0])
        for f in [self.pool.submit(self._get, u) for u in urls]:
            f.result()

    def init(self) -> None:
        urls = [p.init for p in (self.video, self.audio) if p is not None and p.init]
        for f in [self.pool.submit(self._get, u) for u in urls]:
            f.result()

    def starts(self) -> list[float]:
        out, t = [], 0.0
        for _, d in self.video.segments:
            out.append(t)
            t += d
        return out

    def close(self) -> None:
        self.pool.shutdown()


def add(live: Any, torrent: bytes, seeder: Seeder) -> dict[str, Any]:
    r = live.add(torrent, [f"127.0.0.1:{seeder.port}"])
    r.raise_for_status()
    out: dict[str, Any] = r.json()
    return out


def pieces(live: Any, torrent_id: int) -> list[bool]:
    return list(live.services.torrents._engine.piece_map(torrent_id))


def start_run(
    live: Any, clip: Path, title: str, root: Path, rate: int, buffer_s: float
) -> dict[str, float]:
    torrent = torrent_of(clip, title, root)
    with Seeder(torrent, root, upload_limit=rate) as seeder:
        t0 = time.monotonic()
        added = add(live, torrent, seeder)
        pb = live.play(added["files"][0]["item_id"])
        t_session = time.monotonic() - t0
        player = Player(live.client, *renditions(live.client, live.url(pb["url"])))
        try:
            player.init()
            player.fetch(0)
            first = time.monotonic()
            status = live.torrent(added["id"])
            out = {
                "session_s": t_session,
                "first_segment_s": first - t0,
                "bytes_before_first_mib": status["pieces_have"] * status["piece_length"] / 2**20,
                "size_mib": status["total_size"] / 2**20,
            }
            starts = player.starts()
            stall_s, stalls = 0.0, 0
            for i in range(1, len(starts)):
                # Fetch ahead at most buffer_s of media beyond the playhead.
                fetch_at = first + stall_s + starts[i] - buffer_s
                if (wait := fetch_at - time.monotonic()) > 0:
                    time.sleep(wait)
                player.fetch(i)
                ready = time.monotonic()
                needed = first + stall_s + starts[i]
                if ready > needed:
                    stalls += 1
                    stall_s += ready - needed
            out["stalls"] = stalls
            out["stall_s"] = stall_s
            out["download_done"] = live.torrent(added["id"])["progress"]
        finally:
            player.close()
    live.client.delete(
        f"/api/torrents/{added['id']}", params={"delete_data": True}, headers=live.headers
    )
    return out


def seek_run(live: Any, clip: Path, title: str, root: Path, rate: int) -> dict[str, float]:
    torrent = torrent_of(clip, title, root)
    with Seeder(torrent, root, upload_limit=rate) as seeder:
        added = add(live, torrent, seeder)
        pb = live.play(added["files"][0]["item_id"])
        player = Player(live.client, *renditions(live.client, live.url(pb["url"])))
        try:
            player.init()
            player.fetch(0)
            player.fetch(1)
            time.sleep(2.0)  # watch a little, then jump
            starts = player.starts()
            target = next(i for i, s in enumerate(starts) if s >= 0.75 * pb["duration_s"])
            t = time.monotonic()
            player.fetch(target)
            latency = time.monotonic() - t
            have = pieces(live, added["id"])
        finally:
            player.close()
    n = len(have)
    between = range(int(n * 0.15), int(n * 0.7))
    live.client.delete(
        f"/api/torrents/{added['id']}", params={"delete_data": True}, headers=live.headers
    )
    return {
        "seek_s": latency,
        "missing_between": sum(1 for p in between if not have[p]) / len(between),
    }


def _engine_defaults() -> None:
    """Undo the streaming tuning (for comparison): libtorrent's 3 s request queue and the
    engine's default deadline windows."""
    from ferrite.torrent import service, source
    from ferrite.torrent.pieces import WindowPolicy

    tuned = source.session_settings

    def settings(*a: Any, **k: Any) -> Any:
        pack = tuned(*a, **k)
        pack["request_queue_time"] = 3
        return pack

    source.session_settings = settings  # type: ignore[assignment]
    service.STREAM_WINDOW = WindowPolicy()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rate", type=int, default=2_000_000, help="seeder upload limit, bytes/s")
    ap.add_argument("--duration", type=float, default=STREAM_CLIP.duration)
    ap.add_argument("--bitrate", default=STREAM_CLIP.video_bitrate)
    ap.add_argument("--buffer", type=float, default=30.0, help="player's buffer goal, s")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--containers", nargs="+", default=list(NAMES), choices=list(NAMES))
    ap.add_argument(
        "--libtorrent-defaults",
        action="store_true",
        help="A/B: run with request_queue_time=3 and the engine's default 10-60 s windows",
    )
    args = ap.parse_args()
    if args.libtorrent_defaults:
        _engine_defaults()
    clip_spec = dataclasses.replace(
        STREAM_CLIP,
        duration=args.duration,
        video_bitrate=args.bitrate,
        extra=("-vf", "noise=alls=40:allf=t", "-maxrate", args.bitrate, "-bufsize", args.bitrate),
    )
    with tempfile.TemporaryDirectory(prefix="ferrite-bench-torrent-") as tmp:
        tmp_path = Path(tmp)
        print(f"encoding {args.duration:g} s at {args.bitrate} ...", flush=True)
        movies = make_movies(tmp_path / "movies", clip_spec)
        root = tmp_path / "seeds"
        results: dict[str, list[dict[str, float]]] = {k: [] for k in args.containers}
        with serve(tmp_path / "server") as live:
            for run in range(args.runs):
                for kind in args.containers:
                    clip = movies[kind]
                    r = start_run(live, clip, f"Bench {kind} {run}", root, args.rate, args.buffer)
                    r.update(seek_run(live, clip, f"Bench seek {kind} {run}", root, args.rate))
                    results[kind].append(r)
                    print(
                        f"  {kind} run {run + 1}: "
                        + ", ".join(f"{k}={v:.2f}" for k, v in r.items()),
                        flush=True,
                    )
    print()
    print(
        f"seeder {args.rate / 1e6:g} MB/s, {args.duration:g} s at {args.bitrate}, "
        f"buffer goal {args.buffer:g} s, {args.runs} run(s); median of runs"
        + (" (libtorrent/engine defaults)" if args.libtorrent_defaults else "")
        + "\n"
    )
    print(
        "| file | size | probe + session | first segment | downloaded by then | stalls (time) "
        "| seek to 75 % | pieces 15-70 % missing at seek |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for kind, rs in results.items():
        med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        print(
            f"| {NAMES[kind]} | {med['size_mib']:.1f} MiB | {med['session_s']:.2f} s | "
            f"{med['first_segment_s']:.2f} s | {med['bytes_before_first_mib']:.1f} MiB | "
            f"{med['stalls']:.0f} ({med['stall_s']:.2f} s) | {med['seek_s']:.2f} s | "
            f"{med['missing_between']:.0%} |"
        )


if __name__ == "__main__":
    main()
