"""Content keys: the parts of a segment URL that say which bytes it names, so a cache in
front of the nodes (nginx, docs/scale-out.md) can key on them and leave the token out.

A rendition's URIs in the master playlist read ``c/{fv}/{spec}/{kind}/{rid}.m3u8`` (below
``/api/playback/{sid}/t/{token}/``): ``fv`` names the file version (file id, content
fingerprint, mtime, size) and ``spec`` what makes the rendition's bytes what they are (its
spec, the container and the segment plan it is cut on). ``kind/rid`` stay the readable
rendition ids (``v/720p``, ``a/a1-copy``, ``s/s4``), so players and tools that match on
``v/720p.m3u8`` keep working. Two viewers of one file version and rendition get the same
URL tail, hence one cache entry; a changed file or rendition gets new keys (no stale
bytes). Pure.
"""

from __future__ import annotations

import hashlib

from ferrite.hls.renditions import AudioTrack, StreamSet, TextTrack, VideoRendition

__all__ = ["file_version_key", "spec_key", "stream_keys"]


def _short(text: str, n: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def file_version_key(file_id: int, fingerprint: str, mtime_ns: int, size: int) -> str:
    """12 hex digits naming one version of one file (a rescan that changes it changes
    the key)."""
    return _short(f"{file_id}:{fingerprint}:{mtime_ns}:{size}", 12)


def text_track_spec(track: TextTrack) -> tuple[object, ...]:
    """What decides a WebVTT rendition's bytes (its cues come with the file version)."""
    t = track.track
    return ("s", track.track_id, t.codec, t.stream_index, t.path, t.language, t.forced)


def spec_key(spec: tuple[object, ...], container: str, plan_key: str) -> str:
    """8 hex digits naming a rendition's production spec, as cut on ``plan_key``."""
    return _short(f"{spec!r}|{container}|{plan_key}", 8)


def stream_keys(
    streams: StreamSet, plan_key_of: dict[tuple[str, str], str]
) -> dict[tuple[str, str], str]:
    """``(kind, rid) -> spec key`` for every rendition of ``streams``; ``plan_key_of``
    gives each rendition's segment plan key (``SegmentPlan.key``)."""
    out: dict[tuple[str, str], str] = {}
    entries: list[tuple[str, VideoRendition | AudioTrack | TextTrack, tuple[object, ...]]] = [
        *(("v", v, v.spec) for v in streams.video),
        *(("a", a, a.spec) for a in streams.audio),
        *(("s", s, text_track_spec(s)) for s in streams.subtitles),
    ]
    for kind, rendition, spec in entries:
        key = (kind, rendition.id)
        out[key] = spec_key(spec, streams.container, plan_key_of[key])
    return out
