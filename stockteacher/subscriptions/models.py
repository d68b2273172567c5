"""The subscription table and its API bodies (API.md `Subscription`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from stockteacher.core.fields import TickerText
from stockteacher.core.vocabulary import AlertWindow, SubscriptionStatus
from stockteacher.store.models import Subscription

__all__ = ["Subscription", "SubscriptionIn", "SubscriptionOut", "SubscriptionPatch"]


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ticker: TickerText = Field(examples=["AAPL", "005930.KS"])
    alert_window: AlertWindow = "intraday"

    @field_validator("ticker")
    @classmethod
    def _ticker(cls, value: str) -> str:
        from stockteacher.tickers.registry import normalise_symbol

        return normalise_symbol(value)


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
