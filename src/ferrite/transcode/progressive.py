"""Progressive fallback: one ffmpeg streaming a whole file from a position, for clients
without HLS.

ffmpeg remuxes (video stream copy) or transcodes to fragmented MP4
(``-movflags frag_keyframe+empty_moov+default_base_moof``: playable while it downloads,
no seekable output needed) or Matroska, on stdout, starting at ``start_s`` (input
``-ss``). :class:`ProgressiveStream` owns that process like every other child
(``ferrite.transcode.process``): stderr drained, reaped, counted, and killed when the
consumer stops iterating (a client that disconnects), and it holds one admission slot for
as long as the process lives -- a progressive viewer costs what a running HLS run costs.

    async with ProgressiveStream(job, admission=admission) as stream:
        async for chunk in stream:
            await send(chunk)

(:func:`progressive_chunks` wraps exactly that as an async generator for a streaming
response.) A seek is a new request at a new ``start_s``.

A consumer that stops pulling (a slow or paused client: the response waits for the socket)
must not keep everyone else's transcodes waiting: after ``yield_after_s`` without a pull
the slot is given back -- ffmpeg is blocked on its full stdout pipe by then, costing no
CPU, like a paused run -- and the next pull waits for a slot again. After ``idle_s``
without a pull ffmpeg is killed and the stream ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Final, Literal

from ferrite.errors import TranscodeError
from ferrite.media.inputs import ffmpeg_input_args
from ferrite.media.renditions import Rung
from ferrite.transcode.admission import Admission, Lease, Priority
from ferrite.transcode.process import FfmpegProcess

__all__ = ["ProgressiveJob", "ProgressiveStream", "progressive_argv", "progressive_chunks"]

log = logging.getLogger(__name__)

Container = Literal["mp4", "matroska"]
CHUNK_BYTES: Final = 64 * 1024
#: A consumer this long without pulling gives its slot back (see the module docstring).
YIELD_AFTER_S: Final = 1.0
#: Keyframe interval of transcoded progressive video (the fMP4 fragment length).
KEYFRAME_INTERVAL_S: Final = 2.0
MEDIA_TYPES: Final = {"mp4": "video/mp4", "matroska": "video/x-matroska"}
_X264_PRESETS: Final = frozenset(
    {"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"}
)


@dataclass(frozen=True, slots=True)
class ProgressiveJob:
    """What to stream. ``video_rung=None`` copies the video stream; ``audio_channels=None``
    copies the audio stream (else AAC with that many channels at ``audio_bitrate``)."""

    input: str
    start_s: float = 0.0  # seconds from the start of the file
    container: Container = "mp4"
    video_stream: int | None = None  # absolute stream index in the file; None: no video
    video_rung: Rung | None = None
    audio_stream: int | None = None  # None: no audio
    audio_channels: int | None = None
    audio_bitrate: int = 160_000
    audio_codec: str | None = None  # the source's, when copied (ffmpeg name)
    ffmpeg: str = "ffmpeg"
    preset: str = "veryfast"
    crf: int = 23
    threads: int | None = None

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.container]


def progressive_argv(job: ProgressiveJob) -> list[str]:
    if job.video_stream is None and job.audio_stream is None:
        raise ValueError("a progressive stream needs video or audio")
    if job.container not in MEDIA_TYPES:
        raise ValueError(f"unknown container {job.container!r}")
    args = [job.ffmpeg, "-hide_banner", "-loglevel", "error", "-nostats", "-nostdin"]
    if job.threads:
        args += ["-threads", str(job.threads)]
    if job.start_s > 0:
        args += ["-ss", f"{job.start_s:.6f}"]
    args += [*ffmpeg_input_args(job.input), "-i", job.input]
    if job.video_stream is not None:
        args += ["-map", f"0:{job.video_stream}"]
        rung = job.video_rung
        if rung is None or rung.copy:
            args += ["-c:v", "copy"]
        else:
            preset = job.preset if job.preset in _X264_PRESETS else "veryfast"
            args += [
                "-vf", f"scale=w={rung.width}:h={rung.height},format=yuv420p",
                "-c:v", "libx264", "-preset", preset, "-crf", str(job.crf),
                "-maxrate", str(rung.maxrate), "-bufsize", str(rung.bufsize),
                "-profile:v", rung.profile or "high",
                "-force_key_frames", f"expr:gte(t,n_forced*{KEYFRAME_INTERVAL_S})",
            ]  # fmt: skip
    else:
        args += ["-vn"]
    if job.audio_stream is not None:
        args += ["-map", f"0:{job.audio_stream}"]
        if job.audio_channels is None:
            args += ["-c:a", "copy"]
            if job.audio_codec == "aac" and job.container == "mp4":
                # ADTS AAC (MPEG-TS sources) must become raw AAC + an ASC in MP4.
                args += ["-bsf:a", "aac_adtstoasc"]
        else:
            args += ["-c:a", "aac", "-b:a", str(job.audio_bitrate), "-ac", str(job.audio_channels)]
    else:
        args += ["-an"]
    args += ["-sn", "-dn", "-map_metadata", "-1", "-map_chapters", "-1"]
    if job.container == "mp4":
        args += ["-f", "mp4", "-movflags", "frag_keyframe+empty_moov+default_base_moof"]
    else:
        args += ["-f", "matroska"]
    return [*args, "pipe:1"]


class ProgressiveStream:
    """An async iterator of the bytes of one progressive stream (see the module doc)."""

    def __init__(
        self,
        job: ProgressiveJob,
        *,
        admission: Admission,
        priority: Priority = Priority.PLAYBACK,
        chunk_bytes: int = CHUNK_BYTES,
        idle_s: float | None = None,
        yield_after_s: float = YIELD_AFTER_S,
    ) -> None:
        self.job = job
        self._idle_s = idle_s
        self._yield_after_s = yield_after_s
        self._timers: list[asyncio.TimerHandle] = []
        self._killer: asyncio.Task[int] | None = None
        self._argv = progressive_argv(job)
        self._admission = admission
        self._priority = priority
        self._chunk = chunk_bytes
        self._lease: Lease | None = None
        self._proc: FfmpegProcess | None = None
        self._sent = 0
        self._closed = False

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def media_type(self) -> str:
        return self.job.media_type

    async def start(self) -> None:
        """Wait for a slot (:class:`~ferrite.errors.Overloaded` after the queue timeout)
        and start ffmpeg. Called by the first iteration if not before."""
        if self._proc is not None:
            return
        if self._closed:
            raise TranscodeError("the progressive stream is closed")
        self._lease = await self._admission.acquire(self._priority)
        try:
            self._proc = await FfmpegProcess.spawn(self._argv)
        except BaseException:
            self._release()
            raise

    def __aiter__(self) -> ProgressiveStream:
        return self

    async def __anext__(self) -> bytes:
        self._disarm()
        if self._closed:
            raise StopAsyncIteration
        if self._proc is None:
            await self.start()
        elif self._lease is None and self._proc.running:  # gave its slot away meanwhile
            self._lease = await self._admission.acquire(self._priority)
        proc = self._proc
        assert proc is not None
        data = await proc.read(self._chunk)
        if data:
            self._sent += len(data)
            self._arm()
            return data
        rc = await proc.wait()
        self._release()
        self._closed = True
        if rc != 0:
            message = f"ffmpeg exited with code {rc}"
            if self._sent == 0:
                raise TranscodeError(
                    f"progressive stream failed: {message}", detail=proc.error_summary()
                )
            # Bytes already went out: the client has a (short) file; all we can do is end.
            log.warning("progressive stream ended early: %s: %s", message, proc.error_summary())
        raise StopAsyncIteration

    async def aclose(self) -> None:
        """Kill ffmpeg (if still running), reap it and give the slot back; idempotent."""
        self._closed = True
        self._disarm()
        try:
            if self._proc is not None:
                await self._proc.kill()
        finally:
            self._release()

    @property
    def holds_slot(self) -> bool:
        return self._lease is not None

    def _arm(self) -> None:
        """Until the next pull: yield the slot soon, end the stream after ``idle_s``."""
        loop = asyncio.get_running_loop()
        self._timers.append(loop.call_later(self._yield_after_s, self._release))
        if self._idle_s is not None:
            self._timers.append(loop.call_later(self._idle_s, self._idle))

    def _disarm(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def _idle(self) -> None:
        log.info(
            "progressive stream of %s: no reader for %.0f s, stopped", self.job.input, self._idle_s
        )
        self._closed = True
        self._release()
        if self._proc is not None:
            self._killer = asyncio.ensure_future(self._proc.kill())

    async def __aenter__(self) -> ProgressiveStream:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _release(self) -> None:
        if self._lease is not None:
            self._lease.release()
            self._lease = None


async def progressive_chunks(
    job: ProgressiveJob, *, admission: Admission, priority: Priority = Priority.PLAYBACK
) -> AsyncGenerator[bytes, None]:
    """The stream as an async generator (for a streaming HTTP response); ffmpeg dies
    when the generator is closed or its consumer is cancelled."""
    async with ProgressiveStream(job, admission=admission, priority=priority) as stream:
        async for chunk in stream:
            yield chunk
