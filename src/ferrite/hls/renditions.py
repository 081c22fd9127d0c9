"""Which renditions a playback session offers, and the master playlist that lists them.

Pure: from the probed file, the device decision, the profile and the ladder to a
:class:`StreamSet`. Renditions are always demuxed — video-only segments, one audio
rendition per audio track, one WebVTT rendition per text subtitle track — in fMP4 or
MPEG-TS. That one layout serves every client (hls.js, Safari, TVs), lets a viewer switch
audio without a new video run, and keeps each segment a function of one stream.

Rendition ids are URL-safe and session-independent (``copy``, ``720p``, ``a1-copy``,
``a2-aac-2ch``, ``s7``), so segment cache keys built from them are shared by every viewer
of the file.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from ferrite.errors import NoPlayableMethod
from ferrite.hls.playlist import (
    AudioRendition as AudioEntry,
)
from ferrite.hls.playlist import (
    SubtitleRendition as SubtitleEntry,
)
from ferrite.hls.playlist import (
    Variant,
    estimate_bandwidth,
    render_master_playlist,
)
from ferrite.media.codecs import UnsupportedCodec, codec_string, video_range
from ferrite.media.info import MediaInfo, Stream, SubtitleTrack
from ferrite.media.languages import bcp47, display_name
from ferrite.playback.decision import (
    AudioPlan,
    Decision,
    PlaybackRequest,
    SubtitleChoice,
    decide,
)
from ferrite.playback.profiles import DeviceProfile
from ferrite.transcode.ladder import AudioRendition, Rung, audio_rendition, build_ladder

Container = Literal["fmp4", "ts"]


@dataclass(frozen=True, slots=True)
class VideoRendition:
    id: str  # "copy" or a rung id ("720p")
    stream: Stream
    rung: Rung
    tone_map: bool = False
    deinterlace: bool = False
    burn: SubtitleChoice | None = None  # a subtitle drawn into the picture

    @property
    def copy(self) -> bool:
        return self.rung.copy

    @property
    def codecs(self) -> str:
        return self.rung.codec_string or codec_string(self.stream)

    @property
    def spec(self) -> tuple[object, ...]:
        """Everything that makes this rendition's bytes what they are (for cache keys)."""
        r = self.rung
        burn = (self.burn.stream_index, self.burn.path) if self.burn else None
        return (
            "v",
            self.stream.index,
            r.id,
            r.codec,
            r.width,
            r.height,
            r.bitrate,
            r.maxrate,
            self.tone_map,
            self.deinterlace,
            burn,
        )


@dataclass(frozen=True, slots=True)
class AudioTrack:
    id: str  # "a<stream index>-<rendition>", e.g. "a1-copy", "a2-aac-2ch"
    stream: Stream
    rendition: AudioRendition
    default: bool

    @property
    def copy(self) -> bool:
        return self.rendition.copy

    @property
    def codecs(self) -> str:
        return self.rendition.codec_string or codec_string(self.stream)

    @property
    def name(self) -> str:
        lang = display_name(self.stream.language)
        parts = [p for p in (self.stream.title, lang) if p]
        label = " — ".join(dict.fromkeys(parts)) or f"Track {self.stream.index}"
        return f"{label} ({self.rendition.channels} ch)"

    @property
    def spec(self) -> tuple[object, ...]:
        r = self.rendition
        return ("a", self.stream.index, r.id, r.codec, r.channels, r.bitrate)


@dataclass(frozen=True, slots=True)
class TextTrack:
    id: str  # "s<subtitle track id>"
    track_id: int
    track: SubtitleTrack

    @property
    def name(self) -> str:
        lang = display_name(self.track.language)
        parts = [p for p in (self.track.title, lang) if p]
        name = " — ".join(dict.fromkeys(parts)) or f"Subtitles {self.track_id}"
        return name + (" (forced)" if self.track.forced else "")


@dataclass(frozen=True, slots=True)
class StreamSet:
    container: Container
    video: tuple[VideoRendition, ...]
    audio: tuple[AudioTrack, ...]
    subtitles: tuple[TextTrack, ...]

    def video_by_id(self, rid: str) -> VideoRendition | None:
        return next((v for v in self.video if v.id == rid), None)

    def audio_by_id(self, rid: str) -> AudioTrack | None:
        return next((a for a in self.audio if a.id == rid), None)

    def subtitle_by_id(self, rid: str) -> TextTrack | None:
        return next((s for s in self.subtitles if s.id == rid), None)

    @property
    def segment_ext(self) -> str:
        return "m4s" if self.container == "fmp4" else "ts"


