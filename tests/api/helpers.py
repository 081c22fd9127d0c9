"""Helpers for API tests: a fake clock and synthetic library rows pointing at real clips."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert

from ferrite.db.schema import items, libraries, library_paths, media_files, streams, subtitle_tracks
from ferrite.library.search import index_item


@dataclass
class Seeded:
    movies: int = 0
    shows: int = 0
    private: int = 0
    movie: int = 0
    movie2: int = 0
    show: int = 0
    season: int = 0
    episodes: list[int] = field(default_factory=list)
    secret_movie: int = 0
    movie_file: int = 0
    files: dict[int, Path] = field(default_factory=dict)  # item id -> path


def _library(conn: Connection, name: str, kind: str, path: str) -> int:
    lib = conn.execute(
        insert(libraries).values(name=name, kind=kind, created_at=0.0).returning(libraries.c.id)
    ).scalar_one()
    conn.execute(insert(library_paths).values(library_id=lib, path=path))
    return int(lib)


def _item(conn: Connection, library_id: int, kind: str, title: str, **kw: Any) -> int:
    values = {
        "library_id": library_id,
        "kind": kind,
        "title": title,
        "sort_title": title.lower(),
        "added_at": kw.pop("added_at", 100.0),
        **kw,
    }
    item_id = conn.execute(insert(items).values(**values).returning(items.c.id)).scalar_one()
    if kind != "season":
        index_item(conn, item_id, title=title, context=str(kw.get("year") or ""))
    return int(item_id)


def _file(
    conn: Connection,
    library_id: int,
    item_id: int,
    path: Path,
    *,
    hdr: str = "none",
    clip: Path | None = None,
) -> int:
    if clip is not None and not path.exists():
        shutil.copyfile(clip, path)
    st = path.stat()
    file_id = conn.execute(
        insert(media_files)
        .values(
            library_id=library_id,
            item_id=item_id,
            path=str(path),
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            fingerprint=f"fp{item_id}",
            container="mp4",
            duration_s=4.0,
            bitrate=500_000,
            probe_status="ok",
            probed_at=0.0,
        )
        .returning(media_files.c.id)
    ).scalar_one()
    base: dict[str, Any] = {
        c.name: None
        for c in streams.c
        if c.name not in ("file_id", "index", "type", "codec", "time_base")
    }
    base["hdr"] = "none"
    conn.execute(
        insert(streams),
        [
            base
            | {
                "file_id": file_id,
                "index": 0,
                "type": "video",
                "codec": "hevc" if hdr != "none" else "h264",
                "time_base": "1/12288",
                "profile": "Main 10" if hdr != "none" else "High",
                "level": 120,
                "width": 320,
                "height": 180,
                "frame_rate": "24/1",
                "bit_depth": 10 if hdr != "none" else 8,
                "pix_fmt": "yuv420p10le" if hdr != "none" else "yuv420p",
                "hdr": hdr,
                "is_default": True,
                "is_forced": False,
            },
            base
            | {
                "file_id": file_id,
                "index": 1,
                "type": "audio",
                "codec": "aac",
                "time_base": "1/48000",
                "profile": "LC",
                "language": "eng",
                "channels": 2,
                "channel_layout": "stereo",
                "sample_rate": 48000,
                "is_default": True,
                "is_forced": False,
            },
        ],
    )
    conn.execute(
        insert(subtitle_tracks),
        [
            {
                "file_id": file_id,
                "stream_index": None,
                "path": str(path.with_suffix(".en.srt")),
                "codec": "subrip",
                "language": "eng",
                "is_default": False,
                "is_forced": False,
                "cue_count": 3,
            },
            {
                "file_id": file_id,
                "stream_index": 2,
                "path": None,
                "codec": "ass",
                "language": "spa",
                "is_default": False,
                "is_forced": True,
                "cue_count": 3,
            },
        ],
    )
    return int(file_id)


def seed(conn: Connection, clip: Path, root: Path) -> Seeded:
    """Three libraries (movies, shows, private) with real files behind the playable items.

    Every file lies inside its library's folder (direct play refuses files outside it):
    movies next to the clip, episodes and the private movie in subfolders."""
    s = Seeded()
    shows_dir, private_dir = clip.parent / "shows", clip.parent / "private"
    shows_dir.mkdir(exist_ok=True)
    private_dir.mkdir(exist_ok=True)
    s.movies = _library(conn, "Movies", "movies", str(clip.parent))
    s.shows = _library(conn, "Shows", "shows", str(shows_dir))
    s.private = _library(conn, "Private", "movies", str(private_dir))
    s.movie = _item(
        conn, s.movies, "movie", "Big Test Movie", year=2020, duration_s=4.0, added_at=300.0
    )
    s.movie2 = _item(
        conn, s.movies, "movie", "Amélie Ten Bit", year=2001, duration_s=4.0, added_at=200.0
    )
    s.show = _item(conn, s.shows, "show", "Test Show", added_at=100.0)
    s.season = _item(conn, s.shows, "season", "Season 1", parent_id=s.show, season_number=1)
    for n in (2, 1):
        s.episodes.insert(
            0,
            _item(
                conn,
                s.shows,
                "episode",
                f"Episode {n}",
                parent_id=s.season,
                season_number=1,
                episode_number=n,
                duration_s=4.0,
            ),
        )
    s.secret_movie = _item(conn, s.private, "movie", "Secret Movie", year=1999, duration_s=4.0)
    s.movie_file = _file(conn, s.movies, s.movie, clip)
    _file(conn, s.movies, s.movie2, clip.with_name("hdr-" + clip.name), hdr="hdr10", clip=clip)
    for ep in s.episodes:
        _file(conn, s.shows, ep, shows_dir / f"ep{ep}-{clip.name}", clip=clip)
    _file(conn, s.private, s.secret_movie, private_dir / f"secret-{clip.name}", clip=clip)
    return s
