"""The progressive fallback against real ffmpeg: fragmented MP4 (transcoded) and Matroska
(remuxed) from a requested position, decoded with PyAV; the process dies when the
consumer stops; it holds an admission slot while it lives."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from pathlib import Path

import av
import pytest

from ferrite.errors import Overloaded, TranscodeError
from ferrite.transcode.admission import Admission, Priority
from ferrite.transcode.process import live_pids
from ferrite.transcode.progressive import (
    ProgressiveJob,
    ProgressiveStream,
    progressive_argv,
    progressive_chunks,
)
from tests import media
from tests.transcode.runs_support import (
    RUNG,
    ffmpeg_children,
    paced_ffmpeg,
    proc_state,
    wait_until,
)

CLIP = media.Clip(duration=8.0)  # 320x180 H.264 24 fps, 1 s GOPs, AAC stereo


@pytest.fixture(scope="module")
def source(clip: Callable[..., Path]) -> Path:
    return clip("progressive", CLIP)


@pytest.fixture(autouse=True)
def _no_leaks() -> object:
    yield
    assert not live_pids()
    assert not ffmpeg_children()


def gray(frame: av.VideoFrame, width: int, height: int) -> bytes:
    g = frame.reformat(width=width, height=height, format="gray")
    plane = g.planes[0]
    raw = bytes(plane)
    return b"".join(raw[y * plane.line_size : y * plane.line_size + width] for y in range(height))


def diff(a: bytes, b: bytes) -> float:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


def position_of(picture: bytes, path: Path) -> float:
    """The time of the source frame (sampled every half second) that looks most like
    ``picture``: where in the film a stream's first frame comes from."""
    samples: dict[float, bytes] = {}
    with av.open(str(path), mode="r") as c:
        for f in c.decode(c.streams.video[0]):
            assert f.time is not None
            if round(f.time * 2) == f.time * 2:
                samples[f.time] = gray(f, RUNG.width, RUNG.height)
    return min(samples, key=lambda t: diff(picture, samples[t]))


def decode(data: bytes) -> tuple[list[float], list[bool], bytes, int]:
    """(video frame times, keyframe flags, first frame as 160x90 gray, audio frames)."""
    with av.open(io.BytesIO(data), mode="r") as c:
        times: list[float] = []
        keys: list[bool] = []
        first = b""
        for f in c.decode(c.streams.video[0]):
            assert f.time is not None
            if not first:
                first = gray(f, RUNG.width, RUNG.height)
            times.append(f.time)
            keys.append(f.key_frame)
    audio = 0
    with av.open(io.BytesIO(data), mode="r") as c:
        if c.streams.audio:
            audio = len(list(c.decode(c.streams.audio[0])))
    return times, keys, first, audio


async def collect(stream: ProgressiveStream) -> bytes:
    out = bytearray()
    async with stream:
        async for chunk in stream:
            out += chunk
    return bytes(out)


def test_fragmented_mp4_transcode_starts_at_the_requested_position(source: Path) -> None:
    job = ProgressiveJob(
        input=str(source),
        start_s=4.0,
        container="mp4",
        video_stream=0,
        video_rung=RUNG,
        audio_stream=1,
        audio_channels=2,
        audio_bitrate=96_000,
        ffmpeg=media.FFMPEG,
        preset="ultrafast",
    )
    argv = progressive_argv(job)
    assert "frag_keyframe+empty_moov+default_base_moof" in argv

    async def main() -> bytes:
        adm = Admission(1, timeout_s=5)
        stream = ProgressiveStream(job, admission=adm)
        assert stream.media_type == "video/mp4"
        data = await collect(stream)
        assert adm.in_use == 0
        return data

    data = asyncio.run(main())
    assert data[4:8] == b"ftyp"
    assert b"moof" in data  # fragmented: playable while it downloads
    times, keys, first, audio = decode(data)
    assert keys[0]
    assert len(times) == pytest.approx(4 * 24, abs=2)  # the last 4 s of 8
    assert audio > 0
    assert position_of(first, source) == 4.0  # the picture is the source's at 4 s


def test_matroska_remux_copies_video_from_the_keyframe_at_the_position(source: Path) -> None:
    job = ProgressiveJob(
        input=str(source),
        start_s=2.0,
        container="matroska",
        video_stream=0,
        audio_stream=1,
        ffmpeg=media.FFMPEG,
    )
    assert "copy" in progressive_argv(job)

    async def main() -> bytes:
        return await collect(ProgressiveStream(job, admission=Admission(1, timeout_s=5)))

    data = asyncio.run(main())
    assert data[:4] == b"\x1a\x45\xdf\xa3"  # EBML
    times, keys, first, audio = decode(data)
    assert keys[0]
    assert len(times) == 6 * 24
    assert audio > 0
    assert position_of(first, source) == 2.0


