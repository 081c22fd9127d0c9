"""The database schema as SQLAlchemy Core tables.

Alembic migrations (``ferrite/db/migrations``) create and evolve these tables; a test
checks that migrating an empty database to head yields exactly this metadata.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    false,
    func,
)
from sqlalchemy.dialects import postgresql

from ferrite.db import dialect

#: Integers that outgrow 32 bits (byte sizes, nanosecond times, pts): SQLite's INTEGER is
#: 64-bit already (and stays as it was); PostgreSQL's is not.
BigInt = Integer().with_variant(BigInteger(), "postgresql")
#: Row ids: SQLite's INTEGER PRIMARY KEY (the rowid, 64-bit); BIGSERIAL on PostgreSQL, so
#: any id the API accepts (up to 2**62) compares instead of overflowing an int4.
Id = Integer().with_variant(BigInteger(), "postgresql")
#: Sort keys compare bytewise on both engines (ferrite.db.dialect.SORT_COLLATION).
SortKey = Text().with_variant(postgresql.TEXT(collation=dialect.SORT_COLLATION), "postgresql")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

libraries = Table(
    "libraries",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),  # movies | shows | mixed
    Column("created_at", Float, nullable=False),
    Column("scanned_at", Float),
)

library_paths = Table(
    "library_paths",
    metadata,
    Column("id", Id, primary_key=True),
    Column(
        "library_id", ForeignKey("libraries.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("path", Text, nullable=False, unique=True),
)

items = Table(
    "items",
    metadata,
    Column("id", Id, primary_key=True),
    Column("library_id", ForeignKey("libraries.id", ondelete="CASCADE"), nullable=False),
    Column("parent_id", ForeignKey("items.id", ondelete="CASCADE"), index=True),
    Column("kind", String(16), nullable=False),  # movie | show | season | episode
    Column("title", Text, nullable=False),
    Column("sort_title", SortKey, nullable=False),
    Column("year", Integer),
    Column("season_number", Integer),
    Column("episode_number", Integer),
    Column("episode_end", Integer),  # multi-episode files: S01E01-E02
    Column("duration_s", Float),
    Column("added_at", Float, nullable=False),
    Column("artwork", Text),  # file name under the data directory's artwork folder
    Index("ix_items_library_kind_added", "library_id", "kind", "added_at"),
    Index("ix_items_library_kind_sort", "library_id", "kind", "sort_title"),
    Index("ix_items_library_kind_year", "library_id", "kind", "year"),
)

media_files = Table(
    "media_files",
    metadata,
    Column("id", Id, primary_key=True),
    Column(
        "library_id", ForeignKey("libraries.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("item_id", ForeignKey("items.id", ondelete="CASCADE"), index=True),
    Column("path", Text, nullable=False, unique=True),
    Column("size", BigInt, nullable=False),
    Column("mtime_ns", BigInt, nullable=False),
    # Which file the scan saw (inode, device): direct play refuses another one at the path.
    Column("inode", BigInteger),
    Column("device", BigInteger),
    # Content identity (size + head/tail hash): survives moves, changes on replacement.
    Column("fingerprint", String(40), nullable=False, index=True),
    Column("container", String(32)),
    Column("duration_s", Float),
    Column("bitrate", Integer),
    Column("start_time_s", Float),
    Column("probe_status", String(16), nullable=False),  # ok | failed
    Column("probe_error", Text),
    Column("probed_at", Float, nullable=False),
)

streams = Table(
    "streams",
    metadata,
    Column("file_id", ForeignKey("media_files.id", ondelete="CASCADE"), primary_key=True),
    Column("index", Integer, primary_key=True),
    Column("type", String(16), nullable=False),
    Column("codec", String(32), nullable=False),
    Column("time_base", String(32), nullable=False),  # "1/90000"
    Column("profile", String(64)),
    Column("level", Integer),
    Column("width", Integer),
    Column("height", Integer),
    Column("frame_rate", String(32)),  # "24000/1001"
    Column("bit_depth", Integer),
    Column("pix_fmt", String(32)),
    Column("color_primaries", String(32)),
    Column("color_transfer", String(32)),
    Column("color_space", String(32)),
    Column("color_range", String(16)),
    Column("field_order", String(16)),
    Column("hdr", String(16), nullable=False, default="none"),
    Column("language", String(16)),
    Column("title", Text),
    Column("channels", Integer),
    Column("channel_layout", String(64)),
    Column("sample_rate", Integer),
    Column("bitrate", Integer),
    Column("is_default", Boolean, nullable=False, default=False),
    Column("is_forced", Boolean, nullable=False, default=False),
    Column("extradata", LargeBinary),
    Column("codec_tag", String(16)),
    Column("start_time_s", Float),
    Column("duration_s", Float),
    Column("frame_count", Integer),
)

keyframes = Table(
    "keyframes",
    metadata,
    Column("file_id", ForeignKey("media_files.id", ondelete="CASCADE"), primary_key=True),
    Column("stream_index", Integer, nullable=False),
    Column("time_base", String(32), nullable=False),
    Column("count", Integer, nullable=False),
    Column("end_pts", BigInt, nullable=False),
    Column("pts", LargeBinary, nullable=False),  # ferrite.media.keyframes.pack_deltas
    Column("positions", LargeBinary),
    Column("open_gop", Boolean, nullable=False, default=False, server_default=false()),
)

subtitle_tracks = Table(
    "subtitle_tracks",
    metadata,
    Column("id", Id, primary_key=True),
    Column("file_id", ForeignKey("media_files.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("stream_index", Integer),  # NULL for sidecar files
    Column("path", Text),  # sidecar file; NULL for embedded
    Column("codec", String(32), nullable=False),
    Column("language", String(16)),
    Column("title", Text),
    Column("is_default", Boolean, nullable=False, default=False),
    Column("is_forced", Boolean, nullable=False, default=False),
    Column("cues", LargeBinary),  # zlib(JSON [[start_ms, end_ms, text], ...]); NULL for images
    Column("cue_count", Integer, nullable=False, default=0),
)

users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True),
    Column("username", String(64), nullable=False),
    # users.username_key(username): NFKC + casefold, computed in Python (SQLite's lower()
    # folds ASCII only). Nullable only because SQLite cannot add a NOT NULL column.
    Column("username_key", String(256)),
    Column("password_hash", Text, nullable=False),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("disabled", Boolean, nullable=False, default=False),
    # Bumped on logout, password change, disable: tokens carry it, a mismatch revokes.
    Column("token_version", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
)
# Usernames are unique regardless of case ("Alice" and "alice" are one user).
Index("uq_users_username_lower", func.lower(users.c.username), unique=True)
Index("uq_users_username_key", users.c.username_key, unique=True)

user_libraries = Table(
    "user_libraries",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("library_id", ForeignKey("libraries.id", ondelete="CASCADE"), primary_key=True),
)

progress = Table(
    "progress",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("item_id", ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    Column("position_s", Float, nullable=False, default=0.0),
    Column("played", Boolean, nullable=False, default=False),
    Column("updated_at", Float, nullable=False),
    Index("ix_progress_user_updated", "user_id", "updated_at"),
)

#: A user's favourite items (the Jellyfin API's ``IsFavorite``), unique per (user, item).
favorites = Table(
    "favorites",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("item_id", ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    Column("created_at", Float, nullable=False),
)

# Title search lives outside the metadata (SQLite: an FTS5 virtual table; PostgreSQL: a
# table with a generated tsvector column): see the first migration and ferrite.db.dialect.
# Columns: title, context (show/season names), filename.
FTS_TABLE = dialect.FTS_TABLE
SEARCH_TABLE = dialect.SEARCH_TABLE

__all__ = [
    "FTS_TABLE",
    "SEARCH_TABLE",
    "items",
    "keyframes",
    "libraries",
    "library_paths",
    "media_files",
    "metadata",
    "progress",
    "streams",
    "subtitle_tracks",
    "user_libraries",
    "users",
]

# -- torrents (ferrite.torrent) ---------------------------------------------------------
# One row per torrent the engine manages; libtorrent's resume data (bencoded, with the
# info dict) lets a restart continue without re-downloading metadata or re-checking.
torrents = Table(
    "torrents",
    metadata,
    Column("id", Id, primary_key=True),
    Column("info_hash", String(64), nullable=False, unique=True),  # v1 hex, else v2 hex
    Column("name", Text, nullable=False),
    Column("source_kind", String(8), nullable=False),  # magnet | torrent
    Column("source", LargeBinary, nullable=False),  # magnet URI (UTF-8) or .torrent bytes
    Column("peers", Text),  # JSON ["ip:port", ...] given explicitly; redialled on restart
    Column("save_path", Text, nullable=False),
    Column("added_at", Float, nullable=False),
    Column("resume_data", LargeBinary),
)

# Files of a torrent as library entries; filled with NULLs when metadata arrives, the
# library links them to media_files/items when it turns them into playable items.
torrent_files = Table(
    "torrent_files",
    metadata,
    Column("torrent_id", ForeignKey("torrents.id", ondelete="CASCADE"), primary_key=True),
    Column("file_index", Integer, primary_key=True),
    Column("path", Text, nullable=False),
    Column("size", BigInt, nullable=False),
    Column("media_file_id", ForeignKey("media_files.id", ondelete="SET NULL"), index=True),
    Column("item_id", ForeignKey("items.id", ondelete="SET NULL"), index=True),
)

__all__ += ["torrent_files", "torrents"]
