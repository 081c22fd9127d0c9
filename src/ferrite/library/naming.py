"""What a media file is, from its path alone: pure parsing of movie and episode names.

Recognised layouts (the conventions Plex, Jellyfin and scene releases use)::

    Movies/Title (Year)/Title (Year).ext        movie; the folder also names it
    Movies/Title (Year).ext                     loose movie
    Title.Year.1080p.BluRay.x264.mkv            scene name: title up to the year
    Shows/Show/Season 01/Show - S01E02 - Title.ext
    Show.S01E02.720p.mkv   Show 1x02.mp4   Show - S01E01-E02 (multi-episode)
    Show/Specials/... or Season 0               season 0
    Show/Season 01/S01E02.mkv or .../E02.mkv    show title from the folder

The library's kind settles what a name alone cannot: in a ``movies`` library every file is
a movie, in a ``shows`` library every file that has a show name (in the file name or a
folder) is an episode (looser patterns such as ``Show - 12.mkv`` or ``Show 102.mkv`` are
accepted there; a file with no number gets ``episode=None``), and a ``mixed`` library makes a
file an episode only when it carries a clear episode marker (``S01E02``, ``1x02``, or an
episode number inside a season folder). Date-based and absolute anime numbering beyond
that are not recognised.

Nothing here touches the file system: paths are :class:`~pathlib.PurePath` values.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import PurePath
from typing import Literal

LibraryKind = Literal["movies", "shows", "mixed"]
LIBRARY_KINDS: tuple[LibraryKind, ...] = ("movies", "shows", "mixed")

#: Extensions (lower case, with the dot) the scanner treats as video files.
VIDEO_EXTENSIONS = frozenset(
    {
        ".mkv", ".mk3d", ".mp4", ".m4v", ".mov", ".webm", ".avi", ".ts", ".m2ts", ".mts",
        ".mpg", ".mpeg", ".wmv", ".asf", ".flv", ".ogv", ".3gp", ".vob", ".divx", ".m2v",
    }
)  # fmt: skip
#: Extensions of sidecar subtitle files read next to a video.
SUBTITLE_EXTENSIONS = frozenset({".srt", ".ass", ".ssa", ".vtt"})
#: Sidecar subtitle files larger than this are not subtitles.
MAX_SIDECAR_BYTES = 20 * 1024 * 1024

_SIDECAR_CODECS = {".srt": "subrip", ".ass": "ass", ".ssa": "ssa", ".vtt": "webvtt"}


@dataclass(frozen=True, slots=True)
class ParsedName:
    """What a path says about its file.

    For movies ``title``/``year`` name the film. For episodes ``title``/``year`` name the
    show, ``season`` is 0 for specials, ``episode`` may be ``None`` when a shows library
    holds a file without a number, and ``episode_end`` is set for multi-episode files.
    """

    kind: Literal["movie", "episode"]
    title: str
    year: int | None = None
    season: int | None = None
    episode: int | None = None
    episode_end: int | None = None
    episode_title: str | None = None


# -- tokens ---------------------------------------------------------------------------

# Release tags that end a title: resolutions, sources, codecs, audio, editions, flags.
_JUNK = frozenset(
    {
    "2160p", "1080p", "1080i", "720p", "576p", "576i", "480p", "480i", "360p", "4k", "8k",
    "uhd", "fhd", "hd", "sd", "hdr", "hdr10", "hdr10+", "hdr10plus", "dv", "dovi", "hlg", "sdr",
    "bluray", "blu-ray", "bdrip", "brrip", "bdremux", "remux", "webrip", "web-dl", "webdl",
    "web", "hdtv", "hdrip", "dvdrip", "dvdscr", "dvd", "dvd5", "dvd9", "tvrip", "pdtv",
    "satrip", "cam", "ts", "telesync", "screener", "scr", "r5", "amzn", "nf", "dsnp", "hmax",
    "atvp", "hulu", "x264", "x265", "h264", "h265", "h.264", "h.265", "hevc", "avc", "xvid",
    "divx", "av1", "vp9", "10bit", "8bit", "12bit", "aac", "aac2", "ac3", "eac3", "dd", "dd5",
    "ddp", "ddp5", "dts", "dts-hd", "truehd", "atmos", "flac", "mp3", "opus", "5.1", "7.1",
    "2.0", "proper", "repack", "rerip", "extended", "unrated", "uncut", "directors",
    "remastered", "limited", "internal", "multi", "multisubs", "dubbed", "subbed", "complete",
    "imax", "criterion",
    }
)  # fmt: skip

_YEAR = re.compile(r"(?<![0-9])(19[0-9]{2}|20[0-9]{2})(?![0-9])")
_PAREN_YEAR = re.compile(r"[\(\[]\s*(19[0-9]{2}|20[0-9]{2})\s*[\)\]]")
_BRACKETS = re.compile(r"\[[^\]]*\]|\{[^}]*\}")
_SPACES = re.compile(r"\s+")
_EDGE_PUNCT = " -_.,;:~([{"
_EDGE_PUNCT_END = " -_.,;:~)]}"

# S01E02, S01E02E03, S01E02-E03, S01E02-03, s1e2, S01.E02, S01 E02
_SXXEXX = re.compile(
    r"(?<![a-z0-9])s(?P<season>[0-9]{1,4})[ ._-]?e(?P<episode>[0-9]{1,4})"
    r"(?P<more>(?:(?:[ ._]?-[ ._]?e?|[ ._-]?e)[0-9]{1,4}(?![0-9pi]))*)"
    r"(?![0-9])",
    re.IGNORECASE,
)
_MORE_EPISODES = re.compile(r"[0-9]{1,4}")
# 1x02, 01x02-03, 1x02x03
_NXNN = re.compile(
    r"(?<![a-z0-9])(?P<season>[0-9]{1,2})x(?P<episode>[0-9]{2,3})"
    r"(?P<more>(?:(?:-|x|-[0-9]{1,2}x)[0-9]{2,3})*)(?![0-9a-z])",
    re.IGNORECASE,
)
# Episode numbers without a season, for files inside a season folder:
# "E02", "Ep 2", "Episode 02", "02 - Title", "02. Title", "Show - 02"
_EPISODE_ONLY = re.compile(
    r"(?:(?<![a-z0-9])(?:ep(?:isode)?|e)[ ._-]?(?P<episode>[0-9]{1,4})(?![0-9]))"
    r"(?:[ ._]?-[ ._]?(?:e|ep)?(?P<end>[0-9]{1,4})(?![0-9]))?",
    re.IGNORECASE,
)
_LEADING_NUMBER = re.compile(r"^(?P<episode>[0-9]{1,3})(?:[ ._]*[-.][ ._]*|[ _]+)(?=\D)")
_DASH_NUMBER = re.compile(r"[ _.]-[ _.](?P<episode>[0-9]{1,3})(?![0-9])(?:v[0-9])?")
# Shows library only: "Show 102" -> season 1 episode 2 (three or four digits, not a year).
_CONCAT_SXXEXX = re.compile(r"(?<![0-9a-z])(?P<season>[0-9]{1,2})(?P<episode>[0-9]{2})(?![0-9a-z])")

_SEASON_DIR = re.compile(
    r"^(?:season|series|saison|staffel|temporada|stagione|s)[ ._-]*"
    r"(?P<season>[0-9]{1,4})(?:\D.*)?$",
    re.IGNORECASE,
)
_SPECIALS_DIR = re.compile(r"^(?:specials?|season[ ._-]*0+|extras? season)$", re.IGNORECASE)


def _fold(text: str) -> str:
    """Lower case without diacritics: the comparison key of titles."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


