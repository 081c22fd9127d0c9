"""The probe against real generated files: stream facts, keyframe index, subtitles, errors."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import pytest

from ferrite.errors import ProbeError
from ferrite.library.probe import probe, probe_timed
from ferrite.library.probe.streams import dovi_in_dump
from ferrite.media.info import MediaInfo, Stream, SubtitleCue
from tests import media

ClipFn = Callable[..., Path]

EXPECTED_CUES = tuple(SubtitleCue(round(a * 1000), round(b * 1000), t) for a, b, t in media.CUES)


def lib(root: Path, name: str) -> Path:
    paths = {
        "h264": "movies/Big Test Movie (2020)/Big Test Movie (2020).mp4",
        "hevc": "movies/Amélie Ten Bit (2001)/Amélie Ten Bit (2001).mkv",
        "vp9": "movies/Web Movie (2015)/Web Movie (2015).webm",
        "ts": "movies/Broadcast (1999)/Broadcast (1999).ts",
        "moov_end": "movies/Late Index (2010)/Late Index (2010).mp4",
        "vfr": "movies/Wobbly (2012).mp4",
        "corrupt": "movies/Corrupt (2001)/Corrupt (2001).mp4",
        "truncated": "movies/Truncated (2002)/Truncated (2002).mkv",
        "zero": "movies/Empty (2003)/Empty (2003).mp4",
        "text": "movies/Not Video (2004)/Not Video (2004).mkv",
        "ep2": "shows/Test Show/Season 01/Test.Show.S01E02.720p.mkv",
    }
    return root / paths[name]


def demux_pass(path: Path) -> tuple[list[int], int, list[int]]:
    """Keyframe pts, end of the last frame and keyframe byte positions, the slow way."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        assert v.average_rate is not None
        assert v.time_base is not None
        frame = round(1 / (v.average_rate * v.time_base))
        keys: list[int] = []
        positions: list[int] = []
        end = 0
        for pkt in c.demux(v):
            if pkt.pts is None:
                continue
            if pkt.is_keyframe:
                keys.append(pkt.pts)
                positions.append(-1 if pkt.pos is None else pkt.pos)
            end = max(end, pkt.pts + (pkt.duration or frame))
    return keys, end, positions


def by_type(info: MediaInfo, type_: str) -> list[Stream]:
    return [s for s in info.streams if s.type == type_]


# -- stream facts ---------------------------------------------------------------------------


def test_h264_aac_mp4(library_root: Path) -> None:
    info = probe(lib(library_root, "h264"))
    assert info.container == "mp4"
    assert info.duration_s == pytest.approx(4.0, abs=0.05)
    assert info.start_time_s == 0.0
    assert info.bitrate
    assert info.bitrate > 0
    (v,) = by_type(info, "video")
    assert (v.codec, v.width, v.height, v.frame_rate) == ("h264", 320, 180, Fraction(24))
    assert (v.bit_depth, v.pix_fmt, v.hdr, v.codec_tag) == (8, "yuv420p", "none", "avc1")
    assert v.profile == "Constrained Baseline"
    assert v.level is not None
    assert v.level > 0
    assert v.extradata
    assert v.extradata[0] == 1
    assert v.field_order == "progressive"
    assert v.duration_s == pytest.approx(4.0, abs=0.05)
    assert v.frame_count == 96
    (a,) = by_type(info, "audio")
    assert (a.codec, a.profile, a.channels, a.channel_layout) == ("aac", "LC", 2, "stereo")
    assert (a.sample_rate, a.language, a.codec_tag) == (48000, "eng", "mp4a")
    assert a.extradata  # AudioSpecificConfig, for the codec string


