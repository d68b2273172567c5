"""The bodies of `/api/usage` and `/api/jobs`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from stockteacher.store.models import JobRun

__all__ = ["JobRun", "JobRunOut", "UsageOut", "UsageRow"]


class UsageRow(BaseModel):
    day: str
    stage: str
    ticker: str | None
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


class UsageOut(BaseModel):
    scope: str
    user_id: str
    date_from: str
    date_to: str
    total_cost_usd: float
    chat_spent_today_usd: float
    chat_daily_budget_usd: float
    analysis_daily_budget_usd: float | None
    rows: list[UsageRow]


class JobRunOut(BaseModel):
    id: int
    stage: str
    status: str
    ticker: str | None
    source: str | None
    trace_id: str
    started_at: datetime
    finished_at: datetime | None
    error_code: str | None
    error_message: str | None
    fetched: int | None
    unique: int | None
    saved: int | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None
    details: dict[str, Any] | None
