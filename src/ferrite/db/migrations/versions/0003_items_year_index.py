"""Index items by year, for ``GET /api/items?sort=year`` on large libraries.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_items_library_kind_year", "items", ["library_id", "kind", "year"])


def downgrade() -> None:
    op.drop_index("ix_items_library_kind_year", "items")
