"""What a session plays, kept on ``Session.context``: an HLS stream set over a file's
shared context, or one progressive ffmpeg stream per request (direct play keeps nothing)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ferrite.hls.context import MediaContext
from ferrite.hls.renditions import StreamSet
from ferrite.media.renditions import Rung
from ferrite.playback.decision_records import Decision
from ferrite.playback.profiles import DeviceProfile
from ferrite.transcode.progressive import ProgressiveJob


@dataclass
class HlsPlayback:
    """What an HLS session streams: the shared file context and its renditions."""

    ctx: MediaContext
    streams: StreamSet
    profile: DeviceProfile
    decision: Decision
    #: the content keys of its URLs (``ferrite.hls.content_keys``): the file version's,
    #: and each rendition's spec key by (kind, rid)
    fv: str = ""
    keys: dict[tuple[str, str], str] = field(default_factory=dict)
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
