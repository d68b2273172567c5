"""The API bodies of prices and the track record (API.md "Additions planned next")."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel


class BarOut(BaseModel):
    date: date
    open: float | None
    high: float | None
    low: float | None
    close: float
    adj_close: float
    volume: int | None


class PricesOut(BaseModel):
    ticker: str
    currency: str | None
    benchmark: str
    benchmark_name: str
    bars: list[BarOut]


class BucketOut(BaseModel):
    bucket: str  # strong_negative, negative, neutral, positive, strong_positive
    reports: int
    mean_excess_return: float | None


class HorizonRecordOut(BaseModel):
    reports: int
    calls: int
    hits: int
    hit_rate: float | None
    hit_rate_ci95: list[float] | None
    mean_excess_return: float | None
    enough_data: bool
    by_sentiment: list[BucketOut]


class TrackRecordOut(HorizonRecordOut):
    """A track record; the headline figures are those of `horizon_days` (+5 trading days).
    `ticker` and `benchmark` are null for the overall record."""

    ticker: str | None
    benchmark: str | None
    horizon_days: int
    min_calls: int
    neutral_band: float
    by_horizon: dict[str, HorizonRecordOut]
    computed_at: datetime | None


class OverallTrackRecordOut(BaseModel):
    overall: TrackRecordOut
    tickers: list[TrackRecordOut]
