"""Play a whole HLS presentation the way a strict client would, and check what it got.

``check_presentation`` fetches the master, lints it, then for every rendition the master
names (video variants, audio and subtitle renditions) fetches and lints the media
playlist and fetches *every* segment. Audio and video segments are demuxed one by one
(init + segment, as a player appends them) to check that each lasts its ``EXTINF`` within
one frame and starts where the previous one ended; then FFmpeg reads each media playlist
as an HLS client and decodes every frame, with any warning (FFmpeg reports a failed
segment only as a warning) failing the check.
"""

from __future__ import annotations

import io
import itertools
import re
import statistics
import subprocess
from dataclasses import dataclass, field
from urllib.parse import urljoin

import av
import httpx

from tests import media
from tests.hls.m3u8lint import lint_master, lint_media


@dataclass
class Rendition:
    kind: str  # "video" | "audio" | "subtitles"
    uri: str  # absolute URL of the media playlist
    extinf: list[float] = field(default_factory=list)
    frames: int = 0  # decoded by FFmpeg reading the playlist
    #: per segment: (first presentation time, end of the last sample), seconds
    spans: list[tuple[float, float]] = field(default_factory=list)


@dataclass
class Presentation:
    master: str
    renditions: list[Rendition]

    def of_kind(self, kind: str) -> list[Rendition]:
        return [r for r in self.renditions if r.kind == kind]


def _attr(line: str, name: str) -> str | None:
    m = re.search(rf'{name}=("([^"]*)"|[^,]*)', line)
    if m is None:
        return None
    return m.group(2) if m.group(2) is not None else m.group(1)


def rendition_uris(master_url: str, master: str) -> list[tuple[str, str]]:
    """(kind, absolute URL) of every media playlist a master names."""
    out: list[tuple[str, str]] = []
    lines = master.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("#EXT-X-MEDIA:"):
            kind = (_attr(line, "TYPE") or "").lower()
            uri = _attr(line, "URI")
            if uri:
                out.append((kind, urljoin(master_url, uri)))
        elif line.startswith("#EXT-X-STREAM-INF:"):
            out.append(("video", urljoin(master_url, lines[i + 1].strip())))
    return out


def _segment_span(init: bytes, data: bytes, kind: str) -> tuple[float, float, float]:
    """(first pts, end of last sample, longest sample) of one segment, in seconds."""
    with av.open(io.BytesIO(init + data)) as c:
        stream = c.streams.video[0] if kind == "video" else c.streams.audio[0]
        tb = stream.time_base
        assert tb is not None
        times: list[tuple[float, float]] = []
        for p in c.demux(stream):
            if p.pts is None:
                continue
            times.append((float(p.pts * tb), float((p.duration or 0) * tb)))
    assert times, f"a {kind} segment without {kind} samples"
    times.sort()
    starts = [t for t, _ in times]
    deltas = [b - a for a, b in itertools.pairwise(starts)]
    typical = statistics.median(deltas) if deltas else times[-1][1]
    last = times[-1][1] or typical
    return starts[0], starts[-1] + last, max([*deltas, last])


def check_rendition(client: httpx.Client, kind: str, url: str) -> Rendition:
    r = client.get(url)
    assert r.status_code == 200, (url, r.text)
    assert lint_media(r.text) == [], url
    rendition = Rendition(kind, url)
    init = b""
    uris: list[str] = []
    for line in r.text.splitlines():
        if line.startswith("#EXT-X-MAP:"):
            got = client.get(urljoin(url, _attr(line, "URI") or ""))
            assert got.status_code == 200, got.text
            init = got.content
        elif line.startswith("#EXTINF:"):
            rendition.extinf.append(float(line[8:].split(",")[0]))
        elif line and not line.startswith("#"):
            uris.append(line)
    assert len(uris) == len(rendition.extinf) >= 1
    longest = 0.0
    for i, uri in enumerate(uris):
        seg = client.get(urljoin(url, uri))
        assert seg.status_code == 200, (uri, seg.status_code, seg.text[:300])
        if kind == "subtitles":
            assert seg.text.startswith("WEBVTT"), uri
            continue
        start, end, frame = _segment_span(init, seg.content, kind)
        rendition.spans.append((start, end))
        longest = max(longest, frame)
        # Each segment lasts its EXTINF within one frame (plus the playlist's 1 ms
        # rounding); the first one also carries what precedes the first boundary (the
        # AAC encoder's priming frame, open-GOP pictures shown before the keyframe).
        slack = frame + 0.002 + (frame if i == 0 else 0.0)
        error = (end - start) - rendition.extinf[i]
        if i == len(uris) - 1:
            error = max(error, 0.0)  # a stream may end early (the others go on), never late
        assert abs(error) <= slack, (
            f"{uri}: {end - start:.3f} s of media ({start:.4f}..{end:.4f}, frame {frame:.4f}), "
            f"EXTINF {rendition.extinf[i]}"
        )
    for i in range(1, len(rendition.spans)):
        gap = rendition.spans[i][0] - rendition.spans[i - 1][1]
        assert abs(gap) <= longest + 0.002, f"segment {i} starts {gap:+.3f} s off the previous end"
    if kind != "subtitles":
        rendition.frames = decode_playlist(url)
    return rendition


def decode_playlist(url: str) -> int:
    """FFmpeg as the HLS client: decode every frame of a media playlist; fail on any
    warning (a segment that failed to load or decode)."""
    cmd = [
        media.FFMPEG,
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "warning",
        "-allowed_extensions",
        "ALL",
        "-i",
        url,
        "-map",
        "0",
        "-f",
        "framecrc",
        "-",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    problems = [line for line in out.stderr.splitlines() if line.strip()]
    assert problems == [], f"FFmpeg reading {url}: {problems[:10]}"
    return sum(1 for line in out.stdout.splitlines() if line and not line.startswith("#"))


def check_presentation(client: httpx.Client, master_url: str) -> Presentation:
    r = client.get(master_url)
    assert r.status_code == 200, r.text
    assert lint_master(r.text) == []
    renditions = [check_rendition(client, k, u) for k, u in rendition_uris(master_url, r.text)]
    return Presentation(r.text, renditions)
