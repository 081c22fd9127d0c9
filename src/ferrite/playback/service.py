"""Playback: turning "user U plays item I on device D" into a session, then serving the
session's requests.

Creating a session is the one slow step (a few database reads, the decision, the
renditions); everything after it -- playlists, segments, heartbeats -- finds the session in
memory by id (its stream token checked with an HMAC by the caller) and goes through one
method here: :meth:`PlaybackService.master`, :meth:`~PlaybackService.media_playlist`,
:meth:`~PlaybackService.init_segment`, :meth:`~PlaybackService.segment`,
:meth:`~PlaybackService.event`. Those methods alone edit a session's state (through the
:class:`~ferrite.playback.sessions.Session` methods), so the routers stay thin. A viewer's
request is :attr:`~ferrite.media.priority.Priority.PLAYBACK` from here down to the
transcode slot queue. A file's :class:`MediaContext` (probe facts, segment plan, subtitle
cues) is loaded once and shared by all its sessions (``ferrite.playback.contexts``).

In a cluster (``shared``: ``ferrite.playback.shared``) a new session's descriptor goes to
the shared registry, and :meth:`PlaybackService.find` rebuilds a session another node
made through the same code as :meth:`~PlaybackService.create` (same renditions, same
URLs). A stop by the player ends it everywhere; an idle reap or a shutdown drops only
this node's copy (the registry's entry expires on its own once nobody uses it);
the cluster-side bookkeeping is ``ferrite.playback.copies``.

Over 500 lines on purpose: one class owns every request of a session (the architecture
issue's rule), and splitting its methods across modules would hide who edits a session.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from ferrite import metrics
from ferrite.config import Settings
from ferrite.db.engine import Database
from ferrite.errors import BadRequest, ClusterUnavailable, FerriteError, NotFound
from ferrite.hls.content_keys import file_version_key, stream_keys
from ferrite.hls.context import MediaContext
from ferrite.hls.renditions import StreamSet, master_playlist
from ferrite.hls.service import HlsService
from ferrite.library import playqueries, queries
from ferrite.media.priority import Priority
from ferrite.media.subtitles import SubtitleChoice
from ferrite.playback.capabilities import resolve_device
from ferrite.playback.contexts import MediaContexts
from ferrite.playback.copies import SharedCopies
from ferrite.playback.decision import decide
from ferrite.playback.decision_records import Decision, PlaybackRequest
from ferrite.playback.ladder import build_ladder
from ferrite.playback.plays import HlsPlayback, ProgressivePlayback
from ferrite.playback.profiles import DeviceProfile
from ferrite.playback.sessions import Session, SessionRegistry
from ferrite.playback.shared import SessionDescriptor, SharedSessions
from ferrite.playback.streams import ProgressiveStreams
from ferrite.playback.streamset import build_stream_set
from ferrite.transcode.admission import Admission

log = logging.getLogger(__name__)

_SEGMENT_TYPES = {"m4s": "video/mp4", "ts": "video/mp2t", "vtt": "text/vtt; charset=utf-8"}
#: Stop reasons that end a session cluster-wide; the others drop this node's copy only.
_ENDS_SHARED = frozenset({"stopped", "player", "replaced", "revoked"})


class Preparer(Protocol):
    """The owner of files that may not be ready to play yet (torrents): playback waits
    for it before a session of one of its files is made."""

    async def prepare(self, file_id: int, start_s: float) -> None:
        """Before a session's context is loaded (a torrent: probe the file, fetch the
        pieces at ``start_s``)."""
        ...

    async def prepare_index(self, file_id: int) -> None:
        """Before an HLS session whose context has no keyframe index yet (a torrent's
        Matroska file before its cues arrive): wait for it."""
        ...


class PlaybackService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        hls: HlsService,
        *,
        clock: Callable[[], float] = time.time,
        contexts: int = 64,
        admission: Admission | None = None,
        inputs: Callable[[str], str] | None = None,
        on_stop: Callable[[str], None] | None = None,
        shared: SharedSessions | None = None,
    ) -> None:
        """``admission``: the transcode slots progressive streams take (the run manager's:
        one slot count for the server), a queue of ``transcode_slots`` when not given;
        ``inputs(path)``: what ffmpeg opens for a media file (``FeedInputs.input_for``);
        ``on_stop(session_id)``: a session ended (transcode runs forget its playheads);
        ``shared``: the cluster's session registry (None on a single node)."""
        self.settings = settings
        self.db = db
        self.hls = hls
        self.clock = clock
        self.sessions = SessionRegistry(idle_s=settings.session_idle_s, clock=clock)
        self.contexts = MediaContexts(settings, db, size=contexts)
        self.progressive = ProgressiveStreams(
            settings,
            admission or Admission(settings.transcode_slots, settings.transcode_queue_timeout_s),
            clock=clock,
            inputs=inputs,
        )
        self._reaper: asyncio.Task[None] | None = None
        self._on_stop = on_stop
        self._preparers: list[Preparer] = []
        self.copies = (
            SharedCopies(shared, idle_s=settings.session_idle_s, clock=clock, rebuild=self._rebuild)
            if shared is not None
            else None
        )

    # --- lifecycle --------------------------------------------------------------------
    def start(self) -> None:
        self._reaper = asyncio.create_task(self._reap_forever(), name="playback-reaper")
        if self.copies is not None:
            self.copies.shared.start(self._dropped_elsewhere)

    async def aclose(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        if self.copies is not None:
            self.copies.cancel()
        for session in list(self.sessions):
            await self.stop(session, reason="shutdown")
        await self.hls.aclose()

    async def _reap_forever(self) -> None:
        interval = max(1.0, min(15.0, self.settings.session_idle_s / 4))
        while True:
            await asyncio.sleep(interval)
            for session in self.sessions.idle():
                await self.stop(session, reason="idle")

    def add_preparer(self, preparer: Preparer) -> None:
        """Wait for ``preparer`` before each new session (the torrent integration)."""
        self._preparers.append(preparer)

    def remove_preparer(self, preparer: Preparer) -> None:
        """``preparer`` stops (before playback does): new sessions no longer wait for it."""
        if preparer in self._preparers:
            self._preparers.remove(preparer)

    # --- sessions ---------------------------------------------------------------------
    async def resume_position(self, user_id: int, item_id: int) -> float:
        """Where the user left ``item_id`` (0: never started, or played to the end)."""
        return await self.db.read(playqueries.resume_position, user_id, item_id)

    async def make_room(self, user_id: int) -> None:
        """End the user's oldest sessions beyond ``max_sessions_per_user`` - 1, so a new
        one fits (sessions hold plans, runs and slots). In a cluster without its registry
        nothing ends: the new session would be refused anyway."""
        self._need_registry()
        mine = sorted(self.sessions.of_user(user_id), key=lambda s: s.created_at)
        for oldest in mine[: max(0, len(mine) - self.settings.max_sessions_per_user + 1)]:
            await self.stop(oldest, reason="replaced")

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
        user_version: int | None = None,
    ) -> tuple[Session, Decision]:
        """A session for ``user_id`` playing ``item_id`` on ``device`` (``libraries``: the
        user's grants, None = all; ``user_version``: the user's token version now, which
        every later request of the session checks). In a cluster its descriptor goes to the
        registry before the session is handed out: without it (Redis away) none is made
        (:class:`~ferrite.errors.ClusterUnavailable`, 503)."""
        self._need_registry()
        copies = self.copies
        choices: dict[str, Any] = {
            "device": device,
            "audio_stream": audio_stream,
            "subtitle_stream": subtitle_stream,
            "max_bitrate": max_bitrate,
            "max_height": max_height,
            "protocol": protocol,
        }
        session, decision = await self._build(
            user_id=user_id,
            libraries=libraries,
            item_id=item_id,
            start_s=start_s,
            user_version=user_version,
            **choices,
        )
        if copies is not None:
            descriptor = SessionDescriptor(
                id=session.id,
                user_id=user_id,
                item_id=item_id,
                file_id=session.file_id,
                library_id=session.library_id,
                user_version=user_version,
                created_at=session.created_at,
                expires_at=session.expires_at,
                start_s=session.position_s,
                **choices,
            )
            try:
                await copies.put(descriptor)
            except ClusterUnavailable:
                await self.stop(session, reason="unshared")
                raise
        return session, decision

    def _need_registry(self) -> None:
        if self.copies is not None and not self.copies.shared.available:
            raise ClusterUnavailable("New playback sessions are unavailable right now.")

    async def _build(
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
        user_version: int | None = None,
        same_as: tuple[str, float, float] | None = None,
    ) -> tuple[Session, Decision]:
        """What :meth:`create` does on this node, and what rebuilding another node's
        session does (``same_as``: its id, creation and expiry)."""
        location = await self.db.read(queries.file_location, item_id)
        if libraries is not None and location.library_id not in libraries:
            raise NotFound("No such item.")
        profile = resolve_device(device)
        for preparer in self._preparers:
            await preparer.prepare(location.file_id, start_s or 0.0)
        ctx = await self.contexts.get(location.file_id)
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
        if decision.hls and ctx.info.keyframes is None:
            # Decided before the file's index was in (a torrent's Matroska file before
            # its cues): HLS plans need it; wait, then decide on the indexed probe.
            for preparer in self._preparers:
                await preparer.prepare_index(location.file_id)
            indexed = await self.contexts.get(location.file_id)
            if indexed is not ctx:
                ctx, subs, refusal = indexed, indexed.subtitle_tracks, indexed.plans.copy_refusal
                decision = decide(ctx.info, profile, request, segment_copy_refusal=refusal)
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
            user_version=user_version,
            same_as=same_as,
        )
        if decision.hls:
            streams = build_stream_set(
                ctx.info, decision, profile, request, subs, segment_copy_refusal=refusal
            )
            session.context = self._hls_playback(ctx, streams, profile, decision)
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

    def _hls_playback(
        self, ctx: MediaContext, streams: StreamSet, profile: DeviceProfile, decision: Decision
    ) -> HlsPlayback:
        """The session's HLS context with the content keys of its URLs."""
        plan_keys = {
            (kind, rid): self.hls.plan_of(ctx, streams, kind, rid).key
            for kind, rid in _rendition_ids(streams)
        }
        src = ctx.source
        fv = file_version_key(ctx.file_id, ctx.fingerprint, src.mtime_ns, src.size)
        return HlsPlayback(
            ctx, streams, profile, decision, fv=fv, keys=stream_keys(streams, plan_keys)
        )

    def check_content_key(self, session: Session, fv: str, spec: str, kind: str, rid: str) -> None:
        """404 unless ``c/{fv}/{spec}/{kind}/{rid}`` names a rendition of the session as it
        is now (a URL from before a file changed must not be served, nor cached, as new)."""
        hp = self.hls_of(session)
        if fv != hp.fv or hp.keys.get((kind, rid)) != spec:
            raise NotFound(f"no rendition {kind}/{rid} with this content key in this playback")

    def get(self, session_id: str) -> Session:
        session = self.sessions.get(session_id)
        if session is None:
            raise NotFound("No such playback session (it ended or the server restarted).")
        return session

    async def find(self, session_id: str) -> Session:
        """The session ``session_id`` (its stream token already checked): this node's
        copy, or in a cluster one rebuilt from the shared registry. Raises
        :class:`NotFound`, or :class:`~ferrite.errors.ClusterUnavailable` for a session
        this node doesn't hold while the registry is away."""
        session = self.sessions.get(session_id)
        if session is not None:
            if self.copies is not None:
                self.copies.refresh(session)
            return session
        if self.copies is None:
            raise NotFound("No such playback session (it ended or the server restarted).")
        return await self.copies.adopt(session_id)

    async def _rebuild(self, d: SessionDescriptor) -> Session:
        """Another node's session, made here through the code that made it there."""
        session = self.sessions.get(d.id)
        if session is not None:  # rebuilt meanwhile (a stop message raced it)
            return session
        session, _ = await self._build(
            user_id=d.user_id,
            libraries=None,  # every request checks the user's grants (allowed())
            item_id=d.item_id,
            device=d.device,
            start_s=d.start_s,
            audio_stream=d.audio_stream,
            subtitle_stream=d.subtitle_stream,
            max_bitrate=d.max_bitrate,
            max_height=d.max_height,
            protocol=d.protocol,
            user_version=d.user_version,
            same_as=(d.id, d.created_at, d.expires_at),
        )
        if session.file_id != d.file_id:
            # The item's file was replaced since: its renditions are not that session's.
            await self.stop(session, reason="file changed")
            raise NotFound("This playback session's file changed; start playback again.")
        log.info("playback session %s: rebuilt from the shared registry", d.id)
        return session

    async def _dropped_elsewhere(self, session_id: str) -> None:
        """Another node ended the session (or it is gone from the registry)."""
        session = self.sessions.get(session_id)
        if session is not None:
            await self.stop(session, reason="ended elsewhere")

    def hls_of(self, session: Session) -> HlsPlayback:
        if not isinstance(session.context, HlsPlayback):
            raise NotFound("This playback session is direct play; it has no HLS playlists.")
        return session.context

    def keep_alive(self, session: Session) -> None:
        """A request under the session that is none of the ones below (direct play)."""
        session.touch(self.clock())

    # --- the session's requests (the hot path: no database) ----------------------------
    def master(self, session: Session, token: str) -> bytes:
        """The session's master playlist. Its URIs carry the token as a path segment, so
        every relative URI below it inherits the token and the media playlists themselves
        stay identical for all viewers (cached once per file). Each URI names its content
        (``c/{fv}/{spec}/``, ``ferrite.hls.content_keys``), which a front cache keys on."""
        hp = self.hls_of(session)
        session.touch(self.clock())
        if hp.master is None:
            prefix = f"t/{token}/c/{hp.fv}/{{key}}/"
            hp.master = master_playlist(
                hp.streams,
                video_uri=prefix + "v/{id}.m3u8",
                audio_uri=prefix + "a/{id}.m3u8",
                subtitle_uri=prefix + "s/{id}.m3u8",
                keys=hp.keys,
            ).encode()
        return hp.master

    async def media_playlist(
        self, session: Session, kind: str, rid: str, *, gzipped: bool
    ) -> bytes:
        hp = self.hls_of(session)
        session.touch(self.clock())
        return await self.hls.media_playlist(
            hp.ctx, hp.streams, rendition_kind(kind), rid, gzipped=gzipped
        )

    async def init_segment(self, session: Session, kind: str, rid: str) -> tuple[bytes, str]:
        """The init segment of rendition ``kind/rid`` and its media type."""
        hp = self.hls_of(session)
        session.touch(self.clock())
        kind = rendition_kind(kind)
        self._use_rendition(session, hp, kind, rid)
        # A transcoded rendition's init is made with the segment the player will ask for
        # next: where the session starts, or after its last one (an ABR switch loads the new
        # rung's init, then the next segment).
        plan = self.hls.plan_of(hp.ctx, hp.streams, kind, rid)
        near = plan.index_at_position(session.next_position(kind))
        data = await self.hls.init_segment(
            hp.ctx, hp.streams, kind, rid, session=session.id, near=near
        )
        return data, "audio/mp4" if kind == "a" else "video/mp4"

    async def segment(self, session: Session, kind: str, rid: str, name: str) -> tuple[bytes, str]:
        """Media segment ``name`` (``<index>.<ext>``) of rendition ``kind/rid`` and its
        media type, made at PLAYBACK priority on a miss: a player asks for what it is
        about to play."""
        hp = self.hls_of(session)
        kind = rendition_kind(kind)
        index, ext = parse_segment_name(name, "vtt" if kind == "s" else hp.streams.segment_ext)
        if kind == "s":
            data = await self.hls.subtitle_segment(hp.ctx, hp.streams, rid, index)
        else:
            self._use_rendition(session, hp, kind, rid)
            plan = self.hls.plan_of(hp.ctx, hp.streams, kind, rid, index)
            session.fetched(kind, plan.position(index), plan.end_position(index))
            data = await self.hls.segment(
                hp.ctx, hp.streams, kind, rid, index, session=session.id, priority=Priority.PLAYBACK
            )
        now = self.clock()
        if session.sent(len(data), now) and kind in ("v", "a"):
            metrics.SERVER_TTFF.labels(session.method).observe((now - session.created_at) * 1000)
        media_type = _SEGMENT_TYPES[ext]
        if kind == "a" and ext == "m4s":
            media_type = "audio/mp4"
        return data, media_type

    def _use_rendition(self, session: Session, hp: HlsPlayback, kind: str, rid: str) -> None:
        """If the session fetched from another rendition of ``kind`` before (an ABR
        switch), it left that one: a transcode run working ahead for it alone pauses and
        frees its slot for the new rendition."""
        old = session.switch_rendition(kind, rid)
        if old is not None:
            self.hls.leave(hp.ctx, hp.streams, kind, old, session.id)

    async def progressive_stream(
        self, session: Session, start_s: float | None, still_allowed: Callable[[], bool]
    ) -> tuple[AsyncIterator[bytes], str]:
        """A progressive stream of the session from ``start_s`` (default its position):
        the body (it ends when ``still_allowed()`` turns false) and its media type."""
        return await self.progressive.start(session, start_s, still_allowed)

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
            session.moved_to(position)
        if kind == "stop":
            await self.stop(session, reason="player")  # writes the final position
            return
        if session.progress_dirty and self.sessions.due_progress(
            session, self.settings.progress_interval_s
        ):
            await self._write_progress(session)

    async def _write_progress(self, session: Session) -> None:
        session.progress_saved(self.clock())
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
        if self.copies is not None:
            await self.copies.ended(session, everywhere=reason in _ENDS_SHARED)
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


def _rendition_ids(streams: StreamSet) -> list[tuple[str, str]]:
    return [
        *(("v", v.id) for v in streams.video),
        *(("a", a.id) for a in streams.audio),
        *(("s", t.id) for t in streams.subtitles),
    ]


def rendition_kind(kind: str) -> str:
    if kind not in ("v", "a", "s"):
        raise NotFound(f"no rendition kind {kind!r}")
    return kind


def parse_segment_name(name: str, expected: str) -> tuple[int, str]:
    """``"12.m4s"`` -> (12, "m4s"); 404 for another extension than the rendition's, 400
    for an index that is not a plain number."""
    stem, _, ext = name.partition(".")
    if ext != expected:
        raise NotFound(f"no such segment {name!r} (this rendition serves .{expected})")
    # ASCII digits only: "²" and "٣" are str.isdigit() but not int().
    if not (stem.isascii() and stem.isdigit()) or len(stem) > 9:
        raise BadRequest(f"bad segment index {stem!r}")
    return int(stem), ext
