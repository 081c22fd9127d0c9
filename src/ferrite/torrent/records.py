"""Plain records the torrent engine hands out (JSON-ready through ``to_dict``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

from ferrite.torrent.pieces import FileSpan


@dataclass(frozen=True, slots=True)
class TorrentFile:
    """One file of a torrent (pad files are left out; ``index`` is libtorrent's)."""

    index: int
    path: str  # relative to the torrent's save path, "/"-separated
    size: int
    offset: int  # first byte in the torrent's byte stream
    is_video: bool  # by extension until a probe says otherwise

    @property
    def span(self) -> FileSpan:
        return FileSpan(self.offset, self.size)

    def to_dict(self) -> dict[str, object]:
        return {
            "index": self.index,
            "path": self.path,
            "size": self.size,
            "is_video": self.is_video,
        }


@dataclass(frozen=True, slots=True)
class ReaderState:
    """One open reader and the pieces it has deadlines on."""

    reader_id: int
    file_index: int
    position: int
    bitrate: int
    window_s: float
    window: tuple[int, int] | None  # (first, last) piece with a deadline
    waiting_for: int | None  # piece a read is blocked on


@dataclass(frozen=True, slots=True)
class TorrentStatus:
    id: int
    info_hash: str
    name: str
    state: str  # checking_files | downloading_metadata | downloading | finished | seeding | ...
    has_metadata: bool
    progress: float  # 0..1 of the whole torrent's bytes (verified pieces)
    download_rate: int  # payload bytes/s
    upload_rate: int
    peers: int
    seeds: int
    total_size: int
    piece_length: int
    num_pieces: int
    pieces_have: int
    hash_failures: int
    piece_reads: int  # read_piece calls (each verified piece is read once for all readers)
    error: str | None
    save_path: str
    added_at: float
    files: tuple[TorrentFile, ...] = ()
    readers: tuple[ReaderState, ...] = field(default=())
    file_progress: tuple[float, ...] = ()  # 0..1 of each file's bytes, as ``files``

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["files"] = [f.to_dict() for f in self.files]
        return out


EventKind = Literal[
    "added", "metadata", "piece", "hash_failed", "state", "finished", "error", "removed"
]


@dataclass(frozen=True, slots=True)
class TorrentEvent:
    """Something happened to a torrent; delivered to subscribers on the event loop."""

    kind: EventKind
    torrent_id: int
    piece: int | None = None
    detail: str | None = None
