"""Torrents: the engine's torrents (source, resume data) and their files as library entries.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

# Ids are 64-bit on both engines (SQLite's rowids already are; see 0001).
ID = sa.Integer().with_variant(sa.BigInteger(), "postgresql")

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "torrents",
        sa.Column("id", ID, primary_key=True),
        sa.Column("info_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("source_kind", sa.String(8), nullable=False),
        sa.Column("source", sa.LargeBinary, nullable=False),
        sa.Column("peers", sa.Text),
        sa.Column("save_path", sa.Text, nullable=False),
        sa.Column("added_at", sa.Float, nullable=False),
        sa.Column("resume_data", sa.LargeBinary),
    )
    op.create_table(
        "torrent_files",
        sa.Column(
            "torrent_id",
            ID,
            sa.ForeignKey("torrents.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("file_index", sa.Integer, primary_key=True),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("size", sa.Integer().with_variant(sa.BigInteger(), "postgresql"), nullable=False),
        sa.Column("media_file_id", ID, sa.ForeignKey("media_files.id", ondelete="SET NULL")),
        sa.Column("item_id", ID, sa.ForeignKey("items.id", ondelete="SET NULL")),
    )
    op.create_index("ix_torrent_files_media_file_id", "torrent_files", ["media_file_id"])
    op.create_index("ix_torrent_files_item_id", "torrent_files", ["item_id"])


def downgrade() -> None:
    op.drop_table("torrent_files")
    op.drop_table("torrents")
