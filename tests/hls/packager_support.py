"""Helpers for the packager tests: plans from a demux pass, sources, decoding, a TS reader."""

from __future__ import annotations

import subprocess
from array import array
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from ferrite.hls.demux import time_base
from ferrite.hls.packager import SourceFile, Span, spans
from tests.media import FFMPEG

TARGET_S = 2


def source(path: Path) -> SourceFile:
    st = path.stat()
    return SourceFile(path, st.st_size, st.st_mtime_ns)


def plan(path: Path, target: int = TARGET_S) -> list[Span]:
    """Segment spans from a demux pass: a boundary at the first keyframe >= previous + 2 s."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        tb = time_base(v)
        keys = sorted(p.pts for p in c.demux(v) if p.is_keyframe and p.pts is not None)
    starts: list[Fraction] = []
    for k in keys:
        t = k * tb
        if not starts or t >= starts[-1] + target:
            starts.append(t)
    return spans(starts)


def start_time(path: Path) -> float:
    with av.open(str(path)) as c:
        return (c.start_time or 0) / 1_000_000


def video_pts(path: Path, stream_index: int | None = None) -> list[Fraction]:
    """Presentation times (s) of every decoded video frame, in output order."""
    with av.open(str(path)) as c:
        s = c.streams.video[0] if stream_index is None else c.streams[stream_index]
        tb = time_base(s)
        return [f.pts * tb for f in c.decode(s) if f.pts is not None]


def packets(path: Path, stream_index: int) -> list[tuple[int, bytes]]:
    with av.open(str(path)) as c:
        s = c.streams[stream_index]
        return [(p.pts, bytes(p)) for p in c.demux(s) if p.size and p.pts is not None]


@dataclass
class Pcm:
    first: Fraction  # time of the first sample (s)
    samples: array  # type: ignore[type-arg]  # interleaved float32
    channels: int

    @property
    def frames(self) -> int:
        return len(self.samples) // self.channels

    def channel(self, i: int) -> list[float]:
        return list(self.samples[i :: self.channels])


def decode_audio(path: Path, stream_index: int, layout: str = "stereo") -> Pcm:
    """Decoded audio of one stream as interleaved float32 at 48 kHz in ``layout``."""
    resampler = av.AudioResampler(format="flt", layout=layout, rate=48000)
    data = array("f")
    first: Fraction | None = None
    channels = 0
    with av.open(str(path)) as c:
        s = c.streams[stream_index]
        for frame in c.decode(s):
            assert isinstance(frame, av.AudioFrame)
            for out in resampler.resample(frame):
                if first is None and out.pts is not None and out.time_base is not None:
                    first = out.pts * Fraction(out.time_base)
                channels = out.layout.nb_channels
                data.extend(array("f", bytes(out.planes[0]))[: out.samples * channels])
    assert first is not None
    return Pcm(first, data, channels)


def ffmpeg_play(playlist: Path, *maps: str) -> tuple[list[str], str]:
    """Play a playlist like an HLS client: ffmpeg decodes it; returns framecrc lines, stderr."""
    args = [FFMPEG, "-hide_banner", "-loglevel", "error", "-i", str(playlist)]
    for m in maps:
        args += ["-map", m]
    args += ["-f", "framecrc", "-"]
    r = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln and not ln.startswith("#")]
    return lines, r.stderr


def write_playlist(
    directory: Path, segments: list[bytes], spans_: list[Span], *, init: bytes | None, ext: str
) -> Path:
    """A VOD media playlist over segment files (fMP4 with EXT-X-MAP, or TS)."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-TARGETDURATION:3", "#EXT-X-PLAYLIST-TYPE:VOD"]
    lines += ["#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-INDEPENDENT-SEGMENTS"]
    if init is not None:
        (directory / "init.mp4").write_bytes(init)
        lines.append('#EXT-X-MAP:URI="init.mp4"')
    for sp, data in zip(spans_, segments, strict=True):
        name = f"{sp.index}.{ext}"
        (directory / name).write_bytes(data)
        lines += ["#EXTINF:2.000,", name]
    lines.append("#EXT-X-ENDLIST")
    playlist = directory / "playlist.m3u8"
    playlist.write_text("\n".join(lines) + "\n")
    return playlist


# --- MPEG-TS reading, for checks FFmpeg would paper over ----------------------------------


@dataclass
class TsPacket:
    pid: int
    pusi: bool
    cc: int
    has_payload: bool
    discontinuity: bool
    payload: bytes


def ts_packets(data: bytes) -> list[TsPacket]:
    assert len(data) % 188 == 0, "not whole TS packets"
    out = []
    for i in range(0, len(data), 188):
        p = data[i : i + 188]
        assert p[0] == 0x47, f"lost sync at packet {i // 188}"
        pid = ((p[1] & 0x1F) << 8) | p[2]
        afc = (p[3] >> 4) & 3
        pos = 4
        disc = False
        if afc & 2:
            length = p[4]
            if length:
                disc = bool(p[5] & 0x80)
            pos = 5 + length
        out.append(TsPacket(pid, bool(p[1] & 0x40), p[3] & 0x0F, bool(afc & 1), disc, p[pos:]))
    return out


def pes_pts(payload: bytes) -> int | None:
    """PTS of a PES header at the start of ``payload`` (33 bits), if any."""
    if payload[:3] != b"\x00\x00\x01" or not payload[7] & 0x80:
        return None
    b = payload[9:14]
    return ((b[0] >> 1) & 0x07) << 30 | b[1] << 22 | (b[2] >> 1) << 15 | b[3] << 7 | (b[4] >> 1)
