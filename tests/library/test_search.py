"""FTS5 title search over items stored by ferrite.library.store."""

from __future__ import annotations

import functools
import operator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from ferrite.db.engine import Database
from ferrite.db.schema import items, media_files
from ferrite.library import libraries, store
from ferrite.library.files import FileFacts
from ferrite.library.naming import LibraryKind, parse_path
from ferrite.library.search import fts_query, search
from ferrite.media.info import MediaInfo

INFO = MediaInfo(container="matroska", duration_s=60.0)


def add(db: Database, library_id: int, root: Path, rel: str, kind: LibraryKind) -> int:
    path = root / rel
    parsed = parse_path(path, root=root, kind=kind)
    _, item_id = db.write_sync(
        lambda c: store.save_probed(
            c,
            FileFacts(str(path), 1, 1, f"{abs(hash(rel)):040d}"[:40]),
            library_id=library_id,
            info=INFO,
            parsed=parsed,
            now=1.0,
        )
    )
    return int(item_id)


@pytest.fixture
def libs(db: Database, tmp_path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, kind in (("films", "movies"), ("tv", "shows"), ("kids", "mixed")):
        (tmp_path / name).mkdir()
        lib = db.write_sync(
            lambda c, n=name, k=kind: libraries.create_library(
                c, name=n, kind=k, paths=[tmp_path / n]
            )
        )
        out[name] = lib.id
    films, tv, kids = tmp_path / "films", tmp_path / "tv", tmp_path / "kids"
    out["amelie"] = add(db, out["films"], films, "Amélie (2001)/Amélie (2001).mkv", "movies")
    out["alien"] = add(
        db, out["films"], films, "Alien (1979)/Alien.1979.1080p.BluRay.mkv", "movies"
    )
    out["aliens"] = add(db, out["films"], films, "Aliens (1986).mkv", "movies")
    out["predator"] = add(db, out["films"], films, "Predator (1987).mkv", "movies")
    out["pilot"] = add(
        db, out["tv"], tv, "Alien Worlds/Season 01/Alien Worlds - S01E01 - Pilot.mkv", "shows"
    )
    out["ep2"] = add(
        db, out["tv"], tv, "Alien Worlds/Season 01/Alien.Worlds.S01E02.720p.mkv", "shows"
    )
    out["office"] = add(
        db, out["tv"], tv, "The Office/Season 2/The Office - S02E01 - The Dundies.mkv", "shows"
    )
    out["cartoon"] = add(db, out["kids"], kids, "Alien Cartoon (2005).mkv", "mixed")
    return out


def find(db: Database, q: str, library_ids: object = None, **kw: object) -> list[int]:
    return db.read_sync(lambda c: search(c, q, library_ids=library_ids, **kw))  # type: ignore[arg-type]


def show_id(db: Database, title: str) -> int:
    return int(
        db.read_sync(
            lambda c: c.execute(
                select(items.c.id).where(items.c.title == title, items.c.kind == "show")
            ).scalar_one()
        )
    )


def test_diacritics_and_case_do_not_matter(db: Database, libs: dict[str, int]) -> None:
    for q in ("amelie", "Amélie", "AMELIE", "amél"):
        assert find(db, q) == [libs["amelie"]], q


def test_prefix_matching(db: Database, libs: dict[str, int]) -> None:
    assert find(db, "pred") == [libs["predator"]]
    assert find(db, "am") == [libs["amelie"]]
    assert find(db, "dund off") == [libs["office"]]


def test_episodes_are_found_by_show_name(db: Database, libs: dict[str, int]) -> None:
    worlds = show_id(db, "Alien Worlds")
    got = find(db, "alien worlds")
    assert got[0] == worlds
    assert set(got) == {worlds, libs["pilot"], libs["ep2"]}
    assert find(db, "alien worlds", kind="episode")[:2] != []
    assert set(find(db, "alien worlds", kind="episode")) == {libs["pilot"], libs["ep2"]}
    assert find(db, "office dundies") == [libs["office"]]


def test_file_names_are_searchable(db: Database, libs: dict[str, int]) -> None:
    assert find(db, "720p") == [libs["ep2"]]
    assert find(db, "bluray") == [libs["alien"]]


def test_ranking_titles_before_context(db: Database, libs: dict[str, int]) -> None:
    got = find(db, "alien")
    worlds = show_id(db, "Alien Worlds")
    # Titles holding the word, shortest first; then episodes matched by their show.
    assert got[:4] == [libs["alien"], libs["aliens"], worlds, libs["cartoon"]]
    assert set(got[4:]) == {libs["pilot"], libs["ep2"]}


def test_library_filter(db: Database, libs: dict[str, int]) -> None:
    assert set(find(db, "alien", library_ids={libs["kids"]})) == {libs["cartoon"]}
    assert libs["cartoon"] not in find(db, "alien", library_ids=[libs["films"], libs["tv"]])
    assert find(db, "alien", library_ids=[]) == []
    assert find(db, "alien", library_ids=[999]) == []


def test_paging(db: Database, libs: dict[str, int]) -> None:
    everything = find(db, "alien")
    assert len(everything) == 6
    pages = [find(db, "alien", limit=4, offset=o) for o in (0, 4, 8)]
    assert functools.reduce(operator.iadd, pages, []) == everything
    assert find(db, "alien", limit=0) == []


@pytest.mark.parametrize(
    "q",
    ['"', 'alien"', "alien OR", "NOT alien", "alien*", "(alien", "alien)", "title:alien", "^alien",
     "alien NEAR(x)", "'; DROP TABLE items; --", "-alien", "a\x00lien", "{alien}"],
)  # fmt: skip
def test_user_input_never_breaks_the_query(db: Database, libs: dict[str, int], q: str) -> None:
    find(db, q)  # no FTS5 syntax error
    assert fts_query(q) is None or '"' not in fts_query(q).replace('"*', "").replace(' "', "")[1:]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "q",
    ["a" * 100_000, "alien " * 10_000, "é" * 5_000 + " alien", "alien\x00", "\x00", "\u0301",
     "' & | ! <-> :*", "alien:*A", "alien & !predator", "websearch OR \"to tsquery\" -x",
     "\\'\\", "🎬 alien", "x" * 3_000 + " y"],
)  # fmt: skip
def test_hostile_input_on_every_backend(db: Database, libs: dict[str, int], q: str) -> None:
    # PostgreSQL: no tsquery syntax error, no NUL in a query, no "word too long".
    found = find(db, q)
    assert set(found) <= all_ids(db)
    if q in ("alien\x00", "alien:*A", "🎬 alien"):  # the punctuation is no operator
        assert libs["alien"] in found


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=st.text(max_size=300))
def test_any_text_is_a_valid_search(db: Database, libs: dict[str, int], q: str) -> None:
    assert set(find(db, q)) <= all_ids(db)


def all_ids(db: Database) -> set[int]:
    return set(db.read_sync(lambda c: c.execute(select(items.c.id)).scalars().all()))


@pytest.mark.parametrize("q", ["", "   ", "!!!", "*", '""', "-"])
def test_empty_queries_find_nothing(db: Database, libs: dict[str, int], q: str) -> None:
    assert fts_query(q) is None
    assert find(db, q) == []


def test_fts_query_quotes_every_word() -> None:
    assert fts_query('amé "lie OR x*') == '"amé"* "lie"* "OR"* "x"*'
    assert fts_query("a b", column="title") == 'title:"a"* title:"b"*'
    assert fts_query("x " * 50) == " ".join(['"x"*'] * 12)


def test_removed_items_leave_the_index(db: Database, libs: dict[str, int]) -> None:
    file_id = db.read_sync(
        lambda c: c.execute(
            select(media_files.c.id).where(media_files.c.item_id == libs["office"])
        ).scalar_one()
    )
    db.write_sync(store.remove_files, [file_id])
    assert find(db, "office") == []
    assert find(db, "dundies") == []
    db.write_sync(libraries.delete_library, libs["tv"])
    assert find(db, "alien worlds", kind="episode") == []
    assert find(db, "pilot") == []
