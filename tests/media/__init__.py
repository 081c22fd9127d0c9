"""Test media, made in code with the ffmpeg binary from the imageio-ffmpeg wheel.

Nothing is downloaded: every clip is generated from lavfi sources (``testsrc2`` video,
``sine`` audio) plus subtitle files written here, so tests know exactly what is inside.
``make_clip`` is one flexible builder; ``build_library`` lays out a real movies/shows
library with the corner cases the scanner must handle.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import imageio_ffmpeg

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()

#: Cues written into every generated subtitle track (start s, end s, text).
CUES: tuple[tuple[float, float, str], ...] = (
    (0.5, 1.5, "Hello there"),
    (2.0, 3.25, "Second line\nwith a break"),
    (3.5, 3.9, "Last cue"),
)


@dataclass(frozen=True)
class Audio:
    codec: str = "aac"
    channels: int = 2
    language: str | None = "eng"
    title: str | None = None
    frequency: int = 440


@dataclass(frozen=True)
class Sub:
    codec: str = "srt"  # ffmpeg encoder: srt, ass, mov_text, webvtt
    language: str | None = "eng"
    title: str | None = None
    default: bool = False
    forced: bool = False


@dataclass(frozen=True)
class Clip:
    """What to generate. Defaults: 4 s of 320x180 H.264 at 24 fps, 1 s GOPs, AAC stereo."""

    duration: float = 4.0
    size: tuple[int, int] = (320, 180)
    fps: int = 24
    vcodec: str | None = "libx264"  # None: audio only
    pix_fmt: str = "yuv420p"
    gop: float = 1.0  # seconds between keyframes
    bframes: int | None = None  # None: encoder default
    audio: tuple[Audio, ...] = (Audio(),)
    subs: tuple[Sub, ...] = ()
    hdr: str | None = None  # "hdr10" | "hlg"
    faststart: bool = True  # MP4: moov at the start (False: index at the end)
    ts_offset: float = 0.0  # MPEG-TS: shift the timeline (e.g. 36000 s)
    vfr: bool = False  # drop frames in a pattern to make variable frame rate
    interlaced: bool = False
    video_bitrate: str | None = None
    extra: tuple[str, ...] = field(default=())


def write_srt(path: Path, cues: tuple[tuple[float, float, str], ...] = CUES) -> Path:
    def ts(t: float) -> str:
        ms = round(t * 1000)
        return f"{ms // 3600000:02}:{ms // 60000 % 60:02}:{ms // 1000 % 60:02},{ms % 1000:03}"

    blocks = [f"{i}\n{ts(a)} --> {ts(b)}\n{text}\n" for i, (a, b, text) in enumerate(cues, 1)]
    path.write_text("\n".join(blocks), encoding="utf-8")
    return path


def make_clip(path: Path, clip: Clip = Clip()) -> Path:
    """Generate ``path`` (container from its extension) as described by ``clip``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = clip.size
    args = [FFMPEG, "-hide_banner", "-loglevel", "error", "-y"]
    inputs = 0
    maps: list[str] = []
    codec_args: list[str] = []
    if clip.vcodec:
        args += [
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={w}x{h}:rate={clip.fps}:duration={clip.duration}",
        ]
        maps += ["-map", f"{inputs}:v"]
        inputs += 1
        gop = max(1, round(clip.gop * clip.fps))
        codec_args += ["-c:v", clip.vcodec, "-pix_fmt", clip.pix_fmt, "-g", str(gop)]
        if clip.vcodec in ("libx264", "libx265"):
            codec_args += ["-preset", "ultrafast" if clip.bframes is None else "veryfast"]
            # Fixed GOPs, so tests know exactly where the keyframes are.
            if clip.vcodec == "libx264":
                codec_args += ["-x264-params", f"keyint={gop}:min-keyint={gop}:scenecut=0"]
            else:
                codec_args += [
                    "-x265-params",
                    f"keyint={gop}:min-keyint={gop}:scenecut=0:log-level=error",
                ]
            if clip.bframes is not None:
                codec_args += ["-bf", str(clip.bframes)]
        if clip.vcodec == "libvpx-vp9":
            codec_args += ["-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k"]
        if clip.video_bitrate:
            codec_args += ["-b:v", clip.video_bitrate]
        if clip.hdr:
            trc = "smpte2084" if clip.hdr == "hdr10" else "arib-std-b67"
            codec_args += [
                "-color_primaries",
                "bt2020",
                "-color_trc",
                trc,
                "-colorspace",
                "bt2020nc",
            ]
        filters = []
        if clip.vfr:
            # 24 fps for the first half of each second, 12 fps for the other half.
            filters.append("select='if(lt(mod(n\\,24)\\,12)\\,1\\,not(mod(n\\,2)))'")
            codec_args += ["-fps_mode", "vfr"]
        if clip.interlaced:
            filters.append("interlace")
            codec_args += ["-flags", "+ildct+ilme", "-field_order", "tt"]
        if filters:
            codec_args += ["-vf", ",".join(filters)]
    for i, a in enumerate(clip.audio):
        args += [
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency={a.frequency}:sample_rate=48000:duration={clip.duration}",
        ]
        maps += ["-map", f"{inputs}:a"]
        inputs += 1
        codec_args += [f"-c:a:{i}", a.codec, f"-ac:a:{i}", str(a.channels)]
        if a.codec == "libopus":
            codec_args += [f"-b:a:{i}", "64k"]
        if a.language:
            codec_args += [f"-metadata:s:a:{i}", f"language={a.language}"]
        if a.title:
            codec_args += [f"-metadata:s:a:{i}", f"title={a.title}"]
    if clip.subs:
        srt = write_srt(path.with_name(path.stem + ".gen.srt"))
        for i, s in enumerate(clip.subs):
            args += ["-i", str(srt)]
            maps += ["-map", f"{inputs}:s"]
            inputs += 1
            codec_args += [f"-c:s:{i}", s.codec]
            if s.language:
                codec_args += [f"-metadata:s:s:{i}", f"language={s.language}"]
            if s.title:
                codec_args += [f"-metadata:s:s:{i}", f"title={s.title}"]
            disposition = "+".join(
                d for d, on in (("default", s.default), ("forced", s.forced)) if on
            )
            codec_args += [f"-disposition:s:{i}", disposition or "0"]
    out_args: list[str] = []
    if path.suffix in (".mp4", ".m4v", ".mov") and clip.faststart:
        out_args += ["-movflags", "+faststart"]
    if path.suffix == ".ts" and clip.ts_offset:
        out_args += ["-output_ts_offset", str(clip.ts_offset)]
    cmd = [*args, *maps, *codec_args, *clip.extra, *out_args, "-t", str(clip.duration), str(path)]
    subprocess.run(cmd, check=True, capture_output=True)
    if clip.subs:
        srt.unlink()
    return path


