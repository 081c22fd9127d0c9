"""The benchmark's generated library: a few clips of synthetic 720p H.264/AAC video.

One clip is encoded from FFmpeg's ``testsrc2`` + ``sine`` (x264 ``veryfast``, CRF 23,
2 s GOPs without scene-cut keyframes: ~2.5 Mb/s at 720p, a realistic size for the
segment path) and the others are stream-copied from it with their own title metadata, so
each has its own bytes and fingerprint (separate cache entries, like separate films)
without paying for more encodes. Files are kept and reused: a later run with the same
parameters finds them and generates nothing.
"""

from __future__ import annotations

import logging
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ferrite.errors import MediaError
from ferrite.transcode.binary import ffmpeg_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LibrarySpec:
    clips: int = 3
    seconds: int = 120
    width: int = 1280
    height: int = 720
    fps: int = 24
    gop_s: int = 2

    @property
    def key(self) -> str:
        return f"{self.height}p{self.fps}-{self.seconds}s-gop{self.gop_s}"


def _run(argv: list[str]) -> None:
    try:
        subprocess.run(argv, check=True, capture_output=True, timeout=1800)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        stderr = getattr(exc, "stderr", b"") or b""
        raise MediaError(
            f"could not generate benchmark media: {stderr.decode(errors='replace')[-400:]}"
        ) from exc


def clip_path(root: Path, spec: LibrarySpec, n: int) -> Path:
    title = f"Bench Clip {n + 1} (2024)"
    return root / spec.key / title / f"{title}.mp4"


def generate(root: Path, spec: LibrarySpec = LibrarySpec()) -> tuple[Path, float]:
    """Make sure ``spec``'s clips exist under ``root``; return the library folder and the
    seconds spent generating (0 when everything was there)."""
    exe = ffmpeg_path()
    folder = root / spec.key
    started = time.perf_counter()
    made = False
    base = clip_path(root, spec, 0)
    for n in range(spec.clips):
        out = clip_path(root, spec, n)
        if out.exists() and out.stat().st_size > 0:
            continue
        made = True
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(".partial-" + out.name)
        common = ["-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
        if n == 0:
            log.info("generating benchmark clip %s", out)
            gop = spec.fps * spec.gop_s
            argv = [
                exe,
                *common,
                "-f",
                "lavfi",
                "-i",
                f"testsrc2=size={spec.width}x{spec.height}:rate={spec.fps}",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=48000",
                "-t",
                str(spec.seconds),
                "-vf",
                "format=yuv420p",
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-crf",
                "23",
                "-x264-params",
                f"keyint={gop}:min-keyint={gop}:scenecut=0",
                "-c:a",
                "aac",
                "-b:a",
                "128k",
                "-ac",
                "2",
            ]
        else:
            argv = [exe, *common, "-i", str(base), "-map", "0", "-c", "copy"]
        argv += ["-metadata", f"title=Bench Clip {n + 1}", "-movflags", "+faststart"]
        argv += ["-f", "mp4", str(tmp)]
        _run(argv)
        tmp.rename(out)
    return folder, (time.perf_counter() - started) if made else 0.0
