"""Devices without HLS get one progressive stream (remux or transcode) from a position."""

from __future__ import annotations

import io

import av

from tests.live import Live

NO_HLS = {"containers": ["mp4"], "video": ["h264"], "audio": ["aac"], "hls": False}


def decode(data: bytes) -> tuple[int, float, set[str]]:
    with av.open(io.BytesIO(data)) as c:
        kinds = {s.type for s in c.streams}
        frames = [f for f in c.decode(video=0)]
    return len(frames), float(frames[0].pts * frames[0].time_base), kinds


def test_transcoded_progressive_stream_starts_where_asked(live: Live) -> None:
    pb = live.play("Multi", device=NO_HLS)  # HEVC 10-bit in MKV: must be transcoded
    assert (pb["method"], pb["protocol"], pb["container"]) == ("transcode", "progressive", "mp4")
    whole = live.client.get(pb["url"])
    assert whole.status_code == 200
    assert whole.headers["content-type"] == "video/mp4"
    frames, _, kinds = decode(whole.content)
    assert frames >= 90  # 4 s at 24 fps
    assert kinds == {"video", "audio"}
    later = live.client.get(pb["url"] + "&start_s=2")
    assert later.status_code == 200, later.text[:300]
    assert len(later.content) > 1000, later.content[:300]
    frames_later, _, _ = decode(later.content)
    assert 36 <= frames_later <= 60  # about the last two seconds


def test_remuxed_progressive_stream_for_a_ts_file(live: Live) -> None:
    pb = live.play("Broadcast", device=NO_HLS)  # H.264 in TS: the video is copied
    assert (pb["method"], pb["protocol"]) == ("remux", "progressive")
    frames, _, _ = decode(live.client.get(pb["url"]).content)
    assert frames >= 90
