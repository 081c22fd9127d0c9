"""A small sample library, generated on this machine, so a new user sees something at once.

Clips come from FFmpeg's own synthetic sources (no download): a couple of movies and a
two-season show, with a second audio language, embedded and sidecar subtitles, and one
10-bit HEVC file so transcoding has something to do.
"""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ferrite.errors import MediaError
from ferrite.transcode.binary import ffmpeg_path

log = logging.getLogger(__name__)

SUBTITLES = """1
00:00:01,000 --> 00:00:04,000
Welcome to Ferrite.

2
00:00:05,000 --> 00:00:09,000
This library was generated on your machine.

3
00:00:10,000 --> 00:00:14,000
Add your own folders from the admin page.
"""


@dataclass(frozen=True)
class DemoClip:
    path: str
    source: str  # lavfi video source
    seconds: int = 30
    hevc10: bool = False
    subtitles: bool = False


CLIPS = (
    DemoClip("Movies/Test Pattern (2024)/Test Pattern (2024).mp4", "testsrc2", 60, subtitles=True),
    DemoClip("Movies/Color Bars (2019)/Color Bars (2019).mkv", "smptehdbars", 30, hevc10=True),
    DemoClip("Movies/Rgb Test (2021)/Rgb Test (2021).mp4", "testsrc", 30),
    DemoClip("Shows/Automata/Season 01/Automata - S01E01 - Rule 30.mp4", "cellauto=rule=30", 20),
    DemoClip("Shows/Automata/Season 01/Automata - S01E02 - Rule 90.mp4", "cellauto=rule=90", 20),
    DemoClip("Shows/Automata/Season 02/Automata - S02E01 - Rule 110.mp4", "cellauto=rule=110", 20),
)


def generate(root: Path, *, size: str = "1280x720", ffmpeg: str | None = None) -> list[Path]:
    """Write the demo clips under ``root`` (skipping ones already there); return the
    library folders (``Movies``, ``Shows``)."""
    exe = ffmpeg or ffmpeg_path()
    for clip in CLIPS:
        out = root / clip.path
        if out.exists() and out.stat().st_size > 0:
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(".partial-" + out.name)
        log.info("generating demo clip %s", out.name)
        src = f"{clip.source}{':' if '=' in clip.source else '='}size={size}:rate=24"
        cmd = [
            exe,
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-y",
            "-f",
            "lavfi",
            "-i",
            src,
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=330:sample_rate=48000",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=550:sample_rate=48000",
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-map",
            "2:a",
            "-t",
            str(clip.seconds),
            "-metadata:s:a:0",
            "language=eng",
            "-metadata:s:a:0",
            "title=English",
            "-metadata:s:a:1",
            "language=fre",
            "-metadata:s:a:1",
            "title=Français",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
        ]
        if clip.hevc10:
            cmd += [
                "-vf",
                "format=yuv420p10le",
                "-c:v",
                "libx265",
                "-preset",
                "ultrafast",
                "-x265-params",
                "keyint=48:min-keyint=48:scenecut=0:log-level=error",
                "-tag:v",
                "hvc1",
                "-color_primaries",
                "bt2020",
                "-color_trc",
                "smpte2084",
                "-colorspace",
                "bt2020nc",
            ]
        else:
            cmd += [
                "-vf",
                "format=yuv420p",
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-crf",
                "23",
                "-x264-params",
                "keyint=48:min-keyint=48:scenecut=0",
            ]
        if out.suffix == ".mp4":
            cmd += ["-movflags", "+faststart"]
        cmd += ["-f", "matroska" if out.suffix == ".mkv" else "mp4", str(tmp)]
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=600)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            tmp.unlink(missing_ok=True)
            stderr = getattr(exc, "stderr", b"") or b""
            raise MediaError(
                f"could not generate demo clip {out.name}: {stderr.decode(errors='replace')[-300:]}"
            ) from exc
        tmp.rename(out)
        if clip.subtitles:
            out.with_suffix(".en.srt").write_text(SUBTITLES, encoding="utf-8")
    return [root / "Movies", root / "Shows"]