def test_the_process_dies_when_the_consumer_stops_and_the_slot_is_held_meanwhile(
    source: Path, tmp_path: Path
) -> None:
    # Paced to real time, so ffmpeg is still running when the consumer walks away.
    job = ProgressiveJob(
        input=str(source),
        video_stream=0,
        video_rung=RUNG,
        audio_stream=1,
        audio_channels=2,
        ffmpeg=paced_ffmpeg(tmp_path, 1.0),
        preset="ultrafast",
    )

    async def main() -> None:
        adm = Admission(1, timeout_s=0.3)

        # 1. aclose() after a few chunks (the HTTP layer on disconnect).
        stream = ProgressiveStream(job, admission=adm, chunk_bytes=1024)
        got = [await anext(stream) for _ in range(3)]
        assert all(got)
        pid = stream.pid
        assert pid is not None
        assert proc_state(pid) in {"R", "S"}
        assert adm.in_use == 1  # the slot is held while ffmpeg lives
        with pytest.raises(Overloaded):  # ... so a second stream can't start
            await ProgressiveStream(job, admission=adm).start()
        await stream.aclose()
        assert proc_state(pid) is None  # killed and reaped
        assert adm.in_use == 0
        with pytest.raises(StopAsyncIteration):
            await anext(stream)

        # 2. A generator the consumer abandons (break + aclose).
        gen = progressive_chunks(job, admission=adm, priority=Priority.PLAYBACK)
        async for _ in gen:
            break
        assert adm.in_use == 1
        await gen.aclose()
        assert adm.in_use == 0

        # 3. The consumer task is cancelled mid-stream (a client disconnect).
        pids: list[int] = []

        async def consume() -> None:
            async with ProgressiveStream(job, admission=adm) as s:
                assert s.pid is not None
                pids.append(s.pid)
                async for _ in s:
                    pass

        task = asyncio.create_task(consume())
        await wait_until(lambda: bool(pids))
        await asyncio.sleep(0.2)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert proc_state(pids[0]) is None
        assert adm.in_use == 0

    asyncio.run(main())


def test_a_stream_that_fails_before_any_byte_is_a_transcode_error(tmp_path: Path) -> None:
    job = ProgressiveJob(input=str(tmp_path / "missing.mkv"), video_stream=0, ffmpeg=media.FFMPEG)

    async def main() -> None:
        adm = Admission(1, timeout_s=5)
        with pytest.raises(TranscodeError, match="progressive stream failed"):
            await collect(ProgressiveStream(job, admission=adm))
        assert adm.in_use == 0

    asyncio.run(main())
    with pytest.raises(ValueError, match="video or audio"):
        progressive_argv(ProgressiveJob(input="x"))


def test_a_consumer_that_stops_pulling_yields_the_slot_and_then_the_stream_ends(
    source: Path, tmp_path: Path
) -> None:
    job = ProgressiveJob(
        input=str(source),
        video_stream=0,
        video_rung=RUNG,
        audio_stream=1,
        audio_channels=2,
        ffmpeg=paced_ffmpeg(tmp_path, 1.0),  # still at work while its reader lags
        preset="ultrafast",
    )

    async def main() -> None:
        adm = Admission(1, timeout_s=20)
        stream = ProgressiveStream(
            job, admission=adm, chunk_bytes=1024, yield_after_s=0.2, idle_s=4.0
        )
        assert await anext(stream)
        pid = stream.pid
        assert pid is not None
        # The reader lags: another transcode gets the only slot (it waited 20 s, then 503).
        lease = await adm.acquire(Priority.PLAYBACK)
        assert proc_state(pid) in {"R", "S"}  # the stream's ffmpeg lives on, slotless
        assert not stream.holds_slot
        lease.release()
        # The reader comes back: it takes a slot again and goes on.
        assert await anext(stream)
        assert stream.holds_slot
        # It stops pulling for good: ffmpeg is killed and reaped, the slot freed.
        await wait_until(lambda: proc_state(pid) is None, within=60)
        assert adm.in_use == 0
        with pytest.raises(StopAsyncIteration):
            await anext(stream)
        await stream.aclose()

    asyncio.run(main())
    assert not live_pids()
