"""Subscriptions (API.md): a user's tickers and when to hear about them.

A new subscription is `Active` when its user has a verified notification channel, else
`PendingVerification` until the first channel is verified (then all of the user's pending
subscriptions become `Active`). Either way the scheduler collects its ticker at once, so the
reports appear on the web page; only `Active` subscriptions are notified. Repeated dead
deliveries make it `Suspended`.
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter, HTTPException, Response, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from stockteacher.api.deps import Caller, Db
from stockteacher.api.schemas import ErrorOut, SubscriptionIn, SubscriptionOut, SubscriptionPatch
from stockteacher.store.models import NotificationChannel, Subscription, utcnow

router = APIRouter(prefix="/api/subscriptions", tags=["subscriptions"])
NOT_FOUND = {404: {"model": ErrorOut, "description": "no such subscription of yours"}}


def has_verified_channel(db: Db, user_id: str) -> bool:
    return (
        db.execute(
            select(NotificationChannel.channel).where(
                NotificationChannel.user_id == user_id, NotificationChannel.status == "verified"
            )
        ).first()
        is not None
    )


def _out(row: Subscription) -> SubscriptionOut:
    return SubscriptionOut.model_validate(row, from_attributes=True)


def _own(db: Db, caller: Caller, subscription_id: str) -> Subscription:
    row = db.get(Subscription, subscription_id)
    if row is None or row.user_id != caller.user_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"subscription {subscription_id!r} not found")
    return row


@router.get("", response_model=list[SubscriptionOut])
def list_subscriptions(db: Db, caller: Caller) -> list[SubscriptionOut]:
    rows = db.execute(
        select(Subscription).where(Subscription.user_id == caller.user_id).order_by(Subscription.created_at)
    ).scalars()
    return [_out(row) for row in rows]


@router.post(
    "",
    response_model=SubscriptionOut,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"model": ErrorOut, "description": "already subscribed to this ticker"}},
)
def create_subscription(body: SubscriptionIn, db: Db, caller: Caller) -> SubscriptionOut:
    duplicate = db.execute(
        select(Subscription.subscription_id).where(
            Subscription.user_id == caller.user_id, Subscription.ticker == body.ticker
        )
    ).first()
    if duplicate is not None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"already subscribed to {body.ticker} ({duplicate.subscription_id})"
        )
    now = utcnow()
    row = Subscription(
        subscription_id=f"sub_{secrets.token_hex(6)}",
        user_id=caller.user_id,
        ticker=body.ticker,
        alert_window=body.alert_window,
        status="Active" if has_verified_channel(db, caller.user_id) else "PendingVerification",
        created_at=now,
        updated_at=now,
    )
    db.add(row)
    try:
        db.flush()
    except IntegrityError:  # a concurrent request won the race
        raise HTTPException(status.HTTP_409_CONFLICT, f"already subscribed to {body.ticker}") from None
    return _out(row)


@router.patch("/{subscription_id}", response_model=SubscriptionOut, responses=NOT_FOUND)
def update_subscription(subscription_id: str, body: SubscriptionPatch, db: Db, caller: Caller) -> SubscriptionOut:
    row = _own(db, caller, subscription_id)
    row.alert_window = body.alert_window
    row.updated_at = utcnow()
    db.flush()
    return _out(row)


@router.delete("/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
def delete_subscription(subscription_id: str, db: Db, caller: Caller) -> Response:
    db.delete(_own(db, caller, subscription_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
