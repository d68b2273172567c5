"""`sample`: the bundled synthetic price series of the demo tickers and their benchmarks.

No network and no file: each symbol's daily bars are generated from a fixed seed, session by
session on its exchange's calendar, from 2024-01-02 on, so any range asked for returns the same
bars (today's run and tomorrow's agree on every past day). A stock moves with its market (a
beta on the benchmark's daily return) plus its own noise, and on the days after the sample
news it moves the way that news reads (the sample's good and bad news days, below), so the
demo's prices and reports tell one story. Bars exist only for sessions that have closed: the
series never shows a price from the future. Every value is synthetic (`currency` says the
market's; the levels are round numbers near the real ones, not quotes).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache

import numpy as np

from stockteacher.prices.base import Bar
from stockteacher.prices.calendars import last_closed_session, market_for, sessions_between
from stockteacher.sources.base import PermanentSourceError

__all__ = ["SAMPLE_SERIES", "SamplePriceSource", "sample_bars"]

ORIGIN = date(2024, 1, 2)


@dataclass(frozen=True, slots=True)
class Series:
    start_price: float
    daily_vol: float
    beta: float
    drift: float
    currency: str


SAMPLE_SERIES: dict[str, Series] = {
    "^GSPC": Series(4700.0, 0.009, 0.0, 0.0004, "USD"),
    "^KS11": Series(2600.0, 0.010, 0.0, 0.0002, "KRW"),
    "AAPL": Series(185.0, 0.013, 1.1, 0.0002, "USD"),
    "MSFT": Series(370.0, 0.012, 1.0, 0.0003, "USD"),
    "NVDA": Series(48.0, 0.028, 1.6, 0.0012, "USD"),
    "TSLA": Series(250.0, 0.032, 1.5, 0.0, "USD"),
    "005930.KS": Series(78000.0, 0.015, 1.1, 0.0001, "KRW"),
    "000660.KS": Series(140000.0, 0.022, 1.3, 0.0012, "KRW"),
}

# The sample news's marked days (`sources/data/sample_articles.jsonl`): the next session's
# own move, so that the demo's chart shows the news it reports on.
NEWS_DAYS: dict[str, dict[date, float]] = {
    "AAPL": {date(2026, 11, 17): 0.018, date(2026, 11, 24): -0.021},
    "MSFT": {date(2026, 11, 18): 0.015, date(2026, 11, 24): -0.012},
    "NVDA": {date(2026, 11, 19): 0.041, date(2026, 11, 27): -0.025},
    "TSLA": {date(2026, 11, 17): -0.035, date(2026, 11, 25): 0.028},
    "005930.KS": {date(2026, 11, 18): 0.022, date(2026, 11, 26): -0.017},
    "000660.KS": {date(2026, 11, 17): 0.031, date(2026, 11, 26): 0.019},
}


def _noise(symbol: str, day: date) -> tuple[float, float]:
    rng = np.random.default_rng([zlib.crc32(symbol.encode()), day.toordinal()])
    return float(rng.standard_normal()), float(rng.random())


@lru_cache(maxsize=64)
def _series(symbol: str, upto: date) -> tuple[tuple[date, float, float, float, float, int], ...]:
    spec = SAMPLE_SERIES[symbol]
    market = market_for(symbol)
    benchmark = None if spec.beta == 0 else SAMPLE_SERIES[market.benchmark]
    rows = []
    level = spec.start_price
    previous = level
    for day in sessions_between(market, ORIGIN, upto):
        z, u = _noise(symbol, day)
        move = spec.drift + spec.daily_vol * z
        if benchmark is not None:
            zb, _ = _noise(market.benchmark, day)
            move = spec.beta * (benchmark.drift + benchmark.daily_vol * zb) + spec.daily_vol * 0.7 * z
        move += NEWS_DAYS.get(symbol, {}).get(day, 0.0)
        level = previous * math.exp(move)
        gap = spec.daily_vol * 0.3 * (u - 0.5)
        open_ = previous * math.exp(gap)
        high = max(open_, level) * (1 + spec.daily_vol * 0.4 * u)
        low = min(open_, level) * (1 - spec.daily_vol * 0.4 * (1 - u))
        volume = int(2_000_000 * (1 + abs(z)) * (50 if spec.currency == "KRW" and spec.beta else 1))
        rows.append((day, open_, high, low, level, volume))
        previous = level
    return tuple(rows)


def _round(symbol: str, value: float) -> float:
    return (
        float(round(value))
        if SAMPLE_SERIES[symbol].currency == "KRW" and not symbol.startswith("^")
        else round(value, 2)
    )


def sample_bars(symbol: str, start: date, end: date, *, now: datetime | None = None) -> list[Bar]:
    """The sample bars of `symbol` from `start` to `end`, up to the last session closed by `now`."""
    symbol = symbol.strip().upper()
    if symbol not in SAMPLE_SERIES:
        raise PermanentSourceError(
            f"sample: no sample prices for {symbol!r} (the sample covers {', '.join(SAMPLE_SERIES)})",
            source="sample",
            code="not_found",
        )
    upto = min(end, last_closed_session(market_for(symbol), now or datetime.now(UTC)))
    currency = SAMPLE_SERIES[symbol].currency
    return [
        Bar(
            symbol=symbol,
            trading_date=day,
            open=_round(symbol, o),
            high=_round(symbol, h),
            low=_round(symbol, lo),
            close=_round(symbol, c),
            adj_close=_round(symbol, c),
            volume=v,
            currency=currency,
        )
        for day, o, h, lo, c, v in _series(symbol, upto)
        if start <= day
    ]


class SamplePriceSource:
    name = "sample"

    def __init__(self, *, now: datetime | None = None) -> None:
        self.now = now

    async def fetch(self, symbol: str, start: date, end: date) -> list[Bar]:
        return sample_bars(symbol, start, end, now=self.now)
