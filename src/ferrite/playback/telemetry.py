"""Parsing player telemetry (``POST /api/playback/{sid}/events``) without surprises.

Python's ``json`` accepts ``NaN``, ``Infinity`` and integers of any length; a stall of
``NaN`` ms poisons a histogram for good, and ``float()`` of a 400-digit integer raises
``OverflowError`` (a 500). Every number in an event body is finite and of sane size, or
the body is a 400. Pure.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ferrite.errors import BadRequest

#: Digits an integer in an event may have (positions in ms fit easily).
MAX_INT_DIGITS = 15


def _not_a_number(text: str) -> object:
    raise ValueError(f"{text} is not a number")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError("number too large")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number too large")
    return value


def parse_events(raw: bytes) -> Any:
    """A telemetry body as JSON whose numbers are all finite and of sane size: ``NaN``,
    ``Infinity``, ``1e999`` and 400-digit integers are a 400, never metrics poison."""
    try:
        return json.loads(
            raw,
            parse_constant=_not_a_number,
            parse_int=_bounded_int,
            parse_float=_finite_float,
        )
    except (ValueError, RecursionError):
        raise BadRequest("the event body must be JSON with ordinary numbers") from None
