"""The playback side of transcode workers: a :class:`~ferrite.hls.service.VideoTranscoder`
that sends a transcoded rendition's segments to the best live worker.

For a segment the HLS layer needs, the node builds the job it would run itself
(``RunTranscoder.job``: same plan, rung and filters, so the worker's ffmpeg gets the same
argv and makes the same bytes), asks the worker :func:`~ferrite.cluster.workers.choose`
puts first for the rendition, then the runner-up on a failure (connection refused, 5xx,
timeout, any other answer than 200), and transcodes itself when no worker is live or
every one failed: the player never sees a worker's failure. Only the raw MPEG-TS segment
crosses the network; the node re-packages it (and takes the init segment from it) as it
does its own runs' output. Files ffmpeg cannot open by path (a torrent still arriving,
read through this node's loopback feed) are transcoded here.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

import httpx
from redis.exceptions import RedisError

from ferrite import metrics
from ferrite.cluster import signing
from ferrite.cluster.jobwire import to_wire
from ferrite.cluster.workers import Worker, WorkerRegistry, choose
from ferrite.hls.renditions import VideoRendition
from ferrite.hls.service import MediaContext
from ferrite.media.priority import Priority
from ferrite.transcode.video import RunTranscoder

log = logging.getLogger(__name__)

SEGMENT_PATH = "/internal/transcode/segment"
#: How long the list of live workers read from Redis is reused.
_REFRESH_S = 1.0


class RemoteTranscoder:
    def __init__(
        self,
        local: RunTranscoder,
        registry: WorkerRegistry,
        key: bytes,
        *,
        node: str,
        read_timeout_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``local``: this node's own runs (the fallback); ``key``: the internal signing
        key (``signing.internal_key`` of the install secret); ``read_timeout_s``: how long
        a worker may take to answer (its slot queue plus one segment's encode)."""
        self.local = local
        self._registry = registry
        self._key = key
        self._node = node
        self._clock = clock
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(read_timeout_s, connect=1.0, write=5.0, pool=5.0)
        )
        self._workers: list[Worker] = []
        self._read_at = float("-inf")
        #: segments made per worker node, and by this node after every worker failed or
        #: none was live (tests, metrics)
        self.remote: dict[str, int] = {}
        self.fallbacks = 0

    async def aclose(self) -> None:
        await self._client.aclose()

    async def live_workers(self) -> list[Worker]:
        """The live workers, re-read from Redis at most every second; none while Redis
        is away (this node then transcodes itself)."""
        now = time.monotonic()
        if now - self._read_at >= _REFRESH_S:
            self._read_at = now
            try:
                self._workers = await self._registry.live()
            except (RedisError, OSError) as exc:
                log.warning("cannot read the worker registry: %s", exc)
                self._workers = []
        return self._workers

    def _forget(self, worker: Worker) -> None:
        """A worker failed: leave it out until the registry is read again."""
        self._workers = [w for w in self._workers if w.node != worker.node]

    async def video_segment(
        self,
        ctx: MediaContext,
        rendition: VideoRendition,
        index: int,
        *,
        session: str,
        priority: Priority,
        until: int | None = None,
    ) -> bytes:
        job = self.local.job(ctx, rendition, 0, end_index=until)
        workers = await self.live_workers() if job.input == str(ctx.source.path) else []
        if workers:
            key = self.local.key(ctx, rendition)
            body = json.dumps(
                {
                    "fingerprint": key.fingerprint,
                    "plan_key": key.plan_key,
                    "rendition": key.rendition,
                    "job": to_wire(job),
                    "index": index,
                    "priority": int(priority),
                    "session": f"{self._node}/{session}" if session else "",
                }
            ).encode()
            choice_key = f"{key.fingerprint}/{key.plan_key}/{key.rendition}/{key.spec}"
            for worker in choose(choice_key, workers):
                data = await self._ask(worker, body)
                if data is not None:
                    self.remote[worker.node] = self.remote.get(worker.node, 0) + 1
                    metrics.WORKER_SEGMENTS.labels("ok").inc()
                    return data
                metrics.WORKER_SEGMENTS.labels("failed").inc()
                self._forget(worker)
            self.fallbacks += 1
            metrics.WORKER_SEGMENTS.labels("local").inc()
        return await self.local.video_segment(
            ctx, rendition, index, session=session, priority=priority, until=until
        )

    async def _ask(self, worker: Worker, body: bytes) -> bytes | None:
        """The worker's segment, or None when it failed (logged)."""
        headers = {
            signing.HEADER: signing.sign(self._key, "POST", SEGMENT_PATH, body, now=self._clock()),
            "Content-Type": "application/json",
        }
        url = worker.url.rstrip("/") + SEGMENT_PATH
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("transcode worker %s failed: %r", worker.node, exc)
            return None
        if response.status_code != 200:
            log.warning("transcode worker %s answered %s", worker.node, response.status_code)
            return None
        return response.content

    def forget(self, session: str) -> None:
        self.local.forget(session)

    def leave(self, ctx: MediaContext, rendition: VideoRendition, session: str) -> None:
        # A worker's run for this viewer pauses by itself: nobody reads it, and it is
        # reaped after ``transcode_idle_s``.
        self.local.leave(ctx, rendition, session)
