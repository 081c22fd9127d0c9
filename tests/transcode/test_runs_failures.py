"""Transcode runs when ffmpeg fails: killed mid-run, dying at an undecodable segment, a
source shorter than its plan, a hardware encoder that can't open, no ffmpeg at all.

Real ffmpeg conceals corrupt data in the middle of a file (it logs decode errors, exits 0
and still produces every segment), so "ffmpeg can't decode from segment X on" is made
deterministic with a wrapper that runs the real ffmpeg and dies, like a decoder crash,
when it reaches segment X.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from ferrite.errors import TranscodeError
from ferrite.transcode.admission import Priority
from ferrite.transcode.runs import RunManager
from tests import media
from tests.transcode.runs_support import (
    LONG,
    Source,
    check_segment,
    drive,
    only_run,
    paced_ffmpeg,
    proc_state,
    spawns,
    starts,
    wait_until,
)

__all__ = ["spawns"]  # a fixture


@pytest.fixture(scope="module")
def src(clip: Callable[..., Path], media_root: Path) -> Source:
    return Source.of(clip("runs-long", LONG), ffmpeg=paced_ffmpeg(media_root))


def restarts() -> float:
    return REGISTRY.get_sample_value("ffmpeg_restarts_total") or 0.0


def crashing_ffmpeg(directory: Path, bad: int) -> str:
    """A real ffmpeg that dies (exit 1, a decoder error on stderr) when it reaches
    segment ``bad``; runs that start past it are untouched."""
    path = directory / f"ffmpeg-dies-at-{bad}"
    path.write_text(
        f"""#!{sys.executable}
import subprocess, sys
argv = sys.argv[1:]
start = int(argv[argv.index("-segment_start_number") + 1])
proc = subprocess.Popen([{media.FFMPEG!r}, *argv], stdout=subprocess.PIPE)
for raw in proc.stdout:
    if start <= {bad} <= int(raw.split(b".")[0]):
        proc.kill()
        proc.wait()
        sys.stderr.write("[h264 @ 0x1] Invalid NAL unit size (1234 > 567)\\n")
        sys.stderr.write("Error while decoding stream #0:0: Invalid data found\\n")
        sys.exit(1)
    sys.stdout.buffer.write(raw)
    sys.stdout.buffer.flush()
