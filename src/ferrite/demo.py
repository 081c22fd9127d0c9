"""A small sample library, generated on this machine, so a new user sees something at once.

Clips come from FFmpeg's own synthetic sources (no download): a couple of movies and a
two-season show, with a second audio language, embedded and sidecar subtitles, and one
10-bit HEVC file so transcoding has something to do.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from ferrite.errors import MediaError
from ferrite.transcode.binary import ffmpeg_path
from ferrite.transcode.child import spawn

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


# Tag the frames themselves: ffmpeg takes colour properties from frames, not -color_trc.
_HDR10_TAGS = "setparams=color_primaries=bt2020:color_trc=smpte2084:colorspace=bt2020nc"


def command(clip: DemoClip, out: Path, *, ffmpeg: str, size: str = "1280x720") -> list[str]:
    """The ffmpeg command that writes ``clip`` to ``out`` (pure)."""
    src = f"{clip.source}{':' if '=' in clip.source else '='}size={size}:rate=24"
    cmd = [
        ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
        "-f", "lavfi", "-i", src,
        "-f", "lavfi", "-i", "sine=frequency=330:sample_rate=48000",
        "-f", "lavfi", "-i", "sine=frequency=550:sample_rate=48000",
        "-map", "0:v", "-map", "1:a", "-map", "2:a", "-t", str(clip.seconds),
        "-metadata:s:a:0", "language=eng", "-metadata:s:a:0", "title=English",
        "-metadata:s:a:1", "language=fre", "-metadata:s:a:1", "title=Français",
        "-c:a", "aac", "-b:a", "128k", "-ac", "2",
    ]  # fmt: skip
    if clip.hevc10:
        cmd += [
            "-vf", f"format=yuv420p10le,{_HDR10_TAGS}",
            "-c:v", "libx265", "-preset", "ultrafast",
            "-x265-params", "keyint=48:min-keyint=48:scenecut=0:log-level=error", "-tag:v", "hvc1",
        ]  # fmt: skip
    else:
        cmd += [
            "-vf", "format=yuv420p", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
            "-x264-params", "keyint=48:min-keyint=48:scenecut=0",
        ]  # fmt: skip
    if out.suffix == ".mp4":
        cmd += ["-movflags", "+faststart"]
    return [*cmd, "-f", "matroska" if out.suffix == ".mkv" else "mp4", str(out)]


async def generate_async(
    root: Path, *, size: str = "1280x720", ffmpeg: str | None = None
) -> list[Path]:
    """Write the demo clips under ``root`` (skipping ones already there); return the
    library folders (``Movies``, ``Shows``). Cancelling it kills the ffmpeg at work."""
    exe = ffmpeg or ffmpeg_path()
    for clip in CLIPS:
        out = root / clip.path
        if out.exists() and out.stat().st_size > 0:
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(".partial-" + out.name)
        log.info("generating demo clip %s", out.name)
        try:
            # Like every child: no descriptor of the server, and dies with it.
            proc = await spawn(command(clip, tmp, ffmpeg=exe, size=size), stdout=False)
        except OSError as exc:
            raise MediaError(f"could not run ffmpeg for the demo library: {exc}") from exc
        try:
            assert proc.stderr is not None
            stderr = await proc.stderr.read()
            await proc.wait()
        except BaseException:  # cancelled (shutdown): leave no ffmpeg and no partial file
            proc.kill()
            await proc.wait()
            tmp.unlink(missing_ok=True)
            raise
        finally:
            proc.close_pipes()
        if proc.returncode != 0:
            tmp.unlink(missing_ok=True)
            tail = stderr.decode(errors="replace")[-300:]
            raise MediaError(f"could not generate demo clip {out.name}: {tail}")
        tmp.rename(out)
        if clip.subtitles:
            out.with_suffix(".en.srt").write_text(SUBTITLES, encoding="utf-8")
    return [root / "Movies", root / "Shows"]


def generate(root: Path, *, size: str = "1280x720", ffmpeg: str | None = None) -> list[Path]:
    """Blocking :func:`generate_async`, for the command line."""
    return asyncio.run(generate_async(root, size=size, ffmpeg=ffmpeg))
