"""Notification policy (API.md): time zone, window, frequency, channels, quiet hours."""

from __future__ import annotations

import zoneinfo
from functools import cache

from fastapi import APIRouter

from stockteacher.api.deps import Caller, Db
from stockteacher.api.schemas import ErrorOut, NotificationPolicyIn, NotificationPolicyOut
from stockteacher.store.models import NotificationPolicy, utcnow

router = APIRouter(prefix="/api/notifications", tags=["notifications"])


@cache
def timezone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def policy_for(db: Db, user_id: str) -> NotificationPolicyOut:
    """The stored policy, or the default (Asia/Seoul, daily_close, daily, e-mail, no quiet hours)."""
    row = db.get(NotificationPolicy, user_id)
    if row is None:
        return NotificationPolicyOut(user_id=user_id, **NotificationPolicyIn().model_dump())
    return NotificationPolicyOut.model_validate(row, from_attributes=True)


@router.get("/policy", response_model=NotificationPolicyOut)
def get_policy(db: Db, caller: Caller) -> NotificationPolicyOut:
    return policy_for(db, caller.user_id)


@router.put("/policy", response_model=NotificationPolicyOut, responses={422: {"model": ErrorOut}})
def put_policy(body: NotificationPolicyIn, db: Db, caller: Caller) -> NotificationPolicyOut:
    row = db.get(NotificationPolicy, caller.user_id)
    values = body.model_dump()
    if row is None:
        row = NotificationPolicy(user_id=caller.user_id, **values)
        db.add(row)
    else:
        for key, value in values.items():
            setattr(row, key, value)
    row.updated_at = utcnow()
    db.flush()
    return NotificationPolicyOut.model_validate(row, from_attributes=True)


@router.get("/timezones", response_model=list[str])
def list_timezones(caller: Caller) -> list[str]:
    return sorted(timezone_names())
