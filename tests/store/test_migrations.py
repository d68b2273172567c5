"""Migrations upgrade and downgrade on SQLite and PostgreSQL, and match the models."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from stockteacher.cli import main
from stockteacher.store import migrate
from stockteacher.store.db import normalise_dsn
from stockteacher.store.models import Base

EXPECTED = {
    "app_meta",
    "price_bars",
    "report_outcomes",
    "track_records",
    "articles",
    "stories",
    "job_runs",
    "schedule_state",
    "analyses",
    "users",
    "api_keys",
    "favorites",
    "chat_sessions",
    "chat_messages",
    "notification_policies",
    "notification_channels",
    "deliveries",
    "analysis_stories",
    "reports",
    "subscriptions",
    "tickers",
}


def _tables(dsn: str) -> set[str]:
    engine = create_engine(normalise_dsn(dsn))
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def _diff(dsn: str) -> list[object]:
    engine = create_engine(normalise_dsn(dsn))
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata))
    finally:
        engine.dispose()


def _roundtrip(dsn: str) -> None:
    migrate.upgrade(dsn)
    assert _tables(dsn) == EXPECTED
    assert migrate.current(dsn) is not None
    assert _diff(dsn) == [], "models and migrations disagree"
    migrate.downgrade(dsn, "base")
    assert _tables(dsn) == set()
    migrate.upgrade(dsn)
    assert _tables(dsn) == EXPECTED


def test_sqlite_upgrade_downgrade_upgrade(tmp_path: Path) -> None:
    _roundtrip(f"sqlite:///{tmp_path / 'nested' / 'dev.db'}")  # the parent folder is created


def test_postgres_upgrade_downgrade_upgrade(empty_pg: str) -> None:
    _roundtrip(empty_pg)


def test_db_upgrade_cli_uses_postgres_dsn(
    empty_pg: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POSTGRES_DSN", empty_pg)
    assert main(["db", "upgrade"]) == 0
    assert "0009_prices_track_record" in capsys.readouterr().out
    assert _tables(empty_pg) == EXPECTED
    assert main(["db", "downgrade", "base"]) == 0
    assert _tables(empty_pg) == set()


def test_each_database_gets_its_own_instance_id(tmp_path: Path) -> None:
    from stockteacher.store.db import instance_id

    a, b = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    migrate.upgrade(a)
    migrate.upgrade(b)
    assert instance_id(a) != instance_id(b)
    assert len(instance_id(a)) == 12
