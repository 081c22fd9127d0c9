"""``probe_header``: what a player reads before its first frame gives the same streams
and keyframe index as the full probe, on files shaped like real ones (B-frames, moov at
either end, Matroska cues), and reads only the start of the data."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from ferrite.errors import ProbeError
from ferrite.hls.timeline import reorder_delay
from ferrite.library.probe import probe
from ferrite.library.probe.header import probe_header
from tests import media

CLIP = media.Clip(duration=6, gop=2, bframes=3)


class CountingFile(io.FileIO):
    """A file that records the byte spans read."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "rb")
        self.spans: list[tuple[int, int]] = []

    def read(self, size: int = -1, /) -> bytes:
        at = self.tell()
        data = super().read(size)
        self.spans.append((at, at + len(data)))
        return data


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("header")
    fast = media.make_clip(folder / "fast.mp4", CLIP)
    tail = media.make_clip(folder / "tail.mp4", media.Clip(**{**CLIP.__dict__, "faststart": False}))
    mkv = folder / "movie.mkv"
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-y", "-i", str(fast), "-c", "copy", str(mkv)], check=True
    )
    return {"fast": fast, "tail": tail, "mkv": mkv}


@pytest.mark.parametrize("kind", ["fast", "tail", "mkv"])
def test_the_header_gives_the_full_probes_streams_and_keyframes(
    clips: dict[str, Path], kind: str
) -> None:
    path = clips[kind]
    full = probe(path)
    with CountingFile(path) as f:
        header = probe_header(path, file=f)
        spans = f.spans
    info = header.info
    assert [(s.type, s.codec) for s in info.streams] == [(s.type, s.codec) for s in full.streams]
    assert info.container == full.container
    assert info.duration_s == pytest.approx(full.duration_s, abs=0.05)
    assert info.keyframes is not None
    assert full.keyframes is not None
    assert info.keyframes.pts == full.keyframes.pts
    assert info.keyframes.end_s == pytest.approx(full.keyframes.end_s, abs=0.05)
    assert info.subtitles == ()  # the full probe's
    assert len(header.first_gop_pts) == 1  # the first keyframe only
    # Nothing of the data between the first GOP and the index at the end was read.
    size = path.stat().st_size
    middle = range(size // 3, size * 2 // 3)
    assert not any(a < middle.stop and b > middle.start for a, b in spans if b > a)


def test_without_the_index_matroska_is_read_from_its_start_alone(
    clips: dict[str, Path],
) -> None:
    """What decides direct play of a torrent's Matroska file before its cues (at the
    end) arrive: the same streams and duration, no keyframes, nothing read past the
    start of the file (this clip is small: the demuxer's first reads are a tenth of it)."""
    path = clips["mkv"]
    full = probe(path)
    with CountingFile(path) as f:
        info = probe_header(path, file=f, index=False).info
        spans = f.spans
    assert [(s.type, s.codec) for s in info.streams] == [(s.type, s.codec) for s in full.streams]
    assert info.duration_s == pytest.approx(full.duration_s, abs=0.05)
    assert info.keyframes is None
    assert max(b for _, b in spans) < path.stat().st_size // 2
    with CountingFile(path) as f:
        probe_header(path, file=f)  # with the index: the cues at the end
        assert max(b for _, b in f.spans) == path.stat().st_size


def test_the_first_gop_gives_the_reorder_delay(clips: dict[str, Path]) -> None:
    path = clips["fast"]
    with path.open("rb") as f:
        gop = probe_header(path, file=f, first_gop=True).first_gop_pts
    assert len(gop) == 2 * 24  # 2 s at 24 fps, in decode order
    assert reorder_delay(gop) > 0  # B-frames: presentation after decode


def test_not_a_media_file_is_a_probe_error(tmp_path: Path) -> None:
    path = tmp_path / "fake.mp4"
    path.write_bytes(bytes(range(256)) * 64)
    with path.open("rb") as f, pytest.raises(ProbeError, match=r"fake\.mp4"):
        probe_header(path, file=f)
