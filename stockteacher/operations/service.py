"""Spend and runs, for `/api/usage` (users: their own chat; admins: everything) and
`/api/jobs` (admins)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from stockteacher.accounts.models import Principal
from stockteacher.core.errors import InvalidRequest
from stockteacher.operations.models import UsageRow
from stockteacher.reports.service import check_dates
from stockteacher.settings import Settings
from stockteacher.store.models import ChatMessage, ChatSession, JobRun, Report
from stockteacher.tickers.registry import TickerError, normalise_symbol

__all__ = ["recent_runs", "usage"]


def _start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def usage(
    caller: Principal, date_from: date | None, date_to: date | None, settings: Settings, *, db_session: Session
) -> dict[str, Any]:
    """Tokens and USD by UTC day, ticker and stage: your own chat for users; everything for admins."""
    check_dates(date_from=date_from, date_to=date_to)
    today = datetime.now(UTC).date()
    date_to = date_to or today
    date_from = date_from or (date_to - timedelta(days=29))
    if date_from > date_to:
        raise InvalidRequest("date_from is after date_to")
    start, end = _start(date_from), _start(date_to + timedelta(days=1))
    buckets: dict[tuple[str, str, str | None], list[float]] = defaultdict(lambda: [0, 0, 0, 0.0])

    chat = (
        select(
            ChatMessage.created_at,
            ChatMessage.prompt_tokens,
            ChatMessage.completion_tokens,
            ChatMessage.cost_usd,
            Report.ticker,
        )  # fmt: skip
        .join(ChatSession, ChatSession.session_id == ChatMessage.session_id)
        .join(Report, Report.insight_id == ChatSession.insight_id, isouter=True)
        .where(  # answers, and answers cut off by a client that left (they were paid for too)
            or_(ChatMessage.sender == "agent", and_(ChatMessage.sender == "system", ChatMessage.cost_usd > 0)),
            ChatMessage.created_at >= start,
            ChatMessage.created_at < end,
        )
    )
    if not caller.is_admin:
        chat = chat.where(ChatMessage.user_id == caller.user_id)
    for created_at, prompt, completion, cost, ticker in db_session.execute(chat):
        bucket = buckets[(created_at.date().isoformat(), "chat", ticker)]
        bucket[0] += 1
        bucket[1] += prompt or 0
        bucket[2] += completion or 0
        bucket[3] += cost or 0.0

    if caller.is_admin:
        runs = select(JobRun).where(
            JobRun.started_at >= start,
            JobRun.started_at < end,
            (JobRun.cost_usd > 0) | (JobRun.prompt_tokens > 0),
        )
        for run in db_session.execute(runs).scalars():
            bucket = buckets[(run.started_at.date().isoformat(), run.stage, run.ticker)]
            bucket[0] += 1
            bucket[1] += run.prompt_tokens or 0
            bucket[2] += run.completion_tokens or 0
            bucket[3] += run.cost_usd or 0.0

    spent_today = db_session.execute(
        select(ChatMessage.cost_usd).where(
            ChatMessage.user_id == caller.user_id, ChatMessage.created_at >= _start(today)
        )
    ).scalars()
    rows = [
        UsageRow(
            day=day,
            stage=stage,
            ticker=ticker,
            calls=int(b[0]),
            prompt_tokens=int(b[1]),
            completion_tokens=int(b[2]),
            cost_usd=round(b[3], 6),
        )  # fmt: skip
        for (day, stage, ticker), b in sorted(buckets.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or ""))
    ]
    return {
        "scope": "all" if caller.is_admin else "own",
        "user_id": caller.user_id,
        "date_from": date_from.isoformat(),
        "date_to": date_to.isoformat(),
        "total_cost_usd": round(sum(r.cost_usd for r in rows), 6),
        "chat_spent_today_usd": round(sum(spent_today), 6),
        "chat_daily_budget_usd": settings.chat_daily_budget_usd,
        "analysis_daily_budget_usd": settings.analysis_daily_budget_usd if caller.is_admin else None,
        "rows": rows,
    }


def recent_runs(
    *,
    db_session: Session,
    stage: str | None = None,
    status_: str | None = None,
    ticker: str | None = None,
    trace_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[JobRun]:
    """Recent pipeline runs, newest first (admin)."""
    stmt = select(JobRun)
    if stage:
        stmt = stmt.where(JobRun.stage == stage)
    if status_:
        stmt = stmt.where(JobRun.status == status_.upper())
    if ticker:
        try:
            symbol = normalise_symbol(ticker)
        except TickerError as exc:
            raise InvalidRequest(f"ticker: {exc}") from None
        stmt = stmt.where(JobRun.ticker == symbol)
    if trace_id:
        stmt = stmt.where(JobRun.trace_id == trace_id)
    stmt = stmt.order_by(JobRun.started_at.desc(), JobRun.id.desc()).limit(limit).offset(offset)
    return list(db_session.execute(stmt).scalars())