def test_hevc_10bit_multi_audio_mkv(library_root: Path) -> None:
    info = probe(lib(library_root, "hevc"))
    assert info.container == "matroska"
    (v,) = by_type(info, "video")
    assert (v.codec, v.profile, v.bit_depth, v.pix_fmt) == ("hevc", "Main 10", 10, "yuv420p10le")
    assert v.color_space == "bt2020nc"
    assert v.extradata  # hvcC
    surround, stereo = by_type(info, "audio")
    assert (surround.codec, surround.channels, surround.channel_layout) == ("ac3", 6, "5.1(side)")
    assert (surround.language, surround.title) == ("eng", "Surround")
    assert (stereo.codec, stereo.channels, stereo.language, stereo.title) == (
        "aac",
        2,
        "fre",
        "Stereo",
    )
    srt, ass = by_type(info, "subtitle")
    assert (srt.codec, srt.language, srt.default, srt.forced) == ("subrip", "eng", True, False)
    assert (ass.codec, ass.language, ass.title, ass.default, ass.forced) == (
        "ass",
        "spa",
        "Signs",
        False,
        True,
    )
    assert srt.is_text_subtitle
    assert ass.is_text_subtitle


def test_vp9_opus_webm(library_root: Path) -> None:
    info = probe(lib(library_root, "vp9"))
    assert info.container == "webm"
    (v,) = by_type(info, "video")
    assert (v.codec, v.width, v.height, v.bit_depth) == ("vp9", 320, 180, 8)
    (a,) = by_type(info, "audio")
    assert (a.codec, a.language, a.channels) == ("opus", "jpn", 2)


def test_ts_keeps_its_timeline_offset(library_root: Path) -> None:
    info = probe(lib(library_root, "ts"))
    assert info.container == "mpegts"
    assert info.start_time_s == pytest.approx(36001.4, abs=0.1)
    assert info.duration_s == pytest.approx(4.0, abs=0.1)
    assert info.keyframes is not None
    assert info.keyframes.times()[0] == pytest.approx(info.start_time_s, abs=0.1)


def test_vfr_average_frame_rate(library_root: Path) -> None:
    info = probe(lib(library_root, "vfr"))
    v = info.video
    assert v is not None
    assert v.frame_rate is not None
    assert 12 < float(v.frame_rate) < 24  # 24 fps half of each second, 12 fps the other half


@pytest.mark.parametrize(
    ("name", "ext", "hdr", "transfer"),
    [
        ("hdr10", ".mkv", "hdr10", "smpte2084"),
        ("hdr10", ".mp4", "hdr10", "smpte2084"),
        ("hlg", ".mp4", "hlg", "arib-std-b67"),
        ("dv", ".mp4", "dolby_vision", "smpte2084"),
    ],
)
def test_hdr_kinds(clip: ClipFn, name: str, ext: str, hdr: str, transfer: str) -> None:
    spec = {"hdr10": media.HEVC_HDR10, "hlg": media.HEVC_HLG, "dv": media.HEVC_DV_TAG}[name]
    v = probe(clip(f"hdr-{name}", spec, ext)).video
    assert v is not None
    assert (v.hdr, v.color_transfer, v.color_primaries, v.bit_depth) == (
        hdr,
        transfer,
        "bt2020",
        10,
    )


def test_dolby_vision_config_record_in_format_dump() -> None:
    dump = (
        "Input #0, matroska,webm, from 'x.mkv':\n"
        "  Stream #0:0: Video: hevc (Main 10), yuv420p10le(tv, bt2020nc/bt2020/smpte2084)\n"
        "    Side data:\n"
        "      DOVI configuration record: version: 1.0, profile: 8, level: 6, rpu flag: 1\n"
        "  Stream #0:1(eng): Audio: eac3\n"
    )
    assert dovi_in_dump(dump, 0)
    assert not dovi_in_dump(dump, 1)


def test_interlaced_and_audio_only(clip: ClipFn) -> None:
    v = probe(clip("interlaced", media.INTERLACED, ".mkv")).video
    assert v is not None
    assert v.interlaced
    info = probe(clip("audio-only", media.AUDIO_ONLY, ".mp4"))
    assert info.video is None
    assert info.keyframes is None
    assert info.duration_s == pytest.approx(2.0, abs=0.05)


