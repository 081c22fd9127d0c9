"""transcode_argv against real ffmpeg, on tiny generated clips (320x180, a few seconds).

What a user would notice is checked on the decoded output: every segment starts with a
keyframe exactly at its plan boundary on the source timeline, a run started at segment k
produces the same segment k as a run started at 0, HDR comes out as 8-bit BT.709, burned
subtitles are in the picture at the right times, and a hardware encoder that can't open
falls back to software.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import pytest

from ferrite.media.info import Stream
from ferrite.media.renditions import Rung
from ferrite.transcode.argv import (
    SegmentLine,
    parse_segment_line,
    software_fallback_argv,
    transcode_argv,
)
from ferrite.transcode.encoders import should_fall_back
from ferrite.transcode.job import AudioJob, BurnIn, TranscodeJob, VideoJob
from tests import media
from tests.transcode.pgs import Box, write_sup

FPS = Fraction(24000, 1001)
FRAME = float(1 / FPS)
RUNG = Rung(
    id="180p",
    codec="h264",
    width=320,
    height=180,
    bitrate=400_000,
    maxrate=400_000,
    bufsize=800_000,
    frame_rate=None,
    profile="high",
    level=30,
)
AWKWARD = "it's: a [test], file; 100%"  # every character the filter-graph parser cares about


# --- helpers --------------------------------------------------------------------------------


@dataclass
class Run:
    lines: list[SegmentLine]
    returncode: int
    stderr: str
    seconds: float
    out_dir: Path
    frames_when_reported: dict[int, int] = field(default_factory=dict)

    def path(self, index: int) -> Path:
        return self.out_dir / f"{index}.ts"


@dataclass(frozen=True)
class Frame:
    pts: float
    key: bool
    fmt: str
    interlaced: bool
    color_trc: int
    colorspace: int
    color_primaries: int
    luma: bytes  # gray, 320 bytes per row


def decode_video(path: Path) -> list[Frame]:
    out: list[Frame] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for f in container.decode(stream):
            assert f.pts is not None
            gray = f.reformat(format="gray")
            plane = gray.planes[0]
            raw = bytes(plane)
            rows = b"".join(
                raw[y * plane.line_size : y * plane.line_size + gray.width]
                for y in range(gray.height)
            )
            out.append(
                Frame(
                    pts=float(f.pts * (f.time_base or 1)),
                    key=f.key_frame,
                    fmt=f.format.name,
                    interlaced=f.interlaced_frame,
                    color_trc=int(f.color_trc),
                    colorspace=int(f.colorspace),
                    color_primaries=int(f.color_primaries),
                    luma=rows,
                )
            )
    return out


def audio_packets(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        tb = stream.time_base
        assert tb is not None
        return [float(p.pts * tb) for p in container.demux(stream) if p.pts is not None]


def keyframes(path: Path) -> tuple[tuple[float, ...], float]:
    """The source's keyframe times (its segment plan, 1 s GOPs) and its start time."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        tb = stream.time_base
        assert tb is not None
        times = [
            float(p.pts * tb)
            for p in container.demux(stream)
            if p.is_keyframe and p.pts is not None
        ]
        start = (container.start_time or 0) / 1_000_000
    return tuple(times), start


def run(job: TranscodeJob, *, check_events: bool = True) -> Run:
    """Run ffmpeg, reading segment lines as they arrive; at each line the segment must
    already be complete (it decodes to the same frames as after the run)."""
    Path(job.out_dir).mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    result = Run([], 0, "", 0.0, Path(job.out_dir))
    with (
        tempfile.TemporaryFile() as err,
        subprocess.Popen(
            transcode_argv(job), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err
        ) as proc,
    ):
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = parse_segment_line(raw.decode())
            result.lines.append(line)
            if check_events and job.video is not None:
                result.frames_when_reported[line.index] = len(decode_video(result.path(line.index)))
        result.returncode = proc.wait(timeout=120)
        err.seek(0)
        result.stderr = err.read().decode(errors="replace")
    result.seconds = time.monotonic() - started
    return result


