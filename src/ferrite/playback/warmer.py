"""The warmer: makes, once per file and in the background, the first segments of what
players start on, so that a start is a disk read rather than an ffmpeg run (or opening a
two-hour file's index).

hls.js and ExoPlayer at their default settings start on the lowest-bandwidth variant of a
master, a transcoded rung for nearly every file. For each playable video file the warmer
builds the playback a reference device would get (``warm_device``, a browser by default)
and makes the inits and first ``warm_segments`` segments of that variant and of the
default audio rendition through the normal HLS path, at the lowest priority; the HLS
service keeps them in the warm store (``ferrite.hls.warm``). Viewers come first: the warmer
waits while any playback session is open, and its transcodes never take a viewer's slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ferrite.db.engine import Database
from ferrite.errors import FerriteError
from ferrite.library import queries
from ferrite.media.priority import Priority
from ferrite.playback.capabilities import resolve_device
from ferrite.playback.decision import decide
from ferrite.playback.decision_records import PlaybackRequest
from ferrite.playback.service import PlaybackService
from ferrite.playback.streamset import build_stream_set

log = logging.getLogger(__name__)

#: How often the library is looked at again for new files (seconds).
RESCAN_S = 60.0
#: How long the warmer waits for viewers to finish before looking again (seconds).
VIEWER_BACKOFF_S = 5.0


class Warmer:
    def __init__(self, playback: PlaybackService, db: Database, *, device: str) -> None:
        self.playback = playback
        self.db = db
        self.device = device
        self._done: set[tuple[int, str]] = set()  # (file id, fingerprint) warmed or refused
        self._task: asyncio.Task[None] | None = None
        #: Set whenever every known file has been looked at (benchmarks and tests wait).
        self.idle = asyncio.Event()
        self._wake = asyncio.Event()
        self.warmed = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="warmer")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def poke(self) -> None:
        """New files may have arrived (a scan finished): look now, not at the next tick."""
        self.idle.clear()
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self.pass_once()
            self.idle.set()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), RESCAN_S)

    async def pass_once(self) -> int:
        """Warm every file not warmed yet; returns how many were warmed."""
        made = 0
        files = await self.db.read(queries.playable_video_files)
        for file_id, fingerprint in files:
            if (file_id, fingerprint) in self._done:
                continue
            # Viewers first. A backoff, not a wait for an event: nothing is owed here.
            while len(self.playback.sessions):  # noqa: ASYNC110
                await asyncio.sleep(VIEWER_BACKOFF_S)
            try:
                warmed = await self.warm_start(file_id, self.device)
                if warmed is None:
                    continue  # still arriving: look again at the next pass
                if warmed:
                    made += 1
                    self.warmed += 1
            except FerriteError as exc:
                log.info("warmer: file %s not warmed: %s", file_id, exc.message)
            except Exception:
                # One file's failure must not end warming for every other file.
                log.exception("warmer: file %s not warmed", file_id)
            self._done.add((file_id, fingerprint))
        return made

    async def warm_start(self, file_id: int, device: str) -> bool | None:
        """Make the inits and first segments of what a default player may start on for
        ``device`` -- every transcoded variant, and the default audio -- at PREFETCH
        priority, into the warm store. False when there is nothing to warm (no HLS, no
        transcoded variant, warming off); None when the file is still arriving (later)."""
        hls = self.playback.hls
        if hls.warm_segments <= 0:
            return False
        ctx = await self.playback.contexts.get(file_id)
        if hls.arriving(ctx.source):
            return None  # a torrent still downloading: its pieces go to its viewers
        request = PlaybackRequest(protocol="hls")
        refusal = ctx.plans.copy_refusal
        decision = decide(ctx.info, resolve_device(device), request, segment_copy_refusal=refusal)
        if not decision.hls or not ctx.info.video:
            return False
        streams = build_stream_set(
            ctx.info, decision, resolve_device(device), request, segment_copy_refusal=refusal
        )
        # Which variant a player starts on depends on its first bandwidth estimate (hls.js
        # takes it from the playlists' download, ExoPlayer from a default): warm every
        # transcoded one, the expensive starts. A copy start costs a packager read.
        rungs = [("v", v.id) for v in streams.video if not v.copy]
        audio = next((a for a in streams.audio if a.default), None)
        starts = [*rungs, *([("a", audio.id)] if audio is not None else [])]
        if not rungs:
            return False
        low = Priority.PREFETCH  # never a transcode slot a viewer waits for
        for kind, rid in starts:
            plan = hls.plan_of(ctx, streams, kind, rid)
            if streams.container == "fmp4":
                await hls.init_segment(
                    ctx, streams, kind, rid, session="warmer", priority=low, warming=True
                )
            for index in range(min(hls.warm_segments, len(plan))):
                await hls.segment(ctx, streams, kind, rid, index, priority=low, warming=True)
        return True