# -- keyframe index -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("h264", "index"),  # MP4 faststart: stss
        ("moov_end", "index"),  # MP4 with the index at the end
        ("vfr", "index"),
        ("hevc", "cues"),
        ("ep2", "cues"),
        ("vp9", "cues"),  # WebM
        ("ts", "demux"),  # no index: one demux pass
    ],
)
def test_keyframes_match_a_demux_pass(library_root: Path, name: str, method: str) -> None:
    path = lib(library_root, name)
    info, timings = probe_timed(path)
    kf = info.keyframes
    assert kf is not None
    assert timings.keyframe_method == method
    keys, end, positions = demux_pass(path)
    assert list(kf.pts) == keys
    assert kf.end_pts == end
    assert kf.stream_index == 0
    assert kf.time_base == info.streams[0].time_base
    assert len(kf.positions) == len(kf.pts)
    assert list(kf.positions) == sorted(kf.positions)
    assert all(0 <= p < path.stat().st_size for p in kf.positions)
    if method != "cues":  # Matroska cues point at clusters, not at the blocks
        assert list(kf.positions) == positions


@pytest.mark.parametrize(
    ("name", "spec", "ext"),
    [
        ("bframes", media.H264_BFRAMES, ".mp4"),  # dts < pts: the index is in decode time
        ("bframes", media.H264_BFRAMES, ".mkv"),
        ("hevc-open-gop", media.HEVC_HLG, ".mp4"),  # first keyframe's offset differs
        ("interlaced", media.INTERLACED, ".mkv"),
    ],
)
def test_keyframes_with_reordered_frames(
    clip: ClipFn, name: str, spec: media.Clip, ext: str
) -> None:
    path = clip(name, spec, ext)
    info, timings = probe_timed(path)
    assert info.keyframes is not None
    keys, end, _ = demux_pass(path)
    assert list(info.keyframes.pts) == keys
    assert info.keyframes.end_pts == end
    assert timings.keyframe_method in ("index", "cues")  # no fallback to a full pass


def test_keyframe_times_of_the_generated_gops(library_root: Path) -> None:
    kf = probe(lib(library_root, "h264")).keyframes
    assert kf is not None
    assert kf.times() == pytest.approx([0.0, 1.0, 2.0, 3.0])
    assert kf.end_s == pytest.approx(4.0)
    kf = probe(lib(library_root, "vfr")).keyframes
    assert kf is not None
    assert kf.times() == pytest.approx([0.0, 1.25, 2.5], abs=0.01)


# -- subtitles ------------------------------------------------------------------------------


def test_embedded_srt_and_ass_cues(library_root: Path) -> None:
    info = probe(lib(library_root, "hevc"))
    srt, ass = info.subtitles
    assert (srt.codec, srt.stream_index, srt.language, srt.default, srt.external) == (
        "subrip",
        3,
        "eng",
        True,
        False,
    )
    assert (ass.codec, ass.stream_index, ass.language, ass.title, ass.forced) == (
        "ass",
        4,
        "spa",
        "Signs",
        True,
    )
    assert srt.cues == EXPECTED_CUES
    assert ass.cues == EXPECTED_CUES


def test_mov_text_and_webvtt_cues(clip: ClipFn) -> None:
    info = probe(clip("movtext", media.MOV_TEXT, ".mp4"))
    (track,) = info.subtitles
    assert (track.codec, track.language, track.title, track.default) == (
        "mov_text",
        "fre",
        "Français",
        True,
    )
    assert track.cues == EXPECTED_CUES
    info = probe(clip("vtt-ass", media.WEBVTT_ASS_MKV, ".mkv"))
    vtt, ass = info.subtitles
    assert (vtt.codec, vtt.language) == ("webvtt", "ger")
    assert vtt.cues == EXPECTED_CUES
    assert ass.cues == EXPECTED_CUES


