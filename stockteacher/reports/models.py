"""The report tables and their API bodies (API.md `ReportSummary`, `ReportDetail`), and the
list filters of `GET /api/reports`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from stockteacher.core.fields import Day, TickerList
from stockteacher.core.vocabulary import ReportStatus, Sentiment
from stockteacher.store.models import Favorite, Report

__all__ = [
    "Favorite",
    "Report",
    "ReportDetail",
    "ReportFilters",
    "ReportStatusIn",
    "ReportSummary",
    "SentimentSeries",
]


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


class HorizonOutcome(BaseModel):
    """What the stock did over one horizon after the report (API.md `outcome`): returns are
    fractions (0.031 = +3.1 %), from day 0's close (the first close after publication)."""

    return_: float = Field(alias="return")
    benchmark: str
    benchmark_return: float
    excess_return: float
    hit: bool | None  # None: the report made no call (its sentiment inside the neutral band)
    base_date: str
    end_date: str

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


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
    # {"1"|"5"|"20": HorizonOutcome} for the horizons that have passed; None before the first.
    outcome: dict[str, HorizonOutcome] | None = None


class ReportStatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: ReportStatus


class SentimentPoint(BaseModel):
    date: str
    sentiment: float
    reports: int


class SentimentSeries(BaseModel):
    ticker: str
    points: list[SentimentPoint]


class ReportFilters(BaseModel):
    """The query of `GET /api/reports` (API.md), as one model."""

    date_: Day | None = Field(None, alias="date", description="published on this UTC day")
    date_from: Day | None = Field(None, description="published on or after this UTC day")
    date_to: Day | None = Field(None, description="published on or before this UTC day")
    tickers: list[TickerList] | None = Field(None, description="repeatable, or comma-separated")
    keywords: list[str] | None = Field(None, description="repeatable; any keyword or tag matches")
    urgent_only: bool = False
    sentiment: Sentiment | None = None
    favorites_only: bool = False
    search: str | None = Field(None, max_length=200)
    status_: Literal["all", "draft", "published", "hidden"] | None = Field(
        None,
        alias="status",
        description="admins: `all` includes hidden reports, default all but hidden; readers see published only",
    )
    limit: int = Field(20, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=1_000_000)
