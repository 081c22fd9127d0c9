"""What the API shows of a torrent: a status snapshot and its linked files as JSON-ready
dicts. Pure: no engine, no database (the service passes the snapshot, the links and,
for one torrent, the piece map)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ferrite.torrent.pieces import Layout, piece_at
from ferrite.torrent.records import ReaderState, TorrentStatus

if TYPE_CHECKING:  # the records only: the module stays free of SQL
    from ferrite.torrent import catalog

#: Pieces shown around a reader's position in the status (before, after).
AROUND = (8, 32)


def torrent_shape(
    status: TorrentStatus,
    linked: Sequence[catalog.LinkedFile],
    *,
    readers: bool = True,
    bitmap: list[bool] | None = None,
) -> dict[str, Any]:
    by_index = {f.index: f for f in linked}
    files = []
    progress = dict(zip((f.index for f in status.files), status.file_progress, strict=False))
    for f in status.files:
        link = by_index.get(f.index)
        files.append(
            {
                "index": f.index,
                "path": f.path,
                "size": f.size,
                "progress": progress.get(f.index, 0.0),
                "is_video": f.is_video,
                "item_id": link.item_id if link else None,
                "file_id": link.media_file_id if link else None,
                "probe_status": link.probe_status if link else None,
            }
        )
    out: dict[str, Any] = {
        "id": status.id,
        "info_hash": status.info_hash,
        "name": status.name,
        "state": status.state,
        "has_metadata": status.has_metadata,
        "progress": status.progress,
        "download_rate": status.download_rate,
        "upload_rate": status.upload_rate,
        "peers": status.peers,
        "seeds": status.seeds,
        "total_size": status.total_size,
        "piece_length": status.piece_length,
        "num_pieces": status.num_pieces,
        "pieces_have": status.pieces_have,
        "hash_failures": status.hash_failures,
        "error": status.error,
        "added_at": status.added_at,
        "files": files,
    }
    if readers:
        out["readers"] = [_reader_shape(status, r, bitmap) for r in status.readers]
    return out


def _reader_shape(
    status: TorrentStatus, r: ReaderState, bitmap: list[bool] | None
) -> dict[str, Any]:
    f = next((f for f in status.files if f.index == r.file_index), None)
    out: dict[str, Any] = {
        "reader_id": r.reader_id,
        "file_index": r.file_index,
        "position": r.position,
        "bitrate": r.bitrate,
        "window_s": r.window_s,
        "window": list(r.window) if r.window else None,
        "waiting_for": r.waiting_for,
    }
    if f is not None and status.piece_length and f.size:
        layout = Layout(status.piece_length, status.total_size)
        piece = piece_at(layout, f.span, min(r.position, f.size - 1))[0]
        out["piece"] = piece
        if bitmap is not None:
            first = max(0, piece - AROUND[0])
            last = min(len(bitmap), piece + AROUND[1] + 1)
            out["around"] = {
                "first": first,
                "have": "".join("1" if bitmap[p] else "0" for p in range(first, last)),
            }
    return out
