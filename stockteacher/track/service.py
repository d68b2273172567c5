"""Evaluating published reports against stored prices, and reading the stored track record.

`evaluate(settings)` computes each published report's missing outcomes (`report_outcomes`,
one row per horizon, written once: a known outcome never changes) from the bars in
`price_bars`, then rewrites `track_records`: one row per ticker and horizon and one for every
ticker (`*`). The API reads those rows; nothing is recomputed per request.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from stockteacher.prices.calendars import market_for
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope
from stockteacher.store.models import PriceBar, Report, ReportOutcome, TrackRecord, utcnow
from stockteacher.track.evaluate import HORIZONS, MIN_CALLS, NEUTRAL_BAND, Closes, Outcome, outcome, summarize

__all__ = [
    "ALL",
    "EvaluationResult",
    "evaluate",
    "evaluate_session",
    "outcome_body",
    "outcomes_for",
    "overall_track_record",
    "records_for",
    "ticker_track_record",
]

ALL = "*"
PUBLISHED = "published"


@dataclass
class EvaluationResult:
    reports: int = 0
    outcomes_added: int = 0
    pending: int = 0  # (report, horizon) pairs still waiting for bars
    tickers: list[str] = field(default_factory=list)
    records: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "reports": self.reports,
            "outcomes_added": self.outcomes_added,
            "pending": self.pending,
            "tickers": self.tickers,
            "records": self.records,
        }


def _closes(session: Session, symbols: set[str], since: date) -> dict[str, Closes]:
    by_symbol: dict[str, dict[date, float]] = defaultdict(dict)
    rows = session.execute(
        select(PriceBar.ticker, PriceBar.trading_date, PriceBar.adj_close).where(
            PriceBar.ticker.in_(sorted(symbols)), PriceBar.trading_date >= since
        )
    )
    for ticker, day, close in rows:
        by_symbol[ticker][day] = close
    return {s: Closes(by_symbol.get(s, {})) for s in symbols}


def evaluate_session(session: Session, *, now: datetime | None = None) -> EvaluationResult:
    """Add the outcomes that became known and rewrite the track records, in `session`."""
    now = now or utcnow()
    result = EvaluationResult()
    reports = session.execute(
        select(Report.insight_id, Report.ticker, Report.published_at, Report.sentiment_score).where(
            Report.status == PUBLISHED, Report.published_at <= now
        )
    ).all()
    result.reports = len(reports)
    known: dict[str, set[int]] = defaultdict(set)
    for insight_id, horizon in session.execute(select(ReportOutcome.insight_id, ReportOutcome.horizon_days)):
        known[insight_id].add(horizon)
    todo = [r for r in reports if len(known[r.insight_id]) < len(HORIZONS)]
    if todo:
        symbols = {r.ticker for r in todo} | {market_for(r.ticker).benchmark for r in todo}
        since = min(r.published_at for r in todo).date() - timedelta(days=10)
        closes = _closes(session, symbols, since)
        for r in todo:
            market = market_for(r.ticker)
            for horizon in HORIZONS:
                if horizon in known[r.insight_id]:
                    continue
                found = outcome(
                    market, r.published_at, r.sentiment_score, horizon, closes[r.ticker], closes[market.benchmark]
                )
                if found is None:
                    result.pending += 1
                    continue
                session.add(_row(r.insight_id, r.ticker, market.benchmark, r.sentiment_score, found, now))
                result.outcomes_added += 1
        session.flush()
    result.records = _rewrite_records(session, now)
    result.tickers = sorted({r.ticker for r in reports})
    return result


def _row(insight_id: str, ticker: str, benchmark: str, sentiment: float, o: Outcome, now: datetime) -> ReportOutcome:
    return ReportOutcome(
        insight_id=insight_id,
        horizon_days=o.horizon_days,
        ticker=ticker,
        benchmark=benchmark,
        base_date=o.base_date,
        end_date=o.end_date,
        stock_return=o.stock_return,
        benchmark_return=o.benchmark_return,
        excess_return=o.excess_return,
        sentiment_score=sentiment,
        hit=o.hit,
        evaluated_at=now,
    )


def _rewrite_records(session: Session, now: datetime) -> int:
    rows = session.execute(
        select(ReportOutcome, Report.status)
        .join(Report, Report.insight_id == ReportOutcome.insight_id)
        .where(Report.status == PUBLISHED)
    ).all()
    grouped: dict[tuple[str, int], list[tuple[float, Outcome]]] = defaultdict(list)
    tickers = set(session.scalars(select(Report.ticker).where(Report.status == PUBLISHED).distinct()))
    for row, _ in rows:
        pair = (
            row.sentiment_score,
            Outcome(
                row.horizon_days, row.base_date, row.end_date, row.stock_return, row.benchmark_return,
                row.excess_return, row.hit,
            ),
        )  # fmt: skip
        grouped[(row.ticker, row.horizon_days)].append(pair)
        grouped[(ALL, row.horizon_days)].append(pair)
    session.execute(delete(TrackRecord))
    count = 0
    for scope in [ALL, *sorted(tickers)]:
        for horizon in HORIZONS:
            record = summarize(horizon, grouped.get((scope, horizon), []))
            session.add(
                TrackRecord(
                    scope=scope,
                    horizon_days=horizon,
                    reports=record.reports,
                    calls=record.calls,
                    hits=record.hits,
                    hit_rate=record.hit_rate,
                    ci_low=record.ci_low,
                    ci_high=record.ci_high,
                    mean_excess_return=record.mean_excess_return,
                    buckets=record.buckets,
                    computed_at=now,
                )
            )
            count += 1
    return count


def evaluate(settings: Settings, *, now: datetime | None = None) -> EvaluationResult:
    """`evaluate_session` in one transaction on `settings.dsn`."""
    with session_scope(settings.dsn) as session:
        return evaluate_session(session, now=now)


def records_for(session: Session, scope: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """The stored records by scope (`*` and each ticker; only `scope` when given), by horizon."""
    query = select(TrackRecord).order_by(TrackRecord.scope, TrackRecord.horizon_days)
    if scope is not None:
        query = query.where(TrackRecord.scope == scope)
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in session.scalars(query):
        out[row.scope].append(
            {
                "horizon_days": row.horizon_days,
                "reports": row.reports,
                "calls": row.calls,
                "hits": row.hits,
                "hit_rate": row.hit_rate,
                "ci_low": row.ci_low,
                "ci_high": row.ci_high,
                "mean_excess_return": row.mean_excess_return,
                "enough_data": row.calls >= MIN_CALLS,
                "buckets": row.buckets,
                "computed_at": row.computed_at,
            }
        )
    return dict(out)


def outcome_body(row: Any) -> dict[str, Any]:
    """One horizon of a report's `outcome` (API.md), from a `report_outcomes` row (ORM or Core)."""
    return {
        "return": row.stock_return,
        "benchmark": row.benchmark,
        "benchmark_return": row.benchmark_return,
        "excess_return": row.excess_return,
        "hit": row.hit,
        "base_date": str(row.base_date),
        "end_date": str(row.end_date),
    }


