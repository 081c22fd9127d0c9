"""Serving HLS: playlists, init segments and media segments, through one shared cache.

This is the I/O side of the design's data flow. A request names a file's
:class:`MediaContext` (loaded once when a session starts), a rendition and an index; the
bytes come from the cache, or from the one producer already making them, or are made
now — stream copy by the packager in a worker thread, transcoded video by a transcode run
(whose MPEG-TS output is re-packaged by the same packager, so every rendition has the same
timeline and the same fMP4 boxes). Cache keys hold the file's fingerprint, the plan and
the rendition's spec, never a session: two viewers of one title share every byte.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import logging
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Executor, ThreadPoolExecutor
from fractions import Fraction
from typing import Protocol, TypeVar

from ferrite import metrics
from ferrite.cache import ByteCache
from ferrite.errors import FerriteError, NotFound
from ferrite.hls.aacenc import AacTranscode
from ferrite.hls.context import MediaContext, Rendition
from ferrite.hls.packager import Packager
from ferrite.hls.plan import SegmentPlan
from ferrite.hls.playlist import render_media_playlist
from ferrite.hls.pool import SourceFile
from ferrite.hls.renditions import StreamSet, TextTrack, VideoRendition
from ferrite.hls.timeline import Span, mpegts_timestamp_map
from ferrite.hls.warm import WarmStore
from ferrite.hls.webvtt import render_segment
from ferrite.media.priority import Priority
from ferrite.sources import FileSources

log = logging.getLogger(__name__)
T = TypeVar("T")


class VideoTranscoder(Protocol):
    """What the HLS layer needs from transcode runs (``ferrite.transcode.video``)."""

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
        """MPEG-TS bytes of segment ``index`` of a transcoded video rendition, on the
        source timeline; a run started for it stops before ``until`` when given."""
        ...

    def leave(self, ctx: MediaContext, rendition: VideoRendition, session: str) -> None:
        """``session`` stopped fetching ``rendition`` (an ABR switch)."""
        ...


class HlsService:
    def __init__(
        self,
        *,
        cache: ByteCache,
        packager: Packager | None = None,
        transcoder: VideoTranscoder | None = None,
        workers: int = 4,
        prefetch: int = 2,
        warm: WarmStore | None = None,
        warm_segments: int = 2,
        sources: FileSources | None = None,
    ) -> None:
        self.cache = cache
        self.packager = packager or Packager()
        self.transcoder = transcoder
        self.prefetch_count = prefetch
        #: First segments (and inits) of transcoded renditions kept on disk: see hls.warm.
        self.warm = warm
        self.warm_segments = warm_segments if warm is not None else 0
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="packager")
        # Reads of a torrent still downloading wait for pieces: they go to its own pool.
        self._sources = sources
        self.produced: dict[str, int] = {}  # segments produced per mode (tests, metrics)

    async def aclose(self) -> None:
        await self.cache.aclose()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.packager.close()

    def arriving(self, source: SourceFile) -> bool:
        """The file is still arriving (a torrent downloading): its reads wait for pieces."""
        return self._sources is not None and str(source.path) in self._sources

    async def _in_thread(
        self,
        fn: Callable[..., T],
        *args: object,
        source: SourceFile | None = None,
        **kwargs: object,
    ) -> T:
        call = functools.partial(fn, *args, **kwargs)
        pool: Executor = self._pool
        if source is not None and self._sources is not None and self.arriving(source):
            pool = self._sources.reads
        return await asyncio.get_running_loop().run_in_executor(pool, call)

    # --- playlists --------------------------------------------------------------------
    async def media_playlist(
        self, ctx: MediaContext, streams: StreamSet, kind: str, rid: str, *, gzipped: bool = False
    ) -> bytes:
        """The VOD media playlist of one rendition: identical for every viewer of the file,
        rendered (and gzipped) once and kept in the cache as bytes."""
        ext = streams.segment_ext
        if kind == "s":
            if streams.subtitle_by_id(rid) is None:
                raise NotFound(f"no subtitle rendition {rid} in this playback")
            plan = ctx.plans.audio
            key: tuple[object, ...] = ("pl", ctx.fingerprint, plan.key, "s", rid)

            def render() -> bytes:
                return render_media_playlist(plan.durations(), lambda n: f"{rid}/{n}.vtt").encode()
        else:
            plan = ctx.plan_of(self._rendition(streams, kind, rid))
            fmp4 = streams.container == "fmp4"
            key = ("pl", ctx.fingerprint, plan.key, kind, rid, ext)

            def render() -> bytes:
                return render_media_playlist(
                    plan.durations(),
                    lambda n: f"{rid}/{n}.{ext}",
                    map_uri=f"{rid}/init.mp4" if fmp4 else None,
                ).encode()

        async def produce() -> bytes:
            return render()

        data, how = await self.cache.get_or_create(key, produce)
        self._count_cache("playlist", how)
        if gzipped:

            async def compress() -> bytes:
                return gzip.compress(data, compresslevel=6, mtime=0)

            data, _ = await self.cache.get_or_create((*key, "gzip"), compress)
        return data

    # --- segments ---------------------------------------------------------------------
    def _rendition(self, streams: StreamSet, kind: str, rid: str) -> Rendition:
        found: Rendition | None
        if kind == "v":
            found = streams.video_by_id(rid)
        elif kind == "a":
            found = streams.audio_by_id(rid)
        else:
            found = None
        if found is None:
            raise NotFound(f"no rendition {kind}/{rid} in this playback")
        return found

    def plan_of(
        self, ctx: MediaContext, streams: StreamSet, kind: str, rid: str, index: int | None = None
    ) -> SegmentPlan:
        """The plan rendition ``kind/rid`` is cut on (404 for an unknown rendition, or an
        ``index`` outside the plan)."""
        if kind == "s":
            if streams.subtitle_by_id(rid) is None:
                raise NotFound(f"no subtitle rendition {rid} in this playback")
            plan = ctx.plans.audio
        else:
            plan = ctx.plan_of(self._rendition(streams, kind, rid))
        if index is not None:
            self._check_index(plan, index)
        return plan

    @staticmethod
    def _check_index(plan: SegmentPlan, index: int) -> None:
        if not 0 <= index < len(plan):
            raise NotFound(f"segment {index} does not exist (the plan has {len(plan)})")

    def _init_key(self, ctx: MediaContext, rendition: Rendition) -> Hashable:
        return ("init", ctx.fingerprint, rendition.spec)

    async def init_segment(
        self,
        ctx: MediaContext,
        streams: StreamSet,
        kind: str,
        rid: str,
        *,
        session: str = "",
        near: int = 0,
        priority: Priority = Priority.PLAYBACK,
        warming: bool = False,
    ) -> bytes:
        """The rendition's fMP4 init segment. For a transcoded video rendition it is read
        from the encoder's output, so it is made with the segment the viewer is about to
        play (``near``: where the session is) -- not with a run of its own. ``warming``:
        the warmer asks, the warm store keeps it."""
        if streams.container != "fmp4":
            raise NotFound("MPEG-TS renditions have no init segment")
        rendition = self._rendition(streams, kind, rid)
        key = self._init_key(ctx, rendition)

        async def produce() -> bytes:
            if self.warm is not None:
                stored = await self._in_thread(self.warm.get, key)
                if stored is not None:
                    return stored
            data = await make()
            if self.warm is not None and warming:
                await self._in_thread(self.warm.put, key, data)
            return data

        async def make() -> bytes:
            if isinstance(rendition, VideoRendition) and not rendition.copy:
                # Every run of a rendition has the same encoder settings, so any segment's
                # sample entry is the init. Making segment ``near`` through the segment
                # cache stores the init as a side effect (see _produce) and hands that
                # segment to whoever asks for it next: one run, not one for the init and
                # another for the segment (a run hands each segment out only once).
                index = min(max(near, 0), len(ctx.plan_of(rendition)) - 1)
                await self.cache.get_or_create(
                    self._segment_key(ctx, streams, rendition, index),
                    lambda: self._produce(
                        ctx, streams, rendition, index, session, priority, warming
                    ),
                )
                made = self.cache.peek(key)
                if made is not None:
                    return made
                # The segment was cached but its init evicted since: read it again.
                ts = await self._transcoded(
                    ctx, rendition, index, session=session, priority=priority
                )
                return await self._in_thread(self._init_from_ts, ts)
            stream_index, transcode = _source_of(rendition)
            return await self._in_thread(
                self.packager.init_segment,
                ctx.source,
                stream_index,
                transcode=transcode,
                source=ctx.source,
            )

        data, how = await self.cache.get_or_create(key, produce)
        self._count_cache("init", how)
        return data

    async def segment(
        self,
        ctx: MediaContext,
        streams: StreamSet,
        kind: str,
        rid: str,
        index: int,
        *,
        session: str = "",
        priority: Priority = Priority.PLAYBACK,
        warming: bool = False,
    ) -> bytes:
        """Media segment ``index`` of a rendition (fMP4 fragment or MPEG-TS), made at
        ``priority`` on a miss. ``warming``: the warmer asks (at PREFETCH: it never takes
        a transcode slot from a viewer); the warm store keeps it, no look-ahead follows."""
        rendition = self._rendition(streams, kind, rid)
        plan = ctx.plan_of(rendition)
        self._check_index(plan, index)
        mode = _mode(rendition)
        started = time.perf_counter()
        data, how = await self.cache.get_or_create(
            self._segment_key(ctx, streams, rendition, index),
            lambda: self._produce(ctx, streams, rendition, index, session, priority, warming),
        )
        wait_ms = (time.perf_counter() - started) * 1000
        metrics.SEGMENT_WAIT.labels(mode, how).observe(wait_ms)
        self._count_cache("segment", how)
        for ahead in range(index + 1, min(index + 1 + self.prefetch_count, len(plan))):
            # Transcode runs (video) already work ahead on their own; stream copy and the
            # packager's in-process AAC encodes (audio) are made here, so look ahead here
            # (not for the warmer: it asks for exactly what the warm store keeps).
            if mode != "transcode" and not warming:
                key = self._segment_key(ctx, streams, rendition, ahead)
                self.cache.prefetch(
                    key,
                    functools.partial(
                        self._produce, ctx, streams, rendition, ahead, session, Priority.PREFETCH
                    ),
                )
        return data

    def leave(
        self, ctx: MediaContext, streams: StreamSet, kind: str, rid: str, session: str
    ) -> None:
        """A session stopped fetching rendition ``kind/rid`` (it switched to another)."""
        rendition = streams.video_by_id(rid) if kind == "v" else None
        if rendition is not None and not rendition.copy and self.transcoder is not None:
            self.transcoder.leave(ctx, rendition, session)

    def _segment_key(
        self, ctx: MediaContext, streams: StreamSet, rendition: Rendition, index: int
    ) -> Hashable:
        plan_key = ctx.plan_of(rendition).key
        return ("seg", ctx.fingerprint, plan_key, streams.container, rendition.spec, index)

    async def _produce(
        self,
        ctx: MediaContext,
        streams: StreamSet,
        rendition: Rendition,
        index: int,
        session: str,
        priority: Priority,
        warming: bool = False,
    ) -> bytes:
        """Make segment ``index``; a start segment comes from the warm store when it is
        there, and goes there when the warmer asked for it or a transcode made it."""
        warm = self.warm if index < self.warm_segments else None
        if warm is None:
            return await self._make(ctx, streams, rendition, index, session, priority)
        key = self._segment_key(ctx, streams, rendition, index)
        stored = await self._in_thread(warm.get, key)
        if stored is not None:
            self.produced["warm"] = self.produced.get("warm", 0) + 1
            return stored
        # The warmer's transcodes run only as far as the store keeps.
        until = self.warm_segments if warming else None
        data = await self._make(ctx, streams, rendition, index, session, priority, until=until)
        transcoded = isinstance(rendition, VideoRendition) and not rendition.copy
        if transcoded or warming:
            await self._in_thread(warm.put, key, data)
            init_key = self._init_key(ctx, rendition)
            init = self.cache.peek(init_key)
            if init is not None and init_key not in warm:
                await self._in_thread(warm.put, init_key, init)
        return data

    async def _make(
        self,
        ctx: MediaContext,
        streams: StreamSet,
        rendition: Rendition,
        index: int,
        session: str,
        priority: Priority,
        *,
        until: int | None = None,
    ) -> bytes:
        mode = _mode(rendition)
        started = time.perf_counter()
        sp = ctx.plan_of(rendition).span(index, open_end=isinstance(rendition, VideoRendition))
        ts = streams.container == "ts"
        if isinstance(rendition, VideoRendition) and not rendition.copy:
            raw = await self._transcoded(
                ctx, rendition, index, session=session, priority=priority, until=until
            )
            data = await self._in_thread(self._repackage, ctx, raw, sp, ts)
            init_key = self._init_key(ctx, rendition)
            if not ts and init_key not in self.cache:
                # The run's output is handed out once: keep its sample entry now, so the
                # init never needs a run (or a second run over this segment) of its own.
                self.cache.put(init_key, await self._in_thread(self._init_from_ts, raw))
        else:
            data = await self._in_thread(self._package, ctx, rendition, sp, ts, source=ctx.source)
        if mode != "transcode":  # a transcode run records its own encoding time per segment
            elapsed = (time.perf_counter() - started) * 1000
            metrics.SEGMENT_GENERATION.labels(mode).observe(elapsed)
        self.produced[mode] = self.produced.get(mode, 0) + 1
        return data

    async def _transcoded(
        self,
        ctx: MediaContext,
        rendition: VideoRendition,
        index: int,
        *,
        session: str,
        priority: Priority,
        until: int | None = None,
    ) -> bytes:
        if self.transcoder is None:
            raise FerriteError("transcoding is not available on this server")
        return await self.transcoder.video_segment(
            ctx, rendition, index, session=session, priority=priority, until=until
        )

    def _package(self, ctx: MediaContext, rendition: Rendition, sp: Span, ts: bool) -> bytes:
        """A stream-copied video segment, or an audio one (copied or encoded to AAC)."""
        index, transcode = _source_of(rendition)
        if not ts:
            return self.packager.media_segment(
                ctx.source, index, sp, offset=ctx.offset, transcode=transcode
            )
        video = isinstance(rendition, VideoRendition)
        return self.packager.ts_segment(
            ctx.source,
            sp,
            offset=ctx.offset,
            video_index=index if video else None,
            audio_index=None if video else index,
            audio_transcode=transcode,
        )

    def _repackage(self, ctx: MediaContext, raw: bytes, sp: Span, ts: bool) -> bytes:
        """Put a transcode run's MPEG-TS segment into the delivery format, with the same
        timeline offset and boxes as the copy rendition."""
        return self.packager.repackage_ts(raw, sp, offset=ctx.offset, ts=ts)

    def _init_from_ts(self, raw: bytes) -> bytes:
        return self.packager.init_from_ts(raw)

    # --- subtitles --------------------------------------------------------------------
    async def subtitle_segment(
        self, ctx: MediaContext, streams: StreamSet, rid: str, index: int
    ) -> bytes:
        plan = ctx.plans.audio
        self._check_index(plan, index)
        track: TextTrack | None = streams.subtitle_by_id(rid)
        if track is None or track.track_id not in ctx.cues:
            raise NotFound(f"no subtitle rendition {rid} in this playback")
        key = ("vtt", ctx.fingerprint, plan.key, track.track_id, streams.container, index)

        async def produce() -> bytes:
            # Cues are in ms from the media's start; playlist time 0 is the plan's start.
            # The timestamp map ties cue time 0 to the media time of playlist time 0 (the
            # packaged timeline: source + offset), for TS and fMP4 alike.
            origin = plan.start_s - ctx.info.start_time_s
            plan_start = Fraction(plan.boundaries[0]) * plan.time_base
            mpegts = mpegts_timestamp_map(ctx.offset, plan_start)
            text = render_segment(
                ctx.cues[track.track_id],
                plan.position(index),
                plan.end_position(index),
                origin_s=origin,
                mpegts_offset=mpegts,
            )
            return text.encode()

        data, how = await self.cache.get_or_create(key, produce)
        self._count_cache("subtitle", how)
        return data

    @staticmethod
    def _count_cache(kind: str, how: str) -> None:
        if how == "hit":
            metrics.CACHE_HITS.labels(kind).inc()
        elif how == "miss":
            metrics.CACHE_MISSES.labels(kind).inc()
        else:
            metrics.CACHE_INFLIGHT_WAITS.labels(kind).inc()


def _mode(rendition: Rendition) -> str:
    """The metrics label of how a rendition's segments are made: ``copy`` (packager, stream
    copy), ``transcode`` (video from an ffmpeg run) or ``audio_transcode`` (AAC encoded by
    the packager in-process)."""
    if rendition.copy:
        return "copy"
    return "transcode" if isinstance(rendition, VideoRendition) else "audio_transcode"


def _source_of(rendition: Rendition) -> tuple[int, AacTranscode | None]:
    if isinstance(rendition, VideoRendition):
        return rendition.stream.index, None
    r = rendition.rendition
    return rendition.stream.index, None if r.copy else AacTranscode(r.channels, r.bitrate or None)
