"""File-name parsing: a table of real-world names and what they mean."""

from __future__ import annotations

import pytest

from ferrite.library.naming import (
    ParsedName,
    SidecarName,
    guess_library_kind,
    is_sample,
    normalize_language,
    normalize_title,
    parse_path,
    parse_sidecar,
    sort_title,
)


def movie(title: str, year: int | None = None) -> ParsedName:
    return ParsedName("movie", title, year)


def ep(
    show: str,
    season: int,
    episode: int | None,
    title: str | None = None,
    *,
    year: int | None = None,
    end: int | None = None,
) -> ParsedName:
    return ParsedName("episode", show, year, season, episode, end, title)


MOVIES = [
    ("Movies/Big Test Movie (2020)/Big Test Movie (2020).mp4", movie("Big Test Movie", 2020)),
    ("Movies/Amélie (2001)/Amélie (2001).mkv", movie("Amélie", 2001)),
    ("Movies/Heat (1995).mkv", movie("Heat", 1995)),
    ("Movies/The.Matrix.1999.1080p.BluRay.x264-GROUP.mkv", movie("The Matrix", 1999)),
    (
        "Movies/2001.A.Space.Odyssey.1968.2160p.UHD.BluRay.x265.mkv",
        movie("2001 A Space Odyssey", 1968),
    ),
    ("Movies/Blade Runner 2049 (2017).mkv", movie("Blade Runner 2049", 2017)),
    ("Movies/Blade.Runner.2049.2017.1080p.WEB-DL.mkv", movie("Blade Runner 2049", 2017)),
    ("Movies/1917 (2019)/1917 (2019).mkv", movie("1917", 2019)),
    ("Movies/Alien [1979].avi", movie("Alien", 1979)),
    ("Movies/Inception (2010)/movie.mkv", movie("Inception", 2010)),
    ("Movies/Inception (2010)/CD1.avi", movie("Inception", 2010)),
    ("Movies/Some Home Video.mp4", movie("Some Home Video")),
    ("Movies/Fight_Club_1999_720p.mkv", movie("Fight Club", 1999)),
    ("Movies/Mr. Nobody (2009).mkv", movie("Mr. Nobody", 2009)),
    ("Movies/[YTS] Parasite (2019) [1080p].mp4", movie("Parasite", 2019)),
    (
        "Movies/Star Wars Episode IV - A New Hope (1977).mkv",
        movie("Star Wars Episode IV - A New Hope", 1977),
    ),
    ("Movies/Kill.Bill.Vol.1.2003.REMASTERED.1080p.mkv", movie("Kill Bill Vol 1", 2003)),
    ("Movies/Wobbly (2012).mp4", movie("Wobbly", 2012)),
    ("Movies/Old Film/Old Film.mkv", movie("Old Film")),
]

