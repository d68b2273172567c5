"""The track record's arithmetic against a fixture computed by hand, the calendars' edge cases,
and look-ahead: day 0 is the first close a report could not have seen."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest

from stockteacher.prices.calendars import base_session, is_session, market_for, next_close, next_open, session_after
from stockteacher.track.evaluate import Closes, call_of, outcome, summarize, wilson_interval

US = market_for("AAPL")
KR = market_for("005930.KS")


@pytest.mark.parametrize(
    ("market", "published", "day0"),
    [
        # During a US session (15:00 UTC = 10:00 New York): that day's close, which it could not see.
        (US, datetime(2026, 11, 24, 15, 0, tzinfo=UTC), date(2026, 11, 24)),
        # One minute before the close and at the close itself.
        (US, datetime(2026, 11, 24, 20, 59, tzinfo=UTC), date(2026, 11, 24)),
        (US, datetime(2026, 11, 24, 21, 0, tzinfo=UTC), date(2026, 11, 25)),
        # Wednesday after the close: Thursday 26 Nov is Thanksgiving, so the Friday half day.
        (US, datetime(2026, 11, 25, 22, 0, tzinfo=UTC), date(2026, 11, 27)),
        # The half day closes at 13:00 New York (18:00 UTC): 18:30 UTC is after its close.
        (US, datetime(2026, 11, 27, 18, 30, tzinfo=UTC), date(2026, 11, 30)),
        # Friday evening and Saturday: Monday.
        (US, datetime(2026, 11, 20, 23, 0, tzinfo=UTC), date(2026, 11, 23)),
        (US, datetime(2026, 11, 21, 12, 0, tzinfo=UTC), date(2026, 11, 23)),
        # KRX: Chuseok (24-26 Sep 2026, then the weekend): the next session is Monday 28 Sep.
        (KR, datetime(2026, 9, 24, 1, 0, tzinfo=UTC), date(2026, 9, 28)),
        # 10:00 KST on a session: that day; 16:00 KST, after the 15:30 close: the next day.
        (KR, datetime(2026, 11, 24, 1, 0, tzinfo=UTC), date(2026, 11, 24)),
        (KR, datetime(2026, 11, 24, 7, 0, tzinfo=UTC), date(2026, 11, 25)),
    ],
)
def test_day_zero_is_the_first_close_after_publication(market, published: datetime, day0: date) -> None:
    assert base_session(market, published) == day0
    assert is_session(market, day0)


def test_calendars_know_holidays_and_offsets() -> None:
    assert not is_session(US, date(2026, 11, 26))  # Thanksgiving
    assert not is_session(KR, date(2026, 9, 25))  # Chuseok
    assert is_session(US, date(2026, 11, 27))  # a half day is a session
    assert session_after(US, date(2026, 11, 25), 1) == date(2026, 11, 27)
    assert session_after(KR, date(2026, 9, 23), 1) == date(2026, 9, 28)
    with pytest.raises(ValueError, match="naive"):
        base_session(US, datetime(2026, 11, 24, 15, 0))


def _closes(start: date, values: list[float], market=US) -> Closes:
    days, day = [], start
    while len(days) < len(values):
        if is_session(market, day):
            days.append(day)
        day += timedelta(days=1)
    return Closes(dict(zip(days, values, strict=True)))


def test_an_outcome_computed_by_hand() -> None:
    # Sessions from Mon 16 Nov 2026: 16,17,18,19,20,23,24,25,27(half),30.
    stock = _closes(date(2026, 11, 16), [100, 102, 101, 104, 103, 110, 111, 112, 113, 115])
    bench = _closes(date(2026, 11, 16), [50, 50, 51, 51, 52, 52, 52.5, 53, 53, 54])
    # Published Tuesday 17 Nov after the close: day 0 is Wed 18 Nov (stock 101, index 51).
    published = datetime(2026, 11, 17, 22, 15, tzinfo=UTC)
    one = outcome(US, published, 0.5, 1, stock, bench)
    assert one is not None and one.base_date == date(2026, 11, 18) and one.end_date == date(2026, 11, 19)
    assert one.stock_return == pytest.approx(104 / 101 - 1)  # +2.970 %
    assert one.benchmark_return == pytest.approx(0.0)
    assert one.excess_return == pytest.approx(0.0297029703)
    assert one.hit is True
    # +5 sessions from 18 Nov is 25 Nov (19, 20, 23, 24, 25): 112/101-1 = 10.891 %, index 53/51-1 = 3.922 %.
    five = outcome(US, published, -0.5, 5, stock, bench)
    assert five is not None and five.end_date == date(2026, 11, 25)
    assert five.excess_return == pytest.approx(112 / 101 - 53 / 51)
    assert five.hit is False  # a down call, the stock beat its market
    # Neutral sentiment: an outcome, no call.
    assert outcome(US, published, 0.1, 1, stock, bench).hit is None  # type: ignore[union-attr]
    # +20 sessions needs bars that do not exist yet: unknown, not a guess.
    assert outcome(US, published, 0.5, 20, stock, bench) is None


def test_look_ahead_a_report_after_the_close_never_gets_that_close() -> None:
    # A jump on Friday 20 Nov (103 -> 130 at its close). A report published at 21:05 UTC, after
    # that close, must be measured from Monday's close, not Friday's: it could have seen the jump.
    stock = _closes(date(2026, 11, 16), [100, 100, 100, 100, 130, 131, 132])
    bench = _closes(date(2026, 11, 16), [10, 10, 10, 10, 10, 10, 10])
    after = outcome(US, datetime(2026, 11, 20, 21, 5, tzinfo=UTC), 0.9, 1, stock, bench)
    assert after is not None and after.base_date == date(2026, 11, 23)
    assert after.stock_return == pytest.approx(132 / 131 - 1)  # not 132/100 - 1
    before = outcome(US, datetime(2026, 11, 20, 15, 0, tzinfo=UTC), 0.9, 1, stock, bench)
    assert before is not None and before.base_date == date(2026, 11, 20)
    assert before.stock_return == pytest.approx(131 / 130 - 1)  # day 0 is that day's close


def test_a_halted_day_uses_the_last_close_before_it() -> None:
    stock = Closes({date(2026, 11, 18): 100.0, date(2026, 11, 19): 90.0, date(2026, 11, 23): 95.0})  # 20 Nov halted
    bench = _closes(date(2026, 11, 16), [10, 10, 10, 10, 11, 11])
    o = outcome(US, datetime(2026, 11, 17, 22, 0, tzinfo=UTC), -0.3, 2, stock, bench)
    assert o is not None and o.end_date == date(2026, 11, 20)
    assert o.stock_return == pytest.approx(-0.10) and o.benchmark_return == pytest.approx(0.10)
    assert o.hit is True


def test_wilson_interval_by_hand() -> None:
    # 15 hits of 20: p = 0.75, z = 1.96: centre (0.75 + 0.096) / 1.192 = 0.7098, half-width
    # 1.96 * sqrt(0.009375 + 0.0024) / 1.192 = 0.1784 → [0.5313, 0.8881].
    lo, hi = wilson_interval(15, 20)  # type: ignore[misc]
    assert lo == pytest.approx(0.5313, abs=1e-4) and hi == pytest.approx(0.8881, abs=1e-4)
    assert wilson_interval(0, 0) is None
    lo, hi = wilson_interval(0, 5)  # type: ignore[misc]
    assert lo == 0.0 and hi == pytest.approx(0.4345, abs=1e-4)
    lo, hi = wilson_interval(5, 5)  # type: ignore[misc]
    assert hi == 1.0 and lo == pytest.approx(0.5655, abs=1e-4)


def test_summary_counts_calls_hits_buckets_and_enough_data() -> None:
    from stockteacher.track.evaluate import Outcome

    def o(excess: float) -> Outcome:
        return Outcome(5, date(2026, 1, 5), date(2026, 1, 12), excess, 0.0, excess, None)

    pairs = []
    for sentiment, excess in [(0.7, 0.02), (0.3, -0.01), (-0.8, -0.03), (-0.25, 0.01), (0.05, 0.04)]:
        base = o(excess)
        call = call_of(sentiment)
        hit = None if call == 0 else (excess > 0 if call > 0 else excess < 0)
        pairs.append((sentiment, Outcome(**{**{f: getattr(base, f) for f in base.__slots__}, "hit": hit})))
    record = summarize(5, pairs)
    assert (record.reports, record.calls, record.hits) == (5, 4, 2)
    assert record.hit_rate == 0.5 and not record.enough_data
    # In the direction called: +0.02, -0.01, +0.03, -0.01 → mean +0.0075.
    assert record.mean_excess_return == pytest.approx(0.0075)
    buckets = {b["bucket"]: b for b in record.buckets}
    assert buckets["strong_negative"]["mean_excess_return"] == pytest.approx(-0.03)
    assert buckets["neutral"]["reports"] == 1 and buckets["positive"]["reports"] == 1
    many = summarize(5, pairs * 4)
    assert many.calls == 16 and not many.enough_data
    assert summarize(5, pairs * 5).enough_data  # 20 calls
    assert math.isclose(call_of(0.2), 1) and call_of(-0.2) == -1 and call_of(0.19) == 0


def test_the_session_table_agrees_with_the_calendar_library() -> None:
    """Day 0 and offsets are bisections of a table read once from exchange_calendars: they give
    what its own `next_close` / `previous_close` / `session_offset` give, minute for minute."""
    import random

    import exchange_calendars
    import pandas as pd

    from stockteacher.prices.calendars import last_closed_session

    rng = random.Random(3)
    for market in (US, KR):
        calendar = exchange_calendars.get_calendar(market.exchange)
        for _ in range(300):
            moment = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 700 * 24 * 60))
            close = calendar.next_close(pd.Timestamp(moment))
            assert base_session(market, moment) == calendar.minute_to_session(close, direction="previous").date()
            previous = calendar.previous_close(pd.Timestamp(moment))
            assert last_closed_session(market, moment) == calendar.minute_to_session(previous, "previous").date()
            day = base_session(market, moment)
            assert session_after(market, day, 5) == calendar.session_offset(pd.Timestamp(day), 5).date()
            assert next_open(market, moment) == calendar.next_open(pd.Timestamp(moment)).to_pydatetime()
            assert next_close(market, moment) == close.to_pydatetime()
            assert is_session(market, moment.date()) == calendar.is_session(pd.Timestamp(moment.date()))


def test_the_session_table_is_kept_for_the_day_and_a_damaged_copy_is_rebuilt(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stockteacher.prices import calendars

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    calendars._table.cache_clear()
    built = calendars._table("XNYS")
    (cached,) = (tmp_path / "stockteacher" / "calendars").glob("XNYS-*.json")
    calendars._table.cache_clear()
    assert calendars._table("XNYS") == built  # read back from the file
    cached.write_text("{not json")
    calendars._table.cache_clear()
    assert calendars._table("XNYS") == built
    calendars._table.cache_clear()