def corrupt_copy(src: Path, dst: Path, *, at: float = 0.5, length: int = 4096) -> Path:
    """Copy ``src`` with ``length`` bytes of garbage written ``at`` a fraction of its size."""
    shutil.copyfile(src, dst)
    size = dst.stat().st_size
    with dst.open("r+b") as f:
        f.seek(int(size * at))
        f.write(bytes((i * 37 + 11) % 256 for i in range(length)))
    return dst


def truncated_copy(src: Path, dst: Path, *, keep: float = 0.3) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst


# --- the standard corpus -------------------------------------------------------------

H264_AAC = Clip()
HEVC10_MULTI = Clip(
    vcodec="libx265",
    pix_fmt="yuv420p10le",
    hdr="hdr10",
    audio=(Audio("ac3", 6, "eng", "Surround"), Audio("aac", 2, "fre", "Stereo", 660)),
    subs=(Sub("srt", "eng", default=True), Sub("ass", "spa", "Signs", forced=True)),
)
VP9_OPUS = Clip(vcodec="libvpx-vp9", audio=(Audio("libopus", 2, "jpn"),))
TS_OFFSET = Clip(ts_offset=36000.0, audio=(Audio("aac", 2, "eng"),))
MOOV_AT_END = Clip(faststart=False)
VFR = Clip(vfr=True)


