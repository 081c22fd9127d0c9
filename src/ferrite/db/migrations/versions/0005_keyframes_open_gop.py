"""Remember whether a video's keyframes open open GOPs (H.264 recovery points), which
HLS can't stream copy from.

Files probed before this migration read as closed GOPs until they are probed again.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("keyframes") as batch:
        batch.add_column(
            sa.Column("open_gop", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("keyframes") as batch:
        batch.drop_column("open_gop")
