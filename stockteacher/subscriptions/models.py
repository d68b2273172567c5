"""The subscription table and its API bodies (API.md `Subscription`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from stockteacher.core.fields import TickerOrName
from stockteacher.core.vocabulary import AlertWindow, SubscriptionStatus
from stockteacher.store.models import Subscription

__all__ = ["Subscription", "SubscriptionIn", "SubscriptionOut", "SubscriptionPatch"]


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ticker: TickerOrName = Field(
        examples=["AAPL", "005930.KS", "삼성전자"],
        description="a symbol, or a company's name or alias that belongs to exactly one ticker",
    )
    alert_window: AlertWindow = "intraday"


class SubscriptionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alert_window: AlertWindow


class SubscriptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    subscription_id: str
    user_id: str
    ticker: str
    alert_window: AlertWindow
    status: SubscriptionStatus
    created_at: datetime
    updated_at: datetime
