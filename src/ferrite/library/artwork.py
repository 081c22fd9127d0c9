"""Poster frames: one JPEG per media file, extracted once at scan time.

``ensure_artwork(data_dir, path, fingerprint)`` decodes one keyframe about 10 % into the
file with PyAV, scales it to :data:`WIDTH` pixels wide (display aspect, so anamorphic
video is not squashed) and encodes it with FFmpeg's ``mjpeg`` encoder through PyAV (no
Pillow). The result is written once, atomically, to ``<data_dir>/artwork/<fingerprint>.jpg``
and its file name is what the scanner stores in ``items.artwork``; the API serves it from
there (``GET /api/items/{id}/artwork``). Keying by the content fingerprint means a moved
file keeps its poster, a replaced file gets a new one, and two items sharing a file share
the bytes.

Why a keyframe: seeking lands on one, and decoding it needs no other frame, so a poster
costs one seek and one frame decode however long the film is. A nearly black keyframe
(fade-in, a title card on black) is a poor poster, so a couple of later points are tried
before settling for the brightest frame seen.

The scanner needs one call at the end of a scan, in its worker thread:
``refresh_artwork(db, data_dir, library_id=..., map=pool.map)``. It finds the movies and
episodes whose artwork is not the poster of their current file (new items, replaced
files: the rule is ``items.artwork == <fingerprint of the item's file>.jpg``), extracts
what is missing (in parallel through ``map``), stores the names, then gives seasons and
shows the poster of their first episode (:func:`fill_parent_artwork`). A rescan with
nothing new costs one query and a ``stat`` per item; a deleted artwork folder is remade.

Errors: an unreadable file is not a scan failure, the item simply has no artwork (the UI
draws a placeholder), so :func:`ensure_artwork` logs and returns ``None``;
:func:`extract_poster` raises :class:`~ferrite.errors.MediaError` for callers that care.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error
from sqlalchemy import Connection, and_, exists, func, or_, select, update
from sqlalchemy.orm import aliased

from ferrite.db.engine import Database
from ferrite.db.schema import items, media_files, streams, torrent_files
from ferrite.errors import MediaError
from ferrite.media.inputs import pyav_options

log = logging.getLogger(__name__)

ARTWORK_DIR = "artwork"
#: Poster width in pixels: sharp in a grid of ~160 CSS px on a 2x screen, ~15-25 kB.
WIDTH = 320
#: Where to look, as fractions of the duration, best first.
POSITIONS: tuple[float, ...] = (0.10, 0.25, 0.40)
#: Mean luma (0-255, full range) below which a frame counts as "black".
DARK_LUMA = 28
#: mjpeg quantiser (2 = best .. 31 = worst); 4 looks clean at poster size.
QSCALE = 4

_FINGERPRINT_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def artwork_name(fingerprint: str) -> str:
    """The file name for a fingerprint's poster (what ``items.artwork`` holds)."""
    if not _FINGERPRINT_RE.match(fingerprint):
        raise ValueError(f"not a fingerprint: {fingerprint!r}")
    return f"{fingerprint}.jpg"


def artwork_dir(data_dir: Path) -> Path:
    return data_dir / ARTWORK_DIR


