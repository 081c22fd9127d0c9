"""HLS end to end: a real server, a real HLS client (PyAV/FFmpeg reading the URL)."""

from __future__ import annotations

import random
from pathlib import Path

import av
import pytest

from tests.hls.m3u8lint import lint_master, lint_media
from tests.live import Live


def source_frames(path: Path) -> list[float]:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        return sorted(float(f.pts * f.time_base) for f in c.decode(v))


def play_url(url: str) -> tuple[int, int, float | None, float | None]:
    """Decode a whole HLS presentation: (video frames, audio frames, first v pts, first a pts)."""
    with av.open(url, options={"allowed_extensions": "ALL"}) as c:
        vs = c.streams.video[0]
        streams = [vs, *c.streams.audio[:1]]
        frames = {"video": 0, "audio": 0}
        first: dict[str, float] = {}
        for frame in c.decode(*streams):
            kind = (frame.__class__.__name__.startswith("Video") and "video") or "audio"
            frames[kind] += 1
            if kind not in first and frame.pts is not None:
                first[kind] = float(frame.pts * frame.time_base)
    return frames["video"], frames["audio"], first.get("video"), first.get("audio")


def test_copy_rendition_plays_end_to_end_and_playlists_lint(live: Live) -> None:
    pb = live.play("Plain", protocol="hls")
    assert pb["method"] == "remux"
    assert "hls_required" in pb["reasons"]
    master = live.client.get(pb["url"])
    assert master.status_code == 200
    assert master.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    assert lint_master(master.text) == []
    base = pb["url"].split("master.m3u8")[0]
    uris = [line for line in master.text.splitlines() if line and not line.startswith("#")]
    uris += [
        part.split('URI="')[1].split('"')[0] for part in master.text.split("\n") if 'URI="' in part
    ]
    for uri in uris:
        media_pl = live.client.get(base + uri)
        assert media_pl.status_code == 200, uri
        assert lint_media(media_pl.text) == [], uri

    video, audio, v0, a0 = play_url(live.url(pb["url"]))
    assert video == len(source_frames(live.paths["Plain"]))
    assert audio > 0
    assert v0 is not None
    assert a0 is not None
    assert abs(v0 - a0) <= 1 / 24 + 0.03  # audio and video start together (AAC frame slack)


def test_random_order_segments_make_the_same_stream(live: Live) -> None:
    pb = live.play("Broadcast", device="roku", protocol="hls")  # TS-only device
    assert pb["container"] == "ts"
    base = live.url(pb["url"].split("master.m3u8")[0])
    video_id = pb["renditions"]["video"][0]["id"]
    token_base = base + f"t/{pb['token']}/v/{video_id}"
    playlist = live.client.get(token_base + ".m3u8").text
    names = [line for line in playlist.splitlines() if line.endswith(".ts")]
    order = list(range(len(names)))
    random.Random(7).shuffle(order)
    got = {i: live.client.get(f"{base}t/{pb['token']}/v/{names[i]}").content for i in order}
    joined = b"".join(got[i] for i in range(len(names)))
    out = Path(live.paths["Broadcast"]).with_name("joined.ts")
    out.write_bytes(joined)
    ours = source_frames(out)
    src = source_frames(live.paths["Broadcast"])
    assert len(ours) == len(src)
    offset = ours[0] - src[0]
    assert offset == pytest.approx(10.0, abs=1e-3)  # the documented timeline offset
    assert [round(t - offset, 4) for t in ours] == [round(t, 4) for t in src]


@pytest.mark.parametrize(
    ("suffix", "status"),
    [("999999.m4s", 404), ("abc.m4s", 400), ("-1.m4s", 400), ("0.ts", 404)],
)
def test_bad_segment_requests(live: Live, suffix: str, status: int) -> None:
    pb = live.play("Plain", protocol="hls")
    vid = pb["renditions"]["video"][0]["id"]
    r = live.client.get(pb["url"].split("master.m3u8")[0] + f"t/{pb['token']}/v/{vid}/{suffix}")
    assert r.status_code == status, r.text
    assert r.json()["error"]["status"] == status


def test_tokens_are_checked(live: Live) -> None:
    one = live.play("Plain", protocol="hls")
    two = live.play("Plain", protocol="hls")
    vid = one["renditions"]["video"][0]["id"]
    base = f"/api/playback/{one['session_id']}"
    good = live.client.get(f"{base}/t/{one['token']}/v/{vid}/0.m4s")
    assert good.status_code == 200
    # another session's token, a forged one, none at all, an unknown rendition
    assert live.client.get(f"{base}/t/{two['token']}/v/{vid}/0.m4s").status_code == 401
    forged = one["token"][:-4] + ("AAAA" if not one["token"].endswith("AAAA") else "BBBB")
    assert live.client.get(f"{base}/t/{forged}/v/{vid}/0.m4s").status_code == 401
    assert live.client.get(f"{base}/master.m3u8").status_code == 401
    assert live.client.get(f"{base}/t/{one['token']}/v/nope/0.m4s").status_code == 404
    # stop ends the session: its URLs are gone
    assert live.client.delete(f"{base}?token={one['token']}").status_code == 204
    assert live.client.get(f"{base}/t/{one['token']}/v/{vid}/0.m4s").status_code == 404