sys.exit(proc.wait())
"""
    )
    path.chmod(0o755)
    return str(path)


def test_sigkill_mid_run_the_next_request_recovers(
    src: Source, tmp_path: Path, spawns: list[list[str]]
) -> None:
    key, factory = src.key(), src.factory()
    before = restarts()

    async def body(mgr: RunManager) -> None:
        check_segment(src, 0, await mgr.segment(factory, key, 0, session="a"))
        await wait_until(lambda: only_run(mgr).state == "paused")
        run = only_run(mgr)
        assert run.pid is not None
        os.kill(run.pid, signal.SIGKILL)  # not by us: a crash
        await wait_until(lambda: only_run(mgr).state == "done")
        pid = run.pid
        await wait_until(lambda: proc_state(pid) is None)  # reaped
        n = run.next
        # The next segment the dead run didn't make: a restart there, counted.
        check_segment(src, n, await mgr.segment(factory, key, n, session="a"))
        assert restarts() == before + 1
        assert sorted((r.start, r.attempt) for r in mgr.runs(key)) == [(0, 0), (n, 1)]
        # What the dead run made before it died is still served, without a new ffmpeg.
        check_segment(src, 1, await mgr.segment(factory, key, 1, session="a"))
        check_segment(src, n + 1, await mgr.segment(factory, key, n + 1, session="a"))

    drive(tmp_path, body, transcode_ahead_s=3.0)
    assert len(starts(spawns)) == 2


def test_a_crash_while_a_viewer_waits_restarts_the_run_for_it(
    src: Source, tmp_path: Path, spawns: list[list[str]]
) -> None:
    key, factory = src.key(), src.factory()
    before = restarts()

    async def body(mgr: RunManager) -> None:
        adm = mgr.admission
        check_segment(src, 0, await mgr.segment(factory, key, 0, session="a"))
        await wait_until(lambda: only_run(mgr).state == "paused")
        run = only_run(mgr)
        assert run.pid is not None
        n = run.next
        held = await adm.acquire(Priority.PLAYBACK)  # the only slot is busy elsewhere
        # The viewer wants a segment the paused run hasn't made: it waits for the slot.
        waiter = asyncio.create_task(mgr.segment(factory, key, n, session="a"))
        await wait_until(lambda: adm.waiting == 1)
        os.kill(run.pid, signal.SIGKILL)
        # The dead run left the queue; its replacement (a restart at n) joined it.
        await wait_until(lambda: any(r.start == n and r.state == "queued" for r in mgr.runs()))
        assert adm.waiting == 1
        assert not waiter.done()
        held.release()
        check_segment(src, n, await waiter)
        assert restarts() == before + 1

    drive(tmp_path, body, transcode_slots=1, transcode_ahead_s=3.0)
    assert starts(spawns) == [0, starts(spawns)[1]]


def test_an_undecodable_segment_fails_clearly_and_later_ones_play(
    src: Source, tmp_path: Path, spawns: list[list[str]]
) -> None:
    bad = 5
    factory = src.factory(ffmpeg=crashing_ffmpeg(tmp_path, bad))
    key = src.key()
    before = restarts()

    async def body(mgr: RunManager) -> None:
        for i in range(bad):
            check_segment(src, i, await mgr.segment(factory, key, i, session="a"))
        with pytest.raises(TranscodeError) as caught:
            await mgr.segment(factory, key, bad, session="a")
        message = caught.value.message
        assert f"segment {bad}" in message
        # ffmpeg's own words (paths, feed URLs) go to the log, never to the client.
        assert "Invalid data found" not in message
        assert "Invalid data found" in (caught.value.detail or "")
        assert caught.value.status == 500
        # Restarted once at the bad segment, which failed again: no more attempts for a
        # while, the request fails at once.
        assert restarts() == before + 1
        spawned = len(spawns)
        with pytest.raises(TranscodeError):
            await mgr.segment(factory, key, bad, session="a")
        assert len(spawns) == spawned
        # Past it, a new run plays on.
        for i in range(bad + 1, bad + 4):
            check_segment(src, i, await mgr.segment(factory, key, i, session="a"))

    drive(tmp_path, body)
    assert starts(spawns) == [0, bad, bad + 1]


def test_a_source_shorter_than_its_plan_fails_past_its_end_with_a_clear_error(
    src: Source, tmp_path: Path
) -> None:
    # The file was cut after it was scanned: the plan (from the scan) is longer than
    # what ffmpeg can read. moov is at the start, so the index still lists every sample.
    short = tmp_path / "short.mp4"
    media.truncated_copy(src.path, short, keep=0.5)
    cut = Source(short, src.info, src.plan, media.FFMPEG)
    key, factory = cut.key(), cut.factory()

    async def body(mgr: RunManager) -> None:
        served = 0
        error: TranscodeError | None = None
        for i in range(len(src.plan)):
            try:
                data = await mgr.segment(factory, key, i, session="a")
            except TranscodeError as exc:
                error = exc
                break
            if i < 10:
                check_segment(src, i, data)
            served += 1
        assert 5 <= served <= 20  # roughly the first half plays, then a clear error
        assert error is not None
        assert "failed: ffmpeg" in error.message
        assert f"segment {served}" in error.message
        # Past the end of what's readable, every segment fails the same clear way (and
        # no empty segment is ever handed out as if it were media).
        for i in (served + 1, len(src.plan) - 1):
            with pytest.raises(TranscodeError) as caught:
                await mgr.segment(factory, key, i, session="a")
            # ffmpeg either finds nothing there or fails on the cut data, depending on
            # where its seek lands: a clear error either way.
            message = caught.value.message
            assert "the source ends early" in message or "failed: ffmpeg" in message

    drive(tmp_path, body)


def test_a_hardware_encoder_that_cannot_open_falls_back_to_software(
    src: Source, tmp_path: Path, spawns: list[list[str]]
) -> None:
    factory = src.factory(hwaccel="vaapi", vaapi_device="/dev/dri/ferrite-test-missing")
    key = src.key(hwaccel="vaapi")
    assert key == src.key()  # hardware and software segments are interchangeable
    before = restarts()

    async def body(mgr: RunManager) -> None:
        check_segment(src, 0, await mgr.segment(factory, key, 0, session="a"))
        # Later runs go straight to software.
        check_segment(src, 20, await mgr.segment(factory, key, 20, session="b"))

    drive(tmp_path, body, transcode_ahead_s=3.0)
    assert restarts() == before  # a fallback is not a crash
    hw = ["-init_hw_device" in argv for argv in spawns]
    assert hw == [True, False, False]
    assert "libx264" in spawns[1]
    assert starts(spawns) == [0, 0, 20]


def test_no_ffmpeg_binary_is_a_clear_error_not_a_restart_loop(
    src: Source, tmp_path: Path, spawns: list[list[str]]
) -> None:
    factory = src.factory(ffmpeg=str(tmp_path / "no-such-ffmpeg"))
    key = src.key()

    async def body(mgr: RunManager) -> None:
        for _ in range(2):
            with pytest.raises(TranscodeError) as caught:
                await mgr.segment(factory, key, 0, session="a")
            assert "could not start ffmpeg" in caught.value.message
        assert mgr.admission.in_use == 0

    drive(tmp_path, body)
    assert starts(spawns) == [0, 0]
