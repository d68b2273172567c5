"""The one small interface every price source implements, and the bar it delivers.

A `PriceSource` answers daily bars for one symbol over a date range (both ends included, in
the exchange's own calendar dates). Symbols are ours (`AAPL`, `005930.KS`) or a benchmark's
(`^GSPC`, `^KS11`). Errors are the news sources' (`stockteacher.sources.base`): transient ones
(timeouts, 429, 5xx) are worth retrying, permanent ones (an unknown symbol, a body we cannot
read) are not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Protocol

__all__ = ["Bar", "PriceSource", "valid_bar"]


@dataclass(frozen=True, slots=True)
class Bar:
    """One daily bar. `close` is the traded close; `adj_close` adjusts it for splits and
    dividends (returns are computed on `adj_close`). `open/high/low/volume` may be unknown."""

    symbol: str
    trading_date: date
    open: float | None
    high: float | None
    low: float | None
    close: float
    adj_close: float
    volume: int | None = None
    currency: str | None = None


class PriceSource(Protocol):
    """A price source: `fetch` returns the daily bars of `symbol` from `start` to `end`."""

    name: str

    async def fetch(self, symbol: str, start: date, end: date) -> list[Bar]: ...


def valid_bar(bar: Bar) -> bool:
    """A bar worth storing: a finite, positive close and adjusted close."""
    return all(isinstance(v, float | int) and math.isfinite(v) and v > 0 for v in (bar.close, bar.adj_close))
