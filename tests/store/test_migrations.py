"""Migrations upgrade and downgrade on SQLite and PostgreSQL, and match the models."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from stockteacher.cli import main
from stockteacher.core.crypto import new_key, open_sealed
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
    "feed_tokens",
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
    assert "0010_notification_gateway" in capsys.readouterr().out
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


def test_upgrading_existing_webhooks_seals_them_keeps_their_key_and_drops_web_push(
    empty_pg: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A receiver's HMAC key survives 0010 (its secret becomes the whsec_ form of the same bytes);
    without SECRET_KEY the upgrade refuses before changing anything, and says what to do."""
    migrate.upgrade(empty_pg, "0009_prices_track_record")
    engine = create_engine(normalise_dsn(empty_pg))
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO notification_channels (user_id, channel, address, secret, status, created_at, updated_at) "
            "VALUES ('alice', 'webhook', 'https://hooks.example.com/T0KEN-abc', 'old-secret-0123456789', 'verified', "
            "now(), now()), ('alice', 'web-push', 'push', NULL, 'pending', now(), now())"
        ))  # fmt: skip
        conn.execute(text(
            "INSERT INTO notification_policies (user_id, timezone, \"window\", frequency, channels, updated_at) "
            "VALUES ('alice', 'UTC', 'immediate', 'daily', '[\"web-push\", \"webhook\"]', now())"
        ))  # fmt: skip
    monkeypatch.setenv("POSTGRES_DSN", empty_pg)
    assert main(["db", "upgrade"]) == 2
    assert "1 stored webhook(s) must be encrypted: set SECRET_KEY" in capsys.readouterr().err
    assert migrate.current(empty_pg) == "0009_prices_track_record"

    key = new_key()
    monkeypatch.setenv("SECRET_KEY", key)
    assert main(["db", "upgrade"]) == 0
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT channel, address, target, secret FROM notification_channels")).all()
        (channels,) = conn.execute(text("SELECT channels FROM notification_policies")).one()
    engine.dispose()
    assert [row.channel for row in rows] == ["webhook"] and channels == ["webhook"]
    (row,) = rows
    assert row.address == "https://hooks.example.com/…-abc" and "T0KEN" not in row.target + row.secret
    assert open_sealed(key, row.target) == "https://hooks.example.com/T0KEN-abc"
    secret = open_sealed(key, row.secret)
    assert secret.startswith("whsec_") and base64.b64decode(secret[6:]) == b"old-secret-0123456789"
