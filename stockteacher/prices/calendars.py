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
import json
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
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


def _day(value: Any) -> date:
    return value.date() if hasattr(value, "date") else value


def _cache_path(exchange: str) -> Path | None:
    try:
        from importlib.metadata import version

        release = version("exchange_calendars")
    except Exception:  # noqa: BLE001 - no version, no cache
        return None
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stockteacher" / "calendars"
    return root / f"{exchange}-{release}-{date.today().isoformat()}.json"


@lru_cache(maxsize=4)
def _table(exchange: str) -> tuple[list[datetime], list[datetime], list[date]]:
    """The exchange's session opens and closes (aware UTC, ascending) and session dates: every
    look-up is then a bisection, not a pandas call. Building the calendar costs 0.2 s (XNYS) to
    1.5 s (XKRX), so the table is kept for the day in `~/.cache/stockteacher/calendars` (per
    library release), where the next process on this machine reads it in milliseconds."""
    path = _cache_path(exchange)
    if path is not None and path.is_file():
        try:
            raw = json.loads(path.read_text())
            return (
                [datetime.fromtimestamp(t, UTC) for t in raw["opens"]],
                [datetime.fromtimestamp(t, UTC) for t in raw["closes"]],
                [date.fromordinal(d) for d in raw["sessions"]],
            )
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a damaged cache file: build the table again
    calendar = _calendar(exchange)
    opens = [o.to_pydatetime().astimezone(UTC) for o in calendar.opens]
    closes = [c.to_pydatetime().astimezone(UTC) for c in calendar.closes]
    sessions = [_day(s) for s in calendar.closes.index]
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            scratch = path.with_suffix(f".{os.getpid()}.tmp")
            scratch.write_text(json.dumps({
                "opens": [o.timestamp() for o in opens], "closes": [c.timestamp() for c in closes],
                "sessions": [d.toordinal() for d in sessions],
            }))  # fmt: skip
            scratch.replace(path)
        except OSError:
            pass  # a read-only home: no cache, the same answers
    return opens, closes, sessions


def is_session(market: Market, day: date) -> bool:
    """Whether the exchange trades on `day` (not a weekend or a holiday)."""
    _, _, days = _table(market.exchange)
    index = bisect.bisect_left(days, day)
    return index < len(days) and days[index] == day


def sessions_between(market: Market, start: date, end: date) -> list[date]:
    """The exchange's sessions from `start` to `end`, both included."""
    _, _, days = _table(market.exchange)
    return days[bisect.bisect_left(days, start) : bisect.bisect_right(days, end)]


def base_session(market: Market, published_at: datetime) -> date:
    """Day 0 of a report published at `published_at`: the first session whose close is strictly
    later (a report published during a session gets that session's close; after the close, on a
    weekend or a holiday, the next session's). Times count in whole minutes, as the exchange's."""
    _, closes, sessions = _table(market.exchange)
    minute = _aware(published_at).replace(second=0, microsecond=0)
    index = bisect.bisect_right(closes, minute)
    if index >= len(closes):
        raise LookupError(f"{market.exchange}: no session known after {published_at.isoformat()}")
    return sessions[index]


def last_closed_session(market: Market, now: datetime) -> date:
    """The latest session that has closed by `now` (its bar is final)."""
    _, closes, sessions = _table(market.exchange)
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
    _, _, days = _table(market.exchange)
    index = bisect.bisect_left(days, day)
    if index >= len(days) or days[index] != day:
        raise ValueError(f"{day.isoformat()} is not a {market.exchange} session")
    if index + sessions >= len(days):
        raise LookupError(f"{market.exchange}: the calendar does not reach {sessions} sessions after {day}")
    return days[index + sessions]


def next_open(market: Market, after: datetime) -> datetime:
    """The first session open strictly after `after` (UTC); holidays have none."""
    opens, _, _ = _table(market.exchange)
    index = bisect.bisect_right(opens, _aware(after))
    if index >= len(opens):
        raise LookupError(f"{market.exchange}: no session known after {after.isoformat()}")
    return opens[index]


def next_close(market: Market, after: datetime) -> datetime:
    """The first session close strictly after `after` (UTC); half days close early."""
    _, closes, _ = _table(market.exchange)
    index = bisect.bisect_right(closes, _aware(after))
    if index >= len(closes):
        raise LookupError(f"{market.exchange}: no session known after {after.isoformat()}")
    return closes[index]
