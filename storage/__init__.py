"""The store: SQLAlchemy models, the engine and session, Alembic migrations."""
