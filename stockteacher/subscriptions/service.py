"""The subscription state machine, in one place.

    PendingVerification ──(a channel of the user is verified)──▶ Active
    Active ──(the user's last verified channel goes)──▶ PendingVerification
    Active ──(NOTIFY_SUSPEND_AFTER_DEAD dead deliveries in a row)──▶ Suspended

A new subscription is `Active` when its user has a verified notification channel, else
`PendingVerification`. Either way the scheduler collects its ticker at once, so the reports
appear on the web page; only `Active` subscriptions are notified, and `Suspended` ones are
neither notified nor collected.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from stockteacher.accounts.models import Principal
from stockteacher.core.errors import Conflict, NotFound
from stockteacher.core.vocabulary import COLLECTED_SUBSCRIPTIONS, AlertWindow
from stockteacher.store.models import NotificationChannel, Subscription, utcnow
from stockteacher.tickers import service as tickers

__all__ = [
    "ACTIVE",
    "COLLECTED",
    "PENDING",
    "SUSPENDED",
    "activate_pending",
    "await_channel",
    "collected_tickers",
    "create",
    "delete",
    "has_verified_channel",
    "list_for",
    "notified_for_ticker",
    "suspend",
    "update_window",
]

PENDING, ACTIVE, SUSPENDED = "PendingVerification", "Active", "Suspended"
COLLECTED = COLLECTED_SUBSCRIPTIONS


def has_verified_channel(user_id: str, *, db_session: Session) -> bool:
    stmt = select(NotificationChannel.channel).where(
        NotificationChannel.user_id == user_id, NotificationChannel.status == "verified"
    )
    return db_session.execute(stmt).first() is not None


def list_for(caller: Principal, *, db_session: Session) -> list[Subscription]:
    stmt = select(Subscription).where(Subscription.user_id == caller.user_id).order_by(Subscription.created_at)
    return list(db_session.execute(stmt).scalars())


def _own(caller: Principal, subscription_id: str, *, db_session: Session) -> Subscription:
    row = db_session.get(Subscription, subscription_id)
    if row is None or row.user_id != caller.user_id:
        raise NotFound(f"subscription {subscription_id!r} not found")
    return row


def create(caller: Principal, typed: str, alert_window: AlertWindow, *, db_session: Session) -> Subscription:
    """Subscribe the caller to the ticker `typed` names (a symbol, or a company's name: see
    `tickers.service.resolve`); `Conflict` when they already are, `AmbiguousTicker` (a
    `Conflict` with candidates) when the name could be several tickers."""
    ticker = tickers.resolve(typed, db_session=db_session)
    duplicate = db_session.execute(
        select(Subscription.subscription_id).where(
            Subscription.user_id == caller.user_id, Subscription.ticker == ticker
        )
    ).first()
    if duplicate is not None:
        raise Conflict(f"already subscribed to {ticker} ({duplicate.subscription_id})")
    now = utcnow()
    row = Subscription(
        subscription_id=f"sub_{secrets.token_hex(6)}",
        user_id=caller.user_id,
        ticker=ticker,
        alert_window=alert_window,
        status=ACTIVE if has_verified_channel(caller.user_id, db_session=db_session) else PENDING,
        created_at=now,
        updated_at=now,
    )
    db_session.add(row)
    try:
        db_session.flush()
    except IntegrityError:  # a concurrent request won the race
        raise Conflict(f"already subscribed to {ticker}") from None
    return row


def update_window(
    caller: Principal, subscription_id: str, alert_window: AlertWindow, *, db_session: Session
) -> Subscription:
    row = _own(caller, subscription_id, db_session=db_session)
    row.alert_window = alert_window
    row.updated_at = utcnow()
    db_session.flush()
    return row


def delete(caller: Principal, subscription_id: str, *, db_session: Session) -> None:
    db_session.delete(_own(caller, subscription_id, db_session=db_session))


def activate_pending(user_id: str, *, db_session: Session) -> None:
    """A channel of the user was verified: their waiting subscriptions become Active."""
    db_session.execute(
        update(Subscription)
        .where(Subscription.user_id == user_id, Subscription.status == PENDING)
        .values(status=ACTIVE, updated_at=utcnow())
    )


def await_channel(user_id: str, *, db_session: Session) -> None:
    """Without a verified channel left, the user's active subscriptions wait for one again."""
    db_session.flush()
    if not has_verified_channel(user_id, db_session=db_session):
        db_session.execute(
            update(Subscription)
            .where(Subscription.user_id == user_id, Subscription.status == ACTIVE)
            .values(status=PENDING, updated_at=utcnow())
        )


def suspend(subscription_ids: Iterable[str], *, db_session: Session) -> None:
    """Deliveries keep dying: stop notifying (and collecting) until the user acts."""
    db_session.execute(
        update(Subscription)
        .where(Subscription.subscription_id.in_(list(subscription_ids)), Subscription.status == ACTIVE)
        .values(status=SUSPENDED, updated_at=utcnow())
    )


def notified_for_ticker(ticker: str, *, db_session: Session) -> list[Subscription]:
    """The subscriptions a new report on `ticker` is sent to."""
    stmt = select(Subscription).where(Subscription.ticker == ticker, Subscription.status == ACTIVE)
    return list(db_session.execute(stmt).scalars())


def collected_tickers(*, db_session: Session) -> list[str]:
    """Tickers some subscription wants collected (all but suspended ones)."""
    stmt = select(Subscription.ticker).where(Subscription.status.in_(COLLECTED)).distinct()
    return list(db_session.scalars(stmt).all())