def test_sidecar_srt_next_to_the_movie(library_root: Path) -> None:
    path = lib(library_root, "h264")
    info = probe(path)
    (side,) = info.subtitles
    assert side.external
    assert side.path == str(path.with_name("Big Test Movie (2020).en.srt"))
    assert (side.codec, side.language, side.stream_index) == ("subrip", "eng", None)
    assert side.cues == EXPECTED_CUES


def test_sidecar_ass_forced_with_styling(clip: ClipFn, tmp_path: Path) -> None:
    movie = tmp_path / "Film.mp4"
    movie.write_bytes(clip("plain", media.H264_AAC).read_bytes())
    (tmp_path / "Film.eng.forced.ass").write_text(
        "[Script Info]\nScriptType: v4.00+\n\n[Events]\n"
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
        "Dialogue: 0,0:00:01.00,0:00:02.50,Default,,0,0,0,,"
        "{\\an8\\pos(10,20)}Top {\\i1}line{\\i0}\\Nnext\n"
        "Dialogue: 0,0:00:00.50,0:00:00.90,Default,,0,0,0,,First <&>\n",
        encoding="utf-8",
    )
    (tmp_path / "Film.de.vtt").write_text(
        "WEBVTT\n\nNOTE a comment\n\n"
        "00:00.500 --> 00:01.000 align:start\n<v Bob>Hallo <i>Welt</i>\n",
        encoding="utf-8",
    )
    (tmp_path / "Other.en.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nNot ours\n")
    info = probe(movie)
    by_codec = {t.codec: t for t in info.subtitles}
    assert set(by_codec) == {"ass", "webvtt"}
    ass = by_codec["ass"]
    assert (ass.language, ass.forced, ass.external) == ("eng", True, True)
    assert ass.cues == (
        SubtitleCue(500, 900, "First &lt;&amp;&gt;"),
        SubtitleCue(1000, 2500, "Top <i>line</i>\nnext"),
    )
    assert by_codec["webvtt"].language == "ger"
    assert by_codec["webvtt"].cues == (SubtitleCue(500, 1000, "Hallo <i>Welt</i>"),)


def test_sidecars_given_by_the_scanner_are_used_without_listing(
    clip: ClipFn, tmp_path: Path
) -> None:
    movie = tmp_path / "Film.mp4"
    movie.write_bytes(clip("plain", media.H264_AAC).read_bytes())
    media.write_srt(tmp_path / "Film.en.srt")
    assert probe(movie, sidecars=[]).subtitles == ()
    assert len(probe(movie).subtitles) == 1


def test_sidecar_bytes_can_come_from_elsewhere_than_the_disk(clip: ClipFn, tmp_path: Path) -> None:
    """A torrent's subtitle files are read through its piece reader, not the disk."""
    movie = tmp_path / "Film.mp4"
    movie.write_bytes(clip("plain", media.H264_AAC).read_bytes())
    srt = media.write_srt(tmp_path / "staging.srt")
    named, skipped = tmp_path / "Film.en.srt", tmp_path / "Film.fr.srt"  # not on disk
    asked: list[Path] = []

    def read(path: Path) -> bytes | None:
        asked.append(path)
        return srt.read_bytes() if path == named else None

    info = probe(movie, sidecars=[named, skipped], read_sidecar=read)
    assert sorted(asked) == [named, skipped]
    (track,) = info.subtitles
    assert (track.language, track.path, track.cues[0].text) == ("eng", str(named), "Hello there")


# -- bad files ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("corrupt", "damaged"),
        ("zero", "empty (0 bytes)"),
        ("text", "contains text, not audio or video"),
    ],
)
def test_unreadable_files_fail_with_a_reason(library_root: Path, name: str, reason: str) -> None:
    path = lib(library_root, name)
    with pytest.raises(ProbeError) as err:
        probe(path)
    assert reason in err.value.message
    assert path.name in err.value.message
    assert err.value.code == "probe_failed"