_ARTICLES = ("the ", "a ", "an ")


def normalize_title(title: str) -> str:
    """The identity of a title: case, diacritics, punctuation and spacing don't count.

    >>> normalize_title("Amélie: The  Film!") == normalize_title("amelie the film")
    True
    """
    folded = _fold(title).replace("&", " and ")
    words = re.findall(r"[^\W_]+", folded)
    return " ".join(words)


def sort_title(title: str) -> str:
    """Key for sorting by title: normalised, leading English article removed."""
    key = normalize_title(title)
    for article in _ARTICLES:
        if key.startswith(article) and len(key) > len(article):
            return key[len(article) :]
    return key


def _clean(text: str) -> str:
    """Separator dots/underscores to spaces, release-group brackets out, spacing tidied."""
    text = _BRACKETS.sub(" ", text)
    if "_" in text or (" " not in text.strip() and "." in text):
        text = text.replace("_", " ")
        # Dots separate words in scene names, except inside abbreviations like "S.H.I.E.L.D."
        # and numbers like "2.0"; keep a dot between two single letters or two digits.
        text = re.sub(
            r"(?<![0-9])\.(?![0-9])|(?<=[0-9])\.(?![0-9])|(?<![0-9])\.(?=[0-9])", " ", text
        )
    text = _SPACES.sub(" ", text).strip(_EDGE_PUNCT)
    text = text.rstrip(_EDGE_PUNCT_END) if text.endswith((" -", "-", ".", "_")) else text
    return text.strip()


