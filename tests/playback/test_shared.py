"""The shared session descriptor: its JSON form round-trips, and what can't be read (other
version, damaged, wrong types) is None, never an exception."""

from __future__ import annotations

import json

import pytest

from ferrite.playback.shared import VERSION, SessionDescriptor

D = SessionDescriptor(
    id="abc",
    user_id=3,
    item_id=7,
    file_id=9,
    library_id=1,
    user_version=2,
    created_at=100.0,
    expires_at=200.0,
    device={"name": "tv", "video": ["h264"]},
    start_s=12.5,
    audio_stream=1,
    subtitle_stream=None,
    max_bitrate=4_000_000,
    max_height=720,
    protocol="hls",
)


def test_round_trip() -> None:
    assert SessionDescriptor.from_json(D.to_json()) == D
    raw = json.loads(D.to_json())
    raw["device"] = "chrome"
    assert SessionDescriptor.from_json(json.dumps(raw).encode()) is not None


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "not json",
        "[]",
        json.dumps({**json.loads(D.to_json()), "v": VERSION + 1}),
        json.dumps({**json.loads(D.to_json()), "unknown": 1}),
        json.dumps({k: v for k, v in json.loads(D.to_json()).items() if k != "item_id"}),
        json.dumps({**json.loads(D.to_json()), "item_id": "7"}),
        json.dumps({**json.loads(D.to_json()), "user_id": True}),
        json.dumps({**json.loads(D.to_json()), "device": 5}),
    ],
)
def test_unreadable_forms_are_none(raw: str) -> None:
    assert SessionDescriptor.from_json(raw) is None
