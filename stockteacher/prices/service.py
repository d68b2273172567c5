"""Daily bars in `price_bars`: idempotent upserts, reads, and fetching what a symbol lacks.

`store_bars` replaces a (symbol, trading day) row when it is fetched again (a provider's late
correction, a split's re-adjustment) and never duplicates one. `refresh_prices` fetches each
symbol's missing days, from the day after its last stored bar (or `PRICE_HISTORY_DAYS` back)
to today, once per trading day: a symbol whose latest stored bar is the last completed
session is not asked again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from stockteacher.prices.base import Bar, PriceSource, valid_bar
from stockteacher.prices.calendars import last_closed_session, market_for
from stockteacher.settings import Settings
from stockteacher.sources.base import SourceError
from stockteacher.store.db import session_scope
from stockteacher.store.models import PriceBar, utcnow

__all__ = [
    "RefreshResult",
    "last_completed_session",
    "latest_dates",
    "load_bars",
    "prices_body",
    "price_source_name",
    "refresh_prices",
    "store_bars",
    "symbols_for",
]

UPSERT_CHUNK = 500
NETWORK_SOURCES = frozenset({"news_api", "naver", "dart", "rss"})


def price_source_name(settings: Settings, news_source: str | None = None) -> str | None:
    """The price source for a ticker collected from `news_source` (None: no prices fetched).
    `auto` gives tickers of the bundled `sample` news the sample series and tickers of a news
    service (NewsAPI, Naver, OpenDART, RSS) Yahoo's; a file import or an analyze-only run
    fetches none (`jobs/prices.py` fetches a backfill's history)."""
    if settings.price_source == "off":
        return None
    if settings.price_source == "auto":
        if news_source == "sample":
            return "sample"
        return "yahoo" if news_source in NETWORK_SOURCES else None
    return settings.price_source


def symbols_for(tickers: Iterable[str]) -> list[str]:
    """The tickers and the benchmarks their markets are measured against, each once."""
    tickers = list(dict.fromkeys(t.strip().upper() for t in tickers))
    return list(dict.fromkeys([*tickers, *(market_for(t).benchmark for t in tickers)]))


def store_bars(session: Session, bars: Sequence[Bar], *, source: str) -> int:
    """Upsert `bars` (one row per symbol and day; a re-fetched day replaces the stored one)."""
    rows = {
        (b.symbol, b.trading_date): {
            "ticker": b.symbol,
            "trading_date": b.trading_date,
            "open": b.open,
            "high": b.high,
            "low": b.low,
            "close": float(b.close),
            "adj_close": float(b.adj_close),
            "volume": b.volume,
            "currency": b.currency,
            "source": source,
            "fetched_at": utcnow(),
        }
        for b in bars
        if valid_bar(b)
    }
    values = list(rows.values())
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    for start in range(0, len(values), UPSERT_CHUNK):
        statement = insert(PriceBar).values(values[start : start + UPSERT_CHUNK])
        excluded = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=["ticker", "trading_date"],
            set_={
                name: getattr(excluded, name)
                for name in ("open", "high", "low", "close", "adj_close", "volume", "currency", "source", "fetched_at")
            },
        )
        session.execute(statement)
    return len(values)


def load_bars(session: Session, symbol: str, start: date | None = None, end: date | None = None) -> list[PriceBar]:
    """`symbol`'s stored bars from `start` to `end` (both included), oldest first."""
    query = select(PriceBar).where(PriceBar.ticker == symbol)
    if start is not None:
        query = query.where(PriceBar.trading_date >= start)
    if end is not None:
        query = query.where(PriceBar.trading_date <= end)
    return list(session.scalars(query.order_by(PriceBar.trading_date)))


def prices_body(session: Session, symbol: str, start: date, end: date | None) -> dict[str, Any]:
    """`GET /api/tickers/{ticker}/prices`: the stored bars, oldest first, and the benchmark."""
    bars = load_bars(session, symbol, start, end)
    market = market_for(symbol)
    return {
        "ticker": symbol,
        "currency": next((b.currency for b in reversed(bars) if b.currency), None),
        "benchmark": market.benchmark,
        "benchmark_name": market.benchmark_name_en,
        "bars": [
            {"date": b.trading_date, "open": b.open, "high": b.high, "low": b.low, "close": b.close,
             "adj_close": b.adj_close, "volume": b.volume}
            for b in bars
        ],  # fmt: skip
    }


def latest_dates(session: Session, symbols: Sequence[str]) -> dict[str, date]:
    """The latest stored trading day of each symbol that has any."""
    rows = session.execute(
        select(PriceBar.ticker, func.max(PriceBar.trading_date))
        .where(PriceBar.ticker.in_(list(symbols)))
        .group_by(PriceBar.ticker)
    )
    return {ticker: day for ticker, day in rows if day is not None}


def last_completed_session(symbol: str, now: datetime) -> date:
    """The latest session of `symbol`'s exchange that has closed by `now`."""
    return last_closed_session(market_for(symbol), now)


@dataclass
class RefreshResult:
    """What `refresh_prices` did: bars stored per symbol, symbols already current, failures."""

    stored: dict[str, int] = field(default_factory=dict)
    current: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def bars(self) -> int:
        return sum(self.stored.values())


async def refresh_prices(
    settings: Settings,
    source: PriceSource,
    symbols: Sequence[str],
    *,
    start: date | None = None,
    end: date | None = None,
    now: datetime | None = None,
    concurrency: int = 4,
) -> RefreshResult:
    """Fetch and store each symbol's bars. With `start`/`end` (a history backfill) that range is
    fetched for every symbol; without, each symbol's missing days up to its last completed
    session, and nothing for a symbol already current. A symbol that fails is reported in
    `errors` (with the source's error code) and does not stop the others."""
    now = now or utcnow()
    result = RefreshResult()
    with session_scope(settings.dsn) as session:
        latest = latest_dates(session, symbols)
    plans: list[tuple[str, date, date]] = []
    for symbol in symbols:
        upto = end or last_completed_session(symbol, now)
        if start is not None:
            plans.append((symbol, start, upto))
            continue
        have = latest.get(symbol)
        if have is not None and have >= upto:
            result.current.append(symbol)
            continue
        since = have + timedelta(days=1) if have else upto - timedelta(days=settings.price_history_days)
        plans.append((symbol, since, upto))
    gate = asyncio.Semaphore(concurrency)

    async def one(symbol: str, since: date, upto: date) -> None:
        async with gate:
            try:
                bars = await source.fetch(symbol, since, upto)
            except SourceError as exc:
                result.errors[symbol] = f"{exc.code}: {exc}"
                return
        with session_scope(settings.dsn) as session:
            result.stored[symbol] = store_bars(session, bars, source=source.name)

    await asyncio.gather(*(one(*plan) for plan in plans))
    return result