def outcomes_for(session: Session, insight_ids: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """Each report's known outcomes: `{insight_id: {"5": {return, benchmark_return, ...}}}`."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    if not insight_ids:
        return out
    for row in session.scalars(select(ReportOutcome).where(ReportOutcome.insight_id.in_(insight_ids))):
        out.setdefault(row.insight_id, {})[str(row.horizon_days)] = outcome_body(row)
    return out


HEADLINE_HORIZON = 5


def _horizon(r: dict[str, Any]) -> dict[str, Any]:
    """One horizon's figures in API.md's shape (the interval as `[lo, hi]`)."""
    return {
        "reports": r["reports"],
        "calls": r["calls"],
        "hits": r["hits"],
        "hit_rate": r["hit_rate"],
        "hit_rate_ci95": None if r["ci_low"] is None else [r["ci_low"], r["ci_high"]],
        "mean_excess_return": r["mean_excess_return"],
        "enough_data": r["enough_data"],
        "by_sentiment": r["buckets"],
    }


def _body(scope: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """One scope's track record in API.md's shape; the headline figures are the +5 days'."""
    by_horizon = {str(r["horizon_days"]): r for r in records}
    head = by_horizon.get(str(HEADLINE_HORIZON)) or {
        "reports": 0, "calls": 0, "hits": 0, "hit_rate": None, "ci_low": None, "ci_high": None,
        "mean_excess_return": None, "enough_data": False, "buckets": [], "computed_at": None,
    }  # fmt: skip
    return {
        "ticker": None if scope == ALL else scope,
        "benchmark": None if scope == ALL else market_for(scope).benchmark,
        "horizon_days": HEADLINE_HORIZON,
        **_horizon(head),
        "min_calls": MIN_CALLS,
        "neutral_band": NEUTRAL_BAND,
        "by_horizon": {key: _horizon(r) for key, r in by_horizon.items()},
        "computed_at": head["computed_at"],
    }


def ticker_track_record(session: Session, ticker: str) -> dict[str, Any]:
    """`GET /api/tickers/{ticker}/track-record`: the stored record (zeros before any)."""
    return _body(ticker, records_for(session, ticker).get(ticker, []))


def overall_track_record(session: Session) -> dict[str, Any]:
    """`GET /api/track-record`: every ticker together, then each ticker."""
    records = records_for(session)
    return {
        "overall": _body(ALL, records.get(ALL, [])),
        "tickers": [_body(scope, rows) for scope, rows in sorted(records.items()) if scope != ALL],
    }
