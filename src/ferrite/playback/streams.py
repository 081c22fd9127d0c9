"""Progressive streams (devices without HLS): one ffmpeg per request, from ``start_s``,
at most ``max_streams_per_user`` per user (a new one ends that user's oldest)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable

from ferrite.config import Settings
from ferrite.errors import NotFound
from ferrite.playback.plays import ProgressivePlayback
from ferrite.playback.quota import PerUser
from ferrite.playback.sessions import Clock, Session
from ferrite.transcode.admission import Admission
from ferrite.transcode.binary import ffmpeg_path
from ferrite.transcode.progressive import ProgressiveStream


class ProgressiveStreams:
    def __init__(
        self,
        settings: Settings,
        admission: Admission,
        *,
        clock: Clock,
        inputs: Callable[[str], str] | None = None,
    ) -> None:
        """``inputs(path)``: what ffmpeg opens for a media file (a loopback URL for a
        torrent file still arriving); default the path."""
        self._settings = settings
        self._admission = admission
        self._clock = clock
        self._inputs = inputs
        #: The streams open now, per user.
        self.open: PerUser[ProgressiveStream] = PerUser(settings.max_streams_per_user)

    async def start(
        self, session: Session, start_s: float | None, still_allowed: Callable[[], bool]
    ) -> tuple[AsyncIterator[bytes], str]:
        """The body and media type of a stream of ``session`` from ``start_s`` (default
        the session's position). The body ends when ``still_allowed()`` turns false."""
        playing = session.context
        if not isinstance(playing, ProgressivePlayback):
            raise NotFound("This playback session has no progressive stream.")
        settings = self._settings
        job = playing.job(
            session.position_s if start_s is None else start_s,
            ffmpeg_path(settings.ffmpeg_path),
            settings.x264_preset,
        )
        if self._inputs is not None:
            job = dataclasses.replace(job, input=self._inputs(job.input))
        stream = ProgressiveStream(
            job, admission=self._admission, idle_s=settings.progressive_idle_s
        )
        session.touch(self._clock())
        for oldest in self.open.add(session.user_id, stream):
            await oldest.aclose()  # its response ends at its next chunk

        async def body() -> AsyncIterator[bytes]:
            try:
                async for chunk in stream:
                    if not still_allowed():
                        break  # revoked mid-stream
                    session.touch(self._clock())
                    yield chunk
            finally:
                self.open.discard(session.user_id, stream)
                await stream.aclose()

        return body(), job.media_type
