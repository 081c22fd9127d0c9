"""Favourite items per user (the Jellyfin API's ``IsFavorite``).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

# Ids are 64-bit on both engines (SQLite's rowids already are; see 0001).
ID = sa.Integer().with_variant(sa.BigInteger(), "postgresql")

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "favorites",
        sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("item_id", ID, sa.ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("favorites")