def ensure_artwork(
    data_dir: Path,
    path: str | os.PathLike[str],
    fingerprint: str,
    *,
    duration_s: float | None = None,
) -> str | None:
    """Make the poster of the file at ``path`` unless it exists; its name, or ``None``.

    Blocking (PyAV decodes a frame): call it from the scanner's worker threads. Safe to
    call concurrently for one fingerprint: each writer renames its own temporary file.
    """
    name = artwork_name(fingerprint)
    folder = artwork_dir(data_dir)
    target = folder / name
    if target.is_file():
        return name
    try:
        jpeg = extract_poster(path, duration_s=duration_s)
    except MediaError as exc:
        log.info("no poster for %s: %s", path, exc)
        return None
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}.{secrets.token_hex(4)}.tmp"
    try:
        tmp.write_bytes(jpeg)
        tmp.replace(target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        log.warning("could not write poster %s: %s", target, exc)
        return None
    return name


def extract_poster(
    path: str | os.PathLike[str],
    *,
    duration_s: float | None = None,
    width: int = WIDTH,
    positions: Iterable[float] = POSITIONS,
) -> bytes:
    """JPEG bytes of a keyframe near ``positions`` of the duration (first bright one)."""
    try:
        with av.open(
            os.fspath(path), metadata_errors="ignore", options=pyav_options()
        ) as container:
            if not container.streams.video:
                raise MediaError("The file has no video stream.")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            duration = duration_s or _duration(container, stream)
            best: av.VideoFrame | None = None
            best_luma = -1.0
            for fraction in positions:
                frame = _keyframe_near(container, stream, fraction * duration if duration else 0.0)
                if frame is None:
                    continue
                luma = _mean_luma(frame)
                if luma > best_luma:
                    best, best_luma = frame, luma
                if luma >= DARK_LUMA or not duration:
                    break
            if best is None:
                raise MediaError("No video frame could be decoded.")
            return _encode_jpeg(best, width, stream.sample_aspect_ratio)
    except av.error.FFmpegError as exc:
        raise MediaError(f"PyAV could not read a frame: {exc}") from exc


def _duration(container: av.container.InputContainer, stream: av.VideoStream) -> float:
    if stream.duration is not None and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def _keyframe_near(
    container: av.container.InputContainer, stream: av.VideoStream, at_s: float
) -> av.VideoFrame | None:
    """The first frame decoded after seeking to the keyframe at or before ``at_s``."""
    time_base = stream.time_base or Fraction(1, 1000)
    start = stream.start_time or 0
    try:
        container.seek(start + int(at_s / time_base), stream=stream, backward=True)
    except av.error.FFmpegError:
        if at_s > 0:
            return None
    for frame in container.decode(stream):
        return frame
    return None


def _mean_luma(frame: av.VideoFrame) -> float:
    """Mean of a sparse sample of the luma plane, on a full-range 0-255 scale."""
    small = frame.reformat(width=64, height=36, format="gray")
    plane = small.planes[0]
    data = bytes(plane)
    rows = [data[y * plane.line_size : y * plane.line_size + 64] for y in range(36)]
    return sum(sum(r) for r in rows) / (64 * 36)


def _display_size(frame: av.VideoFrame, width: int, sar: Fraction | None) -> tuple[int, int]:
    display_w = frame.width * (sar if sar and sar > 0 else 1)
    height = round(width * frame.height / display_w)
    return width, max(2, height - height % 2)


def _encode_jpeg(frame: av.VideoFrame, width: int, sar: Fraction | None) -> bytes:
    w, h = _display_size(frame, width, sar)
    # Full ("JPEG") range 4:2:0: what every JPEG decoder expects. HDR sources are scaled
    # without tone mapping (a poster only needs to be recognisable).
    scaled = frame.reformat(
        width=w,
        height=h,
        format="yuvj420p",
        interpolation="BICUBIC",
        dst_color_range="JPEG",
    )
    scaled.pts = 0
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width = w
    encoder.height = h
    encoder.pix_fmt = "yuvj420p"
    encoder.time_base = Fraction(1, 25)
    encoder.color_range = scaled.color_range
    encoder.qscale = True
    encoder.global_quality = QSCALE * 118  # FF_QP2LAMBDA: quantiser -> lambda
    packets = [*encoder.encode(scaled), *encoder.encode(None)]
    data = b"".join(bytes(p) for p in packets)
    if not data.startswith(b"\xff\xd8"):
        raise MediaError("The JPEG encoder produced no image.")
    return data


# -- the scanner's side ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ArtworkJob:
    item_id: int
    path: str
    fingerprint: str
    duration_s: float | None
    artwork: str | None  # what the item has now

    @property
    def wanted(self) -> str:
        return f"{self.fingerprint}.jpg"


def artwork_jobs(conn: Connection, *, library_id: int | None = None) -> list[ArtworkJob]:
    """Every movie and episode with its file (its first readable media file with a video
    stream) and its current ``artwork``."""
    mf = aliased(media_files)
    primary = (
        select(func.min(mf.c.id))
        .where(
            mf.c.item_id == items.c.id,
            mf.c.probe_status == "ok",
            exists().where(streams.c.file_id == mf.c.id, streams.c.type == "video"),
            # Torrent files have holes until complete; the torrent integration makes
            # their posters when they finish (ferrite.torrent.service).
            ~exists().where(torrent_files.c.media_file_id == mf.c.id),
        )
        .correlate(items)
        .scalar_subquery()
    )
    query = (
        select(
            items.c.id,
            media_files.c.path,
            media_files.c.fingerprint,
            media_files.c.duration_s,
            items.c.artwork,
        )
        .select_from(items.join(media_files, media_files.c.id == primary))
        .where(items.c.kind.in_(("movie", "episode")))
        .order_by(items.c.id)
    )
    if library_id is not None:
        query = query.where(items.c.library_id == library_id)
    return [ArtworkJob(*row) for row in conn.execute(query)]


def stale(jobs: Iterable[ArtworkJob], data_dir: Path) -> list[ArtworkJob]:
    """The jobs whose poster is not the one of their file, or whose file is gone."""
    folder = artwork_dir(data_dir)
    return [
        j
        for j in jobs
        if _FINGERPRINT_RE.match(j.fingerprint or "")
        and (j.artwork != j.wanted or not (folder / j.wanted).is_file())
    ]


def set_artwork(conn: Connection, names: Iterable[tuple[int, str]]) -> int:
    changed = 0
    for item_id, name in names:
        changed += (
            conn.execute(update(items).where(items.c.id == item_id).values(artwork=name)).rowcount
            or 0
        )
    return changed


MapFn = Callable[[Callable[[ArtworkJob], Any], Iterable[ArtworkJob]], Iterator[Any]]


def refresh_artwork(
    db: Database, data_dir: Path, *, library_id: int | None = None, map: MapFn = map
) -> int:
    """Bring every item's poster up to date (blocking; see the module docstring).

    Returns how many items got new artwork. ``map`` may be a thread pool's ``map``: PyAV
    releases the GIL while decoding.
    """
    jobs = stale(db.read_sync(lambda c: artwork_jobs(c, library_id=library_id)), data_dir)

    def make(job: ArtworkJob) -> tuple[int, str | None]:
        name = ensure_artwork(data_dir, job.path, job.fingerprint, duration_s=job.duration_s)
        return job.item_id, name

    made = [
        (job.item_id, name)
        for job, (_, name) in zip(jobs, map(make, jobs), strict=True)
        if name is not None and name != job.artwork
    ]
    changed = db.write_sync(lambda c: set_artwork(c, made)) if made else 0
    db.write_sync(fill_parent_artwork)
    return changed


def fill_parent_artwork(conn: Connection) -> int:
    """Give seasons, then shows, the artwork of their first child that has one (episodes
    in episode order, seasons in season order); rows updated."""
    changed = 0
    for kind, order in (
        ("season", ("episode_number", "sort_title")),
        ("show", ("season_number", "sort_title")),
    ):
        child = aliased(items)
        number, title = (child.c[c] for c in order)
        first = (
            select(child.c.artwork)
            .where(and_(child.c.parent_id == items.c.id, child.c.artwork.is_not(None)))
            # Season 0 holds specials: a show's poster comes from its first real season.
            .order_by(number.is_(None), number == 0, number, title, child.c.id)
            .limit(1)
            .scalar_subquery()
        )
        result = conn.execute(
            update(items)
            .where(
                items.c.kind == kind,
                first.is_not(None),
                or_(items.c.artwork.is_(None), items.c.artwork != first),
            )
            .values(artwork=first)
        )
        changed += result.rowcount or 0
    return changed
