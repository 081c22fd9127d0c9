"""Alembic environment: migrations run at start from ferrite.db.engine.migrate()."""

from __future__ import annotations

from alembic import context

from ferrite.db.schema import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when someone runs the alembic CLI directly
    raise RuntimeError("run migrations through ferrite.db.engine.migrate()")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