def build_stream_set(
    info: MediaInfo,
    decision: Decision,
    profile: DeviceProfile,
    request: PlaybackRequest,
    subtitle_tracks: tuple[tuple[int, SubtitleTrack], ...] = (),
    *,
    segment_copy_refusal: str | None = None,
) -> StreamSet:
    """The renditions of one playback; ``subtitle_tracks`` pairs database ids with tracks.
    ``segment_copy_refusal`` as for :func:`~ferrite.playback.decision.decide`."""
    if decision.segment_container is None or decision.video is None:
        raise NoPlayableMethod("this playback is not HLS")
    video_stream = next(s for s in info.streams if s.index == decision.video.stream_index)
    ladder = build_ladder(
        video_stream,
        decision,
        profile,
        max_bitrate=request.max_bitrate,
        max_height=request.max_height,
    )
    burn = decision.subtitle.choice if decision.burn_subtitle and decision.subtitle else None
    video = tuple(
        VideoRendition(
            rung.id,
            video_stream,
            rung,
            tone_map=decision.video.tone_map and not rung.copy,
            deinterlace=decision.video.deinterlace and not rung.copy,
            burn=None if rung.copy else burn,
        )
        for rung in ladder
    )
    audio = _audio_tracks(info, decision, profile, request, segment_copy_refusal)
    texts: tuple[TextTrack, ...] = ()
    if decision.subtitle is None or decision.subtitle.delivery != "burn":
        texts = tuple(TextTrack(f"s{tid}", tid, t) for tid, t in subtitle_tracks if t.is_text)
    return StreamSet(decision.segment_container, video, audio, texts)


def _audio_tracks(
    info: MediaInfo,
    decision: Decision,
    profile: DeviceProfile,
    request: PlaybackRequest,
    segment_copy_refusal: str | None,
) -> tuple[AudioTrack, ...]:
    """Every audio track as a rendition, each copied when the device decodes it."""
    chosen = decision.audio.stream_index if decision.audio else None
    tracks: list[AudioTrack] = []
    for stream in info.audio:
        plan: AudioPlan | None = decision.audio
        if stream.index != chosen or plan is None:
            try:
                other = replace(request, audio_stream=stream.index)
                refusal = segment_copy_refusal
                plan = decide(info, profile, other, segment_copy_refusal=refusal).audio
            except NoPlayableMethod:
                continue
            if plan is None:
                continue
            if plan.action == "copy" and not _copyable(stream, decision.segment_container):
                continue
        rendition = audio_rendition(plan)
        if rendition.copy and not _has_codec_string(stream):
            continue  # a CODECS attribute we can't write would break the master playlist
        tracks.append(
            AudioTrack(f"a{stream.index}-{rendition.id}", stream, rendition, stream.index == chosen)
        )
    return tuple(tracks)


def _has_codec_string(stream: Stream) -> bool:
    try:
        codec_string(stream)
    except UnsupportedCodec:
        return False
    return True


def _copyable(stream: Stream, container: str | None) -> bool:
    if container == "ts":
        return stream.codec in {"aac", "ac3", "eac3", "mp3"}
    return stream.codec in {"aac", "ac3", "eac3", "opus", "flac", "mp3", "alac"}


def master_playlist(
    streams: StreamSet,
    *,
    video_uri: str = "v/{id}.m3u8",
    audio_uri: str = "a/{id}.m3u8",
    subtitle_uri: str = "s/{id}.m3u8",
    measured: dict[str, tuple[int, int]] | None = None,
) -> str:
    """Render the master playlist. ``measured`` maps a rendition id to (peak, average)
    bits/s from real segment sizes; otherwise bandwidth is estimated from bitrates."""
    measured = measured or {}
    audio_entries = [
        AudioEntry(
            group_id="aud",
            name=a.name,
            uri=audio_uri.format(id=a.id),
            codecs=a.codecs,
            language=bcp47(a.stream.language),
            channels=a.rendition.channels,
            default=a.default,
            bandwidth=_bw(a.id, a.rendition.bitrate, measured, 1.2)[0],
            average_bandwidth=_bw(a.id, a.rendition.bitrate, measured, 1.2)[1],
        )
        for a in streams.audio
    ]
    subtitle_entries = [
        SubtitleEntry(
            group_id="subs",
            name=s.name,
            uri=subtitle_uri.format(id=s.id),
            language=bcp47(s.track.language),
            default=False,
            forced=s.track.forced,
        )
        for s in streams.subtitles
    ]
    variants = []
    for v in streams.video:
        nominal = v.rung.bitrate or v.stream.bitrate or 2_000_000
        peak, avg = _bw(v.id, nominal, measured, (v.rung.maxrate or nominal * 2) / nominal)
        fps = float(v.rung.frame_rate) if v.rung.frame_rate else None
        variants.append(
            Variant(
                uri=video_uri.format(id=v.id),
                bandwidth=peak,
                average_bandwidth=avg,
                codecs=v.codecs,
                resolution=(v.rung.width, v.rung.height),
                frame_rate=fps,
                video_range="SDR" if not v.copy else video_range(v.stream),
                audio_group="aud" if audio_entries else None,
                subtitles_group="subs" if subtitle_entries else None,
            )
        )
    return render_master_playlist(variants, audio_entries, subtitle_entries)


def _bw(
    rid: str, nominal: int, measured: dict[str, tuple[int, int]], peak_factor: float
) -> tuple[int, int]:
    if rid in measured:
        return measured[rid]
    est = estimate_bandwidth(nominal, peak_factor=max(peak_factor, 1.0))
    return est.peak, est.average
