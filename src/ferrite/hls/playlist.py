"""HLS playlists (RFC 8216) rendered from plain values; pure, returns ``str``.

Playlists are rendered once per file and rendition set and served as cached bytes, so
nothing here is on the hot path, but everything here is on the wire: tags, attribute
quoting and versions follow RFC 8216 exactly (``tests/hls/m3u8lint.py`` checks it).

- Media playlists are VOD, complete before the first segment exists, with
  ``EXT-X-INDEPENDENT-SEGMENTS`` and ``EXT-X-ENDLIST``. ``EXT-X-VERSION`` is the minimum
  the features need (RFC 8216 §7): 6 with ``EXT-X-MAP`` (fMP4), else 3 (decimal EXTINF).
- EXTINF values are printed in microseconds, rounded on the running total rather than per
  segment, so they add up to the plan's duration however many segments there are.
- The master playlist lists audio and subtitle renditions as ``EXT-X-MEDIA`` and every
  variant with BANDWIDTH, AVERAGE-BANDWIDTH, CODECS (including its audio group's codecs),
  RESOLUTION, FRAME-RATE and VIDEO-RANGE.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ferrite.media.codecs import VideoRange

#: EXTINF precision: microseconds keep any sum within one frame of the real duration.
_EXTINF_SCALE = 1_000_000
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_LANGUAGE = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*")


@dataclass(frozen=True, slots=True)
class Bandwidth:
    """Bits per second: ``peak`` for BANDWIDTH, ``average`` for AVERAGE-BANDWIDTH."""

    peak: int
    average: int


@dataclass(frozen=True, slots=True)
class AudioRendition:
    """One ``EXT-X-MEDIA TYPE=AUDIO`` entry.

    ``bandwidth``/``average_bandwidth`` are this rendition's own bits per second; the master
    playlist adds the largest of its group to every variant that uses the group, because a
    variant's BANDWIDTH covers the whole playable combination (RFC 8216 §4.3.4.2).
    """

    group_id: str
    name: str
    uri: str
    codecs: str  # RFC 6381, e.g. "mp4a.40.2"
    language: str | None = None  # BCP 47 ("en", "pt-BR"); anything else is left out
    channels: int | None = None
    default: bool = False
    autoselect: bool = True
    bandwidth: int = 0
    average_bandwidth: int = 0


@dataclass(frozen=True, slots=True)
class SubtitleRendition:
    """One ``EXT-X-MEDIA TYPE=SUBTITLES`` entry (a WebVTT media playlist)."""

    group_id: str
    name: str
    uri: str
    language: str | None = None
    default: bool = False
    autoselect: bool = True
    forced: bool = False


@dataclass(frozen=True, slots=True)
class Variant:
    """One ``EXT-X-STREAM-INF``: a video rendition (or an audio-only one) and its groups.

    ``codecs`` names the media of ``uri`` itself (e.g. ``"avc1.640028"``, or
    ``"avc1.640028,mp4a.40.2"`` for muxed TS); the audio group's codecs are appended.
    ``bandwidth``/``average_bandwidth`` likewise cover ``uri`` alone.
    """

    uri: str
    bandwidth: int
    average_bandwidth: int
    codecs: str
    resolution: tuple[int, int] | None = None
    frame_rate: float | None = None
    video_range: VideoRange | None = None  # None leaves the attribute out (audio-only)
    audio_group: str | None = None
    subtitles_group: str | None = None


# -- media playlists ------------------------------------------------------------------


def render_media_playlist(
    durations: Sequence[float],
    segment_uri: Callable[[int], str],
    *,
    map_uri: str | None = None,
) -> str:
    """A VOD media playlist.

    ``durations`` are the segments' durations in seconds (``plan.durations()``);
    ``segment_uri(i)`` returns segment ``i``'s URI, relative to the playlist (``"3.m4s"``,
    ``"3.m4s?t=TOKEN"``; a template works as ``"{}.m4s".format``); ``map_uri`` is the
    fMP4 init segment (``EXT-X-MAP``), None for TS and WebVTT.
    """
    if not durations:
        raise ValueError("a media playlist needs at least one segment")
    extinf = _extinf_micros(durations)
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{6 if map_uri is not None else 3}",
        f"#EXT-X-TARGETDURATION:{_target_duration(extinf)}",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    if map_uri is not None:
        lines.append(f'#EXT-X-MAP:URI="{_quoted_uri(map_uri)}"')
    for i, micros in enumerate(extinf):
        lines.append(f"#EXTINF:{micros // _EXTINF_SCALE}.{micros % _EXTINF_SCALE:06d},")
        lines.append(_line_uri(segment_uri(i)))
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def target_duration(durations: Sequence[float]) -> int:
    """EXT-X-TARGETDURATION for these segments: every EXTINF rounded to the nearest
    integer is at most this (RFC 8216 §4.3.3.1)."""
    return _target_duration(_extinf_micros(durations))


def _extinf_micros(durations: Sequence[float]) -> list[int]:
    # Round the running total, not each duration: per-segment rounding error would add up
    # over thousands of segments, the running total's never exceeds half a microsecond.
    out: list[int] = []
    total = 0.0
    prev = 0
    for d in durations:
        if not (math.isfinite(d) and d > 0):
            raise ValueError(f"segment durations must be positive, not {d}")
        total += d
        edge = round(total * _EXTINF_SCALE)
        out.append(edge - prev)
        prev = edge
    return out


def _target_duration(extinf_micros: Iterable[int]) -> int:
    # Half up, as the RFC's "rounded to the nearest integer" is read by validators.
    longest = max(extinf_micros)
    return max(1, (longest + _EXTINF_SCALE // 2) // _EXTINF_SCALE)


# -- master playlist ------------------------------------------------------------------


def render_master_playlist(
    variants: Sequence[Variant],
    audio: Sequence[AudioRendition] = (),
    subtitles: Sequence[SubtitleRendition] = (),
    *,
    version: int | None = None,
) -> str:
    """The master playlist: renditions first, then variants in the order given (players
    start with the first). ``version`` adds ``EXT-X-VERSION``; nothing here needs one.

    Within a group, NAMEs are made unique and only the first DEFAULT=YES is kept, as
    RFC 8216 §4.3.4.1.1 requires; AUTOSELECT is YES wherever DEFAULT or FORCED is.
    Raises ``ValueError`` when a variant names a group that has no renditions.
    """
    if not variants:
        raise ValueError("a master playlist needs at least one variant")
    lines = ["#EXTM3U"]
    if version is not None:
        lines.append(f"#EXT-X-VERSION:{version}")
    lines.append("#EXT-X-INDEPENDENT-SEGMENTS")

    audio_groups: dict[str, list[AudioRendition]] = {}
    for a in audio:
        audio_groups.setdefault(_group_id(a.group_id), []).append(a)
    subtitle_groups: dict[str, list[SubtitleRendition]] = {}
    for s in subtitles:
        subtitle_groups.setdefault(_group_id(s.group_id), []).append(s)

    for group_id, members in audio_groups.items():
        names = _unique_names([m.name for m in members], "Audio")
        defaults = _first_default([m.default for m in members])
        for m, name, default in zip(members, names, defaults, strict=True):
            attrs = [("TYPE", "AUDIO"), ("GROUP-ID", _q(group_id)), ("NAME", _q(name))]
            attrs += _language(m.language)
            attrs += _yes_no("DEFAULT", default)
            attrs += _yes_no("AUTOSELECT", m.autoselect or default)
            if m.channels is not None:
                attrs.append(("CHANNELS", _q(str(m.channels))))
            attrs.append(("URI", _q(_quoted_uri(m.uri))))
            lines.append(_tag("EXT-X-MEDIA", attrs))

    for group_id, subs in subtitle_groups.items():
        names = _unique_names([s.name for s in subs], "Subtitles")
        defaults = _first_default([s.default for s in subs])
        for s, name, default in zip(subs, names, defaults, strict=True):
            attrs = [("TYPE", "SUBTITLES"), ("GROUP-ID", _q(group_id)), ("NAME", _q(name))]
            attrs += _language(s.language)
            attrs += _yes_no("DEFAULT", default)
            attrs += _yes_no("AUTOSELECT", s.autoselect or default or s.forced)
            attrs += _yes_no("FORCED", s.forced)
            attrs.append(("URI", _q(_quoted_uri(s.uri))))
            lines.append(_tag("EXT-X-MEDIA", attrs))

    for v in variants:
        codecs = _split_codecs(v.codecs)
        peak, average = v.bandwidth, v.average_bandwidth
        attrs_tail: list[tuple[str, str]] = []
        if v.audio_group is not None:
            group = audio_groups.get(v.audio_group)
            if not group:
                raise ValueError(
                    f"variant {v.uri!r} names audio group {v.audio_group!r}, "
                    "which has no renditions"
                )
            for a in group:
                codecs += [c for c in _split_codecs(a.codecs) if c not in codecs]
            peak += max(a.bandwidth for a in group)
            average += max(a.average_bandwidth for a in group)
            attrs_tail.append(("AUDIO", _q(_group_id(v.audio_group))))
        if v.subtitles_group is not None:
            if v.subtitles_group not in subtitle_groups:
                raise ValueError(
                    f"variant {v.uri!r} names subtitles group "
                    f"{v.subtitles_group!r}, which has no renditions"
                )
            attrs_tail.append(("SUBTITLES", _q(_group_id(v.subtitles_group))))
        if not codecs:
            raise ValueError(f"variant {v.uri!r} has no CODECS")
        if peak <= 0 or average <= 0:
            raise ValueError(f"variant {v.uri!r} needs a positive bandwidth")
        # BANDWIDTH is a peak: never below the average, whatever estimate produced them.
        attrs = [
            ("BANDWIDTH", str(max(peak, average))),
            ("AVERAGE-BANDWIDTH", str(average)),
            ("CODECS", _q(",".join(codecs))),
        ]
        if v.resolution is not None:
            w, h = v.resolution
            if w <= 0 or h <= 0:
                raise ValueError(f"variant {v.uri!r} has resolution {w}x{h}")
            attrs.append(("RESOLUTION", f"{w}x{h}"))
        if v.frame_rate is not None and math.isfinite(v.frame_rate) and v.frame_rate > 0:
            attrs.append(("FRAME-RATE", f"{v.frame_rate:.3f}"))
        if v.video_range is not None:
            attrs.append(("VIDEO-RANGE", v.video_range))
        lines.append(_tag("EXT-X-STREAM-INF", attrs + attrs_tail))
        lines.append(_line_uri(v.uri))
    return "\n".join(lines) + "\n"


# -- bandwidth ------------------------------------------------------------------------


def measure_bandwidth(sizes: Sequence[int], durations: Sequence[float]) -> Bandwidth:
    """BANDWIDTH and AVERAGE-BANDWIDTH from real segment sizes (bytes) and durations (s).

    The peak is RFC 8216's "peak segment bit rate": the highest bit rate of any run of
    consecutive segments lasting between 0.5 and 1.5 target durations.
    """
    if len(sizes) != len(durations) or not sizes:
        raise ValueError("need one size per segment duration, and at least one segment")
    total_bits = 8 * sum(sizes)
    total_s = math.fsum(durations)
    average = math.ceil(total_bits / total_s)
    target = target_duration(durations)
    low, high = 0.5 * target, 1.5 * target
    peak = 0
    n = len(sizes)
    for i in range(n):
        bits, seconds = 0, 0.0
        for j in range(i, n):
            bits += 8 * sizes[j]
            seconds += durations[j]
            if seconds > high:
                break
            if seconds >= low:
                peak = max(peak, math.ceil(bits / seconds))
    return Bandwidth(peak=max(peak, average), average=average)


def estimate_bandwidth(
    bitrate: int,
    *,
    peak_bitrate: int | None = None,
    peak_factor: float = 2.0,
    overhead: float = 0.05,
) -> Bandwidth:
    """BANDWIDTH and AVERAGE-BANDWIDTH before any segment exists.

    ``bitrate`` is the nominal (average) media bit rate; ``peak_bitrate`` the encoder's cap
    (``-maxrate``) when there is one, else ``peak_factor`` times the average: a VBR source
    commonly peaks at twice its average over a few seconds, and an estimate that is too
    high only makes a player pick a lower rung, while one too low makes it stall.
    ``overhead`` covers container bytes (fMP4 ~2%, MPEG-TS ~5-8%).
    """
    if bitrate <= 0:
        raise ValueError(f"bitrate must be positive, not {bitrate}")
    scale = 1 + overhead
    average = math.ceil(bitrate * scale)
    peak = math.ceil((peak_bitrate if peak_bitrate is not None else bitrate * peak_factor) * scale)
    return Bandwidth(peak=max(peak, average), average=average)


# -- attribute values -----------------------------------------------------------------


def _tag(name: str, attrs: Sequence[tuple[str, str]]) -> str:
    return f"#{name}:" + ",".join(f"{k}={v}" for k, v in attrs)


def _q(value: str) -> str:
    return f'"{value}"'


def _clean_text(value: str) -> str:
    # Quoted strings cannot hold '"', CR or LF (RFC 8216 §4.2); names come from file tags.
    value = _CONTROL.sub(" ", value.replace('"', "'"))
    return " ".join(value.split())


def _quoted_uri(uri: str) -> str:
    if not uri or any(c in uri for c in '"\r\n') or uri != uri.strip():
        raise ValueError(f"URI {uri!r} cannot be written in a playlist (percent-encode it)")
    return uri


def _line_uri(uri: str) -> str:
    if not uri or "\n" in uri or "\r" in uri or uri.startswith("#") or uri != uri.strip():
        raise ValueError(f"URI {uri!r} cannot be written as a playlist line")
    return uri


def _group_id(group_id: str) -> str:
    if not group_id or _clean_text(group_id) != group_id:
        raise ValueError(f"GROUP-ID {group_id!r} must be plain text without quotes")
    return group_id


def _unique_names(names: Sequence[str], fallback: str) -> list[str]:
    # Two untitled English tracks are both "English"; NAME must be unique within a group.
    out: list[str] = []
    seen: set[str] = set()
    for i, raw in enumerate(names, 1):
        base = _clean_text(raw) or f"{fallback} {i}"
        name, n = base, 2
        while name in seen:
            name, n = f"{base} ({n})", n + 1
        seen.add(name)
        out.append(name)
    return out


def _first_default(flags: Sequence[bool]) -> list[bool]:
    first = next((i for i, f in enumerate(flags) if f), None)
    return [i == first for i in range(len(flags))]


def _yes_no(name: str, value: bool) -> list[tuple[str, str]]:
    return [(name, "YES" if value else "NO")]


def _language(language: str | None) -> list[tuple[str, str]]:
    if language is None or not _LANGUAGE.fullmatch(language):
        return []
    return [("LANGUAGE", _q(language))]


def _split_codecs(codecs: str) -> list[str]:
    out: list[str] = []
    for c in (part.strip() for part in codecs.split(",")):
        if c and c not in out:
            if _clean_text(c) != c or " " in c:
                raise ValueError(f"codec {c!r} is not an RFC 6381 codec string")
            out.append(c)
    return out
