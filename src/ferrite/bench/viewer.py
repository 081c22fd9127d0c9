"""One benchmark viewer: the I/O driver around a :class:`~ferrite.bench.buffer.VirtualBuffer`.

A viewer follows its :class:`~ferrite.bench.schedule.ViewerPlan` like an hls.js player
would: ``POST /api/playback``, the master playlist, the chosen video and audio media
playlists and init segments, then media segments in order, video and audio of each index
side by side, keeping ``buffer_s`` seconds ahead of the virtual playhead (so once the
buffer is full it fetches at real-time pace). It seeks when the plan says so (dropping
its buffer), switches rendition once if planned, reports ``ttff``/``seek``/``stall``
events and a ``position`` heartbeat to ``POST /api/playback/{sid}/events`` as a real player
does, stops its session at the end and starts the next title when one ends.

Everything it measures goes into :class:`ViewerStats`; nothing is printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urljoin

import httpx

from ferrite.bench.buffer import Event, VirtualBuffer
from ferrite.bench.playlists import MediaPlaylist, parse_master, parse_media
from ferrite.bench.schedule import ViewerPlan
from ferrite.bench.stats import ViewerStats

Mode = Literal["copy", "transcode"]
HEARTBEAT_S = 10.0
RETRIES = 3


class ViewerError(Exception):
    def __init__(self, kind: str, message: str = "") -> None:
        super().__init__(message or kind)
        self.kind = kind


@dataclass
class Title:
    item_id: int
    duration_s: float
    height: int


@dataclass
class Target:
    """What every viewer of a run talks to and asks for."""

    base_url: str
    headers: dict[str, str]  # Authorization for the API calls
    titles: dict[int, Title]
    mode: Mode
    device: str | dict[str, Any] = "chrome"
    buffer_s: float = 30.0


def transcode_height(source_height: int) -> int:
    """A ``max_height`` below the source, so only transcoded rungs exist."""
    for h in (1080, 720, 480, 360, 240):
        if h < source_height:
            return h
    return 144


@dataclass
class _Track:
    playlist_url: str
    playlist: MediaPlaylist


class Viewer:
    def __init__(
        self,
        client: httpx.AsyncClient,
        target: Target,
        plan: ViewerPlan,
        *,
        run_start: float,
        deadline: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.target = target
        self.plan = plan
        self.clock = clock
        self.start = run_start + plan.start_s
        self.deadline = deadline
        self.stats = ViewerStats()
        self._seeks = list(plan.seeks)
        self._switch_at = plan.switch_at_s
        self._background: set[asyncio.Task[None]] = set()

    # -- the whole run -----------------------------------------------------------------------
    async def run(self) -> ViewerStats:
        await asyncio.sleep(max(0.0, self.start - self.clock()))
        n = 0
        try:
            while self.clock() < self.deadline:
                item = self.plan.item(n)
                n += 1
                try:
                    await self._play(self.target.titles[item])
                except ViewerError as exc:
                    self.stats.errors[exc.kind] += 1
                    await asyncio.sleep(1.0)
                except httpx.HTTPError as exc:
                    self.stats.errors[type(exc).__name__] += 1
                    await asyncio.sleep(1.0)
        finally:
            if self._background:
                await asyncio.gather(*self._background, return_exceptions=True)
        return self.stats

    # -- HTTP --------------------------------------------------------------------------------
    async def _get(self, url: str, what: str, samples: list[float] | None) -> bytes:
        for attempt in range(RETRIES + 1):
            began = self.clock()
            r = await self.client.get(url)
            elapsed = (self.clock() - began) * 1000
            self.stats.requests += 1
            if r.status_code == 200:
                self.stats.bytes += len(r.content)
                if samples is not None:
                    samples.append(elapsed)
                return r.content
            self.stats.errors[f"{what} {r.status_code}"] += 1
            if r.status_code != 503 or attempt == RETRIES:
                break
            await asyncio.sleep(float(r.headers.get("retry-after", "1")))
        raise ViewerError(f"{what} failed", f"GET {what}: {r.status_code}")

    def _post_event(self, url: str, body: dict[str, Any]) -> None:
        async def send() -> None:
            with contextlib.suppress(httpx.HTTPError):
                r = await self.client.post(url, json=body)
                self.stats.requests += 1
                if r.status_code != 204:
                    self.stats.errors[f"event {r.status_code}"] += 1

        task = asyncio.create_task(send())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- one title -----------------------------------------------------------------------------
    async def _play(self, title: Title) -> None:
        t = self.target
        body: dict[str, Any] = {
            "item_id": title.item_id,
            "device": t.device,
            "protocol": "hls",
            "start_s": 0,
        }
        if t.mode == "transcode":
            body["max_height"] = transcode_height(title.height)
        created = self.clock()
        r = await self.client.post(f"{t.base_url}/api/playback", json=body, headers=t.headers)
        self.stats.requests += 1
        if r.status_code != 201:
            raise ViewerError(f"create {r.status_code}", r.text[:200])
        self.stats.create_ms.append((self.clock() - created) * 1000)
        self.stats.sessions += 1
        info = r.json()
        sid, token = info["session_id"], info["token"]
        events = f"{t.base_url}/api/playback/{sid}/events?token={token}"
        try:
            await self._stream(title, info, created, events)
        finally:
            if self._background:  # the session's events go before its stop
                await asyncio.gather(*self._background, return_exceptions=True)
            with contextlib.suppress(httpx.HTTPError):
                await self.client.delete(f"{t.base_url}/api/playback/{sid}?token={token}")
                self.stats.requests += 1

    def _choose(self, info: dict[str, Any]) -> tuple[str, list[str], list[str]]:
        """(video rendition id, other video ids of the same mode, audio ids)."""
        videos = info.get("renditions", {}).get("video", [])
        if self.target.mode == "copy":
            pool = [v for v in videos if v["copy"]]
            if not pool:
                raise ViewerError("no copy rendition", f"method {info.get('method')}")
        else:
            pool = [v for v in videos if not v["copy"]]
            if not pool or len(pool) != len(videos):
                raise ViewerError("not transcoded", f"renditions {videos}")
        pool.sort(key=lambda v: -v["height"])
        audio = info.get("renditions", {}).get("audio", [])
        audio_ids = [a["id"] for a in sorted(audio, key=lambda a: not a["default"])]
        return pool[0]["id"], [v["id"] for v in pool[1:]], audio_ids

    async def _track(self, url: str) -> _Track:
        text = await self._get(url, "playlist", self.stats.playlist_ms)
        return _Track(url, parse_media(text.decode()))

    async def _open(
        self, master_url: str, master_text: str, vid: str, aid: str | None
    ) -> tuple[_Track, _Track | None]:
        master = parse_master(master_text)
        variant = next((v for v in master.variants if v.uri.endswith(f"v/{vid}.m3u8")), None)
        if variant is None:
            raise ViewerError("variant missing", vid)
        urls = [urljoin(master_url, variant.uri)]
        if aid is not None:
            rendition = next((a for a in master.audio if a.uri.endswith(f"a/{aid}.m3u8")), None)
            if rendition is None:
                raise ViewerError("audio missing", aid)
            urls.append(urljoin(master_url, rendition.uri))
        tracks = await asyncio.gather(*(self._track(u) for u in urls))
        inits = [
            urljoin(tr.playlist_url, tr.playlist.init_uri)
            for tr in tracks
            if tr.playlist.init_uri is not None
        ]
        await asyncio.gather(*(self._get(u, "init", self.stats.init_ms) for u in inits))
        return tracks[0], (tracks[1] if len(tracks) > 1 else None)

    async def _stream(
        self, title: Title, info: dict[str, Any], created: float, events: str
    ) -> None:
        t = self.target
        vid, other_videos, audio_ids = self._choose(info)
        aid = audio_ids[0] if audio_ids else None
        master_url = urljoin(t.base_url + "/", info["url"].lstrip("/"))
        master_text = (await self._get(master_url, "master", self.stats.playlist_ms)).decode()
        video, audio = await self._open(master_url, master_text, vid, aid)
        buf = VirtualBuffer(media_end_s=video.playlist.duration_s, now=created)
        index = 0
        next_heartbeat = self.clock() + HEARTBEAT_S

        def report(event: Event | None) -> None:
            if event is None:
                return
            {"ttff": self.stats.ttff_ms, "seek": self.stats.seek_ms, "stall": self.stats.stall_ms}[
                event.kind
            ].append(event.ms)
            kind = event.kind
            self._post_event(
                events,
                {"type": kind, "value_ms": round(event.ms, 1), "position_s": buf.position_s},
            )

        while True:
            now = self.clock()
            if now >= self.deadline:
                return
            started = buf.state != "starting"  # seeks and switches wait for the first frame
            if started and self._seeks and self.start + self._seeks[0].at_s <= now:
                seek = self._seeks.pop(0)
                self.stats.seeks += 1
                position = seek.fraction * video.playlist.duration_s
                buf.seek(now, position)
                index = video.playlist.index_at(position)
                continue
            if started and self._switch_at is not None and self.start + self._switch_at <= now:
                self._switch_at = None
                if other_videos:
                    vid, other_videos = other_videos[0], [*other_videos[1:], vid]
                elif len(audio_ids) > 1:
                    aid = audio_ids[1]
                video, audio = await self._open(master_url, master_text, vid, aid)
                self.stats.switches += 1
                continue
            buf.advance(now)
            if buf.ended:
                self.stats.titles_finished += 1
                self._post_event(events, {"type": "position", "position_s": buf.position_s})
                return
            if now >= next_heartbeat:
                next_heartbeat = now + HEARTBEAT_S
                self._post_event(events, {"type": "position", "position_s": buf.position_s})
            segments = video.playlist.segments
            ahead = buf.ahead_s(now)
            if index >= len(segments) or (buf.state == "playing" and ahead >= t.buffer_s):
                wake = [self.deadline, next_heartbeat]
                if self._seeks:
                    wake.append(self.start + self._seeks[0].at_s)
                if self._switch_at is not None:
                    wake.append(self.start + self._switch_at)
                dry = buf.runs_dry_at()
                if index >= len(segments):
                    if dry is not None:
                        wake.append(dry)
                else:
                    wake.append(now + (ahead - t.buffer_s) + 0.05)
                await asyncio.sleep(max(0.005, min(wake) - now))
                continue
            seg = segments[index]
            urls = [urljoin(video.playlist_url, seg.uri)]
            end = seg.end_s
            if audio is not None and index < len(audio.playlist.segments):
                aseg = audio.playlist.segments[index]
                urls.append(urljoin(audio.playlist_url, aseg.uri))
                end = min(end, aseg.end_s)
            await asyncio.gather(*(self._get(u, "segment", self.stats.segment_ms) for u in urls))
            self.stats.segments += len(urls)
            index += 1
            report(buf.received(self.clock(), end))
