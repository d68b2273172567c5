"""Where the Alembic migrations are, as a config for a database (used by `migrate` to change
the schema and by `health` to compare a database's revision with the code's)."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

__all__ = ["MIGRATIONS", "alembic_config"]

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(dsn: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["dsn"] = dsn
    return config