def band_mean(frame: Frame, rows: range, cols: range) -> float:
    values = [frame.luma[y * 320 + x] for y in rows for x in cols]
    return sum(values) / len(values)


def changed(a: Frame, b: Frame, rows: range, cols: range = range(320)) -> int:
    """How many pixels differ strongly (drawn text or a box, not encoder noise)."""
    return sum(1 for y in rows for x in cols if abs(a.luma[y * 320 + x] - b.luma[y * 320 + x]) > 60)


def at(frames: list[Frame], t: float) -> Frame:
    return min(frames, key=lambda f: abs(f.pts - t))


# --- clips ----------------------------------------------------------------------------------


def _ffmpeg(*args: str) -> None:
    subprocess.run([media.FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="session")
def ntsc_mkv(media_root: Path) -> Path:
    """4 s of 23.976 fps H.264 with B-frames in Matroska (1 ms timestamps: every boundary
    is a rounded number), 1.001 s GOPs, AAC stereo."""
    path = media_root / "ntsc-bframes.mkv"
    if not path.exists():
        _ffmpeg(
            "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=24000/1001:duration=4",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=4",
            "-c:v", "libx264", "-preset", "veryfast", "-bf", "2",
            "-x264-params", "keyint=24:min-keyint=24:scenecut=0",
            "-c:a", "aac", "-ac", "2", str(path),
        )  # fmt: skip
    return path


@pytest.fixture(scope="session")
def hdr10_mkv(media_root: Path) -> Path:
    """3 s of 10-bit HEVC tagged HDR10 (PQ, BT.2020) in the bitstream and the container."""
    path = media_root / "hdr10.mkv"
    if not path.exists():
        x265 = (
            "keyint=24:min-keyint=24:scenecut=0:log-level=error:colorprim=bt2020:"
            "transfer=smpte2084:colormatrix=bt2020nc:hdr10=1:max-cll=1000,400:"
            "master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)"
        )
        _ffmpeg(
            "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=24:duration=3",
            "-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le",
            "-x265-params", x265, "-color_primaries", "bt2020", "-color_trc", "smpte2084",
            "-colorspace", "bt2020nc", str(path),
        )  # fmt: skip
    return path


@pytest.fixture
def out(tmp_path: Path) -> Callable[[str], str]:
    def make(name: str) -> str:
        return str(tmp_path / name)

    return make


def video_job(src: Path, k: int, out_dir: str, **kw: object) -> TranscodeJob:
    b, start = keyframes(src)
    fields: dict[str, object] = {
        "input": str(src),
        "boundaries": b,
        "start_index": k,
        "out_dir": out_dir,
        "source_start_s": start,
        "ffmpeg": media.FFMPEG,
        "preset": "veryfast",
        "video": VideoJob(stream_index=0, rung=RUNG, source_frame_rate=FPS),
    }
    fields.update(kw)
    return TranscodeJob(**fields)  # type: ignore[arg-type]


# --- the tests ------------------------------------------------------------------------------


def test_segments_start_on_the_plan_and_runs_are_interchangeable(
    ntsc_mkv: Path, out: Callable[[str], str]
) -> None:
    full = run(video_job(ntsc_mkv, 0, out("from0")))
    late = run(video_job(ntsc_mkv, 2, out("from2")))
    b, _ = keyframes(ntsc_mkv)
    assert b == (0.0, 1.001, 2.002, 3.003)
    for result, first in ((full, 0), (late, 2)):
        assert result.returncode == 0, result.stderr
        assert [line.index for line in result.lines] == list(range(first, len(b)))
        assert [line.filename for line in result.lines] == [f"{i}.ts" for i in range(first, len(b))]

    segments: dict[tuple[str, int], list[Frame]] = {}
    for name, result in (("full", full), ("late", late)):
        for line in result.lines:
            frames = decode_video(result.path(line.index))
            segments[name, line.index] = frames
            # Reported only once complete: it decoded the same at the event as now.
            assert result.frames_when_reported[line.index] == len(frames)
            i = line.index
            assert frames[0].key, (name, i)
            assert [f.key for f in frames[1:]] == [False] * (len(frames) - 1), (name, i)
            assert abs(frames[0].pts - b[i]) < 0.0015, (name, i, frames[0].pts)  # exact to the ms
            end = b[i + 1] if i + 1 < len(b) else 4.0
            assert frames[-1].pts < end
            assert abs(line.end_s - end) < FRAME + 0.002
    # The whole run has every source frame exactly once.
    assert sum(len(segments["full", i]) for i in range(4)) == 96
    for i in (2, 3):
        a, c = segments["full", i], segments["late", i]
        assert (a[0].pts, len(a), a[-1].pts) == (c[0].pts, len(c), c[-1].pts)


def test_source_with_a_ts_offset_keeps_its_timeline(
    clip: Callable[..., Path], out: Callable[[str], str]
) -> None:
    src = clip("ts_offset", media.TS_OFFSET, ".ts")
    b, start = keyframes(src)
    assert b[0] > 36000
    assert start < b[0]  # the audio starts earlier: -ss must subtract the file's start time
    job = video_job(src, 2, out("ts"), video=VideoJob(0, RUNG, source_frame_rate=Fraction(24)))
    result = run(job)
    assert result.returncode == 0, result.stderr
    assert [line.index for line in result.lines] == [2, 3]
    for line in result.lines:
        frames = decode_video(result.path(line.index))
        assert frames[0].key
        assert abs(frames[0].pts - b[line.index]) < 1e-4  # 90 kHz exact
        assert len(frames) == 24


def test_end_index_stops_the_run_at_a_boundary(ntsc_mkv: Path, out: Callable[[str], str]) -> None:
    result = run(video_job(ntsc_mkv, 1, out("partial"), end_index=3))
    assert result.returncode == 0, result.stderr
    assert [line.index for line in result.lines] == [1, 2]
    assert len(decode_video(result.path(2))) == 24


def test_audio_rendition_is_cut_at_the_same_boundaries(
    ntsc_mkv: Path, out: Callable[[str], str]
) -> None:
    b, _start = keyframes(ntsc_mkv)
    audio = AudioJob(stream_index=1, channels=2, bitrate=128_000, sample_rate=48_000)
    runs = {}
    for k in (0, 2):
        job = video_job(ntsc_mkv, k, out(f"audio{k}"), video=None, audio=audio)
        runs[k] = run(job)
        assert runs[k].returncode == 0, runs[k].stderr
        assert [line.index for line in runs[k].lines] == list(range(k, 4))
    aac_frame = 1024 / 48_000
    packets = {}
    for k, result in runs.items():
        for line in result.lines:
            packets[k, line.index] = audio_packets(result.path(line.index))
            with av.open(str(result.path(line.index))) as c:
                samples = sum(f.samples for f in c.decode(audio=0))
            assert samples > 0.9 * 48_000  # ~1 s of sound per segment
    for i in range(4):
        first = packets[0, i][0]
        # Each segment starts with the AAC frame that holds its boundary (or, for the
        # first, with the encoder's priming frame just before it).
        assert b[i] - aac_frame - 1e-4 <= first < b[i] + 1e-4, (i, first)
    # A run started at 2 encodes the same frames at the same times as the run from 0;
    # its first segment only has the encoder's priming frame in front.
    assert packets[2, 3] == packets[0, 3]
    assert packets[2, 2][1:] == packets[0, 2]
    assert packets[2, 2][0] == pytest.approx(packets[0, 2][0] - aac_frame)


@pytest.mark.parametrize("tagged", [True, False], ids=["tagged-frames", "tags-from-probe"])
def test_hdr10_is_tone_mapped_to_8_bit_bt709(
    tagged: bool, hdr10_mkv: Path, clip: Callable[..., Path], out: Callable[[str], str]
) -> None:
    # The shared corpus clip carries the HDR tags only in its container, not in the
    # frames: zscale then needs the probed tags (setparams) to find a conversion path.
    src = hdr10_mkv if tagged else clip("hevc10", media.HEVC10_MULTI, ".mkv")
    source = decode_video(src)[0]
    assert source.fmt == "yuv420p10le"
    if tagged:
        assert (source.color_trc, source.color_primaries) == (16, 9)  # smpte2084, bt2020
    stream = Stream(
        index=0, type="video", codec="hevc", profile="Main 10", width=320, height=180,
        frame_rate=Fraction(24), bit_depth=10, pix_fmt="yuv420p10le", hdr="hdr10",
        color_transfer="smpte2084" if tagged else None,
    )  # fmt: skip
    job = video_job(src, 1, out("hdr"), video=VideoJob.for_stream(stream, RUNG, tone_map=True))
    result = run(job)
    assert result.returncode == 0, result.stderr
    assert [line.index for line in result.lines] == [1, 2] + ([] if tagged else [3])
    for line in result.lines:
        frames = decode_video(result.path(line.index))
        assert frames[0].key
        assert abs(frames[0].pts - line.index) < 0.002
        assert {f.fmt for f in frames} == {"yuv420p"}  # 8-bit 4:2:0
        assert {(f.color_trc, f.colorspace, f.color_primaries) for f in frames} == {
            (1, 1, 1)
        }  # bt709
        # Tone-mapped, not clipped to black or white.
        assert 30 < band_mean(frames[0], range(0, 180, 4), range(0, 320, 4)) < 220
    with av.open(str(result.path(result.lines[0].index))) as c:
        ctx = c.streams.video[0].codec_context
        assert (ctx.name, ctx.profile) == ("h264", "High")


def test_interlaced_source_is_deinterlaced(
    clip: Callable[..., Path], out: Callable[[str], str]
) -> None:
    src = clip("interlaced", media.Clip(interlaced=True), ".mp4")
    source = decode_video(src)
    assert all(f.interlaced for f in source)
    job = video_job(src, 0, out("deint"), video=VideoJob(0, RUNG, Fraction(24), deinterlace=True))
    result = run(job)
    assert result.returncode == 0, result.stderr
    frames = [f for line in result.lines for f in decode_video(result.path(line.index))]
    assert len(frames) == len(source)  # one progressive frame per interlaced frame
    assert not any(f.interlaced for f in frames)


def _burn_check(
    burned: Run, plain: Run, cue: tuple[float, float], rows: range, after: float
) -> None:
    assert burned.returncode == 0, burned.stderr
    assert [line.index for line in burned.lines] == [line.index for line in plain.lines]
    b_frames = [f for line in burned.lines for f in decode_video(burned.path(line.index))]
    p_frames = [f for line in plain.lines for f in decode_video(plain.path(line.index))]
    inside = (cue[0] + cue[1]) / 2
    assert cue[0] >= b_frames[0].pts - 0.5  # the run starts inside or just before the cue
    shown = changed(at(b_frames, inside), at(p_frames, inside), rows)
    gone = changed(at(b_frames, after), at(p_frames, after), rows)
    assert shown > 100, f"subtitle missing ({shown} pixels changed)"
    assert gone < 10, f"subtitle stayed ({gone} pixels changed)"


def test_text_subtitle_sidecar_with_awkward_path_is_burned_on_the_source_timeline(
    clip: Callable[..., Path], tmp_path: Path, out: Callable[[str], str]
) -> None:
    src = clip("h264", media.H264_AAC, ".mp4")
    weird_dir = tmp_path / "we'ird: [dir], x; %d"
    weird_dir.mkdir()
    srt = media.write_srt(weird_dir / f"{AWKWARD}.srt")
    burn = BurnIn(kind="text", path=str(srt))
    fps = Fraction(24)
    # Start at segment 1 (t = 1.0 s): "Hello there" (0.5-1.5 s) must still be on screen,
    # which only works if the subtitle filter sees source timestamps.
    burned = run(video_job(src, 1, out("burn %d 100%"), video=VideoJob(0, RUNG, fps, burn=burn)))
    plain = run(video_job(src, 1, out("plain"), video=VideoJob(0, RUNG, fps)))
    _burn_check(burned, plain, (1.0, 1.5), range(120, 180), after=1.8)


def test_embedded_text_subtitle_is_burned_via_si(
    clip: Callable[..., Path], tmp_path: Path, out: Callable[[str], str]
) -> None:
    original = clip("subs", media.Clip(subs=(media.Sub("srt"), media.Sub("ass", "spa"))), ".mkv")
    src = tmp_path / f"{AWKWARD}.mkv"
    shutil.copyfile(original, src)
    fps = Fraction(24)
    burn = BurnIn(kind="text", stream_index=3, ordinal=1)  # the second subtitle stream (ASS)
    burned = run(video_job(src, 2, out("burn"), video=VideoJob(0, RUNG, fps, burn=burn)))
    plain = run(video_job(src, 2, out("plain"), video=VideoJob(0, RUNG, fps)))
    _burn_check(burned, plain, (2.0, 3.25), range(100, 180), after=3.4)


@pytest.mark.parametrize("where", ["embedded", "sidecar"])
def test_image_subtitle_is_overlaid(
    where: str, clip: Callable[..., Path], tmp_path: Path, out: Callable[[str], str]
) -> None:
    src = clip("h264", media.H264_AAC, ".mp4")
    # The first box is already on screen when the run starts (t = 1.0 s).
    boxes = [Box(0.5, 2.5, 130, 140, 60, 20), Box(3.2, 3.6, 130, 140, 60, 20)]
    sup = write_sup(tmp_path / f"{AWKWARD}.sup", boxes, (320, 180))
    if where == "embedded":
        mkv = tmp_path / f"{AWKWARD}.mkv"
        # -copyts: without it ffmpeg would move the .sup's first cue to 0 s.
        _ffmpeg("-copyts", "-i", str(src), "-i", str(sup), "-map", "0:v", "-map", "1:s",
                "-c", "copy", str(mkv))  # fmt: skip
        src, burn = mkv, BurnIn(kind="image", stream_index=1)
    else:
        burn = BurnIn(kind="image", path=str(sup))
    fps = Fraction(24)
    burned = run(video_job(src, 1, out("burn"), video=VideoJob(0, RUNG, fps, burn=burn)))
    assert burned.returncode == 0, burned.stderr
    frames = [f for line in burned.lines for f in decode_video(burned.path(line.index))]
    box = (range(142, 158), range(132, 188))
    white = 225  # the box is Y=235 (limited range); the test picture there is darker
    assert band_mean(at(frames, 1.0), *box) > white
    assert band_mean(at(frames, 2.4), *box) > white
    assert band_mean(at(frames, 2.6), *box) < 200
    assert band_mean(at(frames, 3.1), *box) < 200
    assert band_mean(at(frames, 3.4), *box) > white
    assert band_mean(at(frames, 3.7), *box) < 200


def test_hardware_encoder_failure_falls_back_to_software(
    ntsc_mkv: Path, out: Callable[[str], str]
) -> None:
    job = video_job(ntsc_mkv, 1, out("hw"), hwaccel="vaapi", vaapi_device="/dev/dri/renderD128")
    failed = run(job)
    assert failed.returncode != 0
    assert failed.lines == []
    assert failed.seconds < 10  # fails fast, at device creation
    assert should_fall_back(job, failed.returncode, failed.stderr, len(failed.lines))

    argv = software_fallback_argv(job)
    assert "libx264" in argv
    assert "-init_hw_device" not in argv
    with tempfile.TemporaryFile() as err:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=err, check=False)
    assert proc.returncode == 0
    lines = [parse_segment_line(x) for x in proc.stdout.decode().splitlines()]
    assert [line.index for line in lines] == [1, 2, 3]
    for line in lines:
        frames = decode_video(Path(job.out_dir) / line.filename)
        assert frames[0].key
        assert len(frames) == 24
