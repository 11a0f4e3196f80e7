"""Storage: SQLAlchemy 2 models, the engine/session factory and the Alembic entry point."""
