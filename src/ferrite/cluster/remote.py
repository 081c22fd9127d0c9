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

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import httpx
from redis.exceptions import RedisError

from ferrite import metrics
from ferrite.cluster import signing
from ferrite.cluster.jobwire import to_wire
from ferrite.cluster.workers import Worker, WorkerRegistry, choose
from ferrite.hls.context import MediaContext
from ferrite.hls.renditions import VideoRendition
from ferrite.media.priority import Priority
from ferrite.transcode.video import RunTranscoder

log = logging.getLogger(__name__)

SEGMENT_PATH = "/internal/transcode/segment"
FORGET_PATH = "/internal/transcode/forget"
#: Sessions whose workers are remembered (to tell them of a stop or an ABR switch).
_MAX_SESSIONS = 10_000
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
        #: session -> the workers that made its segments (told when it stops or switches)
        self._served: OrderedDict[str, dict[str, Worker]] = OrderedDict()
        self._notices: set[asyncio.Task[None]] = set()

    async def aclose(self) -> None:
        if self._notices:
            await asyncio.wait(self._notices, timeout=2.0)
        for task in list(self._notices):
            task.cancel()
        await asyncio.gather(*self._notices, return_exceptions=True)
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
                    if session:
                        self._served_by(session)[worker.node] = worker
                    return data
                metrics.WORKER_SEGMENTS.labels("failed").inc()
                self._forget(worker)
            self.fallbacks += 1
            metrics.WORKER_SEGMENTS.labels("local").inc()
        return await self.local.video_segment(
            ctx, rendition, index, session=session, priority=priority, until=until
        )

    def _served_by(self, session: str) -> dict[str, Worker]:
        served = self._served.get(session)
        if served is None:
            served = self._served[session] = {}
            if len(self._served) > _MAX_SESSIONS:
                self._served.popitem(last=False)
        else:
            self._served.move_to_end(session)
        return served

    async def _post(self, worker: Worker, path: str, body: bytes) -> httpx.Response:
        headers = {
            signing.HEADER: signing.sign(self._key, "POST", path, body, now=self._clock()),
            "Content-Type": "application/json",
        }
        return await self._client.post(worker.url.rstrip("/") + path, content=body, headers=headers)

    async def _ask(self, worker: Worker, body: bytes) -> bytes | None:
        """The worker's segment, or None when it failed (logged)."""
        try:
            response = await self._post(worker, SEGMENT_PATH, body)
        except httpx.HTTPError as exc:
            log.warning("transcode worker %s failed: %r", worker.node, exc)
            return None
        if response.status_code != 200:
            log.warning("transcode worker %s answered %s", worker.node, response.status_code)
            return None
        return response.content

    def forget(self, session: str) -> None:
        """``session`` stopped: this node's runs and the workers that served it forget
        its playheads (their runs pause or stop now, not after ``transcode_idle_s``)."""
        self.local.forget(session)
        for worker in self._served.pop(session, {}).values():
            self._notify(worker, {"session": f"{self._node}/{session}"})

    def leave(self, ctx: MediaContext, rendition: VideoRendition, session: str) -> None:
        """``session`` switched away from ``rendition`` (ABR), here and on its workers."""
        self.local.leave(ctx, rendition, session)
        served = self._served.get(session)
        if not served:
            return
        key = self.local.key(ctx, rendition)
        wire = {
            "fingerprint": key.fingerprint,
            "plan_key": key.plan_key,
            "rendition": key.rendition,
            "spec": key.spec,
        }
        for worker in served.values():
            self._notify(worker, {"session": f"{self._node}/{session}", "key": wire})

    def _notify(self, worker: Worker, message: dict[str, Any]) -> None:
        """Tell ``worker`` in the background; a worker that misses it reaps the run idle."""

        async def send() -> None:
            try:
                await self._post(worker, FORGET_PATH, json.dumps(message).encode())
            except httpx.HTTPError as exc:
                log.info("could not tell worker %s of a stop: %r", worker.node, exc)

        task = asyncio.get_running_loop().create_task(send())
        self._notices.add(task)
        task.add_done_callback(self._notices.discard)
