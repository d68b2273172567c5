"""Trading calendars (exchange_calendars: XKRX, XNYS): sessions, holidays, half days.

`market_for(symbol)` says which exchange a symbol trades on and which benchmark measures its
market: `.KS`/`.KQ` symbols trade on KRX against the KOSPI (`^KS11`), everything else on
the NYSE/NASDAQ calendar against the S&P 500 (`^GSPC`). Sessions are the exchange's own
dates; opens and closes are aware UTC datetimes (half days close early, holidays have no
session).

Look-ahead is prevented here: `base_session(market, published_at)` is the first session whose
close comes strictly after a report was published, so day 0 is a close the report could not
have seen (after the close, or on a holiday or a weekend, it is the next session).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

__all__ = [
    "Market",
    "base_session",
    "is_session",
    "last_closed_session",
    "market_for",
    "next_close",
    "next_open",
    "session_after",
    "sessions_between",
]


@dataclass(frozen=True, slots=True)
class Market:
    exchange: str  # exchange_calendars code: XKRX, XNYS
    benchmark: str  # the index a ticker is measured against
    benchmark_name_en: str
    benchmark_name_ko: str
    timezone: str


KRX = Market("XKRX", "^KS11", "KOSPI", "코스피", "Asia/Seoul")
US = Market("XNYS", "^GSPC", "S&P 500", "S&P 500", "America/New_York")
BENCHMARKS = {KRX.benchmark: KRX, US.benchmark: US, "SPY": US, "^KQ11": KRX}


def market_for(symbol: str) -> Market:
    """The market a symbol trades on (a benchmark's own market for `^GSPC`, `^KS11`)."""
    symbol = symbol.strip().upper()
    if symbol in BENCHMARKS:
        return BENCHMARKS[symbol]
    return KRX if symbol.endswith((".KS", ".KQ")) else US


@lru_cache(maxsize=4)
def _calendar(exchange: str) -> Any:
    import exchange_calendars

    return exchange_calendars.get_calendar(exchange)  # the last 20 years and the next one


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: pass an aware time")
    return moment.astimezone(UTC)


def _ts(moment: datetime) -> Any:
    import pandas as pd

    return pd.Timestamp(_aware(moment))


def _day(value: Any) -> date:
    return value.date() if hasattr(value, "date") else value


def is_session(market: Market, day: date) -> bool:
    """Whether the exchange trades on `day` (not a weekend or a holiday)."""
    import pandas as pd

    return bool(_calendar(market.exchange).is_session(pd.Timestamp(day)))


def sessions_between(market: Market, start: date, end: date) -> list[date]:
    """The exchange's sessions from `start` to `end`, both included."""
    if end < start:
        return []
    return [_day(s) for s in _calendar(market.exchange).sessions_in_range(start.isoformat(), end.isoformat())]


@lru_cache(maxsize=4)
def _table(exchange: str) -> tuple[list[datetime], list[date]]:
    """The exchange's session closes (aware UTC, ascending) and their session dates, read once
    from the calendar: day-0 and offset look-ups are then a bisection, not a pandas call."""
    closes = _calendar(exchange).closes
    return [c.to_pydatetime().astimezone(UTC) for c in closes], [_day(s) for s in closes.index]


def base_session(market: Market, published_at: datetime) -> date:
    """Day 0 of a report published at `published_at`: the first session whose close is strictly
    later (a report published during a session gets that session's close; after the close, on a
    weekend or a holiday, the next session's). Times count in whole minutes, as the exchange's."""
    closes, sessions = _table(market.exchange)
    minute = _aware(published_at).replace(second=0, microsecond=0)
    index = bisect.bisect_right(closes, minute)
    if index >= len(closes):
        raise LookupError(f"{market.exchange}: no session known after {published_at.isoformat()}")
    return sessions[index]


def last_closed_session(market: Market, now: datetime) -> date:
    """The latest session that has closed by `now` (its bar is final)."""
    closes, sessions = _table(market.exchange)
    moment = _aware(now)
    ceiling = moment if moment.second == 0 and moment.microsecond == 0 else (
        moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
    )  # fmt: skip
    index = bisect.bisect_left(closes, ceiling) - 1
    if index < 0:
        raise LookupError(f"{market.exchange}: no session closed before {now.isoformat()}")
    return sessions[index]


def session_after(market: Market, day: date, sessions: int) -> date:
    """The session `sessions` trading days after the session `day` (which must be one)."""
    _, days = _table(market.exchange)
    index = bisect.bisect_left(days, day)
    if index >= len(days) or days[index] != day:
        raise ValueError(f"{day.isoformat()} is not a {market.exchange} session")
    if index + sessions >= len(days):
        raise LookupError(f"{market.exchange}: the calendar does not reach {sessions} sessions after {day}")
    return days[index + sessions]


def next_open(market: Market, after: datetime) -> datetime:
    """The first session open strictly after `after` (UTC); holidays have none."""
    return _calendar(market.exchange).next_open(_ts(after)).to_pydatetime().astimezone(UTC)


def next_close(market: Market, after: datetime) -> datetime:
    """The first session close strictly after `after` (UTC); half days close early."""
    return _calendar(market.exchange).next_close(_ts(after)).to_pydatetime().astimezone(UTC)