# --- shapes of real libraries (what users' files look like, not clean 2 s GOPs) ------------
#: x264's defaults (keyint 250, no scene cuts in a test pattern): a keyframe every 10.4 s.
GOP10_MP4 = Clip(duration=64.0, size=(426, 240), fps=24, gop=250 / 24)
#: Keyframe times of the irregular-GOP clips: x264's default keyint 250 / min-keyint 25
#: with 3 B-frames, and keyframes where scene cuts would put them.
IRREGULAR_TIMES = "8.4,11.6,23.2,40.2,45.5,55.0"


def irregular_gops(duration: float, times: str, *, open_gop: bool) -> Clip:
    """854x480 H.264 at 24 fps with 3 B-frames and keyframes at ``times`` (and where
    keyint 250 forces one). ``open_gop``: keyframes after the first are non-IDR
    recovery-point I pictures (forced-idr 0 with open-gop), as on many Blu-ray sources."""
    params = "keyint=250:min-keyint=25:scenecut=0:bframes=3" + (":open-gop=1" if open_gop else "")
    return Clip(
        duration=duration,
        size=(854, 480),
        fps=24,
        gop=250 / 24,
        bframes=3,
        extra=(
            *("-x264-params", params, "-force_key_frames", times),
            *("-forced-idr", "0" if open_gop else "1"),
        ),
    )


#: Closed GOPs (every keyframe an IDR) at irregular times: stream-copyable.
IRREGULAR_GOP_MKV = irregular_gops(60.0, IRREGULAR_TIMES, open_gop=False)
#: Open GOPs: not stream-copyable into segments.
OPEN_GOP_MKV = irregular_gops(30.0, "8.4,11.6,23.2", open_gop=True)
#: HEVC Main 10, a keyframe every 10 s, AC-3 5.1 English + AAC French, SRT + ASS.
HEVC10_GOP10 = Clip(
    duration=24.0,
    size=(640, 360),
    fps=24,
    vcodec="libx265",
    pix_fmt="yuv420p10le",
    gop=10.0,
    audio=(Audio("ac3", 6, "eng", "Surround"), Audio("aac", 2, "fre", "Stereo", 660)),
    subs=(Sub("srt", "eng"), Sub("ass", "fre", "Signs")),
)
VFR_MP4 = Clip(duration=12.0, size=(640, 360), vfr=True, gop=5.0)
UHD_MP4 = Clip(duration=4.0, size=(3840, 2160), fps=24, gop=2.0)
MPEG2_TS = Clip(
    duration=12.0,
    size=(640, 360),
    fps=25,
    vcodec="mpeg2video",
    gop=0.48,
    ts_offset=36000.0,
    audio=(Audio("mp2", 2, "eng"),),
)
#: One keyframe for 40 s: nothing to cut copy segments at.
ONE_KEYFRAME = Clip(duration=40.0, size=(426, 240), fps=24, gop=100.0)


def build_library(root: Path) -> dict[str, Path]:
    """Lay out a movies + shows library with every corner case; return named paths."""
    movies = root / "movies"
    shows = root / "shows"
    out = {
        "h264": make_clip(movies / "Big Test Movie (2020)" / "Big Test Movie (2020).mp4", H264_AAC),
        "hevc": make_clip(
            movies / "Amélie Ten Bit (2001)" / "Amélie Ten Bit (2001).mkv", HEVC10_MULTI
        ),
        "vp9": make_clip(movies / "Web Movie (2015)" / "Web Movie (2015).webm", VP9_OPUS),
        "ts": make_clip(movies / "Broadcast (1999)" / "Broadcast (1999).ts", TS_OFFSET),
        "moov_end": make_clip(movies / "Late Index (2010)" / "Late Index (2010).mp4", MOOV_AT_END),
        "vfr": make_clip(movies / "Wobbly (2012).mp4", VFR),
        "ep1": make_clip(
            shows / "Test Show" / "Season 01" / "Test Show - S01E01 - Pilot.mp4", H264_AAC
        ),
        "ep2": make_clip(shows / "Test Show" / "Season 01" / "Test.Show.S01E02.720p.mkv", H264_AAC),
        "ep3": make_clip(shows / "Test Show" / "Season 02" / "Test Show 2x01.mp4", H264_AAC),
        "special": make_clip(
            shows / "Test Show" / "Specials" / "Test Show - S00E01 - Extra.mp4", H264_AAC
        ),
    }
    out["sidecar"] = write_srt(movies / "Big Test Movie (2020)" / "Big Test Movie (2020).en.srt")
    # Garbage over the file's head: the container can't even be opened.
    out["corrupt"] = corrupt_copy(
        out["h264"], _mkparent(movies / "Corrupt (2001)" / "Corrupt (2001).mp4"), at=0.0, length=64
    )
    out["truncated"] = truncated_copy(
        out["hevc"], _mkparent(movies / "Truncated (2002)" / "Truncated (2002).mkv")
    )
    out["zero"] = _touch(movies / "Empty (2003)" / "Empty (2003).mp4")
    out["text"] = _text(movies / "Not Video (2004)" / "Not Video (2004).mkv")
    return out


