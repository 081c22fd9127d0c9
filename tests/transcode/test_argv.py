"""transcode_argv as pure code: the flags, the filter graphs, escaping and validation.
(test_argv_ffmpeg.py proves the same command lines with real ffmpeg.)"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest

from ferrite.media.info import MediaInfo, Stream
from ferrite.media.renditions import Rung
from ferrite.media.subtitles import SubtitleChoice
from ferrite.playback.decision_records import AudioPlan
from ferrite.playback.ladder import audio_rendition
from ferrite.transcode.argv import parse_segment_line, software_fallback_argv, transcode_argv
from ferrite.transcode.encoders import hardware_failed, should_fall_back
from ferrite.transcode.filters import (
    TONEMAP_CHAIN,
    escape_filter_value,
    escape_filtergraph,
    filter_path,
)
from ferrite.transcode.job import MAX_RUN_SEGMENTS, AudioJob, BurnIn, TranscodeJob, VideoJob

RUNG = Rung(
    "720p", "h264", 1280, 720, 3_000_000, 3_000_000, 6_000_000, None, profile="high", level=31
)
B = (0.0, 2.002, 4.004, 6.006, 8.008, 10.01)


def job(**kw: object) -> TranscodeJob:
    fields: dict[str, object] = {
        "input": "/media/film.mkv",
        "boundaries": B,
        "start_index": 2,
        "out_dir": "/runs/abc",
        "video": VideoJob(0, RUNG, source_frame_rate=Fraction(24000, 1001)),
        "source_start_s": 0.0,
        "ffmpeg": "/bin/ffmpeg",
    }
    fields.update(kw)
    return TranscodeJob(**fields)  # type: ignore[arg-type]


def value(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_video_run_flags() -> None:
    argv = transcode_argv(job())
    assert argv[0] == "/bin/ffmpeg"
    for flag in ("-nostats", "-nostdin", "-copyts", "-y"):
        assert flag in argv
    assert value(argv, "-loglevel") == "error"
    # input seek to boundary 2 (a quarter frame early, like the keyframe), before -i
    assert argv.index("-ss") < argv.index("-i")
    assert value(argv, "-ss") == "3.993573"
    assert "-to" not in argv
    assert value(argv, "-i") == "/media/film.mkv"
    assert value(argv, "-map") == "[vout]"
    assert value(argv, "-filter_complex") == "[0:0]scale=w=1280:h=720,format=yuv420p[vout]"
    # keyframes: absolute boundaries, a quarter frame early; no scene cuts; IDR
    kf = [float(t) for t in value(argv, "-force_key_frames").split(",")]
    assert kf == pytest.approx([4.004, 6.006, 8.008, 10.01], abs=0.011)
    assert all(t < b for t, b in zip(kf, B[2:], strict=True))
    assert value(argv, "-sc_threshold") == "0"
    assert value(argv, "-x264-params") == "scenecut=0:open-gop=0"
    assert value(argv, "-forced-idr") == "1"
    assert int(value(argv, "-g")) > 2.002 * 24  # longer than any segment
    assert (value(argv, "-c:v"), value(argv, "-preset"), value(argv, "-crf")) == (
        "libx264",
        "veryfast",
        "23",
    )
    assert (value(argv, "-maxrate"), value(argv, "-bufsize")) == ("3000000", "6000000")
    assert (value(argv, "-profile:v"), value(argv, "-level:v")) == ("high", "3.1")
    assert value(argv, "-fps_mode:v") == "passthrough"
    assert value(argv, "-enc_time_base:v") == "filter"
    assert "-an" in argv
    # timestamps untouched at every layer
    assert value(argv, "-avoid_negative_ts") == "disabled"
    assert (value(argv, "-muxdelay"), value(argv, "-muxpreload")) == ("0", "0")
    assert value(argv, "-segment_format_options") == "mpegts_copyts=1:avoid_negative_ts=disabled"
    # segments: relative cut times, numbered from k, one csv line per segment on stdout
    assert value(argv, "-f") == "segment"
    assert value(argv, "-segment_format") == "mpegts"
    assert value(argv, "-segment_times") == "2.002000,4.004000,6.006000"
    assert value(argv, "-segment_start_number") == "2"
    assert (value(argv, "-segment_list"), value(argv, "-segment_list_type")) == ("pipe:1", "csv")
    assert float(value(argv, "-segment_time_delta")) == pytest.approx(1.5 * 1001 / 24000, abs=1e-6)
    assert argv[-1] == "/runs/abc/%d.ts"


def test_source_start_time_is_subtracted_from_the_seek() -> None:
    argv = transcode_argv(
        job(boundaries=tuple(b + 36001.4 for b in B), source_start_s=36001.378667)
    )
    assert value(argv, "-ss") == "4.014906"
    assert value(argv, "-segment_times") == "2.002000,4.004000,6.006000"


def test_end_index_and_last_segment() -> None:
    argv = transcode_argv(job(end_index=4))
    assert value(argv, "-to") == "7.997573"
    assert value(argv, "-segment_times") == "2.002000"
    last = transcode_argv(job(start_index=5))
    assert value(last, "-segment_times") == "100000000"  # nothing left to cut
    assert value(last, "-force_key_frames").count(",") == 0


def test_long_plans_are_split_into_runs_with_short_arguments() -> None:
    b = tuple(i * 2.002 for i in range(20_000))  # an 11-hour file
    j = job(boundaries=b, start_index=100)
    assert j.stop_index == 100 + MAX_RUN_SEGMENTS
    argv = transcode_argv(j)
    quarter_frame = 0.25 * 1001 / 24000
    assert value(argv, "-to") == f"{b[100 + MAX_RUN_SEGMENTS] - quarter_frame:.6f}"
    assert len(value(argv, "-segment_times").split(",")) == MAX_RUN_SEGMENTS - 1
    assert max(len(a.encode()) for a in argv) < 64 * 1024  # MAX_ARG_STRLEN is 128 KiB


def test_audio_only_run() -> None:
    audio = AudioJob(stream_index=2, channels=6, bitrate=384_000, sample_rate=48_000)
    argv = transcode_argv(job(video=None, audio=audio))
    assert "-vn" in argv
    assert "-filter_complex" not in argv
    assert "-force_key_frames" not in argv
    assert value(argv, "-map") == "0:2"
    assert (value(argv, "-c:a"), value(argv, "-b:a"), value(argv, "-ac")) == ("aac", "384000", "6")
    # starts on the AAC frame grid of a run from 0: frame 187 (3.989333 s) holds 4.004 s
    grid = 187 * 1024 / 48_000
    assert value(argv, "-ss") == f"{grid:.6f}"
    assert value(argv, "-af") == f"aresample=48000:async=1:first_pts={187 * 1024}"
    assert value(argv, "-segment_times").split(",")[0] == f"{6.006 - grid:.6f}"
    assert value(argv, "-segment_time_delta") == "0.000000"
    hi_res = transcode_argv(job(video=None, audio=AudioJob(1, 2, 160_000, sample_rate=96_000)))
    assert value(hi_res, "-af").startswith("aresample=48000:")
    plan = AudioPlan(1, "transcode", "aac", 2, 160_000, "truehd", 8)
    source = Stream(index=1, type="audio", codec="truehd", channels=8, sample_rate=44_100)
    assert AudioJob.for_rendition(audio_rendition(plan), source) == AudioJob(1, 2, 160_000, 44_100)
    with pytest.raises(ValueError, match="copy"):
        AudioJob.for_rendition(audio_rendition(replace(plan, action="copy")), source)


def test_filter_order_tone_map_deinterlace_and_text_burn() -> None:
    stream = Stream(
        index=0, type="video", codec="hevc", hdr="hdr10", frame_rate=Fraction(50),
        color_transfer="smpte2084", color_primaries="bt2020", color_space="bt2020nc",
    )  # fmt: skip
    rung = Rung(
        "720p",
        "h264",
        1280,
        720,
        3_000_000,
        3_000_000,
        6_000_000,
        Fraction(25),
        profile="high",
        level=31,
    )
    burn = BurnIn(kind="text", path="/subs/it's: a [test], file;.srt")
    v = VideoJob.for_stream(stream, rung, tone_map=True, deinterlace=True, burn=burn)
    argv = transcode_argv(job(video=v))
    graph = value(argv, "-filter_complex")
    assert graph == (
        "[0:0]bwdif=mode=send_frame:parity=auto:deint=all,"
        "fps=fps=25/1:round=up,"
        "scale=w=1280:h=720,"
        "setparams=color_primaries=bt2020:color_trc=smpte2084:colorspace=bt2020nc,"
        f"{TONEMAP_CHAIN},"
        r"subtitles=filename=/subs/it\\\'s\\: a \[test\]\, file\;.srt,"
        "format=yuv420p[vout]"
    )
    assert TONEMAP_CHAIN == (
        "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,"
        "tonemap=tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv,format=yuv420p"
    )
    for flag, tag in (
        ("-color_primaries", "bt709"),
        ("-color_trc", "bt709"),
        ("-colorspace", "bt709"),
    ):
        assert value(argv, flag) == tag


def test_hdr_kind_implies_tags_the_probe_missed() -> None:
    stream = Stream(index=0, type="video", codec="hevc", hdr="hlg", color_transfer="unknown")
    v = VideoJob.for_stream(stream, RUNG, tone_map=True)
    assert v.color_params() == "color_primaries=bt2020:color_trc=arib-std-b67:colorspace=bt2020nc"
    sdr = VideoJob.for_stream(Stream(index=0, type="video", codec="h264"), RUNG)
    assert sdr.color_params() == ""
    assert "setparams" not in value(transcode_argv(job(video=sdr)), "-filter_complex")


def test_embedded_text_subtitle_uses_si_and_escapes_the_media_path() -> None:
    info = MediaInfo(
        container="matroska",
        duration_s=10,
        streams=(
            Stream(index=0, type="video", codec="h264"),
            Stream(index=1, type="audio", codec="aac"),
            Stream(index=2, type="subtitle", codec="subrip"),
            Stream(index=3, type="subtitle", codec="ass"),
        ),
    )
    burn = BurnIn.from_choice(info, SubtitleChoice(codec="ass", stream_index=3))
    assert burn == BurnIn(kind="text", stream_index=3, ordinal=1)
    argv = transcode_argv(job(input="/m/Amélie: 100% [v2].mkv", video=VideoJob(0, RUNG, burn=burn)))
    assert r"subtitles=filename=/m/Amélie\\: 100% \[v2\].mkv:si=1," in value(
        argv, "-filter_complex"
    )


def test_image_subtitles_are_overlaid_at_rung_size() -> None:
    burn = BurnIn.from_choice(
        MediaInfo(
            "matroska",
            10,
            streams=(Stream(0, "video", "h264"), Stream(5, "subtitle", "hdmv_pgs_subtitle")),
        ),
        SubtitleChoice(codec="pgs", stream_index=5),
    )
    assert burn.kind == "image"
    argv = transcode_argv(job(video=VideoJob(0, RUNG, burn=burn)))
    # the same file again, 30 s further back, for cues already on screen at the start
    inputs = [i for i, a in enumerate(argv) if a == "-i"]
    assert len(inputs) == 2
    assert argv[inputs[1] - 2 : inputs[1] + 2] == ["-ss", "0.000000", "-i", "/media/film.mkv"]
    assert value(argv, "-filter_complex") == (
        "[0:0]scale=w=1280:h=720[base];"
        "[1:5]scale=w=1280:h=720[sub];"
        "[base][sub]overlay=eof_action=pass,format=yuv420p[vout]"
    )
    sidecar = BurnIn(kind="image", path="/subs/film.sup")
    argv = transcode_argv(job(video=VideoJob(0, RUNG, burn=sidecar)))
    assert argv[argv.index("/subs/film.sup") - 1] == "-i"
    assert "[1:s:0]scale=w=1280:h=720[sub]" in value(argv, "-filter_complex")


@pytest.mark.parametrize(
    ("raw", "level1", "graph"),
    [
        ("plain.srt", "plain.srt", "plain.srt"),
        ("a:b", r"a\:b", r"a\\:b"),
        ("it's", r"it\'s", r"it\\\'s"),
        ("a,b;c[d]", "a,b;c[d]", r"a\,b\;c\[d\]"),
        ("back\\slash", r"back\\slash", r"back\\\\slash"),
        ("C:\\x 'y'", r"C\:\\x \'y\'", r"C\\:\\\\x \\\'y\\\'"),
    ],
)
def test_escaping(raw: str, level1: str, graph: str) -> None:
    assert escape_filter_value(raw) == level1
    assert escape_filtergraph(level1) == graph
    assert filter_path(raw) == graph


def test_percent_in_the_run_directory_is_not_a_pattern() -> None:
    assert transcode_argv(job(out_dir="/runs/100% done"))[-1] == "/runs/100%% done/%d.ts"


@pytest.mark.parametrize("hw", ["nvenc", "qsv", "vaapi"])
def test_hardware_encoders_and_their_software_fallback(hw: str) -> None:
    j = job(hwaccel=hw, vaapi_device="/dev/dri/renderD129")
    argv = transcode_argv(j)
    graph = value(argv, "-filter_complex")
    encoder = value(argv, "-c:v")
    assert encoder == {"nvenc": "h264_nvenc", "qsv": "h264_qsv", "vaapi": "h264_vaapi"}[hw]
    assert value(argv, "-b:v") == "3000000"
    assert value(argv, "-g")
    assert "-force_key_frames" in argv
    if hw == "nvenc":
        assert (value(argv, "-forced-idr"), value(argv, "-no-scenecut")) == ("1", "1")
        assert graph.endswith("format=yuv420p[vout]")
        assert "-init_hw_device" not in argv
    elif hw == "qsv":
        assert value(argv, "-init_hw_device") == "qsv=qs:hw_any"
        assert value(argv, "-filter_hw_device") == "qs"
        assert graph.endswith("format=yuv420p,format=nv12,hwupload=extra_hw_frames=64[vout]")
        assert (value(argv, "-forced_idr"), value(argv, "-adaptive_i")) == ("1", "0")
    else:
        assert value(argv, "-init_hw_device") == "vaapi=va:/dev/dri/renderD129"
        assert value(argv, "-filter_hw_device") == "va"
        assert graph.endswith("format=yuv420p,format=nv12,hwupload[vout]")
        assert value(argv, "-rc_mode") == "VBR"
    assert argv.index("-init_hw_device" if hw != "nvenc" else "-copyts") < argv.index("-i")
    fallback = software_fallback_argv(j)
    assert fallback == transcode_argv(job())
    assert value(fallback, "-c:v") == "libx264"


def test_hardware_failure_detection() -> None:
    vaapi = job(hwaccel="vaapi")
    stderr = (
        "[VAAPI @ 0x1] No VA display found for device /dev/dri/renderD128.\n"
        "Device creation failed: -22.\n"
    )
    assert hardware_failed(stderr)
    assert hardware_failed("[h264_nvenc @ 0x2] Cannot load libcuda.so.1\n")
    assert not hardware_failed("/media/film.mkv: No such file or directory\n")
    assert should_fall_back(vaapi, 234, stderr, segments_done=0)
    assert should_fall_back(vaapi, -6, "", segments_done=0)  # aborted (missing libva)
    assert not should_fall_back(vaapi, 234, stderr, segments_done=3)  # failed later: not the device
    assert not should_fall_back(vaapi, 0, "", segments_done=0)
    assert not should_fall_back(job(), 1, stderr, segments_done=0)  # already software


def test_parse_segment_line() -> None:
    line = parse_segment_line("12.ts,24.024000,26.026000\n")
    assert (line.index, line.filename, line.start_s, line.end_s) == (12, "12.ts", 24.024, 26.026)
    assert parse_segment_line('"3.ts",0.000000,8.0\n').index == 3
    for bad in ("", "12.ts,1.0", "x.ts,1,2", "12.ts,a,b"):
        with pytest.raises(ValueError):  # noqa: PT011 - each is a different ValueError
            parse_segment_line(bad)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"boundaries": ()}, "empty"),
        ({"boundaries": (0.0, 2.0, 2.0)}, "increase"),
        ({"start_index": 6}, "outside"),
        ({"start_index": -1}, "outside"),
        ({"end_index": 2}, "after start_index"),
        ({"video": None}, "needs video or audio"),
        ({"video": VideoJob(0, Rung("copy", "h264", 1, 1, 1, 1, 2, None, copy=True))}, "copy rung"),
        ({"hwaccel": "metal"}, "unknown hwaccel"),
        ({"video": VideoJob(0, RUNG, burn=BurnIn("text"))}, "exactly one"),
        ({"video": VideoJob(0, RUNG, burn=BurnIn("text", stream_index=3))}, "ordinal"),
    ],
)
def test_invalid_jobs(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        transcode_argv(job(**changes))
