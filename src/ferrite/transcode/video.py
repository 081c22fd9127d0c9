"""Transcoded HLS video renditions, served from shared transcode runs.

The bridge between the HLS layer (a file's :class:`~ferrite.hls.service.MediaContext` and
a :class:`~ferrite.hls.renditions.VideoRendition`) and the :class:`RunManager`: it builds
the job a run would need and the session-independent key runs are shared under.
"""

from __future__ import annotations

from functools import partial

from ferrite.config import Settings
from ferrite.hls.renditions import VideoRendition
from ferrite.hls.service import MediaContext
from ferrite.transcode.admission import Priority
from ferrite.transcode.argv import BurnIn, TranscodeJob, VideoJob
from ferrite.transcode.binary import ffmpeg_path
from ferrite.transcode.runs import RenditionKey, RunManager

_PRIORITIES = (Priority.PLAYBACK, Priority.PREFETCH, Priority.BACKGROUND)


class RunTranscoder:
    def __init__(self, settings: Settings, runs: RunManager) -> None:
        self.settings = settings
        self.runs = runs
        self._ffmpeg = ffmpeg_path(settings.ffmpeg_path)
        self._keys: dict[tuple[object, ...], RenditionKey] = {}

    def job(self, ctx: MediaContext, rendition: VideoRendition, start_index: int) -> TranscodeJob:
        burn = BurnIn.from_choice(ctx.info, rendition.burn) if rendition.burn else None
        return TranscodeJob(
            input=str(ctx.source.path),
            boundaries=tuple(float(t) for t in ctx.starts),
            start_index=start_index,
            out_dir="",
            video=VideoJob.for_stream(
                rendition.stream,
                rendition.rung,
                tone_map=rendition.tone_map,
                deinterlace=rendition.deinterlace,
                burn=burn,
            ),
            source_start_s=ctx.info.start_time_s,
            ffmpeg=self._ffmpeg,
            hwaccel=self.settings.hwaccel,  # type: ignore[arg-type]
            vaapi_device=self.settings.vaapi_device,
            preset=self.settings.x264_preset,
        )

    def key(self, ctx: MediaContext, rendition: VideoRendition) -> RenditionKey:
        memo = (ctx.fingerprint, ctx.plan.key, rendition.spec)
        key = self._keys.get(memo)
        if key is None:  # building a job walks the whole plan: do it once per rendition
            key = RenditionKey.for_job(
                ctx.fingerprint, ctx.plan.key, rendition.id, self.job(ctx, rendition, 0)
            )
            if len(self._keys) > 4096:
                self._keys.clear()
            self._keys[memo] = key
        return key

    async def video_segment(
        self,
        ctx: MediaContext,
        rendition: VideoRendition,
        index: int,
        *,
        session: str,
        priority: int,
    ) -> bytes:
        return await self.runs.segment(
            partial(self.job, ctx, rendition),
            self.key(ctx, rendition),
            index,
            priority=_PRIORITIES[min(priority, len(_PRIORITIES) - 1)],
            session=session or None,
        )

    def forget(self, session: str) -> None:
        self.runs.forget(session)
