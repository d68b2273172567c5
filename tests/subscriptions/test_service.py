"""The subscription state machine, called the way the API, the outbox and the scheduler call it
(plain functions on a PostgreSQL session, no HTTP)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from stockteacher.accounts.models import Principal
from stockteacher.channels import service as channels
from stockteacher.core.errors import Conflict, NotFound
from stockteacher.store.db import session_scope
from stockteacher.store.models import NotificationChannel, utcnow
from stockteacher.subscriptions import service

ANN = Principal("ann", "user")
BOB = Principal("bob", "user")


@pytest.fixture
def db(pg_dsn: str) -> Iterator[Session]:
    with session_scope(pg_dsn) as session:
        yield session


def _verified_channel(db: Session, user_id: str) -> NotificationChannel:
    row = NotificationChannel(
        user_id=user_id, channel="webhook", address="https://hooks.example/x", status="verified", created_at=utcnow()
    )
    db.add(row)
    db.flush()
    return row


def test_a_user_without_a_verified_channel_waits_and_one_with_it_is_active(db: Session) -> None:
    assert service.create(ANN, "AAPL", "intraday", db_session=db).status == service.PENDING
    _verified_channel(db, "bob")
    assert service.create(BOB, "AAPL", "intraday", db_session=db).status == service.ACTIVE


def test_verifying_activates_and_losing_the_last_channel_makes_them_wait_again(db: Session) -> None:
    row = service.create(ANN, "AAPL", "daily_close", db_session=db)
    _verified_channel(db, "ann")
    service.activate_pending("ann", db_session=db)
    db.refresh(row)
    assert row.status == service.ACTIVE
    assert [s.subscription_id for s in service.notified_for_ticker("AAPL", db_session=db)] == [row.subscription_id]

    channels.delete_channel(ANN, "webhook", db_session=db)
    db.refresh(row)
    assert row.status == service.PENDING
    assert service.notified_for_ticker("AAPL", db_session=db) == []
    assert service.collected_tickers(db_session=db) == ["AAPL"]  # still collected: the page shows its reports


def test_suspended_subscriptions_are_neither_notified_nor_collected(db: Session) -> None:
    _verified_channel(db, "ann")
    row = service.create(ANN, "TSLA", "intraday", db_session=db)
    service.suspend([row.subscription_id], db_session=db)
    db.refresh(row)
    assert row.status == service.SUSPENDED
    assert service.notified_for_ticker("TSLA", db_session=db) == []
    assert service.collected_tickers(db_session=db) == []
    service.activate_pending("ann", db_session=db)  # verifying again does not revive a suspended one
    db.refresh(row)
    assert row.status == service.SUSPENDED


def test_one_subscription_per_ticker_and_nobody_touches_anothers(db: Session) -> None:
    row = service.create(ANN, "AAPL", "intraday", db_session=db)
    with pytest.raises(Conflict, match="already subscribed to AAPL"):
        service.create(ANN, "AAPL", "weekly", db_session=db)
    with pytest.raises(NotFound):
        service.update_window(BOB, row.subscription_id, "weekly", db_session=db)
    with pytest.raises(NotFound):
        service.delete(BOB, row.subscription_id, db_session=db)
    assert service.update_window(ANN, row.subscription_id, "weekly", db_session=db).alert_window == "weekly"
    assert [s.ticker for s in service.list_for(ANN, db_session=db)] == ["AAPL"]
    assert service.list_for(BOB, db_session=db) == []
