"""Transcode slots and throttling, end to end: one slot, a short queue timeout, runs that
may work only 8 s ahead of their viewer.

- A second viewer who can't get a slot in time is told to come back (503 +
  Retry-After, the JSON error envelope) instead of hanging, and is served once the slot
  is free.
- A viewer who switches rung (ABR) takes the slot of the run it left: that run worked
  ahead for nobody else.
- A viewer's playhead follows the segments it plays, so its run stays the allowed
  distance ahead of where the viewer really is (not of where it started).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.live import Live, place_transcode_films, rendition_base, start_live

AHEAD_S = 8.0  # and a run yields its slot to a queued viewer from 4 s ahead


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, transcode_sources: dict[str, Path]
) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("slots")
    movies = root / "movies"
    paths = place_transcode_films(transcode_sources, movies)
    with start_live(
        root,
        [movies],
        paths,
        transcode_slots=1,
        transcode_queue_timeout_s=0.3,
        transcode_ahead_s=AHEAD_S,
    ) as live:
        yield live


def wait_settled(live: Live) -> None:
    """Until no run is working (each is paused, done or gone)."""
    deadline = time.monotonic() + 60
    while any(run.state in ("running", "queued") for run in live.runs.runs()):
        assert time.monotonic() < deadline, live.runs.runs()
        time.sleep(0.05)


def runs_of(live: Live, rid: str) -> list[str]:
    return [run.state for run in live.runs.runs() if run.key.rendition == rid]


def test_abr_switch_hands_the_slot_to_the_new_rung(live: Live) -> None:
    """First in the module: nothing of these rungs is made yet."""
    wait_settled(live)
    pb = live.play("HDR Film", device="chrome", max_height=480)
    base = rendition_base(pb)
    assert [v["id"] for v in pb["renditions"]["video"]][:2] == ["480p", "360p"]
    assert live.client.get(live.url(f"{base}v/480p/init.mp4")).status_code == 200
    assert live.client.get(live.url(f"{base}v/480p/0.m4s")).status_code == 200
    assert runs_of(live, "480p") == ["running"]  # working on 1 and 2, in the only slot
    # The player switches down: the new rung's init, then the next segment.
    r = live.client.get(live.url(f"{base}v/360p/init.mp4"))
    assert r.status_code == 200, r.text  # not a 503: the 480p run gave its slot up
    r = live.client.get(live.url(f"{base}v/360p/1.m4s"))
    assert r.status_code == 200, r.text
    assert runs_of(live, "480p") in (["paused"], ["done"], [])  # it works for nobody now
    assert live.client.get(live.url(f"{base}v/360p/2.m4s")).status_code == 200
    live.client.delete(live.url(f"/api/playback/{pb['session_id']}?token={pb['token']}"))


def test_no_slot_in_time_is_503_with_retry_after(live: Live) -> None:
    wait_settled(live)
    first = live.play("HDR Film", device="chrome")
    second = live.play("HDR Film", device="chrome")
    one, two = rendition_base(first), rendition_base(second)
    # The first viewer's 720p run takes the only slot and keeps it while the viewer
    # waits for its first segment (nothing to preempt: someone waits on it).
    got: dict[str, httpx.Response] = {}
    waiting = threading.Thread(
        target=lambda: got.setdefault(
            "first", httpx.get(live.url(f"{one}v/720p/0.m4s"), timeout=60)
        )
    )
    waiting.start()
    deadline = time.monotonic() + 10
    while runs_of(live, "720p") != ["running"]:
        assert time.monotonic() < deadline
        time.sleep(0.01)

    started = time.perf_counter()
    r = live.client.get(live.url(f"{two}v/360p/0.m4s"))
    waited = time.perf_counter() - started
    waiting.join(60)
    assert got["first"].status_code == 200  # the first viewer is not disturbed
    assert r.status_code == 503, r.text
    assert int(r.headers["retry-after"]) >= 1
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["error"]["code"] == "overloaded"
    assert r.json()["error"]["status"] == 503
    assert waited >= 0.3  # it queued for the timeout first, then gave up

    # Once the slot is free the second viewer gets in.
    for i in (1, 2):
        assert live.client.get(live.url(f"{one}v/720p/{i}.m4s")).status_code == 200
    wait_settled(live)
    r = live.client.get(live.url(f"{two}v/360p/0.m4s"))
    assert r.status_code == 200, r.text
    for pb in (first, second):
        live.client.delete(live.url(f"/api/playback/{pb['session_id']}?token={pb['token']}"))


def test_the_run_stays_ahead_of_where_the_viewer_is(live: Live) -> None:
    wait_settled(live)
    pb = live.play("Small Film", device="chrome", max_height=360)
    base = rendition_base(pb)
    rid = pb["renditions"]["video"][0]["id"]
    for i in range(4):  # a player playing on: 0, 1, 2, 3
        r = live.client.get(live.url(f"{base}v/{rid}/{i}.m4s"))
        assert r.status_code == 200, r.text
    heads = [
        (key, ph.index)
        for (sid, key), ph in live.runs._playheads.items()
        if sid == pb["session_id"]
    ]
    assert [index for _, index in heads] == [3]
    key = heads[0][0]
    wait_settled(live)
    (run,) = live.runs.runs(key)
    # 2 s segments, 8 s ahead: it made 4..7 for the viewer at 3 and paused (a segment
    # more if the pause landed late) -- not 8 s past where the viewer began (next = 5).
    assert run.state == "paused"
    assert 8 <= run.next <= 9, run
    assert run.viewers == 1
    # The viewer plays on into what was made ahead; the run resumes as it approaches.
    for i in range(4, 10):
        r = live.client.get(live.url(f"{base}v/{rid}/{i}.m4s"))
        assert r.status_code == 200, r.text
    assert [r.start for r in live.runs.runs(key)] == [0]
