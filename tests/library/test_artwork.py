"""Poster frames: decoded from real generated clips, written once, kept in step with the
files by the scan-time refresh, handed down to seasons and shows."""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import av
import pytest
from sqlalchemy import insert, select

from ferrite.db.engine import Database
from ferrite.db.schema import items, libraries, media_files, streams
from ferrite.errors import MediaError
from ferrite.library import artwork
from tests import media


def decode_jpeg(data: bytes, tmp_path: Path) -> av.VideoFrame:
    path = tmp_path / "decoded.jpg"
    path.write_bytes(data)
    with av.open(str(path)) as c:
        return next(c.decode(video=0))


def mean_luma(frame: av.VideoFrame) -> float:
    gray = frame.reformat(format="gray")
    plane = gray.planes[0]
    data = bytes(plane)
    rows = [
        data[y * plane.line_size : y * plane.line_size + gray.width] for y in range(gray.height)
    ]
    return sum(map(sum, rows)) / (gray.width * gray.height)


def test_poster_is_a_320_wide_jpeg_of_the_picture(clip, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = artwork.extract_poster(clip("h264-poster", media.Clip(duration=10.0)))
    assert data[:2] == b"\xff\xd8"
    frame = decode_jpeg(data, tmp_path)
    assert (frame.width, frame.height) == (320, 180)
    assert mean_luma(frame) > 60  # testsrc2: a bright colour pattern, not a black frame


def test_anamorphic_video_keeps_its_display_aspect(clip, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # 240x180 pixels shown at 16:9 (non-square pixels): the poster must not be squashed.
    path = clip("anamorphic", media.Clip(size=(240, 180), extra=("-aspect", "16:9")))
    frame = decode_jpeg(artwork.extract_poster(path), tmp_path)
    assert (frame.width, frame.height) == (320, 180)


def test_ten_bit_hevc_makes_a_poster(clip, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    frame = decode_jpeg(
        artwork.extract_poster(clip("hevc10", media.HEVC10_MULTI, ".mkv")), tmp_path
    )
    assert frame.width == 320


def test_dark_opening_is_skipped(clip, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Black for the first 30 % (a fade-in), then the pattern: 10 % in is black, so the
    # poster comes from a later point.
    path = clip(
        "dark-start",
        media.Clip(duration=10.0, extra=("-vf", "drawbox=c=black:t=fill:enable='lt(t,3)'")),
    )
    frame = decode_jpeg(artwork.extract_poster(path), tmp_path)
    assert mean_luma(frame) > 60


def test_audio_only_and_garbage_have_no_poster(clip, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MediaError):
        artwork.extract_poster(clip("audio-only", media.Clip(vcodec=None), ".m4a"))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(MediaError):
        artwork.extract_poster(junk)
    assert artwork.ensure_artwork(tmp_path, junk, "a" * 40) is None
    assert not (tmp_path / "artwork" / ("a" * 40 + ".jpg")).exists()


def test_ensure_artwork_writes_once(clip, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = clip("h264", media.H264_AAC)
    name = artwork.ensure_artwork(tmp_path, source, "f" * 40)
    assert name == "f" * 40 + ".jpg"
    target = tmp_path / "artwork" / name
    first = target.stat().st_mtime_ns
    assert artwork.ensure_artwork(tmp_path, source, "f" * 40) == name
    assert target.stat().st_mtime_ns == first
    assert [p.name for p in (tmp_path / "artwork").iterdir()] == [name]  # no temp files left


def test_fingerprints_cannot_name_paths() -> None:
    with pytest.raises(ValueError, match="fingerprint"):
        artwork.artwork_name("../../etc/passwd")


# -- the scan-time refresh -----------------------------------------------------------------
@pytest.fixture
def db(tmp_path: Path):  # type: ignore[no-untyped-def]
    database = Database(f"sqlite:///{tmp_path / 'art.db'}")
    database.migrate()
    yield database
    database.close()


def add_item(conn, library_id: int, kind: str, title: str, **extra) -> int:  # type: ignore[no-untyped-def]
    return int(
        conn.execute(
            insert(items).values(
                library_id=library_id,
                kind=kind,
                title=title,
                sort_title=title.lower(),
                added_at=0.0,
                **extra,
            )
        ).inserted_primary_key[0]
    )


def add_file(
    conn, library_id: int, item_id: int, path: Path, fingerprint: str, *, video: bool = True
) -> None:  # type: ignore[no-untyped-def]
    file_id = conn.execute(
        insert(media_files).values(
            library_id=library_id,
            item_id=item_id,
            path=str(path),
            size=1,
            mtime_ns=0,
            fingerprint=fingerprint,
            duration_s=4.0,
            probe_status="ok",
            probed_at=0.0,
        )
    ).inserted_primary_key[0]
    conn.execute(
        insert(streams).values(
            file_id=file_id,
            index=0,
            type="video" if video else "audio",
            codec="h264",
            time_base="1/1000",
        )
    )


def test_refresh_makes_missing_posters_and_fills_parents(
    db: Database, clip, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    source = clip("h264", media.H264_AAC)
    episode_file = clip("h264-ep", media.Clip(duration=3.0, size=(160, 90)))
    data_dir = tmp_path / "data"

    def copy(name: str) -> Path:
        return Path(shutil.copyfile(source, tmp_path / name))

    movie_file, radio_file, extra_file, two_file = (copy(f"{n}.mp4") for n in ("m", "r", "x", "t"))

    def seed(conn) -> dict[str, int]:  # type: ignore[no-untyped-def]
        lib = int(
            conn.execute(
                insert(libraries).values(name="L", kind="mixed", created_at=0.0)
            ).inserted_primary_key[0]
        )
        ids = {"movie": add_item(conn, lib, "movie", "Movie")}
        add_file(conn, lib, ids["movie"], movie_file, "1" * 40)
        ids["radio"] = add_item(conn, lib, "movie", "Radio Play")
        add_file(conn, lib, ids["radio"], radio_file, "2" * 40, video=False)
        ids["show"] = add_item(conn, lib, "show", "Show")
        ids["specials"] = add_item(
            conn, lib, "season", "Specials", parent_id=ids["show"], season_number=0
        )
        ids["s1"] = add_item(
            conn, lib, "season", "Season 1", parent_id=ids["show"], season_number=1
        )
        ids["sp1"] = add_item(
            conn,
            lib,
            "episode",
            "Extra",
            parent_id=ids["specials"],
            season_number=0,
            episode_number=1,
        )
        add_file(conn, lib, ids["sp1"], extra_file, "3" * 40)
        ids["e2"] = add_item(
            conn, lib, "episode", "Two", parent_id=ids["s1"], season_number=1, episode_number=2
        )
        add_file(conn, lib, ids["e2"], two_file, "4" * 40)
        ids["e1"] = add_item(
            conn, lib, "episode", "One", parent_id=ids["s1"], season_number=1, episode_number=1
        )
        add_file(conn, lib, ids["e1"], episode_file, "5" * 40)
        return ids

    ids = db.write_sync(seed)
    calls: list[int] = []

    def counting_map(fn, jobs):  # type: ignore[no-untyped-def]
        for job in jobs:
            calls.append(job.item_id)
            yield fn(job)

    assert artwork.refresh_artwork(db, data_dir, map=counting_map) == 4
    art = dict(db.read_sync(lambda c: c.execute(select(items.c.id, items.c.artwork)).all()))
    assert art[ids["movie"]] == "1" * 40 + ".jpg"
    assert art[ids["radio"]] is None  # no video, no poster
    assert art[ids["e1"]] == "5" * 40 + ".jpg"
    assert art[ids["s1"]] == art[ids["e1"]]  # the season's first episode, not the first added
    assert art[ids["show"]] == art[ids["s1"]]  # the first real season, not the specials
    assert art[ids["specials"]] == "3" * 40 + ".jpg"
    assert sorted(p.name for p in (data_dir / "artwork").iterdir()) == sorted(
        f"{d * 40}.jpg" for d in "1345"
    )

    # Nothing new: nothing decoded, nothing written.
    calls.clear()
    assert artwork.refresh_artwork(db, data_dir, map=counting_map) == 0
    assert calls == []

    # A deleted poster is made again; a replaced file (new fingerprint) gets a new poster.
    (data_dir / "artwork" / ("1" * 40 + ".jpg")).unlink()
    db.write_sync(
        lambda c: c.execute(
            media_files.update()
            .where(media_files.c.fingerprint == "5" * 40)
            .values(fingerprint="6" * 40)
        )
    )
    assert artwork.refresh_artwork(db, data_dir, map=counting_map) == 1
    assert sorted(calls) == sorted([ids["movie"], ids["e1"]])
    art = dict(db.read_sync(lambda c: c.execute(select(items.c.id, items.c.artwork)).all()))
    assert (data_dir / "artwork" / ("1" * 40 + ".jpg")).is_file()
    assert art[ids["e1"]] == art[ids["s1"]] == art[ids["show"]] == "6" * 40 + ".jpg"


def test_display_size_rounds_to_even_heights() -> None:
    class FakeFrame:
        width, height = 720, 480

    assert artwork._display_size(FakeFrame(), 320, Fraction(32, 27)) == (320, 180)  # type: ignore[arg-type]
    assert artwork._display_size(FakeFrame(), 320, None) == (320, 212)  # type: ignore[arg-type]