def _mkparent(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _touch(path: Path) -> Path:
    _mkparent(path).write_bytes(b"")
    return path


def _text(path: Path) -> Path:
    _mkparent(path).write_text("this is not a video, just text pretending to be one\n" * 20)
    return path


# --- appended by the library tests ----------------------------------------------------
# HDR signalling that survives into the bitstream: newer ffmpeg takes colour properties
# from the frames, so -color_trc alone (as in HEVC10_MULTI) leaves the transfer unset;
# setparams tags the frames themselves.
def _hdr_params(trc: str) -> tuple[str, ...]:
    return ("-vf", f"setparams=color_primaries=bt2020:color_trc={trc}:colorspace=bt2020nc")


HEVC_HDR10 = Clip(
    duration=2.0,
    vcodec="libx265",
    pix_fmt="yuv420p10le",
    hdr="hdr10",
    extra=_hdr_params("smpte2084"),
)
HEVC_HLG = Clip(
    duration=2.0,
    vcodec="libx265",
    pix_fmt="yuv420p10le",
    hdr="hlg",
    extra=_hdr_params("arib-std-b67"),
)
# Dolby Vision as MP4 signals it in the sample entry (dvh1); no RPU data, which is all a
# prober needs to see.
HEVC_DV_TAG = Clip(
    duration=2.0,
    vcodec="libx265",
    pix_fmt="yuv420p10le",
    hdr="hdr10",
    extra=(*_hdr_params("smpte2084"), "-tag:v", "dvh1"),
)
H264_BFRAMES = Clip(bframes=3)
MOV_TEXT = Clip(duration=4.0, subs=(Sub("mov_text", "fre", "Français", default=True),))
WEBVTT_ASS_MKV = Clip(subs=(Sub("webvtt", "ger"), Sub("ass", "eng", "Styled")))
INTERLACED = Clip(duration=2.0, interlaced=True)
AUDIO_ONLY = Clip(duration=2.0, vcodec=None)


# --- appended by the packager tests (tests/hls/test_packager*.py) ---------------------
# Three 2 s segments each (1 s GOPs); B-frames where the codec has them.
PKG_H264_BFRAMES = Clip(duration=6.0, bframes=2)
PKG_MOOV_AT_END = Clip(duration=6.0, faststart=False)
PKG_HEVC10_AC3 = Clip(
    duration=6.0,
    vcodec="libx265",
    pix_fmt="yuv420p10le",
    hdr="hdr10",
    bframes=2,
    audio=(Audio("ac3", 6, "eng", "Surround"),),
)
PKG_TS_OFFSET = Clip(duration=6.0, ts_offset=36000.0, bframes=2)
PKG_VP9_OPUS = Clip(duration=6.0, vcodec="libvpx-vp9", audio=(Audio("libopus", 2, "jpn"),))
PKG_LONG = Clip(duration=20.0)
PKG_AV1_FLAC = Clip(duration=6.0, vcodec="libsvtav1", audio=(Audio("flac", 2),))
PKG_H264_EAC3 = Clip(duration=6.0, audio=(Audio("eac3", 6),))
