"""The arithmetic of the track record, free of storage: outcomes, calls, hits, intervals.

**No look-ahead.** A report's day 0 is the first session whose close comes strictly after it
was published (`calendars.base_session`): published during a session, that session's close
(which it could not have seen); after the close, on a weekend or a holiday, the next session's.
The return at horizon h is `adj_close[day h] / adj_close[day 0] - 1`, day h being h sessions
of the stock's exchange after day 0; the benchmark's is measured between the same two dates.
An outcome is unknown (None) until the day-h bar of both exists.

**Calls and hits.** A report calls the direction when |sentiment| ≥ `NEUTRAL_BAND` (0.2):
up for positive, down for negative; inside the band it makes no call. A call is a hit when the
excess return (stock minus benchmark) has the call's sign; an excess of exactly 0 is a miss.

**The hit rate's interval** is Wilson's 95 % score interval, which stays inside [0, 1] and is
honest for small counts. Fewer than `MIN_CALLS` (20) calls is "not enough data": the rate and
interval are still computed and stored, and `enough_data` says whether to trust them.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from stockteacher.core.vocabulary import SENTIMENT_BAND
from stockteacher.prices.calendars import Market, base_session, session_after

__all__ = [
    "BUCKETS",
    "HORIZONS",
    "MIN_CALLS",
    "NEUTRAL_BAND",
    "Outcome",
    "Record",
    "call_of",
    "outcome",
    "summarize",
    "wilson_interval",
]

HORIZONS = (1, 5, 20)
NEUTRAL_BAND = SENTIMENT_BAND  # 0.2, the band the reports' sentiment filter uses
MIN_CALLS = 20
Z95 = 1.959963984540054
# Sentiment buckets for the mean excess return: (key, lower bound included, upper bound excluded).
BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("strong_negative", -math.inf, -0.6),
    ("negative", -0.6, -NEUTRAL_BAND),
    ("neutral", -NEUTRAL_BAND, NEUTRAL_BAND),
    ("positive", NEUTRAL_BAND, 0.6),
    ("strong_positive", 0.6, math.inf),
)


class Closes:
    """One symbol's adjusted closes by trading date, with "the last close on or before"."""

    def __init__(self, closes: Mapping[date, float]) -> None:
        self._days = sorted(closes)
        self._closes = dict(closes)

    @property
    def last_day(self) -> date | None:
        return self._days[-1] if self._days else None

    def on_or_before(self, day: date, *, not_before: date) -> float | None:
        """The close of `day`, or of the latest earlier day down to `not_before` (a halt)."""
        index = bisect.bisect_right(self._days, day) - 1
        if index < 0 or self._days[index] < not_before:
            return None
        return self._closes[self._days[index]]


@dataclass(frozen=True, slots=True)
class Outcome:
    horizon_days: int
    base_date: date
    end_date: date
    stock_return: float
    benchmark_return: float
    excess_return: float
    hit: bool | None  # None: no call


def call_of(sentiment: float) -> int:
    """+1 (up), -1 (down) or 0 (no call: inside the neutral band)."""
    if sentiment >= NEUTRAL_BAND:
        return 1
    if sentiment <= -NEUTRAL_BAND:
        return -1
    return 0


def outcome(
    market: Market,
    published_at: datetime,
    sentiment: float,
    horizon: int,
    stock: Closes,
    benchmark: Closes,
) -> Outcome | None:
    """The report's outcome at `horizon` sessions, or None while a bar it needs is missing."""
    base = base_session(market, published_at)
    end = session_after(market, base, horizon)
    for closes in (stock, benchmark):
        if closes.last_day is None or closes.last_day < end:
            return None  # not known yet
    s0 = stock.on_or_before(base, not_before=base)
    b0 = benchmark.on_or_before(base, not_before=base)
    s1 = stock.on_or_before(end, not_before=base)
    b1 = benchmark.on_or_before(end, not_before=base)
    if None in (s0, b0, s1, b1):
        return None
    assert s0 and b0 and s1 and b1
    stock_return = s1 / s0 - 1
    benchmark_return = b1 / b0 - 1
    excess = stock_return - benchmark_return
    call = call_of(sentiment)
    hit = None if call == 0 else (excess > 0 if call > 0 else excess < 0)
    return Outcome(horizon, base, end, stock_return, benchmark_return, excess, hit)


def wilson_interval(hits: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson's score interval for `hits` successes in `n` trials (None when n = 0)."""
    if n <= 0:
        return None
    p = hits / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True, slots=True)
class Record:
    """The track record of one scope (a ticker, or every ticker) at one horizon."""

    horizon_days: int
    reports: int
    calls: int
    hits: int
    hit_rate: float | None
    ci_low: float | None
    ci_high: float | None
    mean_excess_return: float | None
    buckets: list[dict[str, object]]

    @property
    def enough_data(self) -> bool:
        return self.calls >= MIN_CALLS


def bucket_of(sentiment: float) -> str:
    for key, low, high in BUCKETS:
        if low <= sentiment < high:
            return key
    return BUCKETS[-1][0]


def summarize(horizon: int, outcomes: Iterable[tuple[float, Outcome]]) -> Record:
    """The record of `(sentiment, outcome)` pairs at one horizon."""
    pairs: Sequence[tuple[float, Outcome]] = list(outcomes)
    calls = [o for _, o in pairs if o.hit is not None]
    # The excess return in the direction called: positive when the calls were right on average.
    signed = [o.excess_return * call_of(sentiment) for sentiment, o in pairs if o.hit is not None]
    hits = sum(1 for o in calls if o.hit)
    interval = wilson_interval(hits, len(calls))
    by_bucket: dict[str, list[float]] = {key: [] for key, _, _ in BUCKETS}
    for sentiment, o in pairs:
        by_bucket[bucket_of(sentiment)].append(o.excess_return)
    buckets: list[dict[str, object]] = [
        {"bucket": key, "reports": len(values), "mean_excess_return": (sum(values) / len(values)) if values else None}
        for key, values in by_bucket.items()
    ]
    return Record(
        horizon_days=horizon,
        reports=len(pairs),
        calls=len(calls),
        hits=hits,
        hit_rate=(hits / len(calls)) if calls else None,
        ci_low=interval[0] if interval else None,
        ci_high=interval[1] if interval else None,
        mean_excess_return=(sum(signed) / len(signed)) if signed else None,
        buckets=buckets,
    )
