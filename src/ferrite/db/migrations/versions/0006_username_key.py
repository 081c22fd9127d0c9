"""Usernames compared by a key computed in Python (NFKC + casefold), not SQLite's lower().

SQLite's ``lower()`` folds ASCII letters only, so "Ärger" could not log in as "ärger" and
both could be created as different users. Existing rows get their key here.

Revision ID: 0006
Revises: 0005
"""

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("username_key", sa.String(256), nullable=True))
    conn = op.get_bind()
    users = sa.table("users", sa.column("id"), sa.column("username"), sa.column("username_key"))
    for user_id, name in conn.execute(sa.select(users.c.id, users.c.username)).all():
        key = unicodedata.normalize("NFKC", name.strip()).casefold()
        conn.execute(sa.update(users).where(users.c.id == user_id).values(username_key=key))
    op.create_index("uq_users_username_key", "users", ["username_key"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_users_username_key", "users")
    op.drop_column("users", "username_key")
