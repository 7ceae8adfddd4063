"""The store: SQLAlchemy tables, the engine and session, Alembic migrations."""
