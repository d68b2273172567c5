"""notify.timing: urgency, exchange sessions, quiet hours and digest keys, with fixed clocks.

Sessions come from the XKRX/XNYS trading calendars; every holiday, half day and late open
asserted here was checked with `exchange_calendars.get_calendar(...)` (`is_session`,
`session_open`, `session_close`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from stockteacher.notify.timing import (
    Decision,
    Policy,
    decide,
    is_urgent,
    market_hours,
    next_close,
    next_open,
)

SEOUL = ZoneInfo("Asia/Seoul")
NEW_YORK = ZoneInfo("America/New_York")
SAMSUNG = "005930.KS"
KAKAO = "035720.KQ"
APPLE = "AAPL"
MICROSOFT = "MSFT"

SEOUL_USER = Policy()  # API default: Asia/Seoul, daily_close, daily, no quiet hours
NY_IMMEDIATE = Policy(timezone="America/New_York", window="immediate")

CALM = {"anomaly_score": 0.1, "sentiment_score": 0.2}
SPIKE = {"anomaly_score": 0.9, "sentiment_score": 0.0}
CRASH = {"anomaly_score": 0.0, "sentiment_score": -0.8}


def seoul(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SEOUL)


def ny(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def run(
    now: datetime,
    *,
    window: str = "daily_close",
    policy: Policy = SEOUL_USER,
    ticker: str = APPLE,
    scores: dict[str, float] = CALM,
    published_at: datetime | None = None,
    report_id: str | None = None,
) -> Decision:
    return decide(
        alert_window=window,
        policy=policy,
        ticker=ticker,
        published_at=published_at or now - timedelta(minutes=5),
        now=now,
        report_id=report_id,
        **scores,
    )


# --- urgency -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("anomaly", "sentiment", "urgent"),
    [
        (0.7, 0.0, True),
        (0.69, 0.0, False),
        (0.0, -0.6, True),
        (0.0, -0.59, False),
        (1.0, -1.0, True),
        (0.3, 0.9, False),
    ],
)
def test_is_urgent_thresholds(anomaly: float, sentiment: float, urgent: bool) -> None:
    assert is_urgent(anomaly, sentiment) is urgent


# --- exchange sessions -------------------------------------------------------------------


@pytest.mark.parametrize("ticker", [SAMSUNG, KAKAO, "005930.ks"])
def test_korean_tickers_trade_in_seoul(ticker: str) -> None:
    assert market_hours(ticker) == (SEOUL, time(9, 0), time(15, 30))


@pytest.mark.parametrize("ticker", [APPLE, "BRK.B", "KS"])
def test_other_tickers_trade_in_new_york(ticker: str) -> None:
    assert market_hours(ticker) == (NEW_YORK, time(9, 30), time(16, 0))


def test_korean_session_later_the_same_weekday() -> None:
    before = seoul(2026, 11, 25, 8, 0)  # Wednesday
    assert next_open(SAMSUNG, before) == utc(2026, 11, 25, 0, 0)
    assert next_close(SAMSUNG, before) == utc(2026, 11, 25, 6, 30)


def test_korean_session_after_close_is_tomorrow() -> None:
    after = seoul(2026, 11, 25, 16, 0)
    assert next_open(SAMSUNG, after) == utc(2026, 11, 26, 0, 0)
    assert next_close(SAMSUNG, after) == utc(2026, 11, 26, 6, 30)


def test_korean_friday_evening_goes_to_monday() -> None:
    friday = seoul(2026, 11, 27, 18, 0)
    assert next_open(KAKAO, friday) == utc(2026, 11, 30, 0, 0)
    assert next_close(KAKAO, friday) == utc(2026, 11, 30, 6, 30)


def test_korean_monday_morning_given_in_utc_on_sunday() -> None:
    assert next_open(SAMSUNG, utc(2026, 11, 29, 23, 30)) == utc(2026, 11, 30, 0, 0)


def test_us_session_later_the_same_weekday() -> None:
    before = ny(2026, 11, 25, 9, 0)
    assert next_open(APPLE, before) == utc(2026, 11, 25, 14, 30)
    assert next_close(APPLE, before) == utc(2026, 11, 25, 21, 0)


def test_us_during_session_opens_tomorrow_closes_today() -> None:
    during = ny(2026, 11, 24, 12, 0)  # Tuesday
    assert next_open(APPLE, during) == utc(2026, 11, 25, 14, 30)
    assert next_close(APPLE, during) == utc(2026, 11, 24, 21, 0)


def test_session_boundaries_are_strictly_after() -> None:
    assert next_open(APPLE, ny(2026, 11, 24, 9, 30)) == utc(2026, 11, 25, 14, 30)
    assert next_close(APPLE, ny(2026, 11, 24, 16, 0)) == utc(2026, 11, 25, 21, 0)


def test_session_boundaries_are_strictly_after_to_the_second() -> None:
    assert next_open(APPLE, ny(2026, 11, 24, 9, 29) + timedelta(seconds=59)) == utc(2026, 11, 24, 14, 30)
    assert next_close(APPLE, ny(2026, 11, 24, 16, 0) + timedelta(microseconds=1)) == utc(2026, 11, 25, 21, 0)


def test_us_saturday_goes_to_monday() -> None:
    assert next_open(APPLE, ny(2026, 11, 28, 10, 0)) == utc(2026, 11, 30, 14, 30)


def test_us_friday_evening_to_monday_across_spring_forward() -> None:
    friday = ny(2026, 3, 6, 18, 0)  # EST; clocks go forward Sunday 2026-03-08
    assert next_open(APPLE, friday) == utc(2026, 3, 9, 13, 30)  # 09:30 EDT
    assert next_close(APPLE, friday) == utc(2026, 3, 9, 20, 0)  # 16:00 EDT


def test_us_friday_evening_to_monday_across_fall_back() -> None:
    friday = ny(2026, 10, 30, 18, 0)  # EDT; clocks go back Sunday 2026-11-01
    assert next_open(APPLE, friday) == utc(2026, 11, 2, 14, 30)  # 09:30 EST
    assert next_close(APPLE, friday) == utc(2026, 11, 2, 21, 0)  # 16:00 EST


def test_us_session_asked_in_seoul_time() -> None:
    # Saturday 06:00 in Seoul is Friday 16:00 in New York, after that half day's 13:00 close.
    assert next_close(APPLE, seoul(2026, 11, 28, 6, 0)) == utc(2026, 11, 30, 21, 0)


def test_sessions_are_returned_in_utc() -> None:
    assert next_open(SAMSUNG, seoul(2026, 11, 25, 8, 0)).tzinfo is UTC
    assert next_close(APPLE, ny(2026, 11, 25, 8, 0)).tzinfo is UTC


@pytest.mark.parametrize("function", [next_open, next_close])
def test_sessions_reject_naive_datetimes(function: Callable[[str, datetime], datetime]) -> None:
    with pytest.raises(ValueError, match="aware"):
        function(APPLE, datetime(2026, 11, 25, 12, 0))


# --- holidays, half days and late opens (the trading calendars) ---------------------------


def test_korean_close_before_chuseok_is_the_next_session() -> None:
    # KRX is closed Thu 2026-09-24 to Sat 09-26 (Chuseok); Sunday 09-27 too: Monday 09-28.
    eve = seoul(2026, 9, 23, 18, 0)
    assert next_close(SAMSUNG, eve) == utc(2026, 9, 28, 6, 30)
    assert next_open(SAMSUNG, eve) == utc(2026, 9, 28, 0, 0)


def test_us_open_on_thanksgiving_is_friday() -> None:
    thanksgiving = ny(2026, 11, 26, 10, 0)
    assert next_open(APPLE, thanksgiving) == utc(2026, 11, 27, 14, 30)
    assert next_close(APPLE, thanksgiving) == utc(2026, 11, 27, 18, 0)  # half day: 13:00 EST


def test_korean_first_session_of_the_year_opens_late() -> None:
    # KRX closes 2026-12-31 (year end) and 2027-01-01; 2027-01-04 opens at 10:00 KST.
    after_close = seoul(2026, 12, 30, 16, 0)
    assert next_open(SAMSUNG, after_close) == utc(2027, 1, 4, 1, 0)
    assert next_close(SAMSUNG, after_close) == utc(2027, 1, 4, 6, 30)


def test_daily_close_on_the_evening_before_chuseok_lands_on_the_next_session() -> None:
    decision = run(seoul(2026, 9, 23, 18, 0), window="daily_close", ticker=SAMSUNG)
    assert decision == Decision(utc(2026, 9, 28, 6, 30), "daily_close", "daily_close:2026-09-28:KR")


def test_daily_close_us_report_after_wednesday_close_gets_the_half_day() -> None:
    # Not Thanksgiving Thursday (no session): Friday 2026-11-27 closes at 13:00 EST = 18:00 UTC.
    decision = run(ny(2026, 11, 25, 16, 30), window="daily_close", policy=NY_IMMEDIATE)
    assert decision == Decision(utc(2026, 11, 27, 18, 0), "daily_close", "daily_close:2026-11-27:US")


@pytest.mark.parametrize(
    ("now", "due", "key"),
    [
        (seoul(2026, 9, 24, 10, 0), utc(2026, 9, 28, 0, 0), "daily_open:2026-09-28:KR"),  # Chuseok
        (seoul(2026, 10, 5, 10, 0), utc(2026, 10, 6, 0, 0), "daily_open:2026-10-06:KR"),  # substitute holiday
        (seoul(2026, 10, 9, 10, 0), utc(2026, 10, 12, 0, 0), "daily_open:2026-10-12:KR"),  # Hangul Day, a Friday
    ],
    ids=["chuseok", "foundation-day-substitute", "hangul-day"],
)
def test_daily_open_on_a_korean_holiday_skips_to_the_next_session(now: datetime, due: datetime, key: str) -> None:
    assert run(now, window="daily_open", ticker=SAMSUNG) == Decision(due, "daily_open", key)


def test_daily_open_us_on_thanksgiving_is_the_half_day_open() -> None:
    decision = run(ny(2026, 11, 26, 10, 0), window="daily_open", policy=NY_IMMEDIATE)
    assert decision == Decision(utc(2026, 11, 27, 14, 30), "daily_open", "daily_open:2026-11-27:US")


def test_us_christmas_eve_half_day_then_christmas_skipped() -> None:
    assert run(ny(2026, 12, 24, 9, 0), policy=NY_IMMEDIATE).due_at == utc(2026, 12, 24, 18, 0)
    after = run(ny(2026, 12, 24, 13, 30), policy=NY_IMMEDIATE)
    assert after == Decision(utc(2026, 12, 28, 21, 0), "daily_close", "daily_close:2026-12-28:US")


def test_a_korean_holiday_is_a_us_session() -> None:
    # Each ticker follows its own exchange's calendar: NYSE trades on Chuseok.
    now = seoul(2026, 9, 24, 10, 0)
    assert run(now, ticker=SAMSUNG).digest_key == "daily_close:2026-09-28:KR"
    assert run(now, ticker=APPLE) == Decision(utc(2026, 9, 24, 20, 0), "daily_close", "daily_close:2026-09-24:US")


def test_reports_over_a_korean_holiday_share_the_next_session_digest() -> None:
    eve = run(seoul(2026, 9, 23, 16, 0), ticker=SAMSUNG)
    holiday = run(seoul(2026, 9, 25, 12, 0), ticker=KAKAO)
    monday_morning = run(seoul(2026, 9, 28, 9, 30), ticker=SAMSUNG)
    assert eve == holiday == monday_morning
    assert eve.digest_key == "daily_close:2026-09-28:KR"


# --- urgent reports ----------------------------------------------------------------------


@pytest.mark.parametrize("scores", [SPIKE, CRASH])
def test_urgent_goes_at_once_to_an_immediate_user(scores: dict[str, float]) -> None:
    now = ny(2026, 11, 25, 11, 0)
    decision = run(now, window="daily_close", policy=NY_IMMEDIATE, scores=scores)
    assert decision.due_at == now
    assert decision.reason == "urgent"


@pytest.mark.parametrize("policy", [SEOUL_USER, Policy(window="morning_open")])
def test_urgent_goes_at_once_to_an_intraday_subscriber(policy: Policy) -> None:
    now = seoul(2026, 11, 25, 11, 0)
    decision = run(now, window="intraday", policy=policy, ticker=SAMSUNG, scores=SPIKE)
    assert decision == Decision(now.astimezone(UTC), "urgent", decision.digest_key)
    assert decision.digest_key.startswith("urgent:")


def test_urgent_waits_for_the_close_of_a_daily_close_subscriber() -> None:
    now = seoul(2026, 11, 25, 11, 0)
    decision = run(now, window="daily_close", policy=SEOUL_USER, ticker=SAMSUNG, scores=CRASH)
    assert decision == Decision(utc(2026, 11, 25, 6, 30), "daily_close", "daily_close:2026-11-25:KR")


def test_urgent_waits_for_the_weekly_digest_of_a_weekly_subscriber() -> None:
    decision = run(seoul(2026, 11, 25, 11, 0), window="weekly", scores=SPIKE)
    assert decision.reason == "weekly"


def test_urgent_reports_are_never_bundled() -> None:
    now = ny(2026, 11, 25, 11, 0)
    first = run(now, window="intraday", scores=SPIKE, published_at=ny(2026, 11, 25, 10, 58))
    second = run(now, window="intraday", scores=SPIKE, published_at=ny(2026, 11, 25, 10, 59))
    other_ticker = run(now, window="intraday", ticker=MICROSOFT, scores=SPIKE, published_at=ny(2026, 11, 25, 10, 58))
    assert len({first.digest_key, second.digest_key, other_ticker.digest_key}) == 3


def test_urgent_digest_key_uses_the_report_id_when_given() -> None:
    decision = run(ny(2026, 11, 25, 11, 0), policy=NY_IMMEDIATE, scores=SPIKE, report_id="ins_abc")
    assert decision.digest_key == "urgent:ins_abc"


def test_urgent_key_without_report_id_names_ticker_and_utc_time() -> None:
    decision = run(
        seoul(2026, 11, 25, 11, 0),
        window="intraday",
        ticker="005930.ks",
        scores=SPIKE,
        published_at=seoul(2026, 11, 25, 10, 0),
    )
    assert decision.digest_key == "urgent:005930.KS:2026-11-25T01:00:00+00:00"


def test_urgent_ignores_a_weekly_frequency() -> None:
    now = ny(2026, 11, 25, 11, 0)
    policy = Policy(timezone="America/New_York", window="immediate", frequency="weekly")
    assert run(now, policy=policy, scores=SPIKE).reason == "urgent"


# --- by alert window ---------------------------------------------------------------------


def test_intraday_goes_now() -> None:
    now = ny(2026, 11, 25, 11, 0)
    decision = run(now, window="intraday")
    assert (decision.due_at, decision.reason) == (now, "intraday")
    assert decision.due_at.tzinfo is UTC


def test_intraday_reports_each_get_their_own_message() -> None:
    now = ny(2026, 11, 25, 11, 0)
    first = run(now, window="intraday", report_id="ins_1")
    again = run(now + timedelta(minutes=1), window="intraday", report_id="ins_1")
    second = run(now, window="intraday", report_id="ins_2")
    assert first.digest_key == again.digest_key == "intraday:ins_1"
    assert second.digest_key == "intraday:ins_2"


def test_immediate_policy_does_not_hurry_calm_reports() -> None:
    decision = run(ny(2026, 11, 25, 11, 0), window="daily_close", policy=NY_IMMEDIATE)
    assert decision == Decision(utc(2026, 11, 25, 21, 0), "daily_close", "daily_close:2026-11-25:US")


def test_daily_open_korean_ticker_after_the_open() -> None:
    decision = run(seoul(2026, 11, 25, 10, 0), window="daily_open", ticker=SAMSUNG)
    assert decision == Decision(utc(2026, 11, 26, 0, 0), "daily_open", "daily_open:2026-11-26:KR")


def test_daily_open_us_ticker_on_friday_evening_is_monday() -> None:
    decision = run(ny(2026, 11, 27, 20, 0), window="daily_open", policy=NY_IMMEDIATE)
    assert decision == Decision(utc(2026, 11, 30, 14, 30), "daily_open", "daily_open:2026-11-30:US")


def test_daily_close_us_ticker_for_a_seoul_user() -> None:
    # Wednesday 10:00 in Seoul is Tuesday 20:00 in New York: after Tuesday's close.
    decision = run(seoul(2026, 11, 25, 10, 0), window="daily_close")
    assert decision == Decision(utc(2026, 11, 25, 21, 0), "daily_close", "daily_close:2026-11-25:US")


def test_daily_close_us_ticker_for_a_seoul_user_over_thanksgiving() -> None:
    # Thursday 10:00 in Seoul is Wednesday 20:00 in New York: after Wednesday's close; Thursday
    # is Thanksgiving, so Friday's half day, closing 13:00 EST.
    decision = run(seoul(2026, 11, 26, 10, 0), window="daily_close")
    assert decision == Decision(utc(2026, 11, 27, 18, 0), "daily_close", "daily_close:2026-11-27:US")


def test_daily_close_key_is_the_exchange_date_across_dst() -> None:
    decision = run(ny(2026, 3, 6, 17, 0), window="daily_close", policy=NY_IMMEDIATE)
    assert decision == Decision(utc(2026, 3, 9, 20, 0), "daily_close", "daily_close:2026-03-09:US")


def test_weekly_is_next_monday_eight_in_seoul() -> None:
    decision = run(seoul(2026, 11, 25, 12, 0), window="weekly")
    assert decision == Decision(utc(2026, 11, 29, 23, 0), "weekly", "weekly:2026-W49")


def test_weekly_is_next_monday_eight_in_new_york_across_dst() -> None:
    policy = Policy(timezone="America/New_York")
    decision = run(ny(2026, 3, 4, 12, 0), window="weekly", policy=policy)
    assert decision == Decision(utc(2026, 3, 9, 12, 0), "weekly", "weekly:2026-W11")  # 08:00 EDT


def test_weekly_on_monday_before_eight_is_the_same_morning() -> None:
    decision = run(seoul(2026, 11, 30, 7, 59), window="weekly")
    assert decision.due_at == utc(2026, 11, 29, 23, 0)


def test_weekly_on_monday_at_eight_is_the_next_week() -> None:
    decision = run(seoul(2026, 11, 30, 8, 0), window="weekly")
    assert decision == Decision(utc(2026, 12, 6, 23, 0), "weekly", "weekly:2026-W50")


def test_weekly_is_in_the_user_timezone_not_the_exchange() -> None:
    in_seoul = run(seoul(2026, 11, 25, 12, 0), window="weekly", ticker=APPLE)
    in_new_york = run(seoul(2026, 11, 25, 12, 0), window="weekly", policy=Policy(timezone="America/New_York"))
    assert in_seoul.due_at == utc(2026, 11, 29, 23, 0)
    assert in_new_york.due_at == utc(2026, 11, 30, 13, 0)


@pytest.mark.parametrize("window", ["daily_open", "daily_close"])
def test_weekly_frequency_turns_daily_into_the_weekly_digest(window: str) -> None:
    policy = Policy(frequency="weekly")
    now = seoul(2026, 11, 25, 12, 0)
    daily = run(now, window=window, policy=policy, ticker=SAMSUNG)
    weekly = run(now, window="weekly", policy=policy, ticker=APPLE)
    assert daily == weekly == Decision(utc(2026, 11, 29, 23, 0), "weekly", "weekly:2026-W49")


def test_weekly_frequency_leaves_intraday_alone() -> None:
    now = seoul(2026, 11, 25, 12, 0)
    assert run(now, window="intraday", policy=Policy(frequency="weekly")).reason == "intraday"


# --- bundling ----------------------------------------------------------------------------


def test_reports_before_the_same_close_share_one_digest() -> None:
    morning = run(ny(2026, 11, 25, 8, 0), ticker=APPLE)
    noon = run(ny(2026, 11, 25, 12, 0), ticker=MICROSOFT)
    assert (morning.due_at, morning.digest_key) == (noon.due_at, noon.digest_key)


def test_reports_either_side_of_the_close_are_different_digests() -> None:
    before = run(ny(2026, 11, 25, 15, 59))
    after = run(ny(2026, 11, 25, 16, 1))
    assert before.digest_key != after.digest_key
    assert before.due_at != after.due_at


def test_korean_and_us_closes_on_one_date_are_different_digests() -> None:
    now = seoul(2026, 11, 25, 10, 0)  # both closes fall on 2026-11-25, exchange time
    korean, american = run(now, ticker=SAMSUNG), run(now, ticker=APPLE)
    assert korean.digest_key == "daily_close:2026-11-25:KR"
    assert american.digest_key == "daily_close:2026-11-25:US"
    assert korean.due_at != american.due_at


def test_reports_of_one_week_share_the_weekly_digest() -> None:
    tuesday = run(seoul(2026, 11, 24, 12, 0), window="weekly", ticker=SAMSUNG)
    sunday = run(seoul(2026, 11, 29, 23, 0), window="weekly", ticker=APPLE)
    next_tuesday = run(seoul(2026, 12, 1, 12, 0), window="weekly", ticker=SAMSUNG)
    assert (tuesday.due_at, tuesday.digest_key) == (sunday.due_at, sunday.digest_key)
    assert next_tuesday.digest_key != tuesday.digest_key


# --- quiet hours -------------------------------------------------------------------------

LATE_QUIET = Policy(quiet_hours_start="22:00", quiet_hours_end="23:59")
NIGHT_QUIET_NY = Policy(
    timezone="America/New_York", window="immediate", quiet_hours_start="00:00", quiet_hours_end="07:00"
)


def test_quiet_hours_push_an_intraday_alert_to_their_end() -> None:
    decision = run(seoul(2026, 11, 25, 22, 30), window="intraday", policy=LATE_QUIET)
    assert (decision.due_at, decision.reason) == (utc(2026, 11, 25, 14, 59), "intraday")


def test_quiet_hours_push_an_urgent_alert_to_their_end() -> None:
    decision = run(ny(2026, 11, 25, 3, 0), policy=NIGHT_QUIET_NY, scores=CRASH)
    assert (decision.due_at, decision.reason) == (utc(2026, 11, 25, 12, 0), "urgent")  # 07:00 EST


def test_quiet_hours_from_midnight_in_seoul() -> None:
    policy = Policy(quiet_hours_start="00:00", quiet_hours_end="07:00")
    decision = run(seoul(2026, 11, 25, 0, 0), window="intraday", policy=policy, scores=SPIKE)
    assert decision.due_at == utc(2026, 11, 24, 22, 0)  # 07:00 KST


@pytest.mark.parametrize(
    "now",
    [seoul(2026, 11, 25, 21, 59), seoul(2026, 11, 25, 23, 59)],
    ids=["before-start", "at-end"],
)
def test_outside_quiet_hours_goes_now(now: datetime) -> None:
    assert run(now, window="intraday", policy=LATE_QUIET).due_at == now


def test_quiet_hours_are_in_the_user_timezone() -> None:
    # 03:00 in New York is 17:00 in Seoul: quiet for the New York user only.
    now = ny(2026, 11, 25, 3, 0)
    seoul_user = Policy(quiet_hours_start="00:00", quiet_hours_end="07:00")
    assert run(now, window="intraday", policy=seoul_user).due_at == now
    assert run(now, window="intraday", policy=NIGHT_QUIET_NY).due_at == utc(2026, 11, 25, 12, 0)


def test_quiet_hours_move_a_us_close_for_a_seoul_user() -> None:
    # The US close (16:00 EST) is 06:00 the next morning in Seoul.
    policy = Policy(quiet_hours_start="00:00", quiet_hours_end="07:00")
    decision = run(seoul(2026, 11, 25, 10, 0), policy=policy)
    assert decision == Decision(utc(2026, 11, 25, 22, 0), "daily_close", "daily_close:2026-11-25:US")


def test_quiet_hours_move_a_us_half_day_close_for_a_seoul_user() -> None:
    # Friday's 13:00 EST half-day close is 03:00 Saturday in Seoul: it waits for 07:00 KST.
    policy = Policy(quiet_hours_start="00:00", quiet_hours_end="07:00")
    decision = run(ny(2026, 11, 25, 17, 0), policy=policy)
    assert decision == Decision(utc(2026, 11, 27, 22, 0), "daily_close", "daily_close:2026-11-27:US")


def test_quiet_hours_move_the_weekly_digest() -> None:
    policy = Policy(frequency="weekly", quiet_hours_start="00:00", quiet_hours_end="09:00")
    decision = run(seoul(2026, 11, 25, 12, 0), policy=policy)
    assert decision == Decision(utc(2026, 11, 30, 0, 0), "weekly", "weekly:2026-W49")


def test_quiet_hours_ending_in_the_spring_forward_gap() -> None:
    policy = Policy(timezone="America/New_York", window="immediate", quiet_hours_start="00:00", quiet_hours_end="02:30")
    decision = run(ny(2026, 3, 8, 1, 0), policy=policy, scores=SPIKE)  # 01:00 EST
    assert decision.due_at == utc(2026, 3, 8, 7, 30)  # 03:30 EDT, the first moment past 02:30


@pytest.mark.parametrize(
    ("now", "due"),
    [
        (utc(2026, 11, 1, 5, 15), utc(2026, 11, 1, 5, 30)),  # 01:15 EDT → 01:30 EDT
        (utc(2026, 11, 1, 6, 15), utc(2026, 11, 1, 6, 30)),  # 01:15 EST (repeated hour) → 01:30 EST
    ],
)
def test_quiet_hours_ending_in_the_repeated_fall_back_hour(now: datetime, due: datetime) -> None:
    policy = Policy(timezone="America/New_York", window="immediate", quiet_hours_start="00:00", quiet_hours_end="01:30")
    assert run(now, policy=policy, scores=SPIKE).due_at == due


# --- validation --------------------------------------------------------------------------


def test_policy_defaults_follow_the_api() -> None:
    assert Policy() == Policy(timezone="Asia/Seoul", window="daily_close", frequency="daily")
    assert Policy().quiet_hours is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"window": "hourly"},
        {"frequency": "monthly"},
        {"timezone": "Mars/Olympus"},
        {"timezone": "../etc/passwd"},
        {"quiet_hours_start": "22:00"},
        {"quiet_hours_end": "07:00"},
        {"quiet_hours_start": "23:00", "quiet_hours_end": "07:00"},
        {"quiet_hours_start": "07:00", "quiet_hours_end": "07:00"},
        {"quiet_hours_start": "7:00", "quiet_hours_end": "08:00"},
        {"quiet_hours_start": "22:00", "quiet_hours_end": "24:00"},
    ],
)
def test_invalid_policies_are_refused(kwargs: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        Policy(**kwargs)


def test_unknown_alert_window_is_refused() -> None:
    with pytest.raises(ValueError, match="alert window"):
        run(ny(2026, 11, 25, 11, 0), window="hourly")


@pytest.mark.parametrize("field", ["now", "published_at"])
def test_naive_datetimes_are_refused(field: str) -> None:
    aware = ny(2026, 11, 25, 11, 0)
    times = {"now": aware, "published_at": aware, field: datetime(2026, 11, 25, 11, 0)}
    with pytest.raises(ValueError, match=field):
        decide(alert_window="intraday", policy=SEOUL_USER, ticker=APPLE, **CALM, **times)  # type: ignore[arg-type]
