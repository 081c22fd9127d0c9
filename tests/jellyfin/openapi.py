"""Check Jellyfin-compatible responses against the vendored Jellyfin 10.11 OpenAPI document.

:func:`check(method, path, status, body)` finds the document's operation for a real
request path (case-insensitively, ``{param}`` matching one segment), takes its response
schema for the status, and returns every mismatch: wrong JSON types, unknown enum values,
malformed GUIDs or dates, and — the Kotlin SDK's rule — a missing property that the
schema does not mark ``nullable`` (the Kotlin and Swift SDKs declare those non-null, so a
client crashes on decoding when one is absent).

A deliberately small validator for OpenAPI 3.0 (``$ref``, ``allOf``/``oneOf``,
``nullable``, ``enum``, ``type``, ``format``, ``items``, ``properties``,
``additionalProperties``): the document only uses these.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

DOC = Path(__file__).parent / "openapi" / "jellyfin-openapi-10.11-subset.json"
_UUID = re.compile(r"^[0-9a-f]{32}$|^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")


@cache
def document() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(DOC.read_text())
    return doc


def vendored_paths() -> list[str]:
    return list(document()["paths"])


@cache
def _templates() -> list[tuple[re.Pattern[str], str]]:
    out = []
    for template in document()["paths"]:
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        out.append((re.compile(f"^{pattern}/?$", re.IGNORECASE), template))
    # Literal segments beat parameters (/Users/Me before /Users/{userId}).
    out.sort(key=lambda t: t[1].count("{"))
    return out


#: Pre-10.9 spellings Jellyfin (and so Ferrite) still serve, which the 10.11 document lists
#: only under their new paths (same responses): ``/Users/{userId}/Views`` is ``/UserViews``.
_LEGACY = (
    (re.compile(r"^/Users/[^/]+/Views/?$", re.I), "/UserViews"),
    (re.compile(r"^/Users/[^/]+/Items/Resume/?$", re.I), "/UserItems/Resume"),
    (re.compile(r"^/Users/[^/]+/Items/Latest/?$", re.I), "/Items/Latest"),
    (re.compile(r"^/Users/[^/]+/Items/([^/]+)/UserData/?$", re.I), r"/UserItems/\1/UserData"),
    (re.compile(r"^/Users/[^/]+/Items/?$", re.I), "/Items"),
    (re.compile(r"^/Users/[^/]+/Items/([^/]+)/?$", re.I), r"/Items/\1"),
    (re.compile(r"^/Users/[^/]+/PlayedItems/([^/]+)/?$", re.I), r"/UserPlayedItems/\1"),
    (re.compile(r"^/Users/[^/]+/FavoriteItems/([^/]+)/?$", re.I), r"/UserFavoriteItems/\1"),
)


def operation(method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    for legacy, new in _LEGACY:
        if legacy.match(path):
            path = legacy.sub(new, path)
            break
    for regex, template in _templates():
        if regex.match(path):
            op = document()["paths"][template].get(method.lower())
            if op is not None:
                return template, op
    return None


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].split("/")[-1]
        schema = document()["components"]["schemas"][name]
    return schema


def validate(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    nullable = bool(schema.get("nullable"))
    for key in ("allOf", "oneOf", "anyOf"):
        if key in schema:
            options = schema[key]
            if value is None and nullable:
                return []
            results = [validate(value, opt, where) for opt in options]
            if key == "allOf":
                return [e for r in results for e in r]
            return [] if any(not r for r in results) else results[0]
    schema = _resolve(schema) if "$ref" in schema else schema
    nullable = nullable or bool(schema.get("nullable"))
    if value is None:
        return [] if nullable else [f"{where}: null where the schema says non-null"]
    errors: list[str] = []
    kind = schema.get("type")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} is not one of {schema['enum'][:8]}")
    if kind == "string":
        if not isinstance(value, str):
            return [f"{where}: expected a string, got {type(value).__name__}"]
        fmt = schema.get("format")
        if fmt == "uuid" and not _UUID.match(value):
            errors.append(f"{where}: {value!r} is not a GUID")
        if fmt == "date-time" and not _DATE.match(value):
            errors.append(f"{where}: {value!r} is not an ISO 8601 date-time")
    elif kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(f"{where}: expected an integer, got {value!r}")
    elif kind == "number":
        if not isinstance(value, int | float) or isinstance(value, bool):
            errors.append(f"{where}: expected a number, got {value!r}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            errors.append(f"{where}: expected a boolean, got {value!r}")
    elif kind == "array":
        if not isinstance(value, list):
            return [f"{where}: expected an array"]
        for i, v in enumerate(value):
            errors += validate(v, schema.get("items", {}), f"{where}[{i}]")
    elif kind == "object" or "properties" in schema:
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        props: dict[str, Any] = schema.get("properties", {})
        for name, sub in props.items():
            if name in value:
                errors += validate(value[name], sub, f"{where}.{name}")
            elif not _nullable(sub):
                errors.append(f"{where}.{name}: missing (non-null in the Kotlin/Swift SDKs)")
        extra = schema.get("additionalProperties")
        for name, v in value.items():
            if name in props:
                continue
            if isinstance(extra, dict):
                errors += validate(v, extra, f"{where}.{name}")
            elif props:
                errors.append(f"{where}.{name}: not a property of this schema")
    return errors


def _nullable(schema: dict[str, Any]) -> bool:
    if schema.get("nullable"):
        return True
    if "$ref" in schema:
        return False
    return any(_nullable(s) for key in ("allOf", "oneOf") for s in schema.get(key, []))


def check(method: str, path: str, status: int, body: bytes, content_type: str = "") -> list[str]:
    """Mismatches between a response and the document (``[]`` when it conforms)."""
    found = operation(method, path)
    if found is None:
        return [f"{method} {path}: not in the vendored OpenAPI document"]
    template, op = found
    responses = op.get("responses", {})
    spec = responses.get(str(status))
    if spec is None:
        return [f"{method} {template}: status {status} not documented ({sorted(responses)})"]
    content = spec.get("content") or {}
    media = content.get("application/json")
    if media is None or "schema" not in media:
        return []  # no body (204) or not JSON (files, playlists)
    if "json" not in content_type:
        return [f"{method} {template}: expected JSON, got {content_type!r}"]
    return validate(json.loads(body), media["schema"], f"{method} {template}")
