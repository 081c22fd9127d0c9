"""Just enough HLS playlist parsing for the benchmark's viewers (pure).

A master playlist gives the variant URIs (``EXT-X-STREAM-INF`` + the next line) and the
audio renditions (``EXT-X-MEDIA:TYPE=AUDIO`` with ``URI=``); a media playlist gives the
init segment (``EXT-X-MAP``) and every segment's URI with its start and end time.
URIs are returned as written (relative); the driver resolves them against the playlist's
URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ATTR = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')


def attributes(text: str) -> dict[str, str]:
    """``KEY=VALUE,KEY="quoted, value"`` -> dict (quotes removed)."""
    return {k: v.strip('"') for k, v in _ATTR.findall(text)}


@dataclass(frozen=True, slots=True)
class Variant:
    uri: str
    bandwidth: int
    resolution: str
    audio_group: str | None


@dataclass(frozen=True, slots=True)
class AudioRendition:
    uri: str
    group: str
    name: str
    default: bool


@dataclass(frozen=True, slots=True)
class Master:
    variants: tuple[Variant, ...]
    audio: tuple[AudioRendition, ...]


def parse_master(text: str) -> Master:
    variants: list[Variant] = []
    audio: list[AudioRendition] = []
    pending: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#EXT-X-STREAM-INF:"):
            pending = attributes(line.partition(":")[2])
        elif line.startswith("#EXT-X-MEDIA:"):
            a = attributes(line.partition(":")[2])
            if a.get("TYPE") == "AUDIO" and "URI" in a:
                audio.append(
                    AudioRendition(
                        uri=a["URI"],
                        group=a.get("GROUP-ID", ""),
                        name=a.get("NAME", ""),
                        default=a.get("DEFAULT") == "YES",
                    )
                )
        elif not line.startswith("#") and pending is not None:
            variants.append(
                Variant(
                    uri=line,
                    bandwidth=int(pending.get("BANDWIDTH", "0") or 0),
                    resolution=pending.get("RESOLUTION", ""),
                    audio_group=pending.get("AUDIO"),
                )
            )
            pending = None
    if not variants:
        raise ValueError("no variant in the master playlist")
    return Master(tuple(variants), tuple(audio))


@dataclass(frozen=True, slots=True)
class Segment:
    uri: str
    start_s: float  # playlist time (0 = the first segment's start)
    end_s: float


@dataclass(frozen=True, slots=True)
class MediaPlaylist:
    init_uri: str | None
    segments: tuple[Segment, ...]

    @property
    def duration_s(self) -> float:
        return self.segments[-1].end_s if self.segments else 0.0

    def index_at(self, position_s: float) -> int:
        """The index of the segment that holds ``position_s`` (clamped to the last)."""
        lo, hi = 0, len(self.segments) - 1
        while lo < hi:  # first segment whose end is beyond the position
            mid = (lo + hi) // 2
            if self.segments[mid].end_s > position_s:
                hi = mid
            else:
                lo = mid + 1
        return lo


def parse_media(text: str) -> MediaPlaylist:
    init: str | None = None
    segments: list[Segment] = []
    t = 0.0
    duration: float | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#EXT-X-MAP:"):
            init = attributes(line.partition(":")[2]).get("URI")
        elif line.startswith("#EXTINF:"):
            duration = float(line.partition(":")[2].partition(",")[0])
        elif not line.startswith("#"):
            if duration is None:
                raise ValueError(f"segment {line!r} without #EXTINF")
            segments.append(Segment(line, t, t + duration))
            t += duration
            duration = None
    if not segments:
        raise ValueError("no segment in the media playlist")
    return MediaPlaylist(init, tuple(segments))