def _cut_junk(text: str, *, keep_first: bool = True) -> str:
    """Cut ``text`` at the first release tag (``1080p``, ``BluRay``, ...); the first word
    stays when ``keep_first`` (a title may be "4K" or "Web")."""
    words = re.split(r"[ ._]+", text)
    for i, word in enumerate(words):
        if (i or not keep_first) and word.strip("()[]-").casefold() in _JUNK:
            return " ".join(words[:i])
    return text


def _title_and_year(text: str) -> tuple[str, int | None]:
    """Split ``Title (2010)``, ``Title.2010.1080p``, ``Title [2010]`` into title and year."""
    m = _PAREN_YEAR.search(text)
    if m and m.start() > 0:
        return _clean(_cut_junk(text[: m.start()])), int(m.group(1))
    # The year of a scene name is the last year-like token that is not the whole title
    # ("2001.A.Space.Odyssey.1968.1080p" -> "2001 A Space Odyssey", 1968).
    candidates = [m for m in _YEAR.finditer(text) if m.start() > 0]
    for m in reversed(candidates):
        before = text[: m.start()]
        if before.strip(" ._-([") and before[-1:] in " ._-([":
            return _clean(_cut_junk(before)), int(m.group(1))
    return _clean(_cut_junk(text)), None


def _season_of_dir(name: str) -> int | None:
    if _SPECIALS_DIR.match(name.strip()):
        return 0
    m = _SEASON_DIR.match(name.strip())
    return int(m.group("season")) if m else None


def _episode_range(first: int, more: str) -> int | None:
    nums = [int(n) for n in _MORE_EPISODES.findall(more)]
    nums = [n for n in nums if n > first]
    return max(nums) if nums else None


@dataclass(frozen=True, slots=True)
class _Marker:
    season: int | None
    episode: int
    episode_end: int | None
    start: int
    end: int


def _find_marker(stem: str, *, in_season_dir: bool, loose: bool) -> _Marker | None:
    m = _SXXEXX.search(stem)
    if m:
        ep = int(m.group("episode"))
        return _Marker(
            int(m.group("season")), ep, _episode_range(ep, m.group("more")), m.start(), m.end()
        )
    m = _NXNN.search(stem)
    if m:
        ep = int(m.group("episode"))
        more = re.sub(r"-[0-9]{1,2}x", "-", m.group("more"))
        return _Marker(int(m.group("season")), ep, _episode_range(ep, more), m.start(), m.end())
    if in_season_dir or loose:
        m = _EPISODE_ONLY.search(stem)
        if m:
            ep = int(m.group("episode"))
            end = int(m.group("end")) if m.group("end") else None
            return _Marker(None, ep, end if end and end > ep else None, m.start(), m.end())
        m = _LEADING_NUMBER.match(stem)
        if m:
            return _Marker(None, int(m.group("episode")), None, m.start(), m.end())
    if loose:
        m = _DASH_NUMBER.search(stem)
        if m:
            return _Marker(None, int(m.group("episode")), None, m.start(), m.end())
        for m in _CONCAT_SXXEXX.finditer(stem):
            if not _YEAR.fullmatch(m.group(0)) and m.start() > 0:
                return _Marker(
                    int(m.group("season")), int(m.group("episode")), None, m.start(), m.end()
                )
    return None


def _relative_dirs(path: PurePath, root: PurePath | None) -> list[str]:
    """Folder names between the library root and the file, outermost first."""
    parents = list(path.parent.parts)
    if root is not None:
        with contextlib.suppress(ValueError):
            parents = list(path.parent.relative_to(root).parts)
    else:
        parents = parents[-3:]  # without a root, only the nearest folders can be meaningful
    return [p for p in parents if p not in ("", "/", ".")]


