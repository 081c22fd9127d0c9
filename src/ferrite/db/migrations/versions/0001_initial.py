"""Initial schema: libraries, items, files, streams, keyframes, subtitles, users, progress.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# PostgreSQL only: 64-bit ids, sizes and times (SQLite's INTEGER already is: ids stay its
# rowids) and bytewise sort keys (ferrite.db.dialect); SQLite's DDL is unchanged.
ID = sa.Integer().with_variant(sa.BigInteger(), "postgresql")
BIG = sa.Integer().with_variant(sa.BigInteger(), "postgresql")
SORT_KEY = sa.Text().with_variant(postgresql.TEXT(collation="C"), "postgresql")

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "libraries",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("scanned_at", sa.Float),
    )
    op.create_table(
        "library_paths",
        sa.Column("id", ID, primary_key=True),
        sa.Column(
            "library_id",
            ID,
            sa.ForeignKey("libraries.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("path", sa.Text, nullable=False, unique=True),
    )
    op.create_index("ix_library_paths_library_id", "library_paths", ["library_id"])
    op.create_table(
        "items",
        sa.Column("id", ID, primary_key=True),
        sa.Column(
            "library_id",
            ID,
            sa.ForeignKey("libraries.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("parent_id", ID, sa.ForeignKey("items.id", ondelete="CASCADE")),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("sort_title", SORT_KEY, nullable=False),
        sa.Column("year", sa.Integer),
        sa.Column("season_number", sa.Integer),
        sa.Column("episode_number", sa.Integer),
        sa.Column("episode_end", sa.Integer),
        sa.Column("duration_s", sa.Float),
        sa.Column("added_at", sa.Float, nullable=False),
        sa.Column("artwork", sa.Text),
    )
    op.create_index("ix_items_parent_id", "items", ["parent_id"])
    op.create_index("ix_items_library_kind_added", "items", ["library_id", "kind", "added_at"])
    op.create_index("ix_items_library_kind_sort", "items", ["library_id", "kind", "sort_title"])
    op.create_table(
        "media_files",
        sa.Column("id", ID, primary_key=True),
        sa.Column(
            "library_id",
            ID,
            sa.ForeignKey("libraries.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("item_id", ID, sa.ForeignKey("items.id", ondelete="CASCADE")),
        sa.Column("path", sa.Text, nullable=False, unique=True),
        sa.Column("size", BIG, nullable=False),
        sa.Column("mtime_ns", BIG, nullable=False),
        sa.Column("fingerprint", sa.String(40), nullable=False),
        sa.Column("container", sa.String(32)),
        sa.Column("duration_s", sa.Float),
        sa.Column("bitrate", sa.Integer),
        sa.Column("start_time_s", sa.Float),
        sa.Column("probe_status", sa.String(16), nullable=False),
        sa.Column("probe_error", sa.Text),
        sa.Column("probed_at", sa.Float, nullable=False),
    )
    op.create_index("ix_media_files_library_id", "media_files", ["library_id"])
    op.create_index("ix_media_files_item_id", "media_files", ["item_id"])
    op.create_index("ix_media_files_fingerprint", "media_files", ["fingerprint"])
    op.create_table(
        "streams",
        sa.Column(
            "file_id",
            ID,
            sa.ForeignKey("media_files.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("index", sa.Integer, primary_key=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("codec", sa.String(32), nullable=False),
        sa.Column("time_base", sa.String(32), nullable=False),
        sa.Column("profile", sa.String(64)),
        sa.Column("level", sa.Integer),
        sa.Column("width", sa.Integer),
        sa.Column("height", sa.Integer),
        sa.Column("frame_rate", sa.String(32)),
        sa.Column("bit_depth", sa.Integer),
        sa.Column("pix_fmt", sa.String(32)),
        sa.Column("color_primaries", sa.String(32)),
        sa.Column("color_transfer", sa.String(32)),
        sa.Column("color_space", sa.String(32)),
        sa.Column("color_range", sa.String(16)),
        sa.Column("field_order", sa.String(16)),
        sa.Column("hdr", sa.String(16), nullable=False),
        sa.Column("language", sa.String(16)),
        sa.Column("title", sa.Text),
        sa.Column("channels", sa.Integer),
        sa.Column("channel_layout", sa.String(64)),
        sa.Column("sample_rate", sa.Integer),
        sa.Column("bitrate", sa.Integer),
        sa.Column("is_default", sa.Boolean, nullable=False),
        sa.Column("is_forced", sa.Boolean, nullable=False),
        sa.Column("extradata", sa.LargeBinary),
        sa.Column("codec_tag", sa.String(16)),
        sa.Column("start_time_s", sa.Float),
        sa.Column("duration_s", sa.Float),
        sa.Column("frame_count", sa.Integer),
    )
    op.create_table(
        "keyframes",
        sa.Column(
            "file_id",
            ID,
            sa.ForeignKey("media_files.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("stream_index", sa.Integer, nullable=False),
        sa.Column("time_base", sa.String(32), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("end_pts", BIG, nullable=False),
        sa.Column("pts", sa.LargeBinary, nullable=False),
        sa.Column("positions", sa.LargeBinary),
    )
    op.create_table(
        "subtitle_tracks",
        sa.Column("id", ID, primary_key=True),
        sa.Column(
            "file_id",
            ID,
            sa.ForeignKey("media_files.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("stream_index", sa.Integer),
        sa.Column("path", sa.Text),
        sa.Column("codec", sa.String(32), nullable=False),
        sa.Column("language", sa.String(16)),
        sa.Column("title", sa.Text),
        sa.Column("is_default", sa.Boolean, nullable=False),
        sa.Column("is_forced", sa.Boolean, nullable=False),
        sa.Column("cues", sa.LargeBinary),
        sa.Column("cue_count", sa.Integer, nullable=False),
    )
    op.create_index("ix_subtitle_tracks_file_id", "subtitle_tracks", ["file_id"])
    op.create_table(
        "users",
        sa.Column("id", ID, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("is_admin", sa.Boolean, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("token_version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("uq_users_username_lower", "users", [sa.text("lower(username)")], unique=True)
    op.create_table(
        "user_libraries",
        sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column(
            "library_id",
            ID,
            sa.ForeignKey("libraries.id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_table(
        "progress",
        sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("item_id", ID, sa.ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("position_s", sa.Float, nullable=False),
        sa.Column("played", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_progress_user_updated", "progress", ["user_id", "updated_at"])
    # Title search, maintained by ferrite.db.dialect in the same transaction as the item.
    if op.get_bind().dialect.name == "postgresql":
        # The text is folded in Python (no diacritics, lower case, words only); the
        # generated tsvector weighs title A, context B, file names C.
        op.execute(
            "CREATE TABLE items_search ("
            "item_id bigint PRIMARY KEY REFERENCES items (id) ON DELETE CASCADE, "
            "title text NOT NULL DEFAULT '', context text NOT NULL DEFAULT '', "
            "filename text NOT NULL DEFAULT '', "
            "document tsvector GENERATED ALWAYS AS ("
            "setweight(to_tsvector('simple'::regconfig, title), 'A') || "
            "setweight(to_tsvector('simple'::regconfig, context), 'B') || "
            "setweight(to_tsvector('simple'::regconfig, filename), 'C')) STORED)"
        )
        op.execute("CREATE INDEX ix_items_search_document ON items_search USING gin (document)")
        return
    # SQLite: rowid = items.id. remove_diacritics 2 folds "Amélie" and "Amelie" together.
    op.execute(
        "CREATE VIRTUAL TABLE items_fts USING fts5("
        "title, context, filename, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE items_fts")
    else:
        op.execute("DROP TABLE items_search")
    for table in (
        "progress",
        "user_libraries",
        "users",
        "subtitle_tracks",
        "keyframes",
        "streams",
        "media_files",
        "items",
        "library_paths",
        "libraries",
    ):
        op.drop_table(table)
