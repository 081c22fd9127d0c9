"""A scanned file as playback needs it: its source, facts, plans and cues, loaded once per
file (``ferrite.playback.contexts`` keeps them) and handed to every layer that cuts,
packages or transcodes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from ferrite.hls.plan import Plans, SegmentPlan
from ferrite.hls.pool import SourceFile
from ferrite.hls.renditions import AudioTrack, TextTrack, VideoRendition
from ferrite.hls.timeline import timeline_offset
from ferrite.hls.webvtt import CueIndex
from ferrite.media.info import MediaInfo, SubtitleTrack

Rendition = VideoRendition | AudioTrack


@dataclass
class MediaContext:
    """Everything about one scanned file that playback needs, loaded once per file."""

    file_id: int
    source: SourceFile
    fingerprint: str
    info: MediaInfo
    plans: Plans
    #: subtitle track id -> cues indexed for range lookup (text tracks only)
    cues: dict[int, CueIndex] = field(default_factory=dict)
    #: (subtitle track id, track) of every subtitle track, embedded and sidecar
    subtitle_tracks: tuple[tuple[int, SubtitleTrack], ...] = ()
    #: audio stream index -> its plan (the audio plan, or a shorter one: see plan_of)
    _track_plans: dict[int, SegmentPlan] = field(default_factory=dict, repr=False)

    @cached_property
    def offset(self) -> int:
        return timeline_offset(self.info.start_time_s)

    def plan_of(self, rendition: Rendition | TextTrack) -> SegmentPlan:
        """The plan a rendition is cut on: the copy plan for the video stream copy, the
        grid for everything else (see ``ferrite.hls.plan``)."""
        if isinstance(rendition, VideoRendition):
            return self.plans.for_video(rendition.copy)
        if isinstance(rendition, AudioTrack) and rendition.stream.duration_s:
            # An audio track that ends before the picture ends its playlist there too.
            index = rendition.stream.index
            plan = self._track_plans.get(index)
            if plan is None:
                end = self.info.start_time_s + rendition.stream.duration_s
                plan = self._track_plans[index] = self.plans.audio.ending_at(end)
            return plan
        return self.plans.audio
