"""Request and response bodies of API.md, as pydantic models (they make the OpenAPI document)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stockteacher.core.vocabulary import (
    AlertWindow,
    Channel,
    Frequency,
    Locale,
    PolicyWindow,
    ReportStatus,
    SubscriptionStatus,
)

__all__ = [
    "ChatMessageOut",
    "ChatSessionIn",
    "ChatSessionOut",
    "ErrorOut",
    "NotificationPolicyIn",
    "NotificationPolicyOut",
    "ReportDetail",
    "ReportStatusIn",
    "ReportSummary",
    "SubscriptionIn",
    "SubscriptionOut",
    "SubscriptionPatch",
]

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class ErrorOut(BaseModel):
    detail: str


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- subscriptions -------------------------------------------------------------------------
class SubscriptionIn(_In):
    ticker: str = Field(min_length=1, max_length=20, examples=["AAPL", "005930.KS"])
    alert_window: AlertWindow = "intraday"

    @field_validator("ticker")
    @classmethod
    def _ticker(cls, value: str) -> str:
        from stockteacher.ingest.tickers import normalise_symbol

        return normalise_symbol(value)


class SubscriptionPatch(_In):
    alert_window: AlertWindow


class SubscriptionOut(BaseModel):
    subscription_id: str
    user_id: str
    ticker: str
    alert_window: AlertWindow
    status: SubscriptionStatus
    created_at: datetime
    updated_at: datetime


# --- reports -------------------------------------------------------------------------------
class SourceRef(BaseModel):
    model_config = ConfigDict(extra="allow")
    url: str
    title: str


class GlossaryItem(BaseModel):
    model_config = ConfigDict(extra="allow")
    term: str
    explanation: str


class ReportSummary(BaseModel):
    insight_id: str
    ticker: str
    published_at: datetime
    status: ReportStatus
    sentiment_score: float
    headline: str
    tags: list[str]
    favorite: bool
    anomaly_score: float
    cost_usd: float


class ReportDetail(ReportSummary):
    summary_text: str
    keywords: list[str]
    source_refs: list[SourceRef]
    attachments: list[dict[str, Any]]
    glossary: list[GlossaryItem]
    anomalies: list[dict[str, Any]]
    model: str
    locale: str
    story_count: int
    quality_notes: list[str]
    trace_id: str | None = None


class ReportStatusIn(_In):
    status: ReportStatus


class SentimentPoint(BaseModel):
    date: str
    sentiment: float
    reports: int


class SentimentSeries(BaseModel):
    ticker: str
    points: list[SentimentPoint]


# --- chat ----------------------------------------------------------------------------------
class ChatSessionIn(_In):
    insight_id: str = Field(min_length=1, max_length=32)


class ChatSessionOut(BaseModel):
    session_id: str
    insight_id: str
    user_id: str
    status: Literal["Initiated", "Conversing", "Completed", "Handover"]
    started_at: datetime
    updated_at: datetime


class ChatMessageOut(BaseModel):
    message_id: str
    session_id: str
    sender: Literal["user", "agent", "system"]
    content: str
    created_at: datetime
    citations: list[dict[str, Any]] = []
    cost_usd: float = 0.0


# --- notifications -------------------------------------------------------------------------
class NotificationPolicyIn(_In):
    timezone: str = "Asia/Seoul"
    window: PolicyWindow = "daily_close"
    frequency: Frequency = "daily"
    channels: list[Channel] = Field(
        default_factory=list, description="where to send; empty (the default): every verified channel"
    )
    quiet_hours_start: str | None = None
    quiet_hours_end: str | None = None
    locale: Locale | None = Field(
        None, description="our addition: the language of alerts and e-mails (default: DEFAULT_LOCALE)"
    )

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from stockteacher.api.routes.notifications import timezone_names

        if value not in timezone_names():
            raise ValueError(f"unknown time zone {value!r}: use an IANA name such as Asia/Seoul")
        return value

    @field_validator("channels")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @field_validator("quiet_hours_start", "quiet_hours_end")
    @classmethod
    def _hhmm(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not _HHMM.match(value):
            raise ValueError(f"{value!r} is not a time of day HH:MM (00:00-23:59)")
        return value

    @model_validator(mode="after")
    def _quiet_hours(self) -> NotificationPolicyIn:
        start, end = self.quiet_hours_start, self.quiet_hours_end
        if (start is None) != (end is None):
            raise ValueError("quiet_hours_start and quiet_hours_end: give both or neither")
        if start is not None and end is not None and not start < end:
            raise ValueError(f"quiet hours must start before they end (got {start}-{end})")
        return self


class NotificationPolicyOut(BaseModel):
    user_id: str
    timezone: str
    window: PolicyWindow
    frequency: Frequency
    channels: list[Channel]
    quiet_hours_start: str | None
    quiet_hours_end: str | None
    locale: Locale = "ko_KR"
