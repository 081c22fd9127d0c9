"""Helpers for the transcode run tests (test_runs*.py, test_progressive.py): a source clip
with its real segment plan, job factories, a fake clock, and process inspection through
/proc (state letters, CPU ticks, children of this test process)."""

from __future__ import annotations

import asyncio
import io
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import av
import pytest
from prometheus_client import REGISTRY

from ferrite import config
from ferrite.hls.plan import SegmentPlan, make_plans
from ferrite.library.probe import probe
from ferrite.media.info import MediaInfo
from ferrite.media.renditions import Rung
from ferrite.transcode.job import TranscodeJob, VideoJob
from ferrite.transcode.process import FfmpegProcess, live_pids
from ferrite.transcode.run import RunInfo
from ferrite.transcode.run_key import RenditionKey
from ferrite.transcode.runs import JobFactory, RunManager
from tests import media

#: A "720p from 1080p"-like rung at test size: 320x180 in, 160x90 out.
RUNG = Rung(
    id="90p",
    codec="h264",
    width=160,
    height=90,
    bitrate=200_000,
    maxrate=250_000,
    bufsize=500_000,
    frame_rate=None,
    profile="high",
    level=30,
)
FPS = 24
#: 30 s of 320x180 H.264, 24 fps, 1 s GOPs, no audio: 30 one-second segments.
LONG = media.Clip(duration=30.0, audio=())


def paced_ffmpeg(directory: Path, rate: float = 4.0) -> str:
    """A wrapper that runs the real ffmpeg with ``-readrate`` (an input option, so it
    applies to the ``-i`` that follows): the run makes ~``rate`` seconds of media per
    second, like a real-size transcode. Unpaced, a 160x90 encode runs at hundreds of
    times real time and is far ahead by the time any event about it is handled."""
    path = directory / f"ffmpeg-paced-{rate:g}"
    if not path.exists():
        path.write_text(f'#!/bin/sh\nexec "{media.FFMPEG}" -readrate {rate:g} "$@"\n')
        path.chmod(0o755)
    return str(path)


@dataclass
class Source:
    path: Path
    info: MediaInfo
    plan: SegmentPlan
    ffmpeg: str = media.FFMPEG
    boundaries: tuple[float, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.boundaries = tuple(self.plan.start(i) for i in range(len(self.plan)))

    @classmethod
    def of(cls, path: Path, *, target_s: float = 1.0, ffmpeg: str = media.FFMPEG) -> Source:
        info = probe(path)
        plan = make_plans(
            info.keyframes, duration_s=info.duration_s, start_s=info.start_time_s, target_s=target_s
        ).grid
        return cls(path, info, plan, ffmpeg)

    def job(self, start: int, **changes: Any) -> TranscodeJob:
        video = self.info.video
        assert video is not None
        job = TranscodeJob(
            input=str(self.path),
            boundaries=self.boundaries,
            start_index=start,
            out_dir="",  # the manager decides
            video=VideoJob.for_stream(video, RUNG),
            source_start_s=self.info.start_time_s,
            ffmpeg=self.ffmpeg,
            preset="ultrafast",
            threads=1,
        )
        return replace(job, **changes)

    def factory(self, **changes: Any) -> JobFactory:
        def make(start: int) -> TranscodeJob:
            return self.job(start, **changes)

        return make

    def key(self, rendition: str = RUNG.id, **changes: Any) -> RenditionKey:
        return RenditionKey.for_job("f" * 40, self.plan.key, rendition, self.job(0, **changes))


def settings(data_dir: Path, **overrides: Any) -> config.Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "transcode_slots": 2,
        "transcode_queue_timeout_s": 5.0,
        "transcode_idle_s": 60.0,
        "transcode_ahead_s": 600.0,
    }
    values.update(overrides)
    return config.load(values, environ={})


@dataclass(frozen=True)
class Frame:
    pts: float
    key: bool
    width: int
    height: int


def decode_ts(data: bytes) -> list[Frame]:
    """Decode one MPEG-TS segment (bytes) with PyAV."""
    out: list[Frame] = []
    with av.open(io.BytesIO(data), mode="r", format="mpegts") as container:
        stream = container.streams.video[0]
        for f in container.decode(stream):
            assert f.pts is not None
            assert f.time_base is not None
            out.append(Frame(float(f.pts * f.time_base), f.key_frame, f.width, f.height))
    return out


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, utime + stime in clock ticks) of ``pid``; None when it's gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[11]) + int(fields[12])


def proc_state(pid: int) -> str | None:
    stat = proc_stat(pid)
    return None if stat is None else stat[0]


def ffmpeg_children() -> set[int]:
    """Pids of ffmpeg processes that are children of this test process (zombies too)."""
    pids: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            text = (task / "children").read_text()
        except OSError:
            continue
        for pid in text.split():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"ffmpeg" in cmd:
                pids.add(int(pid))
    return pids


async def wait_until(predicate: Callable[[], bool], within: float = 20.0) -> None:
    """Test-side polling of an observable condition (the code under test never polls)."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


# --- driving a manager in a test -------------------------------------------------------

Body = Callable[[RunManager], Awaitable[None]]


@pytest.fixture
def spawns(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """argv of every ffmpeg the code under test starts."""
    seen: list[list[str]] = []
    original = FfmpegProcess.spawn.__func__  # type: ignore[attr-defined]

    async def spy(cls: type[FfmpegProcess], /, argv: list[str], **kw: Any) -> FfmpegProcess:
        seen.append(list(argv))
        proc: FfmpegProcess = await original(cls, argv, **kw)
        return proc

    monkeypatch.setattr(FfmpegProcess, "spawn", classmethod(spy))
    return seen


def starts(spawns: list[list[str]]) -> list[int]:
    return [int(argv[argv.index("-segment_start_number") + 1]) for argv in spawns]


def drive(
    tmp_path: Path,
    body: Body,
    *,
    clock: Callable[[], float] = time.monotonic,
    reap_interval_s: float | None = None,
    **overrides: Any,
) -> None:
    """Run ``body`` against a fresh manager, close it, and check nothing leaked."""

    async def main() -> None:
        mgr = RunManager(
            settings(tmp_path, **overrides), clock=clock, reap_interval_s=reap_interval_s
        )
        async with mgr:
            await body(mgr)

    asyncio.run(main())
    assert not live_pids()
    assert not ffmpeg_children()
    root = tmp_path / "transcode"
    assert not root.exists() or not list(root.iterdir())


def gauge(state: str) -> float:
    value = REGISTRY.get_sample_value("active_transcodes", {"state": state})
    return value or 0.0


def only_run(mgr: RunManager) -> RunInfo:
    (run,) = mgr.runs()
    return run


def check_segment(src: Source, index: int, data: bytes) -> None:
    """What a player would notice: the segment decodes, starts with a keyframe exactly at
    its plan boundary, holds exactly its plan span, at the rung's size."""
    frames = decode_ts(data)
    start, end = src.plan.start(index), src.plan.end(index)
    assert frames, f"segment {index} has no frames"
    assert frames[0].key
    assert frames[0].pts == pytest.approx(start, abs=0.5 / FPS)
    assert all(start - 0.5 / FPS <= f.pts < end - 0.5 / FPS for f in frames)
    assert len(frames) == round((end - start) * FPS)
    assert {(f.width, f.height) for f in frames} == {(RUNG.width, RUNG.height)}
