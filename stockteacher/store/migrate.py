"""Run Alembic migrations programmatically (`stockteacher db upgrade`, the demo, tests)."""

from __future__ import annotations

from alembic import command

from stockteacher.store.revisions import alembic_config

__all__ = ["alembic_config", "downgrade", "upgrade"]


def upgrade(dsn: str, revision: str = "head") -> None:
    """Bring the database at `dsn` up to `revision` (creating a SQLite file if needed)."""
    from stockteacher.store.db import get_engine

    get_engine(dsn)  # creates the SQLite parent directory
    command.upgrade(alembic_config(dsn), revision)


def downgrade(dsn: str, revision: str = "base") -> None:
    from stockteacher.store import health

    health._checked.pop(dsn, None)
    command.downgrade(alembic_config(dsn), revision)


def current(dsn: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from stockteacher.store.db import get_engine

    with get_engine(dsn).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_if_sqlite(dsn: str) -> None:
    """The embedded default migrates itself; PostgreSQL is migrated deliberately (`db upgrade`)."""
    from stockteacher.store.db import normalise_dsn

    if normalise_dsn(dsn).get_backend_name() == "sqlite":
        upgrade(dsn)