EPISODES = [
    ("Shows/Test Show/Season 01/Test Show - S01E01 - Pilot.mp4", ep("Test Show", 1, 1, "Pilot")),
    ("Shows/Test Show/Season 01/Test.Show.S01E02.720p.mkv", ep("Test Show", 1, 2)),
    ("Shows/Test Show/Season 02/Test Show 2x01.mp4", ep("Test Show", 2, 1)),
    ("Shows/Test Show/Specials/Test Show - S00E01 - Extra.mp4", ep("Test Show", 0, 1, "Extra")),
    ("Shows/Test Show/Season 0/Test Show - S00E02.mp4", ep("Test Show", 0, 2)),
    ("Shows/Test Show/Season 1/S01E03.mkv", ep("Test Show", 1, 3)),
    ("Shows/Test Show/Season 1/E04 - Fourth.mkv", ep("Test Show", 1, 4, "Fourth")),
    ("Shows/Test Show/Season 1/05 - Fifth.mkv", ep("Test Show", 1, 5, "Fifth")),
    ("Shows/Test Show/Season 1/Episode 6.mkv", ep("Test Show", 1, 6)),
    (
        "Shows/Test Show/Season 01/Test Show - S01E07-E08 - Double.mkv",
        ep("Test Show", 1, 7, "Double", end=8),
    ),
    ("Shows/Test Show/Season 01/Test.Show.S01E09E10.1080p.mkv", ep("Test Show", 1, 9, end=10)),
    ("Shows/Test Show/Season 01/Test Show - s01e11-12.mkv", ep("Test Show", 1, 11, end=12)),
    ("Shows/Test Show/Season 01/Test Show 1x13-1x14.mkv", ep("Test Show", 1, 13, end=14)),
    (
        "Shows/Breaking.Bad.S05E14.Ozymandias.720p.WEB-DL.mkv",
        ep("Breaking Bad", 5, 14, "Ozymandias"),
    ),
    (
        "Shows/The Office (US)/Season 02/The Office (US) - S02E01 - The Dundies.mkv",
        ep("The Office (US)", 2, 1, "The Dundies"),
    ),
    (
        "Shows/Doctor Who (2005)/Season 1/Doctor Who (2005) - S01E01 - Rose.mkv",
        ep("Doctor Who", 1, 1, "Rose", year=2005),
    ),
    (
        "Shows/Marvel's Agents of S.H.I.E.L.D/Season 1/S01E01.mkv",
        ep("Marvel's Agents of S.H.I.E.L.D", 1, 1),
    ),
    ("Shows/Loose Show/Loose.Show.S03E04.HDTV.x264.mp4", ep("Loose Show", 3, 4)),
    ("Shows/Loose Show/episode.s03e05.mp4", ep("Loose Show", 3, 5)),
    ("Shows/Fargo.S02E03.Rhinoceros.1080p.mkv", ep("Fargo", 2, 3, "Rhinoceros")),
    ("Shows/Show_Name_S01E02_Title_Here.mkv", ep("Show Name", 1, 2, "Title Here")),
    ("Shows/Series Name/Series 3/Series Name S03E01.mkv", ep("Series Name", 3, 1)),
    ("Shows/Planet Earth II - S01E01 - Islands.mkv", ep("Planet Earth II", 1, 1, "Islands")),
    ("Shows/24/Season 1/24 - 1x01 - 12 00 AM.mkv", ep("24", 1, 1, "12 00 AM")),
    ("Shows/Show/Season 2010/Show - S2010E05.mkv", ep("Show", 2010, 5)),
]


@pytest.mark.parametrize(("path", "expected"), MOVIES, ids=[p for p, _ in MOVIES])
def test_movies_in_movies_and_mixed_libraries(path: str, expected: ParsedName) -> None:
    assert parse_path(path, root="Movies", kind="movies") == expected
    assert parse_path(path, root="Movies", kind="mixed") == expected


@pytest.mark.parametrize(("path", "expected"), EPISODES, ids=[p for p, _ in EPISODES])
def test_episodes_in_shows_and_mixed_libraries(path: str, expected: ParsedName) -> None:
    assert parse_path(path, root="Shows", kind="shows") == expected
    assert parse_path(path, root="Shows", kind="mixed") == expected


LOOSE_SHOWS = [
    # Only a shows library reads these as episodes.
    ("Shows/Anime Show/[Group] Anime Show - 12 [1080p].mkv", ep("Anime Show", 1, 12)),
    ("Shows/Some Show/Some Show 102.mkv", ep("Some Show", 1, 2)),
    ("Shows/Some Show/Some Show 1012.mkv", ep("Some Show", 10, 12)),
    ("Shows/Some Show/Behind the scenes.mkv", ep("Some Show", 1, None, "Behind the scenes")),
    ("Shows/Some Show/Season 3/Finale.mkv", ep("Some Show", 3, None, "Finale")),
]


@pytest.mark.parametrize(("path", "expected"), LOOSE_SHOWS, ids=[p for p, _ in LOOSE_SHOWS])
def test_loose_names_are_episodes_only_in_shows_libraries(path: str, expected: ParsedName) -> None:
    assert parse_path(path, root="Shows", kind="shows") == expected
    assert parse_path(path, root="Shows", kind="mixed").kind == "movie"