def parse_path(
    path: PurePath | str, *, root: PurePath | str | None = None, kind: LibraryKind = "mixed"
) -> ParsedName:
    """What the file at ``path`` (inside library root ``root``) is, by name.

    >>> p = parse_path("Shows/Test Show/Season 01/Test Show - S01E02 - Title.mkv", root="Shows")
    >>> (p.kind, p.title, p.season, p.episode, p.episode_title)
    ('episode', 'Test Show', 1, 2, 'Title')
    """
    path = PurePath(path)
    root_path = PurePath(root) if root is not None else None
    known = path.suffix.lower() in VIDEO_EXTENSIONS or path.suffix.lower() in SUBTITLE_EXTENSIONS
    stem = path.stem if known else path.name
    dirs = _relative_dirs(path, root_path)
    if kind != "movies":
        episode = _parse_episode(stem, dirs, loose=kind == "shows")
        if episode is not None:
            return episode
    return _parse_movie(stem, dirs)


_GENERIC_PREFIXES = frozenset({"episode", "ep", "part"})


def _parse_episode(stem: str, dirs: list[str], *, loose: bool) -> ParsedName | None:
    dir_season = _season_of_dir(dirs[-1]) if dirs else None
    in_season_dir = dir_season is not None
    marker = _find_marker(stem, in_season_dir=in_season_dir, loose=loose)
    if marker is None and not loose:
        return None
    # The show folder: the parent of a season folder, else the nearest folder.
    show_dir: str | None = None
    if in_season_dir:
        show_dir = dirs[-2] if len(dirs) >= 2 else None
    elif dirs:
        show_dir = dirs[-1]
    season = marker.season if marker and marker.season is not None else dir_season
    if season is None:
        season = 1
    prefix = _clean(stem[: marker.start]) if marker else ""
    if prefix.casefold() in _GENERIC_PREFIXES:
        prefix = ""
    suffix = stem[marker.end :] if marker else stem
    episode_title = _clean(_cut_junk(_clean(suffix), keep_first=False)) or None
    if marker is None:
        episode_title = _clean(_cut_junk(stem)) or None
    title: str
    year: int | None
    if show_dir is not None and (in_season_dir or not prefix):
        title, year = _title_and_year(show_dir)
    elif prefix:
        title, year = _title_and_year(prefix)
    elif show_dir is not None:
        title, year = _title_and_year(show_dir)
    else:
        return None
    if not title:
        return None
    return ParsedName(
        kind="episode",
        title=title,
        year=year,
        season=season,
        episode=marker.episode if marker else None,
        episode_end=marker.episode_end if marker else None,
        episode_title=episode_title,
    )


_GENERIC_STEM = re.compile(
    r"^(?:movie|film|video|feature|main|cd[ ._-]?[0-9]|disc[ ._-]?[0-9]|part[ ._-]?[0-9])$",
    re.IGNORECASE,
)


def _parse_movie(stem: str, dirs: list[str]) -> ParsedName:
    title, year = _title_and_year(stem)
    if dirs:
        dir_title, dir_year = _title_and_year(dirs[-1])
        generic = not title or _GENERIC_STEM.match(title) is not None
        # "Title (2010)/whatever.mkv": the folder is the better source when it has a
        # year and the file name doesn't, or the file name says nothing.
        if dir_title and (generic or (year is None and dir_year is not None)):
            title, year = dir_title, dir_year
    if not title:
        title = stem.strip() or "Untitled"
    return ParsedName(kind="movie", title=title, year=year)


def guess_library_kind(folder_name: str) -> LibraryKind:
    """``shows`` for folders named like TV (``TV Shows``, ``Series``), ``movies`` for film
    folders, else ``mixed``."""
    key = normalize_title(folder_name)
    if key in {
        "shows",
        "show",
        "tv",
        "tv shows",
        "tvshows",
        "series",
        "tv series",
        "television",
        "anime",
        "episodes",
    }:
        return "shows"
    if key in {"movies", "movie", "films", "film", "cinema"}:
        return "movies"
    return "mixed"


# -- sidecar subtitles -------------------------------------------------------------------

