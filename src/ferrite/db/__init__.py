"""Storage: SQLAlchemy Core schema, Alembic migrations, the one-writer database."""