def test_library_kind_decides_ambiguous_names() -> None:
    # A movies library never makes episodes, even of names with markers.
    assert parse_path("M/Show.S01E02.mkv", root="M", kind="movies") == movie("Show S01E02")
    assert parse_path("M/Show.S01E02.mkv", root="M", kind="mixed") == ep("Show", 1, 2)
    # A year is not an episode number, even in a shows library.
    got = parse_path("S/Some Show 2019/Some Show 2019.mkv", root="S", kind="shows")
    assert got.kind == "episode"
    assert got.title == "Some Show"
    assert got.year == 2019


def test_without_a_root_only_nearby_folders_count() -> None:
    assert parse_path("/srv/media/tv/Show/Season 01/S01E02.mkv") == ep("Show", 1, 2)
    assert parse_path("/srv/x/Heat (1995)/movie.mkv") == movie("Heat", 1995)


def test_show_folder_is_the_title_when_the_file_name_lacks_it() -> None:
    assert parse_path("T/My Show/Season 04/s04e01.mkv", root="T", kind="shows").title == "My Show"
    assert parse_path("T/My Show/S04E01.mkv", root="T", kind="mixed").title == "My Show"
    # A file at the library root without a show name can't be an episode of anything.
    assert parse_path("T/S04E01.mkv", root="T", kind="shows") == movie("S04E01")


def test_titles_normalise_for_identity_and_sorting() -> None:
    assert normalize_title("Amélie") == normalize_title("AMELIE")
    assert normalize_title("Test.Show") == normalize_title("test show")
    assert normalize_title("Law & Order") == "law and order"
    assert sort_title("The Matrix") == "matrix"
    assert sort_title("A Quiet Place") == "quiet place"
    assert sort_title("The") == "the"


@pytest.mark.parametrize(
    ("folder", "kind"),
    [("TV Shows", "shows"), ("tv", "shows"), ("Series", "shows"), ("Movies", "movies"),
     ("films", "movies"), ("Downloads", "mixed"), ("media", "mixed")],
)  # fmt: skip
def test_guess_library_kind(folder: str, kind: str) -> None:
    assert guess_library_kind(folder) == kind


SIDECARS = [
    ("Movie.srt", SidecarName("subrip")),
    ("Movie.en.srt", SidecarName("subrip", "eng")),
    ("Movie.eng.forced.ass", SidecarName("ass", "eng", forced=True)),
    ("Movie.English.vtt", SidecarName("webvtt", "eng")),
    ("Movie.fr.default.ssa", SidecarName("ssa", "fre", default=True)),
    ("Movie.pt.sdh.srt", SidecarName("subrip", "por", title="sdh")),
    ("Movie.Commentary.srt", SidecarName("subrip", title="Commentary")),
    ("Movie.forced.de.srt", SidecarName("subrip", "ger", forced=True)),
    ("Movie_es.srt", SidecarName("subrip", "spa")),
]


@pytest.mark.parametrize(("name", "expected"), SIDECARS, ids=[n for n, _ in SIDECARS])
def test_sidecar_names(name: str, expected: SidecarName) -> None:
    assert parse_sidecar("/m/Movie.mkv", f"/m/{name}") == expected


def test_sidecar_must_belong_to_the_video() -> None:
    assert parse_sidecar("/m/Movie.mkv", "/m/Other.en.srt") is None
    assert parse_sidecar("/m/Movie.mkv", "/n/Movie.en.srt") is None
    assert parse_sidecar("/m/Movie.mkv", "/m/Movie 2.srt") is None
    assert parse_sidecar("/m/Movie.mkv", "/m/Movie.en.txt") is None


def test_languages() -> None:
    assert normalize_language("en") == "eng"
    assert normalize_language("ENG") == "eng"
    assert normalize_language("Français") == "fre"
    assert normalize_language("xx") is None


def test_samples() -> None:
    assert is_sample("/m/Movie (2010)/movie-sample.mkv")
    assert is_sample("/m/Movie (2010)/Sample/movie.mkv")
    assert not is_sample("/m/Samples of Life (2010).mkv")
