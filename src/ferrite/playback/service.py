"""Playback: turning "user U plays item I on device D" into a session and its URLs.

Creating a session is the one slow step (a few database reads, the decision, the
renditions); everything after it — playlists, segments, heartbeats — finds the session in
memory by id and checks its stream token with an HMAC. A file's :class:`MediaContext`
(probe facts, segment plan, subtitle cues) is loaded once and shared by all its sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from ferrite import metrics
from ferrite.config import Settings
from ferrite.db.engine import Database
from ferrite.db.schema import media_files
from ferrite.errors import BadRequest, FerriteError, NotFound
from ferrite.hls.plan import make_plans
from ferrite.hls.pool import SourceFile
from ferrite.hls.renditions import StreamSet, master_playlist
from ferrite.hls.service import HlsService, MediaContext
from ferrite.hls.webvtt import CueIndex
from ferrite.library import media_rows, queries
from ferrite.media.info import MediaInfo, SubtitleTrack
from ferrite.media.renditions import Rung
from ferrite.media.subtitles import SubtitleChoice
from ferrite.playback.capabilities import resolve_device
from ferrite.playback.decision import decide
from ferrite.playback.decision_records import Decision, PlaybackRequest
from ferrite.playback.ladder import build_ladder
from ferrite.playback.profiles import DeviceProfile
from ferrite.playback.sessions import Session, SessionRegistry
from ferrite.playback.streamset import build_stream_set
from ferrite.transcode.progressive import ProgressiveJob

log = logging.getLogger(__name__)


@dataclass
class HlsPlayback:
    """What an HLS session streams: the shared file context and its renditions."""

    ctx: MediaContext
    streams: StreamSet
    profile: DeviceProfile
    decision: Decision
    master: bytes | None = None


@dataclass
class ProgressivePlayback:
    """A device without HLS: one ffmpeg stream per request, starting where asked."""

    ctx: MediaContext
    decision: Decision
    rung: Rung | None  # None: video copied

    def job(self, start_s: float, ffmpeg: str, preset: str) -> ProgressiveJob:
        d = self.decision
        audio = d.audio
        return ProgressiveJob(
            input=str(self.ctx.source.path),
            start_s=start_s,
            container=d.progressive or "mp4",
            video_stream=d.video.stream_index if d.video else None,
            video_rung=self.rung,
            audio_stream=audio.stream_index if audio else None,
            audio_channels=None if audio is None or audio.action == "copy" else audio.channels,
            audio_bitrate=(audio.bitrate if audio and audio.bitrate else 160_000),
            audio_codec=audio.source_codec if audio else None,
            ffmpeg=ffmpeg,
            preset=preset,
        )


@dataclass(frozen=True)
class _FileRow:
    path: str
    size: int
    mtime_ns: int
    fingerprint: str


def _file_row(conn: Connection, file_id: int) -> _FileRow:
    row = conn.execute(
        select(
            media_files.c.path,
            media_files.c.size,
            media_files.c.mtime_ns,
            media_files.c.fingerprint,
        ).where(media_files.c.id == file_id)
    ).first()
    if row is None:
        raise NotFound("This item has no media file.")
    return _FileRow(*row)


def _load_media(
    conn: Connection, file_id: int
) -> tuple[MediaInfo, list[tuple[int, SubtitleTrack]]]:
    return media_rows.load_media(conn, file_id), media_rows.subtitle_tracks_of(
        conn, file_id, with_cues=True
    )


class PlaybackService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        hls: HlsService,
        *,
        clock: Callable[[], float] = time.time,
        contexts: int = 64,
        on_stop: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.hls = hls
        self.clock = clock
        self.sessions = SessionRegistry(idle_s=settings.session_idle_s, clock=clock)
        self._contexts: OrderedDict[tuple[int, str, int], MediaContext] = OrderedDict()
        self._contexts_max = contexts
        self._context_locks: dict[int, asyncio.Lock] = {}
        self._reaper: asyncio.Task[None] | None = None
        self._on_stop = on_stop  # e.g. transcode runs forget the session's playheads
        #: ``await prepare(file_id, start_s)`` before a session's context is loaded: lets a
        #: file's owner get it ready (a torrent: probe it, fetch the pieces at start_s).
        self.prepare: Callable[[int, float], Awaitable[None]] | None = None
        #: ``await prepare_hls(file_id)`` once a session is known to be HLS: per-file
        #: facts its segments need (a torrent: the reorder delay from the first GOP).
        self.prepare_hls: Callable[[int], Awaitable[None]] | None = None

    # --- lifecycle --------------------------------------------------------------------
    def start(self) -> None:
        self._reaper = asyncio.create_task(self._reap_forever(), name="playback-reaper")

    async def aclose(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        for session in list(self.sessions):
            await self.stop(session, reason="shutdown")
        await self.hls.aclose()

    async def _reap_forever(self) -> None:
        interval = max(1.0, min(15.0, self.settings.session_idle_s / 4))
        while True:
            await asyncio.sleep(interval)
            for session in self.sessions.idle():
                await self.stop(session, reason="idle")

    # --- contexts ---------------------------------------------------------------------
    async def context(self, file_id: int) -> MediaContext:
        """The file's playback context, loaded once (per file version) and shared."""
        lock = self._context_locks.setdefault(file_id, asyncio.Lock())
        async with lock:  # two first viewers of a file load it once
            row = await self.db.read(_file_row, file_id)  # which version of the file is current
            key = (file_id, row.fingerprint, row.mtime_ns)
            ctx = self._contexts.get(key)
            if ctx is not None:
                self._contexts.move_to_end(key)
                return ctx
            info, subs = await self.db.read(_load_media, file_id)
            plans = make_plans(
                info.keyframes,
                duration_s=info.duration_s,
                start_s=info.start_time_s,
                target_s=self.settings.segment_target_s,
                max_copy_segment_s=self.settings.max_segment_s,
            )
            ctx = MediaContext(
                file_id=file_id,
                source=SourceFile(row.path, row.size, row.mtime_ns),
                fingerprint=row.fingerprint,
                info=info,
                plans=plans,
                cues={tid: CueIndex(t.cues) for tid, t in subs if t.cues is not None},
                subtitle_tracks=tuple(subs),
            )
            self._contexts[key] = ctx
            while len(self._contexts) > self._contexts_max:
                self._contexts.popitem(last=False)
            return ctx

    # --- sessions ---------------------------------------------------------------------
    async def create(
        self,
        *,
        user_id: int,
        libraries: frozenset[int] | None,
        item_id: int,
        device: str | dict[str, Any],
        start_s: float | None = None,
        audio_stream: int | None = None,
        subtitle_stream: int | None = None,
        max_bitrate: int | None = None,
        max_height: int | None = None,
        protocol: str | None = None,
    ) -> tuple[Session, Decision]:
        location = await self.db.read(queries.file_location, item_id)
        if libraries is not None and location.library_id not in libraries:
            raise NotFound("No such item.")
        profile = resolve_device(device)
        if self.prepare is not None:
            await self.prepare(location.file_id, start_s or 0.0)
        ctx = await self.context(location.file_id)
        subs = ctx.subtitle_tracks
        choice: SubtitleChoice | None = None
        if subtitle_stream is not None:
            track = next((t for tid, t in subs if tid == subtitle_stream), None)
            if track is None:
                raise BadRequest(f"subtitle_stream {subtitle_stream} is not a track of this item")
            choice = SubtitleChoice.from_track(track)
        if audio_stream is not None and not any(s.index == audio_stream for s in ctx.info.audio):
            raise BadRequest(f"audio_stream {audio_stream} is not an audio stream of this item")
        if start_s is None:
            start_s = 0.0
        request = PlaybackRequest(
            audio_stream=audio_stream,
            subtitle=choice,
            max_bitrate=max_bitrate,
            max_height=max_height,
            start_s=start_s,
            protocol="hls" if protocol == "hls" else "auto",
        )
        refusal = ctx.plans.copy_refusal
        decision = decide(ctx.info, profile, request, segment_copy_refusal=refusal)
        if decision.hls and self.prepare_hls is not None:
            await self.prepare_hls(location.file_id)
        session = self.sessions.create(
            user_id=user_id,
            item_id=item_id,
            file_id=location.file_id,
            method=decision.method,
            reasons=decision.reasons,
            ttl_s=self.settings.stream_token_ttl_s,
            duration_s=ctx.info.duration_s,
            start_s=start_s,
            library_id=location.library_id,
        )
        if decision.hls:
            streams = build_stream_set(
                ctx.info, decision, profile, request, subs, segment_copy_refusal=refusal
            )
            session.context = HlsPlayback(ctx, streams, profile, decision)
        elif decision.progressive is not None:
            rung = None
            if decision.video is not None and decision.video.action == "transcode":
                video = next(s for s in ctx.info.streams if s.index == decision.video.stream_index)
                ladder = build_ladder(
                    video, decision, profile, max_bitrate=max_bitrate, max_height=max_height
                )
                rung = next(r for r in ladder if not r.copy)  # the best rung that fits
            session.context = ProgressivePlayback(ctx, decision, rung)
        else:
            session.context = None
        metrics.ACTIVE_SESSIONS.set(len(self.sessions))
        log.info(
            "playback session %s: user %s item %s method %s reasons %s",
            session.id,
            user_id,
            item_id,
            decision.method,
            ",".join(decision.reasons) or "-",
        )
        return session, decision

    async def warm_start(self, file_id: int, device: str) -> bool | None:
        """Make the inits and first segments of what a default player may start on for
        ``device`` -- every transcoded variant, and the default audio -- at the lowest
        priority, into the warm store. False when there is nothing to warm (no HLS, no
        transcoded variant, warming off); None when the file is still arriving (later)."""
        if self.hls.warm_segments <= 0:
            return False
        ctx = await self.context(file_id)
        if self.hls.arriving(ctx.source):
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
        hls = self.hls
        for kind, rid in starts:
            plan = hls.plan_of(ctx, streams, kind, rid)
            if streams.container == "fmp4":
                await hls.init_segment(ctx, streams, kind, rid, session="warmer", background=True)
            for index in range(min(hls.warm_segments, len(plan))):
                await hls.segment(ctx, streams, kind, rid, index, background=True)
        return True

    def get(self, session_id: str) -> Session:
        session = self.sessions.get(session_id)
        if session is None:
            raise NotFound("No such playback session (it ended or the server restarted).")
        return session

    def hls_of(self, session: Session) -> HlsPlayback:
        if not isinstance(session.context, HlsPlayback):
            raise NotFound("This playback session is direct play; it has no HLS playlists.")
        return session.context

    def master(self, session: Session, token: str) -> bytes:
        """The session's master playlist. Its URIs carry the token as a path segment, so
        every relative URI below it inherits the token and the media playlists themselves
        stay identical for all viewers (cached once per file)."""
        hp = self.hls_of(session)
        if hp.master is None:
            prefix = f"t/{token}/"
            hp.master = master_playlist(
                hp.streams,
                video_uri=prefix + "v/{id}.m3u8",
                audio_uri=prefix + "a/{id}.m3u8",
                subtitle_uri=prefix + "s/{id}.m3u8",
            ).encode()
        return hp.master

    def use_rendition(self, session: Session, kind: str, rid: str) -> None:
        """The session fetches from rendition ``kind/rid``; if it fetched from another one
        of that kind before (an ABR switch), it left that one: a transcode run working
        ahead for it alone pauses and frees its slot for the new rendition."""
        old = session.last_rendition.get(kind)
        if old == rid:
            return
        session.last_rendition[kind] = rid
        if old is not None:
            hp = self.hls_of(session)
            self.hls.leave(hp.ctx, hp.streams, kind, old, session.id)

    def track_segment(self, session: Session, kind: str, rid: str, index: int) -> bool:
        """Record that ``session`` fetches segment ``index`` of ``kind/rid``. True when the
        fetch is a jump (the start, or a seek) rather than a neighbour of the last one: a
        jump is a viewer waiting, and its segment outranks look-ahead."""
        hp = self.hls_of(session)
        plan = self.hls.plan_of(hp.ctx, hp.streams, kind, rid, index)
        start, end = plan.position(index), plan.end_position(index)
        last = session.last_span.get(kind)
        session.last_span[kind] = (start, end)
        if last is None:
            return True
        # The next segment starts where the last one ended; the same or the previous one
        # (a player retrying, or stepping back one) is not a seek either.
        return not (last[0] - (end - start) - 1e-6 <= start <= last[1] + 1e-6)

    def next_index(self, session: Session, kind: str, rid: str) -> int:
        """The segment of ``kind/rid`` the session will ask for next: the one after its
        last fetch of that kind, or the one at its position before its first."""
        hp = self.hls_of(session)
        plan = self.hls.plan_of(hp.ctx, hp.streams, kind, rid)
        last = session.last_span.get(kind)
        return plan.index_at_position(session.position_s if last is None else last[1])

    def note_segment(self, session: Session, kind: str, index: int, nbytes: int) -> None:
        now = self.clock()
        session.touch(now)
        t = session.telemetry
        if t.segments_sent == 0 and kind in ("v", "a"):
            metrics.SERVER_TTFF.labels(session.method).observe((now - session.created_at) * 1000)
        t.segments_sent += 1
        t.bytes_sent += nbytes

    # --- events -----------------------------------------------------------------------
    async def event(self, session: Session, event: dict[str, Any]) -> None:
        kind = event.get("type")
        now = self.clock()
        session.touch(now)
        t = session.telemetry
        ms = _number(event, "value_ms", "duration_ms", "ms")
        method = session.method
        if kind == "ttff" and ms is not None:
            t.ttff_ms = ms
            metrics.PLAYBACK_TTFF.labels(method).observe(ms)
        elif kind == "stall":
            t.stalls += 1
            metrics.REBUFFER_COUNT.labels(method).inc()
            if ms is not None:
                t.stall_ms += ms
                metrics.REBUFFER_MS.labels(method).observe(ms)
        elif kind == "seek":
            t.seeks += 1
            if ms is not None:
                t.seek_ms.append(ms)
                metrics.SEEK_LATENCY.labels(method).observe(ms)
        elif kind == "error":
            t.errors.append(str(event.get("message", ""))[:200])
            metrics.PLAYER_ERRORS.labels(method).inc()
        elif kind not in ("position", "heartbeat", "stop"):
            raise BadRequest(f"unknown event type {kind!r}")
        position = _number(event, "position_s")
        if position is not None and position >= 0:
            session.position_s = position
            session.progress_dirty = True
        if kind == "stop":
            await self.stop(session, reason="player")  # writes the final position
            return
        if session.progress_dirty and self.sessions.due_progress(
            session, self.settings.progress_interval_s
        ):
            await self._write_progress(session)

    async def _write_progress(self, session: Session) -> None:
        session.last_progress_write = self.clock()
        session.progress_dirty = False
        try:
            await self.db.write(
                functools.partial(
                    queries.put_progress,
                    item_id=session.item_id,
                    user_id=session.user_id,
                    libraries=None,
                    position_s=session.position_s,
                    played=None,
                    threshold=self.settings.played_threshold,
                    now=self.clock(),
                )
            )
        except FerriteError as exc:
            log.warning("progress of session %s not saved: %s", session.id, exc.message)

    async def stop(self, session: Session, *, reason: str) -> None:
        if self.sessions.remove(session.id) is None:
            return
        if self._on_stop is not None:
            self._on_stop(session.id)
        if session.progress_dirty:
            await self._write_progress(session)
        metrics.ACTIVE_SESSIONS.set(len(self.sessions))
        t = session.telemetry
        log.info(
            "playback ended session=%s reason=%s method=%s reasons=%s ttff_ms=%s stalls=%d "
            "stall_ms=%.0f seeks=%d segments=%d bytes=%d duration_s=%.0f",
            session.id,
            reason,
            session.method,
            ",".join(session.reasons) or "-",
            f"{t.ttff_ms:.0f}" if t.ttff_ms is not None else "-",
            t.stalls,
            t.stall_ms,
            t.seeks,
            t.segments_sent,
            t.bytes_sent,
            self.clock() - session.created_at,
        )


def _number(event: dict[str, Any], *names: str) -> float | None:
    for name in names:
        value = event.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None
