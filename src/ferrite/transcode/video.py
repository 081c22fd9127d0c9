"""Transcoded HLS video renditions, served from shared transcode runs.

The bridge between the HLS layer (a file's :class:`~ferrite.hls.service.MediaContext` and
a :class:`~ferrite.hls.renditions.VideoRendition`) and the :class:`RunManager`: it builds
the job a run would need and the session-independent key runs are shared under.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from ferrite.config import Settings
from ferrite.hls.context import MediaContext
from ferrite.hls.renditions import VideoRendition
from ferrite.media.priority import Priority
from ferrite.transcode.binary import ffmpeg_path
from ferrite.transcode.job import BurnIn, TranscodeJob, VideoJob
from ferrite.transcode.run_key import RenditionKey
from ferrite.transcode.runs import RunManager


class RunTranscoder:
    def __init__(
        self,
        settings: Settings,
        runs: RunManager,
        *,
        inputs: Callable[[str], str] | None = None,
    ) -> None:
        """``inputs(path)``: what ffmpeg opens for a media file (``FeedInputs.input_for``:
        a loopback URL for a torrent file still downloading); default the path."""
        self.settings = settings
        self.runs = runs
        self._inputs = inputs
        self._ffmpeg = ffmpeg_path(settings.ffmpeg_path)
        self._keys: dict[tuple[object, ...], RenditionKey] = {}

    def job(
        self,
        ctx: MediaContext,
        rendition: VideoRendition,
        start_index: int,
        *,
        end_index: int | None = None,
    ) -> TranscodeJob:
        burn = BurnIn.from_choice(ctx.info, rendition.burn) if rendition.burn else None
        return TranscodeJob(
            input=self._input(str(ctx.source.path)),
            # Transcoded rungs are cut on the file's grid plan, keyframes forced there.
            boundaries=ctx.plans.grid.starts(),
            start_index=start_index,
            end_index=end_index,
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

    def _input(self, path: str) -> str:
        return path if self._inputs is None else self._inputs(path)

    def key(self, ctx: MediaContext, rendition: VideoRendition) -> RenditionKey:
        plan_key = ctx.plans.grid.key
        memo = (ctx.fingerprint, plan_key, rendition.spec)
        key = self._keys.get(memo)
        if key is None:  # building a job walks the whole plan: do it once per rendition
            key = RenditionKey.for_job(
                ctx.fingerprint, plan_key, rendition.id, self.job(ctx, rendition, 0)
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
        priority: Priority,
        until: int | None = None,
    ) -> bytes:
        """Segment ``index`` from a shared run; a run started for it stops before
        ``until`` when given (the warmer's few first segments: no run left behind).
        ``priority`` as the request came: every segment a player asks for is PLAYBACK
        (the first, a seek's, the next one), and that request is what moves the viewer's
        playhead in the run manager (PREFETCH, which doesn't, would pin the playhead at
        the first segment: the run then pauses ``transcode_ahead_s`` past it and the
        viewer catching up waits for every segment)."""
        return await self.runs.segment(
            partial(self.job, ctx, rendition, end_index=until),
            self.key(ctx, rendition),
            index,
            priority=priority,
            session=session or None,
        )

    def forget(self, session: str) -> None:
        self.runs.forget(session)

    def leave(self, ctx: MediaContext, rendition: VideoRendition, session: str) -> None:
        """``session`` switched away from ``rendition`` (ABR): its run no longer has this
        viewer to work ahead for, so it pauses and gives its slot to the new rendition."""
        self.runs.forget(session or None, self.key(ctx, rendition))
