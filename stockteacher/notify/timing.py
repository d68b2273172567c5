"""When a report goes out to one subscriber: pure functions, no database, no I/O.

`decide()` takes a subscription's `alert_window` (`intraday|daily_open|daily_close|weekly`), the
user's `Policy` (API.md `NotificationPolicy`) and a report's scores, and returns a `Decision`:
the due time (aware UTC), the reason, and a digest key. Deliveries with the same
(user, channel, digest key) go out as one message, so every report whose delivery falls due at
the same moment for the same reason shares a key, and no two due moments share one.

Rules, in order:

1. A report is **urgent** when `anomaly_score >= 0.7` or `sentiment_score <= -0.6`.
2. An urgent report goes out **now** (reason `urgent`) if the user is an immediate subscriber
   (`policy.window == "immediate"`) or the subscription's window is `intraday`: the news
   triggers the alert, not the clock. Urgent reports are never bundled; the digest key is
   `urgent:<report_id>`, or `urgent:<TICKER>:<published_at UTC ISO>` without a report id.
   Any other urgent report is timed like a non-urgent one (rule 3).
3. Otherwise by `alert_window`:
   - `intraday` → now, reason `intraday`, one key per report (`intraday:<report_id>` or
     `intraday:<TICKER>:<published_at UTC ISO>`);
   - `daily_open` → the ticker exchange's next session open strictly after `now`, reason
     `daily_open`, key `daily_open:<session date>:<market>` (`KR` or `US`; the session's
     exchange-local date);
   - `daily_close` → the next session close, likewise (`daily_close:2026-11-27:US`, the
     day-after-Thanksgiving half day, due 13:00 New York = 18:00 UTC);
   - `weekly` → the next Monday 08:00 in the user's timezone strictly after `now`, reason
     `weekly`, key `weekly:<ISO week of that Monday>` (`weekly:2026-W48`).
   The market is part of the daily keys because a Korean and a US close on the same date are
   hours apart: one key would give two messages the same delivery id.
4. `policy.frequency == "weekly"` turns (non-urgent) `daily_open`/`daily_close` into the
   weekly digest of rule 3.
5. A due time inside the user's quiet hours (`[start, end)` on the user's wall clock; start
   before end, the same day) moves to the end of the quiet hours. This applies to every
   reason, urgent included.

`policy.window` otherwise (`morning_open`, `daily_close`) is only the user's default style for
new subscriptions; the subscription's `alert_window` decides. Sessions come from the real
trading calendars (`stockteacher.prices.calendars`, exchange_calendars XKRX and XNYS): no
digest falls due on a weekend or an exchange holiday (Chuseok, Thanksgiving, ...), half days
give their early close, and late openings (KRX's first session of the year opens at 10:00)
their real open. Every datetime argument must be timezone-aware (`ValueError` otherwise);
every datetime returned is in UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from stockteacher.core.vocabulary import (
    ALERT_WINDOWS,
    FREQUENCIES,
    POLICY_WINDOWS,
    URGENT_ANOMALY,
    URGENT_SENTIMENT,
    is_urgent,
)
from stockteacher.prices import calendars

__all__ = [
    "after_quiet_hours",
    "URGENT_ANOMALY",
    "URGENT_SENTIMENT",
    "Decision",
    "Policy",
    "decide",
    "is_urgent",
    "market_hours",
    "next_close",
    "next_open",
]

_ALERT_WINDOWS = frozenset(ALERT_WINDOWS)
_POLICY_WINDOWS = frozenset(POLICY_WINDOWS)
_FREQUENCIES = frozenset(FREQUENCIES)
_HH_MM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
# Regular hours only, for display: the calendar decides the real sessions.
_REGULAR_HOURS = {
    calendars.KRX.exchange: (time(9, 0), time(15, 30)),
    calendars.US.exchange: (time(9, 30), time(16, 0)),
}
_MARKET_CODES = {calendars.KRX.exchange: "KR", calendars.US.exchange: "US"}
_WEEKLY_AT = time(8, 0)


@dataclass(frozen=True)
class Policy:
    """A user's notification policy (API.md `NotificationPolicy`, without user and channels).

    Validated on creation: unknown window or frequency, an unknown timezone, quiet hours not
    `HH:MM`, only one of them, or start not before end raise `ValueError`.
    """

    timezone: str = "Asia/Seoul"
    window: str = "daily_close"
    frequency: str = "daily"
    quiet_hours_start: str | None = None
    quiet_hours_end: str | None = None

    def __post_init__(self) -> None:
        if self.window not in _POLICY_WINDOWS:
            raise ValueError(f"unknown policy window {self.window!r}")
        if self.frequency not in _FREQUENCIES:
            raise ValueError(f"unknown frequency {self.frequency!r}")
        _zone(self.timezone)
        quiet = self.quiet_hours
        if quiet is not None and quiet[0] >= quiet[1]:
            raise ValueError("quiet hours must start before they end")

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.timezone)

    @property
    def quiet_hours(self) -> tuple[time, time] | None:
        """(start, end) as times, or None when the user has no quiet hours."""
        start, end = self.quiet_hours_start, self.quiet_hours_end
        if start is None and end is None:
            return None
        if start is None or end is None:
            raise ValueError("quiet hours need both a start and an end")
        return _parse_hh_mm(start), _parse_hh_mm(end)


@dataclass(frozen=True)
class Decision:
    """When one report goes to one subscriber, why, and which message it is bundled into."""

    due_at: datetime
    reason: str
    digest_key: str


def market_hours(ticker: str) -> tuple[ZoneInfo, time, time]:
    """The exchange's timezone and its regular session open and close for a ticker.

    `.KS`/`.KQ` tickers trade on KRX, Seoul 09:00–15:30; everything else is taken to be a US
    listing, New York 09:30–16:00 (`calendars.market_for`). These are the regular hours only:
    `next_open`/`next_close` follow the trading calendar (holidays, half days, late opens).
    """
    market = calendars.market_for(ticker)
    opens, closes = _REGULAR_HOURS[market.exchange]
    return ZoneInfo(market.timezone), opens, closes


def next_open(ticker: str, after: datetime) -> datetime:
    """The ticker exchange's first session open strictly after `after`, in UTC (from the trading
    calendar: weekends and holidays have no session)."""
    return calendars.next_open(calendars.market_for(ticker), _utc("after", after))


def next_close(ticker: str, after: datetime) -> datetime:
    """The ticker exchange's first session close strictly after `after`, in UTC (from the trading
    calendar: holidays have no session, half days close early)."""
    return calendars.next_close(calendars.market_for(ticker), _utc("after", after))


def decide(
    *,
    alert_window: str,
    policy: Policy,
    ticker: str,
    anomaly_score: float,
    sentiment_score: float,
    published_at: datetime,
    now: datetime,
    report_id: str | None = None,
) -> Decision:
    """When this report goes to this subscriber (rules in the module docstring).

    `report_id` (the report's insight id), when given, names the per-report digest keys of
    urgent and intraday deliveries; otherwise the ticker and `published_at` do.
    """
    if alert_window not in _ALERT_WINDOWS:
        raise ValueError(f"unknown alert window {alert_window!r}")
    published_at, now = _utc("published_at", published_at), _utc("now", now)
    report = report_id or f"{ticker.upper()}:{published_at.isoformat()}"
    if is_urgent(anomaly_score, sentiment_score) and (policy.window == "immediate" or alert_window == "intraday"):
        due, reason, key = now, "urgent", f"urgent:{report}"
    elif alert_window == "intraday":
        due, reason, key = now, "intraday", f"intraday:{report}"
    elif alert_window == "weekly" or policy.frequency == "weekly":
        due = _next_monday_morning(policy.zone, now)
        iso = due.astimezone(policy.zone).isocalendar()
        reason, key = "weekly", f"weekly:{iso.year}-W{iso.week:02d}"
    else:
        due = next_open(ticker, now) if alert_window == "daily_open" else next_close(ticker, now)
        reason = alert_window
        key = f"{reason}:{_session_date(ticker, due).isoformat()}:{_market(ticker)}"
    return Decision(due_at=_after_quiet_hours(due, policy), reason=reason, digest_key=key)


def _utc(name: str, value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value!r}")
    return value.astimezone(UTC)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {name!r}") from exc


def _parse_hh_mm(value: str) -> time:
    if not _HH_MM.fullmatch(value):
        raise ValueError(f"quiet hours must be HH:MM, got {value!r}")
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _market(ticker: str) -> str:
    return _MARKET_CODES[calendars.market_for(ticker).exchange]


def _session_date(ticker: str, open_or_close: datetime) -> date:
    # KRX and NYSE sessions open and close on their own local date (none crosses midnight), so
    # the exchange-local date of a session's open or close is the session's date.
    return open_or_close.astimezone(ZoneInfo(calendars.market_for(ticker).timezone)).date()


def _next_monday_morning(zone: ZoneInfo, after: datetime) -> datetime:
    today = after.astimezone(zone).date()
    monday = today + timedelta(days=-today.weekday() % 7)
    candidate = datetime.combine(monday, _WEEKLY_AT, tzinfo=zone).astimezone(UTC)
    if candidate <= after:
        candidate = datetime.combine(monday + timedelta(days=7), _WEEKLY_AT, tzinfo=zone).astimezone(UTC)
    return candidate


def after_quiet_hours(due: datetime, policy: Policy) -> datetime:
    """`due`, or the end of the user's quiet hours when `due` falls inside them."""
    return _after_quiet_hours(due, policy)


def _after_quiet_hours(due: datetime, policy: Policy) -> datetime:
    quiet = policy.quiet_hours
    if quiet is None:
        return due
    start, end = quiet
    zone = policy.zone
    local = due.astimezone(zone)
    if not start <= local.time() < end:
        return due
    # The first later moment whose wall clock reads `end` and is no longer quiet; trying both
    # folds handles an end that falls in a DST gap or is repeated when clocks go back.
    ends = (datetime.combine(local.date(), end, tzinfo=zone).replace(fold=fold).astimezone(UTC) for fold in (0, 1))
    return min(t for t in ends if t > due and not start <= t.astimezone(zone).time() < end)
