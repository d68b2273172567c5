"""Persistence: engine and sessions, tables, bulk writes, Alembic migrations."""
