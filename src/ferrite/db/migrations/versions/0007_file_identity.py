"""Record which file a scan saw (inode, device), so direct play can refuse another one.

Rows scanned before stay NULL (not checked) until their next probe.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("media_files", sa.Column("inode", sa.BigInteger(), nullable=True))
    op.add_column("media_files", sa.Column("device", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("media_files", "device")
    op.drop_column("media_files", "inode")
