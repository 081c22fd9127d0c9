from __future__ import annotations

import pytest

from ferrite.errors import BadRequest
from ferrite.playback.telemetry import parse_events


def test_ordinary_events_parse() -> None:
    assert parse_events(b'[{"type": "seek", "ms": 12.5, "position_s": 3}]') == [
        {"type": "seek", "ms": 12.5, "position_s": 3}
    ]


@pytest.mark.parametrize(
    "raw",
    [
        b"NaN",
        b'{"ms": Infinity}',
        b'{"ms": -Infinity}',
        b'{"ms": 1e400}',
        b"9" * 400,
        b"\xff",
        b"[" * 100_000,
    ],
)
def test_numbers_that_are_not_numbers_are_a_400(raw: bytes) -> None:
    with pytest.raises(BadRequest):
        parse_events(raw)
