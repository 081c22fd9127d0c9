"""Media shaped like real libraries, played end to end by a strict HLS client.

x264's default 10 s GOPs, irregular open GOPs with B-frames, HEVC Main 10 with a 10 s
GOP and two audio tracks, variable frame rate, 4K, MPEG-2 in MPEG-TS starting at ten
hours, and the bad ones (one keyframe for the whole file, audio longer than video, a
truncated tail). For each, every segment of every rendition the master names is fetched,
lasts its EXTINF, joins its neighbours, and decodes in FFmpeg reading the playlist.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urljoin

import av
import pytest

from tests import media
from tests.hls.hlscheck import check_presentation
from tests.live import Live, place, start_live


def _audio_longer_than_video(path: Path, video_s: int = 8, audio_s: int = 11) -> Path:
    """8 s of video, 11 s of audio (a common shape of badly cut files)."""
    cmd = [
        *(media.FFMPEG, "-hide_banner", "-loglevel", "error", "-y"),
        *("-f", "lavfi", "-i", f"testsrc2=size=426x240:rate=24:duration={video_s}"),
        *("-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={audio_s}"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-g", "48", "-c:a", "aac"),
        str(path),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(cmd, check=True, capture_output=True)
    return path


TITLES = {
    "Long Gop": ("mp4", media.GOP10_MP4),
    "Irregular Gop": ("mkv", media.IRREGULAR_GOP_MKV),
    "Open Gop": ("mkv", media.OPEN_GOP_MKV),
    "Hevc Ten": ("mkv", media.HEVC10_GOP10),
    "Variable": ("mp4", media.VFR_MP4),
    "Ultra": ("mp4", media.UHD_MP4),
    "Broadcast Two": ("ts", media.MPEG2_TS),
    "One Keyframe": ("mp4", media.ONE_KEYFRAME),
}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, clip: Callable[..., Path]) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("real-media")
    movies = root / "movies"
    paths: dict[str, Path] = {}
    for i, (title, (ext, spec)) in enumerate(TITLES.items()):
        name = f"{title} ({2000 + i})"
        src = clip("real-" + title.lower().replace(" ", "-"), spec, f".{ext}")
        paths[title] = place(src, movies / name / f"{name}.{ext}")
    name = "Long Audio (2011)"
    paths["Long Audio"] = _audio_longer_than_video(movies / name / f"{name}.mp4")
    name = "Long Audio Mkv (2013)"
    paths["Long Audio Mkv"] = _audio_longer_than_video(movies / name / f"{name}.mkv")
    name = "Short Audio (2014)"
    paths["Short Audio"] = _audio_longer_than_video(movies / name / f"{name}.mp4", 10, 5)
    whole = media.make_clip(root / "whole.mkv", media.Clip(duration=12.0, size=(426, 240), gop=2))
    name = "Cut Short (2012)"
    (movies / name).mkdir()
    paths["Cut Short"] = media.truncated_copy(whole, movies / name / f"{name}.mkv", keep=0.6)
    with start_live(root, [movies], paths) as live:
        yield live


def source_video_frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.demux(c.streams.video[0]) if _.size)


def source_keyframes(path: Path) -> set[float]:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        tb = v.time_base
        assert tb is not None
        return {round(float(p.pts * tb), 2) for p in c.demux(v) if p.is_keyframe}


def play(live: Live, title: str, device: str = "chrome") -> tuple[dict[str, object], str]:
    pb = live.play(title, device=device, protocol="hls")
    return pb, live.url(str(pb["url"]))


def test_x264_default_gops_copy_on_keyframes(live: Live) -> None:
    pb, url = play(live, "Long Gop")
    assert pb["method"] == "remux"
    p = check_presentation(live.client, url)
    (copy,) = p.of_kind("video")
    # One copy segment per 10.4 s GOP, the last one shorter: never a segment the
    # packager can't cut.
    assert [round(d, 3) for d in copy.extinf] == [10.417] * 6 + [1.5]
    assert copy.frames == source_video_frames(live.paths["Long Gop"])
    (audio,) = p.of_kind("audio")
    assert max(audio.extinf) <= 2.1  # audio on the short grid
    assert "#EXT-X-TARGETDURATION:10" in live.client.get(copy.uri).text


def test_irregular_gops_copy_and_transcoded_rungs_share_boundaries(live: Live) -> None:
    _, url = play(live, "Irregular Gop")
    p = check_presentation(live.client, url)
    videos = p.of_kind("video")
    assert len(videos) >= 2  # the copy and at least one transcoded rung
    copy = next(v for v in videos if "/v/copy.m3u8" in v.uri)
    # Cut at the source's keyframes (irregular: forced ones, and where keyint=250 forced
    # x264 to place one).
    keyframes = source_keyframes(live.paths["Irregular Gop"])
    assert len(keyframes) >= 7
    assert {round(t, 2) for t in _starts(copy.extinf)} <= keyframes
    assert max(copy.extinf) > 10  # long copy segments, not copy refused
    frames = source_video_frames(live.paths["Irregular Gop"])
    assert copy.frames == frames
    for rung in videos:
        if rung is copy:
            continue
        assert max(rung.extinf) <= 2.5  # transcoded: the short grid, whatever the GOP
        assert rung.frames == frames
        # Every copy boundary is a boundary of the rung: ABR switches stay seamless.
        copy_starts = {round(s, 3) for s in _starts(copy.extinf)}
        assert copy_starts <= {round(s, 3) for s in _starts(rung.extinf)}


def test_open_gops_are_transcoded_not_copied(live: Live) -> None:
    """Segments cut at H.264 recovery points would not decode on their own (browsers fail
    on them after a seek): the video is converted on the short grid instead."""
    pb, url = play(live, "Open Gop")
    assert pb["method"] == "transcode"
    assert "open_gop" in pb["reasons"]
    p = check_presentation(live.client, url)
    frames = source_video_frames(live.paths["Open Gop"])
    for rung in p.of_kind("video"):
        assert "/v/copy" not in rung.uri
        assert max(rung.extinf) <= 2.5
        assert rung.frames == frames


def _starts(durations: list[float]) -> list[float]:
    out, t = [], 0.0
    for d in durations:
        out.append(t)
        t += d
    return out


def test_hevc_main10_long_gop_transcodes_on_a_two_second_grid(live: Live) -> None:
    pb, url = play(live, "Hevc Ten")
    assert pb["method"] == "transcode"
    p = check_presentation(live.client, url)
    frames = source_video_frames(live.paths["Hevc Ten"])
    for rung in p.of_kind("video"):
        assert max(rung.extinf) <= 2.1
        assert rung.frames == frames
    audio = p.of_kind("audio")
    assert len(audio) == 2  # both tracks, each plays
    assert all(a.frames > 0 for a in audio)
    assert len(p.of_kind("subtitles")) == 2


def test_second_audio_track_of_a_transcode_starts_like_the_first(live: Live) -> None:
    """The French track of the HEVC file, chosen at the start: its playlist and first
    segment answer at once, and the video still plays."""
    item = live.items["Hevc Ten"]
    detail = live.client.get(f"/api/items/{item}", headers=live.headers).json()
    french = next(
        s["index"]
        for s in detail["files"][0]["streams"]
        if s["type"] == "audio" and s["language"] == "fre"
    )
    pb = live.play("Hevc Ten", audio_stream=french, protocol="hls")
    master_url = live.url(pb["url"])
    master = live.client.get(master_url).text
    default = next(
        line for line in master.splitlines() if "TYPE=AUDIO" in line and "DEFAULT=YES" in line
    )
    assert 'LANGUAGE="fr"' in default
    uri = default.split('URI="')[1].split('"')[0]
    playlist = live.client.get(urljoin(master_url, uri))
    assert playlist.status_code == 200
    first = next(line for line in playlist.text.splitlines() if line and line[0] != "#")
    seg = live.client.get(urljoin(urljoin(master_url, uri), first))
    assert seg.status_code == 200


@pytest.mark.parametrize("title", ["Variable", "Ultra", "Broadcast Two"])
def test_every_segment_of_every_rendition_plays(live: Live, title: str) -> None:
    _, url = play(live, title)
    p = check_presentation(live.client, url)
    frames = source_video_frames(live.paths[title])
    videos = p.of_kind("video")
    assert videos
    for rung in videos:
        assert rung.frames == frames, rung.uri
    assert all(a.frames > 0 for a in p.of_kind("audio"))


def test_broadcast_ts_keeps_its_timeline(live: Live) -> None:
    _, url = play(live, "Broadcast Two", device="safari")
    p = check_presentation(live.client, url)
    for r in p.renditions:
        if r.spans:
            # Source time (36000 s) plus the packaging offset, on every rendition.
            assert 36000 <= r.spans[0][0] <= 36000 + 30


def test_a_file_with_one_keyframe_is_transcoded_not_cut_wrong(live: Live) -> None:
    pb, url = play(live, "One Keyframe")
    assert pb["method"] == "transcode"
    assert "keyframes_too_far" in pb["reasons"]
    p = check_presentation(live.client, url)
    for rung in p.of_kind("video"):
        assert "/v/copy" not in rung.uri
        assert max(rung.extinf) <= 2.1
        assert rung.frames == source_video_frames(live.paths["One Keyframe"])


def test_audio_longer_than_video_plays_to_its_end(live: Live) -> None:
    _, url = play(live, "Long Audio")
    p = check_presentation(live.client, url)
    (audio,) = p.of_kind("audio")
    (video,) = p.of_kind("video")
    assert sum(video.extinf) == pytest.approx(8.0, abs=0.05)
    assert sum(audio.extinf) == pytest.approx(11.0, abs=0.05)  # the audio's own segments
    assert audio.frames == pytest.approx(11.0 * 48000 / 1024, abs=2)
    assert video.frames == source_video_frames(live.paths["Long Audio"])


def test_audio_longer_than_video_in_matroska(live: Live) -> None:
    _, url = play(live, "Long Audio Mkv")
    p = check_presentation(live.client, url)
    (audio,) = p.of_kind("audio")
    assert sum(audio.extinf) == pytest.approx(11.0, abs=0.05)
    assert audio.frames == pytest.approx(11.0 * 48000 / 1024, abs=2)


def test_audio_shorter_than_video_ends_early_and_the_picture_plays_on(live: Live) -> None:
    _, url = play(live, "Short Audio")
    p = check_presentation(live.client, url)
    (audio,) = p.of_kind("audio")
    (video,) = p.of_kind("video")
    assert video.frames == source_video_frames(live.paths["Short Audio"])
    assert audio.frames == pytest.approx(5.0 * 48000 / 1024, abs=2)


def test_truncated_file_plays_what_it_has(live: Live) -> None:
    _, url = play(live, "Cut Short")
    p = check_presentation(live.client, url)
    assert p.of_kind("video")[0].frames > 0
