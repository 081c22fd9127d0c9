"""A session's state changes through its own methods (the playback service calls them)."""

from __future__ import annotations

import pytest

from ferrite.errors import BadRequest, NotFound
from ferrite.playback.service import parse_segment_name, rendition_kind
from ferrite.playback.sessions import SessionRegistry


def _session(start_s: float = 0.0):  # type: ignore[no-untyped-def]
    now = [100.0]
    registry = SessionRegistry(idle_s=60, clock=lambda: now[0])
    session = registry.create(
        user_id=1,
        item_id=2,
        file_id=3,
        method="remux",
        reasons=(),
        ttl_s=3600,
        duration_s=60,
        start_s=start_s,
        user_version=7,
    )
    return registry, session


def test_a_rendition_switch_names_the_rendition_left() -> None:
    _, session = _session()
    assert session.switch_rendition("v", "720p") is None  # the first: nothing left
    assert session.switch_rendition("v", "720p") is None  # the same again
    assert session.switch_rendition("v", "360p") == "720p"  # ABR down
    assert session.switch_rendition("a", "a1") is None  # kinds are apart
    assert session.last_rendition == {"v": "360p", "a": "a1"}


def test_the_next_segment_starts_after_the_last_fetch_or_at_the_start() -> None:
    _, session = _session(start_s=30.0)
    assert session.next_position("v") == 30.0
    session.fetched("v", 30.0, 32.0)
    assert session.next_position("v") == 32.0
    assert session.next_position("a") == 30.0


def test_sent_counts_bytes_and_tells_the_first_segment() -> None:
    _, session = _session()
    assert session.sent(1000, now=101.0) is True
    assert session.sent(500, now=102.5) is False
    assert (session.telemetry.segments_sent, session.telemetry.bytes_sent) == (2, 1500)
    assert session.last_seen == 102.5


def test_position_reports_mark_progress_until_saved() -> None:
    registry, session = _session()
    session.moved_to(12.5)
    assert (session.position_s, session.progress_dirty) == (12.5, True)
    session.progress_saved(110.0)
    assert session.progress_dirty is False
    assert session.last_progress_write == 110.0
    assert session.user_version == 7
    assert registry.get(session.id) is session


def test_segment_names_are_an_ascii_index_and_the_rendition_extension() -> None:
    assert parse_segment_name("12.m4s", "m4s") == (12, "m4s")
    assert parse_segment_name("0.vtt", "vtt") == (0, "vtt")
    with pytest.raises(NotFound):
        parse_segment_name("12.ts", "m4s")
    for bad in ("².m4s", "-1.m4s", "1234567890.m4s", ".m4s"):
        with pytest.raises(BadRequest):
            parse_segment_name(bad, "m4s")
    with pytest.raises(NotFound):
        rendition_kind("x")