# ISO 639-1 and English names to the ISO 639-2/B codes streams are tagged with.
_LANGUAGES: dict[str, str] = {
    "en": "eng", "english": "eng", "fr": "fre", "fra": "fre", "french": "fre", "francais": "fre",
    "de": "ger", "deu": "ger", "german": "ger", "deutsch": "ger", "es": "spa", "spanish": "spa",
    "espanol": "spa", "it": "ita", "italian": "ita", "pt": "por", "portuguese": "por",
    "pb": "por", "nl": "dut", "nld": "dut", "dutch": "dut", "sv": "swe", "swedish": "swe",
    "no": "nor", "nb": "nob", "norwegian": "nor", "da": "dan", "danish": "dan", "fi": "fin",
    "finnish": "fin", "pl": "pol", "polish": "pol", "ru": "rus", "russian": "rus", "uk": "ukr",
    "ukrainian": "ukr", "cs": "cze", "ces": "cze", "czech": "cze", "sk": "slo", "slk": "slo",
    "hu": "hun", "hungarian": "hun", "ro": "rum", "ron": "rum", "romanian": "rum", "el": "gre",
    "ell": "gre", "greek": "gre", "tr": "tur", "turkish": "tur", "ar": "ara", "arabic": "ara",
    "he": "heb", "hebrew": "heb", "hi": "hin", "hindi": "hin", "ja": "jpn", "japanese": "jpn",
    "ko": "kor", "korean": "kor", "zh": "chi", "zho": "chi", "chinese": "chi", "th": "tha",
    "thai": "tha", "vi": "vie", "vietnamese": "vie", "id": "ind", "indonesian": "ind",
    "ms": "may", "msa": "may", "bg": "bul", "bulgarian": "bul", "hr": "hrv", "croatian": "hrv",
    "sr": "srp", "serbian": "srp", "sl": "slv", "slovenian": "slv", "et": "est", "lv": "lav",
    "lt": "lit", "is": "ice", "isl": "ice", "ca": "cat", "catalan": "cat", "eu": "baq",
    "eus": "baq", "gl": "glg", "fa": "per", "fas": "per", "persian": "per", "ga": "gle",
    "cy": "wel", "cym": "wel", "sq": "alb", "sqi": "alb", "mk": "mac", "mkd": "mac",
    "hy": "arm", "hye": "arm", "ka": "geo", "kat": "geo", "ta": "tam", "te": "tel", "bn": "ben",
    "ur": "urd", "tl": "tgl", "fil": "fil",
}  # fmt: skip
_ISO639_2 = frozenset(_LANGUAGES.values()) | {"und", "mul", "zxx"}
_FORCED = frozenset({"forced", "foreign"})
_DEFAULT = frozenset({"default"})
_SDH = frozenset({"sdh", "cc", "hi"})


def normalize_language(token: str) -> str | None:
    """``en``/``eng``/``English`` -> ``eng`` (ISO 639-2/B); ``None`` if not a language."""
    key = _fold(token.strip())
    if key in _ISO639_2:
        return key
    return _LANGUAGES.get(key)


@dataclass(frozen=True, slots=True)
class SidecarName:
    """What a sidecar subtitle's name says: ``Movie.eng.forced.ass`` -> eng, forced."""

    codec: str
    language: str | None = None
    title: str | None = None
    forced: bool = False
    default: bool = False


def parse_sidecar(video: PurePath | str, sidecar: PurePath | str) -> SidecarName | None:
    """Describe ``sidecar`` if it belongs to ``video`` (same folder, name = video stem +
    optional ``.tags``), else ``None``."""
    video = PurePath(video)
    sidecar = PurePath(sidecar)
    codec = _SIDECAR_CODECS.get(sidecar.suffix.lower())
    if codec is None or sidecar.parent != video.parent:
        return None
    stem, vstem = sidecar.stem, video.stem
    if stem == vstem:
        rest = ""
    elif stem.startswith(vstem + ".") or stem.startswith(vstem + "_"):
        rest = stem[len(vstem) + 1 :]
    else:
        return None
    language: str | None = None
    forced = default = False
    title_parts: list[str] = []
    for token in re.split(r"[._]", rest):
        if not token:
            continue
        folded = token.casefold()
        if folded in _FORCED:
            forced = True
        elif folded in _DEFAULT:
            default = True
        elif (
            language is None
            and (lang := normalize_language(token)) is not None
            and folded not in _SDH
        ):
            language = lang
        else:
            title_parts.append(token)
    title = " ".join(title_parts) or None
    return SidecarName(codec=codec, language=language, title=title, forced=forced, default=default)


def is_video(path: PurePath | str) -> bool:
    return PurePath(path).suffix.lower() in VIDEO_EXTENSIONS


def is_subtitle(path: PurePath | str) -> bool:
    return PurePath(path).suffix.lower() in SUBTITLE_EXTENSIONS


def is_sample(path: PurePath | str) -> bool:
    """Release samples (``movie-sample.mkv``, ``Sample/x.mkv``) are not library items."""
    p = PurePath(path)
    return bool(
        re.search(r"(?:^|[ ._-])sample$", p.stem, re.IGNORECASE)
    ) or p.parent.name.casefold() in {
        "sample",
        "samples",
    }