def test_truncated_file_probes_with_its_real_duration(library_root: Path) -> None:
    """Decision: a truncated file whose header survives is playable for what it holds."""
    info = probe(lib(library_root, "truncated"))
    assert info.duration_s == pytest.approx(1.2, abs=0.1)
    assert info.keyframes is not None
    assert info.keyframes.times() == pytest.approx([0.0, 1.0])
    keys, end, _ = demux_pass(lib(library_root, "truncated"))
    assert (list(info.keyframes.pts), info.keyframes.end_pts) == (keys, end)
    # Only the cues that made it into the file.
    assert info.subtitles[0].cues == EXPECTED_CUES[:1]


def test_truncated_mp4s(clip: ClipFn, tmp_path: Path) -> None:
    # Index first: the sample table outlives the data; keyframes past the end are dropped.
    head = media.truncated_copy(clip("plain", media.H264_AAC), tmp_path / "head.mp4", keep=0.5)
    info = probe(head)
    assert info.keyframes is not None
    assert info.keyframes.times() == pytest.approx([0.0, 1.0])
    assert info.duration_s == pytest.approx(2.0, abs=0.1)
    # Index last: nothing to go on.
    tail = media.truncated_copy(
        clip("moov-end", media.MOOV_AT_END), tmp_path / "tail.mp4", keep=0.9
    )
    with pytest.raises(ProbeError, match=r"index \(moov atom\) is missing"):
        probe(tail)


def test_no_audio_or_video_streams(tmp_path: Path) -> None:
    srt = media.write_srt(tmp_path / "s.srt")
    only_subs = tmp_path / "subs-only.mp4"
    subprocess.run(
        [media.FFMPEG, "-loglevel", "error", "-i", str(srt), "-c:s", "mov_text", str(only_subs)],
        check=True,
    )
    with pytest.raises(ProbeError, match="no audio or video streams"):
        probe(only_subs)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ProbeError, match="does not exist"):
        probe(tmp_path / "nope.mkv")
    with pytest.raises(ProbeError, match="not a regular file"):
        probe(tmp_path)


def test_timings_are_reported(library_root: Path) -> None:
    _, t = probe_timed(lib(library_root, "hevc"))
    assert t.open_s > 0
    assert t.streams_s >= 0
    assert t.keyframes_s > 0
    assert t.subtitles_s > 0
    assert t.total_s == pytest.approx(t.open_s + t.streams_s + t.keyframes_s + t.subtitles_s)


class _Reads:
    """A file object over a real file that records what a probe reads and is told."""

    def __init__(self, path: Path) -> None:
        self._f = path.open("rb")
        self.reads: list[tuple[int, int]] = []
        self.hinted: list[tuple[int, int]] = []

    def read(self, size: int | None = -1, /) -> bytes:
        at = self._f.tell()
        data = self._f.read(size)
        self.reads.append((at, at + len(data)))
        return data

    def seek(self, offset: int, whence: int = 0, /) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()

    def will_need(self, ranges: list[tuple[int, int]]) -> None:
        self.hinted += ranges

    def close(self) -> None:
        self._f.close()


@pytest.mark.parametrize("name", ["h264", "moov_end", "hevc"])
def test_probe_through_a_file_object_matches_the_path_and_announces_its_reads(
    library_root: Path, name: str
) -> None:
    """Torrent files are probed through a reader (ferrite.torrent): same result as by
    path, and the ranges read after the index are announced before they are read."""
    path = lib(library_root, name)
    file = _Reads(path)
    try:
        streamed = probe(path, sidecars=[], file=file)
    finally:
        file.close()
    assert streamed == probe(path, sidecars=[])
    size = path.stat().st_size
    assert file.hinted
    assert all(0 <= a < b <= size for a, b in file.hinted)
    # Every announced range is really read (a hint that is never used wastes bandwidth).
    for a, b in file.hinted:
        assert any(x < b and a < y for x, y in file.reads), (a, b)
    # The last GOP is announced: from the index's last keyframe to the end of the file.
    assert max(b for _, b in file.hinted) == size
