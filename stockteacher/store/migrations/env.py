"""Alembic environment: the database comes from StockTeacher's settings (or -x dsn=...)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool

from stockteacher.store.db import normalise_dsn
from stockteacher.store.models import Base

config = context.config
target_metadata = Base.metadata


def _dsn() -> str:
    explicit = config.attributes.get("dsn") or context.get_x_argument(as_dictionary=True).get("dsn")
    if explicit:
        return str(explicit)
    from stockteacher.settings import load_settings

    return load_settings().dsn


def run_migrations_offline() -> None:
    context.configure(
        url=normalise_dsn(_dsn()).render_as_string(hide_password=False),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    from sqlalchemy import create_engine

    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(normalise_dsn(_dsn()), poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
