"""A throwaway PostgreSQL database for a benchmark run: created, migrated, dropped."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import psycopg

from stockteacher.store import migrate
from stockteacher.store.db import dispose_engines

__all__ = ["fresh_database"]


def fresh_database(admin_dsn: str) -> tuple[str, Callable[[], None]]:
    """Create and migrate a new database; returns its DSN and a function that drops it."""
    name = f"stockteacher_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = admin_dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"
    migrate.upgrade(dsn)

    def drop() -> None:
        dispose_engines()
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return dsn, drop
