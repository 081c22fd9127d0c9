"""A strict HLS playlist linter, written from RFC 8216 plus Ferrite's own rules.

    from tests.hls.m3u8lint import lint_master, lint_media

    assert lint_media(text) == []     # a media playlist (segments)
    assert lint_master(text) == []    # a master playlist (variants and renditions)

Each function returns a list of problems, one clear sentence each, prefixed with the line
number and naming the rule ("line 7: EXTINF 6.600000 rounds to 7, more than
EXT-X-TARGETDURATION 6 (RFC 8216 4.3.3.1)"). An empty list means the playlist is valid.

``strict=True`` (the default) adds the rules Ferrite always meets on top of the RFC's
MUSTs: media playlists are complete VOD lists (PLAYLIST-TYPE:VOD, ENDLIST last,
INDEPENDENT-SEGMENTS, positive EXTINF); master playlists carry INDEPENDENT-SEGMENTS,
CODECS, AVERAGE-BANDWIDTH, RESOLUTION and FRAME-RATE for video, CHANNELS for audio, and a
variant that uses an audio group names an audio codec in CODECS. Unknown ``#EXT`` tags are
problems too: a client ignores them silently, so a misspelt tag is a silent bug.

The ``m3u8`` package parses every playlist as a cross-check, so what we pass also loads
in a common third-party parser with the same segment/variant count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import m3u8

# -- tag catalogue (RFC 8216 section 4.3, plus rfc8216bis tags clients meet today) ------

BASIC_TAGS = {"EXTM3U", "EXT-X-VERSION"}
SEGMENT_TAGS = {
    "EXTINF", "EXT-X-BYTERANGE", "EXT-X-DISCONTINUITY", "EXT-X-KEY", "EXT-X-MAP",
    "EXT-X-PROGRAM-DATE-TIME", "EXT-X-DATERANGE", "EXT-X-GAP", "EXT-X-BITRATE",
}  # fmt: skip
MEDIA_PLAYLIST_TAGS = {
    "EXT-X-TARGETDURATION", "EXT-X-MEDIA-SEQUENCE", "EXT-X-DISCONTINUITY-SEQUENCE",
    "EXT-X-ENDLIST", "EXT-X-PLAYLIST-TYPE", "EXT-X-I-FRAMES-ONLY", "EXT-X-PART-INF",
    "EXT-X-SERVER-CONTROL", "EXT-X-PART", "EXT-X-SKIP", "EXT-X-PRELOAD-HINT",
    "EXT-X-RENDITION-REPORT", "EXT-X-ALLOW-CACHE",
}  # fmt: skip
MASTER_TAGS = {
    "EXT-X-MEDIA", "EXT-X-STREAM-INF", "EXT-X-I-FRAME-STREAM-INF", "EXT-X-SESSION-DATA",
    "EXT-X-SESSION-KEY", "EXT-X-CONTENT-STEERING",
}  # fmt: skip
SHARED_TAGS = {"EXT-X-INDEPENDENT-SEGMENTS", "EXT-X-START", "EXT-X-DEFINE"}
KNOWN_TAGS = BASIC_TAGS | SEGMENT_TAGS | MEDIA_PLAYLIST_TAGS | MASTER_TAGS | SHARED_TAGS
#: Tags whose syntax has no value at all: "#EXT-X-ENDLIST", never "#EXT-X-ENDLIST:".
VALUELESS_TAGS = {
    "EXTM3U", "EXT-X-DISCONTINUITY", "EXT-X-ENDLIST", "EXT-X-I-FRAMES-ONLY",
    "EXT-X-INDEPENDENT-SEGMENTS", "EXT-X-GAP",
}  # fmt: skip
MEDIA_ONCE = {
    "EXT-X-VERSION", "EXT-X-TARGETDURATION", "EXT-X-MEDIA-SEQUENCE",
    "EXT-X-DISCONTINUITY-SEQUENCE", "EXT-X-PLAYLIST-TYPE", "EXT-X-I-FRAMES-ONLY",
    "EXT-X-ENDLIST", "EXT-X-INDEPENDENT-SEGMENTS", "EXT-X-START",
}  # fmt: skip
MASTER_ONCE = {"EXT-X-VERSION", "EXT-X-INDEPENDENT-SEGMENTS", "EXT-X-START"}

# -- attribute value types (RFC 8216 4.2) -----------------------------------------------

INT, HEX, FLOAT, SFLOAT, QUOTED, ENUM, RESOLUTION = (
    "decimal-integer", "hexadecimal-sequence", "decimal-floating-point",
    "signed-decimal-floating-point", "quoted-string", "enumerated-string",
    "decimal-resolution",
)  # fmt: skip
_VALUE_RE = {
    INT: re.compile(r"[0-9]{1,20}"),
    HEX: re.compile(r"0[xX][0-9A-Fa-f]+"),
    FLOAT: re.compile(r"[0-9]+(\.[0-9]+)?"),
    SFLOAT: re.compile(r"-?[0-9]+(\.[0-9]+)?"),
    ENUM: re.compile(r"[^\",\s]+"),
    RESOLUTION: re.compile(r"[0-9]+x[0-9]+"),
}
YES_NO = {"YES", "NO"}

#: Expected type (and allowed enumerated values) per tag and attribute.
SCHEMA: dict[str, dict[str, tuple[str, set[str] | None]]] = {
    "EXT-X-MEDIA": {
        "TYPE": (ENUM, {"AUDIO", "VIDEO", "SUBTITLES", "CLOSED-CAPTIONS"}),
        "URI": (QUOTED, None), "GROUP-ID": (QUOTED, None), "LANGUAGE": (QUOTED, None),
        "ASSOC-LANGUAGE": (QUOTED, None), "NAME": (QUOTED, None),
        "DEFAULT": (ENUM, YES_NO), "AUTOSELECT": (ENUM, YES_NO), "FORCED": (ENUM, YES_NO),
        "INSTREAM-ID": (QUOTED, None), "CHARACTERISTICS": (QUOTED, None),
        "CHANNELS": (QUOTED, None), "STABLE-RENDITION-ID": (QUOTED, None),
    },
    "EXT-X-STREAM-INF": {
        "BANDWIDTH": (INT, None), "AVERAGE-BANDWIDTH": (INT, None), "SCORE": (FLOAT, None),
        "CODECS": (QUOTED, None), "SUPPLEMENTAL-CODECS": (QUOTED, None),
        "RESOLUTION": (RESOLUTION, None), "FRAME-RATE": (FLOAT, None),
        "HDCP-LEVEL": (ENUM, {"TYPE-0", "TYPE-1", "NONE"}),
        "VIDEO-RANGE": (ENUM, {"SDR", "PQ", "HLG"}),
        "AUDIO": (QUOTED, None), "VIDEO": (QUOTED, None), "SUBTITLES": (QUOTED, None),
        "CLOSED-CAPTIONS": (QUOTED, None),  # or the enumerated NONE, checked below
        "PROGRAM-ID": (INT, None), "STABLE-VARIANT-ID": (QUOTED, None),
        "PATHWAY-ID": (QUOTED, None),
    },
    "EXT-X-I-FRAME-STREAM-INF": {
        "URI": (QUOTED, None), "BANDWIDTH": (INT, None), "AVERAGE-BANDWIDTH": (INT, None),
        "CODECS": (QUOTED, None), "RESOLUTION": (RESOLUTION, None),
        "HDCP-LEVEL": (ENUM, {"TYPE-0", "TYPE-1", "NONE"}),
        "VIDEO-RANGE": (ENUM, {"SDR", "PQ", "HLG"}), "VIDEO": (QUOTED, None),
        "PROGRAM-ID": (INT, None),
    },
    "EXT-X-MAP": {"URI": (QUOTED, None), "BYTERANGE": (QUOTED, None)},
    "EXT-X-KEY": {
        "METHOD": (ENUM, {"NONE", "AES-128", "SAMPLE-AES", "SAMPLE-AES-CTR"}),
        "URI": (QUOTED, None), "IV": (HEX, None), "KEYFORMAT": (QUOTED, None),
        "KEYFORMATVERSIONS": (QUOTED, None),
    },
    "EXT-X-START": {"TIME-OFFSET": (SFLOAT, None), "PRECISE": (ENUM, YES_NO)},
    "EXT-X-SESSION-DATA": {
        "DATA-ID": (QUOTED, None), "VALUE": (QUOTED, None), "URI": (QUOTED, None),
        "LANGUAGE": (QUOTED, None),
    },
}  # fmt: skip
REQUIRED = {
    "EXT-X-MEDIA": ("TYPE", "GROUP-ID", "NAME"),
    "EXT-X-STREAM-INF": ("BANDWIDTH",),
    "EXT-X-I-FRAME-STREAM-INF": ("BANDWIDTH", "URI"),
    "EXT-X-MAP": ("URI",),
    "EXT-X-KEY": ("METHOD",),
    "EXT-X-START": ("TIME-OFFSET",),
    "EXT-X-SESSION-DATA": ("DATA-ID",),
}

VIDEO_CODECS = (
    "avc1", "avc3", "hvc1", "hev1", "dvh1", "dvhe", "dva1", "dvav", "vp09", "av01", "mp4v",
)  # fmt: skip
AUDIO_CODECS = (
    "mp4a", "ac-3", "ec-3", "ac-4", "opus", "flac", "alac", "mhm1", "mha1", "dtsc", "dtse",
    "dtsh", "dtsx",
)  # fmt: skip
_LANGUAGE_RE = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*")
_CONTROL_RE = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@dataclass
class Attr:
    value: str
    quoted: bool


@dataclass
class Tag:
    line: int
    name: str
    value: str | None  # text after ':' (None when there is no ':')
    attrs: dict[str, Attr] = field(default_factory=dict)


@dataclass
class _Parsed:
    tags: list[Tag]
    uris: list[tuple[int, str]]
    order: list[Tag | tuple[int, str]]  # tags and URI lines in file order


def lint(text: str, *, strict: bool = True) -> list[str]:
    """Lint either kind of playlist, deciding from its tags which one it is."""
    if re.search(r"^#EXT-X-(STREAM-INF|MEDIA):", text, re.MULTILINE):
        return lint_master(text, strict=strict)
    return lint_media(text, strict=strict)


def lint_media(text: str, *, strict: bool = True) -> list[str]:
    """Problems in a media playlist; ``[]`` when it is valid."""
    problems: list[str] = []
    parsed = _parse(text, problems, ATTRIBUTE_TAGS_MEDIA)
    tags = parsed.tags
    _check_once(tags, MEDIA_ONCE, problems)
    for t in tags:
        if t.name in MASTER_TAGS:
            problems.append(
                f"line {t.line}: {t.name} belongs in a master playlist, not a media "
                "playlist (RFC 8216 4.1)"
            )

    version = _version(tags, problems)
    reasons: list[tuple[int, str]] = []

    def need(v: int, why: str) -> None:
        reasons.append((v, f"{why} needs EXT-X-VERSION {v} or higher"))

    target = None
    for t in _named(tags, "EXT-X-TARGETDURATION"):
        if t.value is None or not _VALUE_RE[INT].fullmatch(t.value):
            problems.append(
                f"line {t.line}: EXT-X-TARGETDURATION must be a decimal-integer "
                f"number of seconds, not {t.value!r} (RFC 8216 4.3.3.1)"
            )
        else:
            target = int(t.value)
    if not _named(tags, "EXT-X-TARGETDURATION"):
        problems.append("EXT-X-TARGETDURATION is missing; it is required (RFC 8216 4.3.3.1)")

    iframes_only = bool(_named(tags, "EXT-X-I-FRAMES-ONLY"))
    if iframes_only:
        need(4, "EXT-X-I-FRAMES-ONLY")
    for t in _named(tags, "EXT-X-PLAYLIST-TYPE"):
        if t.value not in ("EVENT", "VOD"):
            problems.append(
                f"line {t.line}: EXT-X-PLAYLIST-TYPE must be EVENT or VOD, not "
                f"{t.value!r} (RFC 8216 4.3.3.5)"
            )
    for name in ("EXT-X-MEDIA-SEQUENCE", "EXT-X-DISCONTINUITY-SEQUENCE"):
        for t in _named(tags, name):
            if t.value is None or not _VALUE_RE[INT].fullmatch(t.value):
                problems.append(
                    f"line {t.line}: {name} must be a decimal-integer, not "
                    f"{t.value!r} (RFC 8216 4.3.3)"
                )

    # Walk segments: every URI needs exactly one EXTINF; playlist tags precede segments.
    segments = 0
    pending_extinf: Tag | None = None
    pending_tags: list[Tag] = []
    endlist_line: int | None = None
    for item in parsed.order:
        if isinstance(item, tuple):
            line, _uri = item
            if pending_extinf is None:
                problems.append(
                    f"line {line}: media segment URI without a preceding EXTINF "
                    "(RFC 8216 4.3.2.1: EXTINF is required for each segment)"
                )
            if endlist_line is not None and strict:
                problems.append(
                    f"line {line}: media segment after EXT-X-ENDLIST (line {endlist_line})"
                )
            segments += 1
            pending_extinf = None
            pending_tags = []
            continue
        t = item
        if t.name in ("EXT-X-MEDIA-SEQUENCE", "EXT-X-DISCONTINUITY-SEQUENCE") and segments:
            problems.append(
                f"line {t.line}: {t.name} must appear before the first media "
                "segment (RFC 8216 4.3.3.2)"
            )
        if t.name == "EXT-X-TARGETDURATION" and segments and strict:
            problems.append(
                f"line {t.line}: EXT-X-TARGETDURATION must come before the media segments"
            )
        if t.name == "EXT-X-ENDLIST":
            endlist_line = t.line
        if t.name in SEGMENT_TAGS:
            pending_tags.append(t)
        if t.name == "EXTINF":
            if pending_extinf is not None:
                problems.append(
                    f"line {t.line}: second EXTINF before a URI line (the one on "
                    f"line {pending_extinf.line} has no segment)"
                )
            pending_extinf = t
            d = _check_extinf(t, problems)
            if d is not None:
                if "." in (t.value or "").split(",", 1)[0]:
                    need(3, f"line {t.line}: a decimal-floating-point EXTINF")
                if target is not None:
                    rounded = int(d.to_integral_value(rounding=ROUND_HALF_UP))
                    if rounded > target:
                        problems.append(
                            f"line {t.line}: EXTINF {d} rounds to {rounded}, more than "
                            f"EXT-X-TARGETDURATION {target} (RFC 8216 4.3.3.1)"
                        )
                if strict and d <= 0:
                    problems.append(f"line {t.line}: EXTINF duration {d} is not positive")
        if t.name == "EXT-X-MAP":
            if iframes_only:
                need(5, f"line {t.line}: EXT-X-MAP in an I-frames-only playlist")
            else:
                need(6, f"line {t.line}: EXT-X-MAP in a playlist without EXT-X-I-FRAMES-ONLY")
        if t.name == "EXT-X-BYTERANGE":
            need(4, f"line {t.line}: EXT-X-BYTERANGE")
            if not t.value or not re.fullmatch(r"[0-9]+(@[0-9]+)?", t.value):
                problems.append(
                    f"line {t.line}: EXT-X-BYTERANGE must be <n>[@<o>], not {t.value!r}"
                )
        if t.name == "EXT-X-KEY":
            if "IV" in t.attrs:
                need(2, f"line {t.line}: the IV attribute of EXT-X-KEY")
            if {"KEYFORMAT", "KEYFORMATVERSIONS"} & t.attrs.keys() or (
                t.attrs.get("METHOD", Attr("", False)).value == "SAMPLE-AES"
            ):
                need(5, f"line {t.line}: SAMPLE-AES or KEYFORMAT(VERSIONS) in EXT-X-KEY")
        if t.name == "EXT-X-ALLOW-CACHE" and version is not None and version >= 7:
            problems.append(
                f"line {t.line}: EXT-X-ALLOW-CACHE was removed in protocol version 7 (RFC 8216 7)"
            )
    if pending_extinf is not None or pending_tags:
        first = (pending_extinf or pending_tags[0]).line
        problems.append(
            f"line {first}: media segment tags at the end apply to no segment (no URI line follows)"
        )

    _check_version(version, reasons, problems)

    if strict:
        if segments == 0:
            problems.append("the playlist has no media segments")
        if not any(t.name == "EXT-X-PLAYLIST-TYPE" and t.value == "VOD" for t in tags):
            problems.append(
                "EXT-X-PLAYLIST-TYPE:VOD is missing (Ferrite serves complete VOD playlists)"
            )
        if endlist_line is None:
            problems.append(
                "EXT-X-ENDLIST is missing; without it a player treats the playlist "
                "as live and starts near the end"
            )
        elif parsed.order and parsed.order[-1] is not _named(tags, "EXT-X-ENDLIST")[-1]:
            problems.append(f"line {endlist_line}: EXT-X-ENDLIST should be the last line")
        if not _named(tags, "EXT-X-INDEPENDENT-SEGMENTS"):
            problems.append("EXT-X-INDEPENDENT-SEGMENTS is missing")

    _cross_check(text, problems, master=False, count=segments)
    return problems


def lint_master(text: str, *, strict: bool = True) -> list[str]:
    """Problems in a master (multivariant) playlist; ``[]`` when it is valid."""
    problems: list[str] = []
    parsed = _parse(text, problems, ATTRIBUTE_TAGS_MASTER)
    tags = parsed.tags
    _check_once(tags, MASTER_ONCE, problems)
    for t in tags:
        if t.name in SEGMENT_TAGS or t.name in MEDIA_PLAYLIST_TAGS:
            problems.append(
                f"line {t.line}: {t.name} belongs in a media playlist, not a master "
                "playlist (RFC 8216 4.1)"
            )
    version = _version(tags, problems)
    reasons: list[tuple[int, str]] = []

    # Renditions, by group.
    groups: dict[tuple[str, str], list[Tag]] = {}
    for t in _named(tags, "EXT-X-MEDIA"):
        a = t.attrs
        kind = a["TYPE"].value if "TYPE" in a else None
        gid = a["GROUP-ID"].value if "GROUP-ID" in a else None
        if kind is None or gid is None:
            continue  # already reported as missing
        groups.setdefault((kind, gid), []).append(t)
        if kind == "CLOSED-CAPTIONS":
            if "URI" in a:
                problems.append(
                    f"line {t.line}: EXT-X-MEDIA TYPE=CLOSED-CAPTIONS must not have "
                    "a URI (RFC 8216 4.3.4.1)"
                )
            if "INSTREAM-ID" not in a:
                problems.append(
                    f"line {t.line}: EXT-X-MEDIA TYPE=CLOSED-CAPTIONS needs "
                    "INSTREAM-ID (RFC 8216 4.3.4.1)"
                )
            elif a["INSTREAM-ID"].value.startswith("SERVICE"):
                reasons.append(
                    (7, f"line {t.line}: INSTREAM-ID SERVICE values need EXT-X-VERSION 7")
                )
        elif "INSTREAM-ID" in a:
            problems.append(f"line {t.line}: INSTREAM-ID is only for TYPE=CLOSED-CAPTIONS")
        if kind == "SUBTITLES" and "URI" not in a:
            problems.append(
                f"line {t.line}: EXT-X-MEDIA TYPE=SUBTITLES needs a URI (RFC 8216 4.3.4.1)"
            )
        if "FORCED" in a and kind != "SUBTITLES":
            problems.append(
                f"line {t.line}: FORCED is only allowed with TYPE=SUBTITLES (RFC 8216 4.3.4.1)"
            )
        if _value(a, "DEFAULT") == "YES" and _value(a, "AUTOSELECT") == "NO":
            problems.append(
                f"line {t.line}: AUTOSELECT must be YES when DEFAULT is YES (RFC 8216 4.3.4.1)"
            )
        if "LANGUAGE" in a and not _LANGUAGE_RE.fullmatch(a["LANGUAGE"].value):
            problems.append(
                f"line {t.line}: LANGUAGE {a['LANGUAGE'].value!r} is not an RFC 5646 language tag"
            )
        if strict and kind == "AUDIO" and "CHANNELS" not in a:
            problems.append(f"line {t.line}: audio rendition without CHANNELS")
        if "CHANNELS" in a and not re.fullmatch(r"[0-9]+(/[^\"]*)?", a["CHANNELS"].value):
            problems.append(
                f"line {t.line}: CHANNELS must start with a channel count, not "
                f"{a['CHANNELS'].value!r}"
            )
    for (kind, gid), members in groups.items():
        defaults = [m for m in members if _value(m.attrs, "DEFAULT") == "YES"]
        if len(defaults) > 1:
            problems.append(
                f"line {defaults[1].line}: group {kind} {gid!r} has more than one "
                "DEFAULT=YES rendition (RFC 8216 4.3.4.1.1)"
            )
        names: dict[str, int] = {}
        for m in members:
            name = _value(m.attrs, "NAME")
            if name is None:
                continue
            if name in names:
                problems.append(
                    f"line {m.line}: NAME {name!r} is already used in group {kind} "
                    f"{gid!r} on line {names[name]} (RFC 8216 4.3.4.1.1)"
                )
            names.setdefault(name, m.line)

    # Variants: each EXT-X-STREAM-INF is followed by its URI line.
    variants = 0
    expecting: Tag | None = None
    for item in parsed.order:
        if isinstance(item, tuple):
            line, _uri = item
            if expecting is None:
                problems.append(f"line {line}: URI line without a preceding EXT-X-STREAM-INF")
            else:
                variants += 1
            expecting = None
            continue
        if expecting is not None:
            problems.append(
                f"line {expecting.line}: EXT-X-STREAM-INF must be followed by its "
                f"URI line, found #{item.name} (RFC 8216 4.3.4.2)"
            )
            expecting = None
        if item.name == "EXT-X-STREAM-INF":
            expecting = item
            _check_variant(item, groups, version, strict, problems)
        if item.name == "EXT-X-I-FRAME-STREAM-INF":
            _check_variant(item, groups, version, strict, problems)
    if expecting is not None:
        problems.append(f"line {expecting.line}: EXT-X-STREAM-INF at the end without a URI line")

    _check_version(version, reasons, problems)
    if variants == 0:
        problems.append("the master playlist has no variant streams (EXT-X-STREAM-INF)")
    if strict and not _named(tags, "EXT-X-INDEPENDENT-SEGMENTS"):
        problems.append("EXT-X-INDEPENDENT-SEGMENTS is missing")
    _cross_check(text, problems, master=True, count=variants)
    return problems


ATTRIBUTE_TAGS_MEDIA = {"EXT-X-MAP", "EXT-X-KEY", "EXT-X-START", "EXT-X-DATERANGE"}
ATTRIBUTE_TAGS_MASTER = {
    "EXT-X-MEDIA", "EXT-X-STREAM-INF", "EXT-X-I-FRAME-STREAM-INF", "EXT-X-SESSION-DATA",
    "EXT-X-SESSION-KEY", "EXT-X-START",
}  # fmt: skip


def _check_variant(
    t: Tag, groups: dict[tuple[str, str], list[Tag]], version: int | None, strict: bool,
    problems: list[str],
) -> None:  # fmt: skip
    a = t.attrs
    where = f"line {t.line}: {t.name}"
    codecs = [c.strip() for c in a["CODECS"].value.split(",")] if "CODECS" in a else []
    has_video = any(c.lower().startswith(VIDEO_CODECS) for c in codecs)
    has_audio = any(c.lower().startswith(AUDIO_CODECS) for c in codecs)
    if "CODECS" in a and any(not c or " " in c for c in codecs):
        problems.append(
            f"{where} CODECS {a['CODECS'].value!r} is not a comma-separated list of RFC 6381 codecs"
        )
    if strict:
        if "CODECS" not in a:
            problems.append(f"{where} has no CODECS; players must then guess what they can play")
        if "AVERAGE-BANDWIDTH" not in a:
            problems.append(f"{where} has no AVERAGE-BANDWIDTH")
        if has_video and "RESOLUTION" not in a:
            problems.append(f"{where} has video but no RESOLUTION")
        if has_video and "FRAME-RATE" not in a and t.name == "EXT-X-STREAM-INF":
            problems.append(f"{where} has video but no FRAME-RATE")
    if "BANDWIDTH" in a and "AVERAGE-BANDWIDTH" in a:
        try:
            if int(a["AVERAGE-BANDWIDTH"].value) > int(a["BANDWIDTH"].value):
                problems.append(f"{where} AVERAGE-BANDWIDTH is above BANDWIDTH (the peak)")
        except ValueError:
            pass  # reported as a type error already
    if "BANDWIDTH" in a and a["BANDWIDTH"].value == "0":
        problems.append(f"{where} BANDWIDTH is 0")
    if "FRAME-RATE" in a and re.fullmatch(r"[0-9]+\.[0-9]{4,}", a["FRAME-RATE"].value):
        problems.append(
            f"{where} FRAME-RATE {a['FRAME-RATE'].value} has more than 3 decimals "
            "(RFC 8216 4.3.4.2: rounded to three decimal places)"
        )
    if "PROGRAM-ID" in a and version is not None and version >= 6:
        problems.append(f"{where} PROGRAM-ID was removed in protocol version 6 (RFC 8216 7)")
    if "CLOSED-CAPTIONS" in a and not a["CLOSED-CAPTIONS"].quoted:
        if a["CLOSED-CAPTIONS"].value != "NONE":
            problems.append(f"{where} CLOSED-CAPTIONS must be a quoted GROUP-ID or NONE")
        del a["CLOSED-CAPTIONS"]
    for attr, kind in (
        ("AUDIO", "AUDIO"),
        ("VIDEO", "VIDEO"),
        ("SUBTITLES", "SUBTITLES"),
        ("CLOSED-CAPTIONS", "CLOSED-CAPTIONS"),
    ):
        if attr in a and (kind, a[attr].value) not in groups:
            problems.append(
                f"{where} {attr}={a[attr].value!r} names no EXT-X-MEDIA "
                f"TYPE={kind} group (RFC 8216 4.3.4.2)"
            )
    if strict and "AUDIO" in a and "CODECS" in a and not has_audio:
        problems.append(
            f"{where} uses audio group {a['AUDIO'].value!r} but CODECS "
            f"{a['CODECS'].value!r} names no audio codec"
        )


# -- parsing ----------------------------------------------------------------------------


def _parse(text: str, problems: list[str], attribute_tags: set[str]) -> _Parsed:
    if text.startswith("\ufeff"):
        problems.append("line 1: the playlist starts with a byte order mark (RFC 8216 4.1)")
        text = text[1:]
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or lines[0].rstrip("\r") != "#EXTM3U":
        problems.append("line 1: the first line must be #EXTM3U (RFC 8216 4.3.1.1)")
    tags: list[Tag] = []
    uris: list[tuple[int, str]] = []
    order: list[Tag | tuple[int, str]] = []
    for n, raw in enumerate(lines, 1):
        line = raw[:-1] if raw.endswith("\r") else raw
        if _CONTROL_RE.search(line) or "\r" in line:
            problems.append(f"line {n}: control character in the playlist (RFC 8216 4.1)")
        if not line.strip():
            if line:
                problems.append(f"line {n}: whitespace-only line")
            continue
        if line != line.strip():
            problems.append(f"line {n}: leading or trailing whitespace")
        if line.startswith("#EXT"):
            name, sep, value = line[1:].partition(":")
            tag = Tag(n, name, value if sep else None)
            if name not in KNOWN_TAGS:
                problems.append(f"line {n}: unknown tag #{name} (clients ignore it silently)")
            elif name in VALUELESS_TAGS and sep:
                problems.append(f"line {n}: #{name} takes no value")
            elif name in attribute_tags or name in SCHEMA:
                if value is None or not sep:
                    problems.append(f"line {n}: #{name} needs an attribute list")
                else:
                    tag.attrs = _parse_attributes(name, value, n, problems)
            if name == "EXTM3U" and n != 1:
                problems.append(f"line {n}: #EXTM3U may only be the first line")
            tags.append(tag)
            order.append(tag)
        elif line.startswith("#"):
            continue  # a comment
        else:
            uris.append((n, line))
            order.append((n, line))
    return _Parsed(tags, uris, order)


_ATTR_NAME = re.compile(r"[A-Z0-9-]+")


def _parse_attributes(tag: str, text: str, line: int, problems: list[str]) -> dict[str, Attr]:
    """RFC 8216 4.2 attribute lists: NAME=value pairs, comma-separated, no whitespace."""
    where = f"line {line}: #{tag}"
    attrs: dict[str, Attr] = {}
    i = 0
    while i < len(text):
        m = _ATTR_NAME.match(text, i)
        if not m or m.end() >= len(text) or text[m.end()] != "=":
            problems.append(f"{where}: malformed attribute list at {text[i:]!r}")
            return attrs
        name = m.group()
        i = m.end() + 1
        if i < len(text) and text[i] == '"':
            close = text.find('"', i + 1)
            if close < 0:
                problems.append(f"{where}: unterminated quoted string for {name}")
                return attrs
            value, quoted = text[i + 1 : close], True
            i = close + 1
        else:
            comma = text.find(",", i)
            end = len(text) if comma < 0 else comma
            value, quoted = text[i:end], False
            i = end
        if i < len(text):
            if text[i] != ",":
                problems.append(f"{where}: expected ',' after {name}, found {text[i:]!r}")
                return attrs
            i += 1
            if i == len(text):
                problems.append(f"{where}: trailing comma in the attribute list")
        if name in attrs:
            problems.append(f"{where}: attribute {name} appears twice (RFC 8216 4.2)")
        attrs[name] = Attr(value, quoted)

    schema = SCHEMA.get(tag, {})
    for name, attr in attrs.items():
        if name not in schema:
            continue  # clients ignore unknown attributes (RFC 8216 4.2)
        kind, allowed = schema[name]
        if kind == QUOTED:
            if not attr.quoted and not (name == "CLOSED-CAPTIONS" and attr.value == "NONE"):
                problems.append(f"{where}: {name} must be a quoted-string, not {attr.value!r}")
        elif attr.quoted:
            problems.append(f"{where}: {name} is a {kind} and must not be quoted")
        elif not _VALUE_RE[kind].fullmatch(attr.value):
            problems.append(f"{where}: {name}={attr.value!r} is not a valid {kind}")
        elif allowed is not None and attr.value not in allowed:
            problems.append(
                f"{where}: {name}={attr.value} is not one of {', '.join(sorted(allowed))}"
            )
    for name in REQUIRED.get(tag, ()):
        if name not in attrs:
            problems.append(f"{where}: required attribute {name} is missing")
    return attrs


def _check_extinf(t: Tag, problems: list[str]) -> Decimal | None:
    value = t.value
    if value is None or "," not in value:
        problems.append(
            f"line {t.line}: EXTINF must be '#EXTINF:<duration>,[<title>]' "
            "(the comma is required, RFC 8216 4.3.2.1)"
        )
        return None
    duration = value.split(",", 1)[0]
    if not _VALUE_RE[FLOAT].fullmatch(duration):
        problems.append(f"line {t.line}: EXTINF duration {duration!r} is not a decimal number")
        return None
    try:
        return Decimal(duration)
    except InvalidOperation:  # pragma: no cover - the regex already guarantees a number
        return None


def _check_once(tags: list[Tag], once: set[str], problems: list[str]) -> None:
    seen: dict[str, int] = {}
    for t in tags:
        if t.name in once:
            if t.name in seen:
                problems.append(
                    f"line {t.line}: {t.name} may appear only once (first on line {seen[t.name]})"
                )
            seen.setdefault(t.name, t.line)


def _version(tags: list[Tag], problems: list[str]) -> int | None:
    found = _named(tags, "EXT-X-VERSION")
    if not found:
        return None
    t = found[0]
    if t.value is None or not _VALUE_RE[INT].fullmatch(t.value):
        problems.append(f"line {t.line}: EXT-X-VERSION must be a decimal-integer")
        return None
    return int(t.value)


def _check_version(
    version: int | None, reasons: list[tuple[int, str]], problems: list[str]
) -> None:
    declared = version if version is not None else 1
    if reasons and (top := max(reasons))[0] > declared:
        problems.append(f"EXT-X-VERSION is {declared}, but {top[1]} (RFC 8216 7)")


def _named(tags: list[Tag], name: str) -> list[Tag]:
    return [t for t in tags if t.name == name]


def _value(attrs: dict[str, Attr], name: str) -> str | None:
    return attrs[name].value if name in attrs else None


def _cross_check(text: str, problems: list[str], *, master: bool, count: int) -> None:
    try:
        playlist = m3u8.loads(text)
    except Exception as exc:  # the m3u8 package raises many kinds for bad input
        problems.append(f"the m3u8 package cannot parse the playlist: {exc}")
        return
    if bool(playlist.is_variant) != master:
        kind = "master" if playlist.is_variant else "media"
        problems.append(f"the m3u8 package reads this as a {kind} playlist")
        return
    theirs = len(playlist.playlists) if master else len(playlist.segments)
    if theirs != count:
        problems.append(
            f"the m3u8 package finds {theirs} {'variants' if master else 'segments'}"
            f", this linter {count}"
        )
