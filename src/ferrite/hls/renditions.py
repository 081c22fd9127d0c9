"""The renditions a playback session offers, and the master playlist that lists them.

Pure records: which renditions a session gets is playback's policy
(:func:`ferrite.playback.streamset.build_stream_set`, from the probed file, the device
decision, the profile and the ladder); this module holds the :class:`StreamSet` it
returns and renders it as a master playlist. Renditions are always demuxed — video-only
segments, one audio rendition per audio track, one WebVTT rendition per text subtitle
track — in fMP4 or MPEG-TS. That one layout serves every client (hls.js, Safari, TVs),
lets a viewer switch audio without a new video run, and keeps each segment a function of
one stream.

Rendition ids are URL-safe and session-independent (``copy``, ``720p``, ``a1-copy``,
``a2-aac-2ch``, ``s7``), so segment cache keys built from them are shared by every viewer
of the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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
from ferrite.media.codecs import codec_string, video_range
from ferrite.media.info import Stream, SubtitleTrack
from ferrite.media.languages import bcp47, display_name
from ferrite.media.renditions import AudioRendition, Rung
from ferrite.media.subtitles import SubtitleChoice

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


def master_playlist(
    streams: StreamSet,
    *,
    video_uri: str = "v/{id}.m3u8",
    audio_uri: str = "a/{id}.m3u8",
    subtitle_uri: str = "s/{id}.m3u8",
    measured: dict[str, tuple[int, int]] | None = None,
    keys: dict[tuple[str, str], str] | None = None,
) -> str:
    """Render the master playlist. ``measured`` maps a rendition id to (peak, average)
    bits/s from real segment sizes; otherwise bandwidth is estimated from bitrates.
    The URI templates get ``{id}`` and ``{key}``: ``keys[(kind, id)]`` (a content key,
    ``ferrite.hls.content_keys``; empty when not given)."""
    measured = measured or {}
    keys = keys or {}
    audio_entries = [
        AudioEntry(
            group_id="aud",
            name=a.name,
            uri=audio_uri.format(id=a.id, key=keys.get(("a", a.id), "")),
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
            uri=subtitle_uri.format(id=s.id, key=keys.get(("s", s.id), "")),
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
                uri=video_uri.format(id=v.id, key=keys.get(("v", v.id), "")),
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
