"""Jellyfin's wire rules as plain functions: GUIDs, ticks, dates, the auth header.

Pure: no I/O, no FastAPI. Everything a router needs to read a Jellyfin request or write a
Jellyfin answer, tested without a server (tests/jellyfin/test_wire.py).

**GUIDs.** Jellyfin names every object by a GUID, written as 32 lowercase hex digits
(``N`` format) in JSON and accepted with or without dashes in paths and queries. Ferrite's
ids are integers, so a GUID here is a *deterministic encoding* of (kind, id) — no table,
no lookup, stable across restarts::

    f3e1 0000 KKKK 0000 IIIIIIIIIIIIIIII
    tag       kind      id (64-bit)

``kind`` is :data:`ITEM`, :data:`VIEW` (a library), :data:`USER`. A well-formed GUID that
is not one of ours (another server's id) decodes to ``None`` (the caller answers 404); a
malformed one raises :class:`~ferrite.errors.BadRequest` (400).

**Ticks** are 100 ns units (``seconds * 10_000_000``), integers on the wire.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import unquote

from ferrite.errors import BadRequest

TICKS_PER_SECOND: Final = 10_000_000
#: Longest position accepted from a client (ten years): beyond is surely garbage.
MAX_TICKS: Final = 10 * 365 * 24 * 3600 * TICKS_PER_SECOND

ITEM: Final = 1
VIEW: Final = 2
USER: Final = 3
_KINDS: Final = frozenset({ITEM, VIEW, USER})
_TAG: Final = "f3e10000"
_HEX: Final = frozenset("0123456789abcdef")


# --- GUIDs -----------------------------------------------------------------------------
def guid(kind: int, ident: int) -> str:
    """The 32-hex GUID of Ferrite object ``ident`` of ``kind``."""
    return f"{_TAG}{kind:04x}0000{ident:016x}"


def item_guid(item_id: int) -> str:
    return guid(ITEM, item_id)


def view_guid(library_id: int) -> str:
    return guid(VIEW, library_id)


def user_guid(user_id: int) -> str:
    return guid(USER, user_id)


def parse_guid(text: str) -> tuple[int, int] | None:
    """``(kind, id)`` of one of our GUIDs (dashed or not, any case); ``None`` for a
    well-formed GUID that is not ours; :class:`BadRequest` for anything else."""
    plain = text.strip().replace("-", "").lower()
    if len(plain) != 32 or not _HEX.issuperset(plain):
        raise BadRequest(f"{text[:40]!r} is not an id (32 hex digits, dashes optional).")
    if not plain.startswith(_TAG) or plain[12:16] != "0000":
        return None
    kind = int(plain[8:12], 16)
    ident = int(plain[16:], 16)
    if kind not in _KINDS or ident <= 0 or ident > 2**62:
        return None
    return kind, ident


def parse_id(text: str, kind: int) -> int | None:
    """The Ferrite id behind a GUID of ``kind``; ``None`` if it names something else."""
    parsed = parse_guid(text)
    if parsed is None or parsed[0] != kind:
        return None
    return parsed[1]


def dashed(plain: str) -> str:
    """``8-4-4-4-12`` form of a 32-hex GUID (what some clients send back)."""
    return f"{plain[:8]}-{plain[8:12]}-{plain[12:16]}-{plain[16:20]}-{plain[20:]}"


# --- ticks and dates -------------------------------------------------------------------
def ticks(seconds: float | None) -> int | None:
    if seconds is None:
        return None
    return round(seconds * TICKS_PER_SECOND)


def parse_ticks(value: object, name: str = "ticks") -> float | None:
    """Seconds from a ticks value (int, or a numeric string from a query); 400 if bad."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadRequest(f"{name} must be an integer number of ticks (100 ns).")
    if isinstance(value, str):
        if not re.fullmatch(r"\d{1,19}", value.strip()):
            raise BadRequest(f"{name} must be an integer number of ticks (100 ns).")
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or value < 0 or value > MAX_TICKS:
        raise BadRequest(f"{name} must be an integer number of ticks between 0 and {MAX_TICKS}.")
    return value / TICKS_PER_SECOND


def date(epoch_s: float | None) -> str | None:
    """ISO 8601 in UTC with seven fractional digits, as .NET writes it."""
    if epoch_s is None:
        return None
    moment = datetime.fromtimestamp(epoch_s, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


# --- JSON ------------------------------------------------------------------------------
def prune(value: Any) -> Any:
    """Drop ``None`` fields from dicts, recursively (Jellyfin omits null fields)."""
    if isinstance(value, dict):
        return {k: prune(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [prune(v) for v in value]
    return value


def fold(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Keys lowercased, so ``Username``/``username``/``UserName`` read the same."""
    return {str(k).lower(): v for k, v in mapping.items()}


def csv(values: Iterable[str]) -> list[str]:
    """``a,b`` or repeated parameters, as one flat list of non-empty strings."""
    out: list[str] = []
    for value in values:
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return out


def parse_bool(value: str | None, name: str) -> bool | None:
    if value is None or value == "":
        return None
    lowered = value.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise BadRequest(f"{name} must be true or false.")


def parse_int(value: str | None, name: str, *, lo: int = 0, hi: int = 10**9) -> int | None:
    if value is None or value == "":
        return None
    text = value.strip()
    if not re.fullmatch(r"-?\d{1,12}", text) or not lo <= int(text) <= hi:
        raise BadRequest(f"{name} must be an integer between {lo} and {hi}.")
    return int(text)


# --- the MediaBrowser authorization header ---------------------------------------------
@dataclass(frozen=True, slots=True)
class ClientInfo:
    """What a Jellyfin client says about itself (and its token)."""

    client: str = ""
    device: str = ""
    device_id: str = ""
    version: str = ""
    token: str | None = None


_PAIR = re.compile(r'([A-Za-z]+)\s*=\s*(?:"([^"]*)"|([^,\s]*))')
_SCHEMES = ("mediabrowser", "emby")


def parse_authorization(header: str | None) -> ClientInfo | None:
    """``MediaBrowser Client="..", Device="..", DeviceId="..", Version="..", Token=".."``
    (quoted or not, URL-encoded values, ``Emby`` as scheme too); ``None`` if ``header``
    is not of that form; :class:`BadRequest` when it is but can't be read (no ``Key=value``
    pairs, over 4 KiB). A later ``Token`` wins over an earlier one (some clients append
    one to a header that already had an empty or stale one)."""
    if not header:
        return None
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() not in _SCHEMES:
        return None
    if len(rest) > 4096:
        raise BadRequest("The Authorization header is too long.")
    fields: dict[str, str] = {}
    matched = False
    for match in _PAIR.finditer(rest):
        matched = True
        key = match.group(1).lower()
        raw = match.group(2) if match.group(2) is not None else match.group(3)
        value = unquote(raw).strip()
        if key == "token" and (not value or value.lower() in ("none", "null")):
            continue
        fields[key] = value
    if rest.strip() and not matched:
        raise BadRequest(
            'Malformed Authorization header: expected MediaBrowser Key="value", ... pairs.'
        )
    return ClientInfo(
        client=fields.get("client", "")[:128],
        device=fields.get("device", "")[:128],
        device_id=fields.get("deviceid", "")[:256],
        version=fields.get("version", "")[:64],
        token=fields.get("token") or None,
    )
