"""The Yahoo chart price source against a local server speaking Yahoo's chart JSON."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import quote as url_quote
from zoneinfo import ZoneInfo

import httpx
import pytest

from stockteacher.prices import build_price_source
from stockteacher.prices.base import Bar
from stockteacher.prices.calendars import US, sessions_between
from stockteacher.prices.yahoo import USER_AGENT, YahooChartSource, parse_chart, period_bounds
from stockteacher.settings import Settings
from stockteacher.sources.base import (
    MalformedResponseError,
    PermanentSourceError,
    RateLimitedError,
    SourceConfigError,
    TransientSourceError,
)
from tests.servers.yahoo import CHART_PATH, FakeYahooChart, chart_error, days

SettingsFactory = Callable[..., Settings]
NY, SEOUL = ZoneInfo("America/New_York"), ZoneInfo("Asia/Seoul")


def fetch(settings: Settings, symbol: str, start: date, end: date) -> list[Bar]:
    return asyncio.run(build_price_source("yahoo", settings).fetch(symbol, start, end))


def returns(bars: list[Bar]) -> list[float]:
    return [b.adj_close / a.adj_close - 1 for a, b in zip(bars, bars[1:], strict=False)]


# --- dates in the exchange's time zone --------------------------------------------------------


def test_us_series_dates_are_new_york_sessions_across_a_dst_change(
    yahoo: FakeYahooChart, yahoo_settings: SettingsFactory
) -> None:
    # 2026-03-08: New York moves to EDT, the open moves from 14:30 to 13:30 UTC.
    series = days("AAPL", date(2026, 3, 2), [float(200 + i) for i in range(10)])
    yahoo.add_series("AAPL", series)

    bars = fetch(yahoo_settings(), "AAPL", date(2026, 3, 2), date(2026, 3, 13))

    assert [b.trading_date for b in bars] == sessions_between(US, date(2026, 3, 2), date(2026, 3, 13))
    assert [b.close for b in bars] == [d.close for d in series]
    assert all(b.symbol == "AAPL" and b.currency == "USD" for b in bars)
    assert bars[0].volume == 1_000_000 and bars[0].open == pytest.approx(198.0)
    body = asyncio.run(_raw(yahoo, "AAPL", date(2026, 3, 2), date(2026, 3, 13)))
    stamps = [datetime.fromtimestamp(t, UTC).time() for t in body["chart"]["result"][0]["timestamp"]]
    assert stamps[0] == time(14, 30) and stamps[-1] == time(13, 30)  # the real wire times


def test_krx_series_dates_are_seoul_sessions(yahoo: FakeYahooChart, yahoo_settings: SettingsFactory) -> None:
    series = days("005930.KS", date(2026, 1, 5), [71000.0, 71500.0, 70800.0, 72000.0, 72300.0])
    yahoo.add_series("005930.KS", series)

    bars = fetch(yahoo_settings(), "005930.KS", date(2026, 1, 5), date(2026, 1, 9))

    assert [b.trading_date for b in bars] == [date(2026, 1, d) for d in (5, 6, 7, 8, 9)]
    assert [b.close for b in bars] == [71000.0, 71500.0, 70800.0, 72000.0, 72300.0]
    assert {b.currency for b in bars} == {"KRW"}
    body = asyncio.run(_raw(yahoo, "005930.KS", date(2026, 1, 5), date(2026, 1, 9)))
    first = body["chart"]["result"][0]["timestamp"][0]
    assert datetime.fromtimestamp(first, UTC) == datetime(2026, 1, 5, 0, 0, tzinfo=UTC)  # 09:00 KST


def _chart(timestamps: list[int], closes: list[Any], meta: dict[str, Any], **extra: Any) -> dict[str, Any]:
    quote = {"open": closes, "high": closes, "low": closes, "close": closes, "volume": [100] * len(closes)}
    quote.update(extra.pop("quote", {}))
    indicators: dict[str, Any] = {"quote": [quote]}
    if "adjclose" in extra:
        indicators["adjclose"] = [{"adjclose": extra.pop("adjclose")}]
    return {"chart": {"result": [{"meta": meta, "timestamp": timestamps, "indicators": indicators}], "error": None}}


def _ts(day: date, at: time, zone: ZoneInfo) -> int:
    return int(datetime.combine(day, at, zone).timestamp())


@pytest.mark.parametrize(
    "meta",
    [
        {"exchangeTimezoneName": "Asia/Seoul", "gmtoffset": 32400},
        {"gmtoffset": 32400},  # no time zone name: the offset
        {},  # neither: the symbol's market (KRX)
    ],
    ids=["timezone-name", "gmtoffset", "market"],
)
def test_trading_date_is_the_exchange_date_not_the_utc_date(meta: dict[str, Any]) -> None:
    # 08:30 KST on 5 January is 23:30 UTC on 4 January.
    stamp = _ts(date(2026, 1, 5), time(8, 30), SEOUL)
    assert datetime.fromtimestamp(stamp, UTC).date() == date(2026, 1, 4)

    bars = parse_chart(_chart([stamp], [70000.0], meta), "005930.KS", date(2026, 1, 1), date(2026, 1, 31))

    assert [b.trading_date for b in bars] == [date(2026, 1, 5)]


def test_gmtoffset_fallback_through_the_server(yahoo: FakeYahooChart, yahoo_settings: SettingsFactory) -> None:
    yahoo.add_series(
        "005930.KS",
        days("005930.KS", date(2026, 1, 5), [70000.0, 70100.0]),
        meta={"exchangeTimezoneName": None, "gmtoffset": 32400},
    )
    bars = fetch(yahoo_settings(), "005930.KS", date(2026, 1, 5), date(2026, 1, 6))
    assert [b.trading_date for b in bars] == [date(2026, 1, 5), date(2026, 1, 6)]


# --- rows: nulls, duplicates, the range -----------------------------------------------------------


def test_null_closes_are_skipped(yahoo: FakeYahooChart, yahoo_settings: SettingsFactory) -> None:
    series = days("AAPL", date(2026, 1, 5), [100.0, 101.0, 102.0, 103.0, 104.0])
    yahoo.add_series("AAPL", series, null_days={date(2026, 1, 7)})

    bars = fetch(yahoo_settings(), "AAPL", date(2026, 1, 5), date(2026, 1, 9))

    body = asyncio.run(_raw(yahoo, "AAPL", date(2026, 1, 5), date(2026, 1, 9)))
    assert body["chart"]["result"][0]["indicators"]["quote"][0]["close"][2] is None  # the server sent it
    assert [b.trading_date for b in bars] == [date(2026, 1, d) for d in (5, 6, 8, 9)]


def test_null_volume_is_none_null_adjclose_is_skipped_missing_adjclose_is_the_close() -> None:
    stamps = [_ts(date(2026, 1, d), time(9, 30), NY) for d in (5, 6, 7)]
    meta = {"exchangeTimezoneName": "America/New_York", "currency": "USD"}

    bars = parse_chart(
        _chart(stamps, [10.0, 11.0, 12.0], meta, quote={"volume": [None, 5, 6]}, adjclose=[9.5, None, 11.9]),
        "AAPL",
        date(2026, 1, 1),
        date(2026, 1, 31),
    )
    assert [(b.trading_date.day, b.adj_close, b.volume) for b in bars] == [(5, 9.5, None), (7, 11.9, 6)]

    no_adj = parse_chart(_chart(stamps, [10.0, 11.0, 12.0], meta), "AAPL", date(2026, 1, 1), date(2026, 1, 31))
    assert [b.adj_close for b in no_adj] == [10.0, 11.0, 12.0]


def test_a_repeated_live_bar_keeps_the_last(yahoo: FakeYahooChart, yahoo_settings: SettingsFactory) -> None:
    yahoo.add_series("AAPL", days("AAPL", date(2026, 1, 5), [100.0, 101.0, 102.0]), live_close=102.75)

    bars = fetch(yahoo_settings(), "AAPL", date(2026, 1, 5), date(2026, 1, 7))

    body = asyncio.run(_raw(yahoo, "AAPL", date(2026, 1, 5), date(2026, 1, 7)))
    assert len(body["chart"]["result"][0]["timestamp"]) == 4  # 7 January twice
    assert [b.trading_date for b in bars] == [date(2026, 1, 5), date(2026, 1, 6), date(2026, 1, 7)]
    assert bars[-1].close == 102.75 and bars[-1].adj_close == 102.75


def test_only_dates_in_the_range_are_returned_sorted(yahoo: FakeYahooChart, yahoo_settings: SettingsFactory) -> None:
    yahoo.add_series("AAPL", days("AAPL", date(2026, 1, 5), [float(100 + i) for i in range(15)]))

    bars = fetch(yahoo_settings(), "AAPL", date(2026, 1, 8), date(2026, 1, 14))

    assert [b.trading_date for b in bars] == [date(2026, 1, d) for d in (8, 9, 12, 13, 14)]


def test_rows_outside_the_range_sent_anyway_are_dropped_and_the_rest_sorted() -> None:
    stamps = [_ts(date(2026, 1, d), time(9, 30), NY) for d in (9, 2, 5, 12)]
    meta = {"exchangeTimezoneName": "America/New_York"}
    bars = parse_chart(_chart(stamps, [9.0, 2.0, 5.0, 12.0], meta), "AAPL", date(2026, 1, 5), date(2026, 1, 9))
    assert [(b.trading_date.day, b.close) for b in bars] == [(5, 5.0), (9, 9.0)]


def test_a_holiday_only_range_is_empty_not_an_error(yahoo: FakeYahooChart, yahoo_settings: SettingsFactory) -> None:
    yahoo.add_series("AAPL", days("AAPL", date(2025, 12, 29), [100.0, 101.0, 102.0, 103.0]))

    assert fetch(yahoo_settings(), "AAPL", date(2026, 1, 1), date(2026, 1, 1)) == []  # New Year's Day
    body = asyncio.run(_raw(yahoo, "AAPL", date(2026, 1, 1), date(2026, 1, 1)))
    assert "timestamp" not in body["chart"]["result"][0]


def test_an_end_before_the_start_asks_nothing(yahoo: FakeYahooChart, yahoo_settings: SettingsFactory) -> None:
    assert fetch(yahoo_settings(), "AAPL", date(2026, 1, 9), date(2026, 1, 5)) == []
    assert yahoo.count == 0


# --- splits and dividends ----------------------------------------------------------------------


def test_a_four_for_one_split_leaves_adjusted_returns_continuous(
    yahoo: FakeYahooChart, yahoo_settings: SettingsFactory
) -> None:
    traded = [400.0, 404.0, 408.0, 102.0, 103.0, 104.0]  # traded prices; the split is on the 4th day
    series = days("NVDA", date(2026, 1, 5), traded)
    split_day = series[3].trading_date
    yahoo.add_series("NVDA", series, splits={split_day: (4, 1)})

    bars = fetch(yahoo_settings(), "NVDA", date(2026, 1, 5), date(2026, 1, 12))

    body = asyncio.run(_raw(yahoo, "NVDA", date(2026, 1, 5), date(2026, 1, 12)))
    (split,) = body["chart"]["result"][0]["events"]["splits"].values()
    assert (split["numerator"], split["denominator"], split["splitRatio"]) == (4, 1, "4:1")
    assert [b.close for b in bars] == [100.0, 101.0, 102.0, 102.0, 103.0, 104.0]  # split-adjusted by Yahoo
    assert [b.adj_close for b in bars] == [b.close for b in bars]  # no dividend
    assert bars[0].volume == 4_000_000 and bars[3].volume == 1_000_000
    assert all(abs(r) < 0.02 for r in returns(bars))  # no -75% "crash" on the split day
    assert returns(bars)[2] == pytest.approx(0.0)


def test_dividends_lower_the_adjusted_close_before_the_ex_date(
    yahoo: FakeYahooChart, yahoo_settings: SettingsFactory
) -> None:
    series = days("KO", date(2026, 1, 5), [60.0, 60.0, 59.5, 59.6])
    ex_date = series[2].trading_date
    yahoo.add_series("KO", series, dividends={ex_date: 0.5})

    bars = fetch(yahoo_settings(), "KO", date(2026, 1, 5), date(2026, 1, 8))

    assert [b.close for b in bars] == [60.0, 60.0, 59.5, 59.6]
    factor = 1 - 0.5 / 60.0
    assert [b.adj_close for b in bars] == pytest.approx([60.0 * factor, 60.0 * factor, 59.5, 59.6])
    assert returns(bars)[1] == pytest.approx(59.5 / (60.0 * factor) - 1)  # the total return, not -0.83%
    body = asyncio.run(_raw(yahoo, "KO", date(2026, 1, 5), date(2026, 1, 8)))
    assert [d["amount"] for d in body["chart"]["result"][0]["events"]["dividends"].values()] == [0.5]


# --- the request ----------------------------------------------------------------------------------


def test_request_carries_a_browser_user_agent_and_the_exchange_day_bounds(
    yahoo: FakeYahooChart, yahoo_settings: SettingsFactory
) -> None:
    yahoo.add_series("005930.KS", days("005930.KS", date(2026, 1, 5), [70000.0] * 5))
    fetch(yahoo_settings(), "005930.KS", date(2026, 1, 5), date(2026, 1, 9))
    yahoo.add_series("AAPL", days("AAPL", date(2026, 7, 1), [200.0] * 3))
    fetch(yahoo_settings(), "AAPL", date(2026, 7, 1), date(2026, 7, 2))

    krx, us = yahoo.requests
    assert krx.path == f"{CHART_PATH}/005930.KS"
    assert krx.headers.get("User-Agent") == USER_AGENT and "Mozilla" in USER_AGENT
    assert int(krx.arg("period1")) == int(datetime(2026, 1, 5, tzinfo=SEOUL).timestamp())
    assert int(krx.arg("period2")) == int(datetime(2026, 1, 10, tzinfo=SEOUL).timestamp())
    assert datetime.fromtimestamp(int(krx.arg("period1")), UTC) == datetime(2026, 1, 4, 15, tzinfo=UTC)
    assert datetime.fromtimestamp(int(us.arg("period1")), UTC) == datetime(2026, 7, 1, 4, tzinfo=UTC)  # EDT
    assert datetime.fromtimestamp(int(us.arg("period2")), UTC) == datetime(2026, 7, 3, 4, tzinfo=UTC)
    for request in (krx, us):
        assert request.arg("interval") == "1d"
        assert request.arg("events") == "div,splits"
        assert request.arg("includeAdjustedClose") == "true"


def test_an_index_symbol_is_url_quoted(yahoo: FakeYahooChart, yahoo_settings: SettingsFactory) -> None:
    yahoo.add_series("^GSPC", days("^GSPC", date(2026, 1, 5), [6000.0, 6010.0]))

    bars = fetch(yahoo_settings(), "^GSPC", date(2026, 1, 5), date(2026, 1, 6))

    assert [b.close for b in bars] == [6000.0, 6010.0] and bars[0].symbol == "^GSPC"
    assert yahoo.raw_uris[0].startswith(f"{CHART_PATH}/%5EGSPC?")
    assert yahoo.symbols_requested() == ["^GSPC"]


# --- errors ---------------------------------------------------------------------------------------


def test_unknown_symbol_is_permanent_not_found_and_not_retried(
    yahoo: FakeYahooChart, yahoo_settings: SettingsFactory
) -> None:
    with pytest.raises(PermanentSourceError) as info:
        fetch(yahoo_settings(yahoo_max_retries=3), "NOPE", date(2026, 1, 5), date(2026, 1, 9))

    assert info.value.code == "not_found" and info.value.source == "yahoo"
    assert "No data found, symbol may be delisted" in str(info.value)
    assert not isinstance(info.value, TransientSourceError)
    assert yahoo.count == 1


def test_bad_request_is_permanent_and_not_retried(yahoo: FakeYahooChart, yahoo_settings: SettingsFactory) -> None:
    yahoo.add_series("AAPL", days("AAPL", date(2026, 1, 5), [100.0]))
    yahoo.fail_next(status=400, json=chart_error("Bad Request", "Invalid input - start date cannot be after end date"))

    with pytest.raises(PermanentSourceError) as info:
        fetch(yahoo_settings(), "AAPL", date(2026, 1, 5), date(2026, 1, 5))

    assert info.value.code == "bad_request"
    assert "start date cannot be after end date" in str(info.value)
    assert yahoo.count == 1


def test_429_with_retry_after_is_retried_after_waiting(yahoo: FakeYahooChart, yahoo_settings: SettingsFactory) -> None:
    yahoo.add_series("AAPL", days("AAPL", date(2026, 1, 5), [100.0, 101.0]))
    yahoo.fail_next(status=429, body="Too Many Requests", headers={"Retry-After": "1"})

    bars = fetch(yahoo_settings(), "AAPL", date(2026, 1, 5), date(2026, 1, 6))

    assert [b.close for b in bars] == [100.0, 101.0]
    assert yahoo.count == 2
    assert yahoo.gaps()[0] >= 0.9  # the server's Retry-After, not the zero back-off


def test_429_on_every_attempt_is_rate_limited(yahoo: FakeYahooChart, yahoo_settings: SettingsFactory) -> None:
    yahoo.add_series("AAPL", days("AAPL", date(2026, 1, 5), [100.0]))
    yahoo.fail_next(3, status=429, body="Too Many Requests")

    with pytest.raises(RateLimitedError) as info:
        fetch(yahoo_settings(yahoo_max_retries=2), "AAPL", date(2026, 1, 5), date(2026, 1, 5))

    assert info.value.code == "rate_limited"
    assert yahoo.count == 3


def test_500s_exhaust_the_retries_as_transient(yahoo: FakeYahooChart, yahoo_settings: SettingsFactory) -> None:
    yahoo.add_series("AAPL", days("AAPL", date(2026, 1, 5), [100.0]))
    yahoo.fail_next(10, status=500, body="Internal Server Error")

    with pytest.raises(TransientSourceError) as info:
        fetch(yahoo_settings(yahoo_max_retries=2), "AAPL", date(2026, 1, 5), date(2026, 1, 5))

    assert info.value.code == "http_500"
    assert yahoo.count == 3  # the first attempt and two retries


def test_a_502_then_success_is_retried(yahoo: FakeYahooChart, yahoo_settings: SettingsFactory) -> None:
    yahoo.add_series("AAPL", days("AAPL", date(2026, 1, 5), [100.0]))
    yahoo.fail_next(1, status=502, body="<html>Bad Gateway</html>", content_type="text/html")

    assert [b.close for b in fetch(yahoo_settings(), "AAPL", date(2026, 1, 5), date(2026, 1, 5))] == [100.0]
    assert yahoo.count == 2


def test_a_timeout_is_transient_and_retried(yahoo: FakeYahooChart, yahoo_settings: SettingsFactory) -> None:
    yahoo.add_series("AAPL", days("AAPL", date(2026, 1, 5), [100.0]))
    yahoo.stall_next(1, 3.0)

    bars = fetch(yahoo_settings(yahoo_timeout_seconds=0.3), "AAPL", date(2026, 1, 5), date(2026, 1, 5))

    assert [b.close for b in bars] == [100.0]
    assert yahoo.count == 2


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("<html><body>Will be right back...</body></html>", "text/html"),
        ('{"chart": {"error": null}}', "application/json"),
        ('{"finance": {"result": []}}', "application/json"),
        ("[1, 2, 3]", "application/json"),
    ],
    ids=["html", "no-result", "no-chart", "not-an-object"],
)
def test_a_200_that_cannot_be_read_is_malformed_and_not_retried(
    yahoo: FakeYahooChart, yahoo_settings: SettingsFactory, body: str, content_type: str
) -> None:
    yahoo.add_series("AAPL", days("AAPL", date(2026, 1, 5), [100.0]))
    yahoo.fail_next(status=200, body=body, content_type=content_type)

    with pytest.raises(MalformedResponseError):
        fetch(yahoo_settings(), "AAPL", date(2026, 1, 5), date(2026, 1, 5))
    assert yahoo.count == 1


# --- the registry and the fake's own rules --------------------------------------------------------


def test_build_price_source_knows_yahoo_only(make_settings: SettingsFactory) -> None:
    source = build_price_source("yahoo", make_settings())
    assert isinstance(source, YahooChartSource) and source.name == "yahoo"
    with pytest.raises(SourceConfigError):
        build_price_source("nasdaq-ftp", make_settings())


def test_the_fake_enforces_interval_user_agent_and_periods(yahoo: FakeYahooChart) -> None:
    yahoo.add_series("AAPL", days("AAPL", date(2026, 1, 5), [100.0]))
    browser = {"User-Agent": USER_AGENT}
    good = {"period1": "1767571200", "period2": "1767916800", "interval": "1d"}
    with httpx.Client(base_url=yahoo.endpoint) as client:
        assert client.get("/AAPL", params=good, headers=browser).status_code == 200
        minute = client.get("/AAPL", params={**good, "interval": "1m"}, headers=browser)
        assert minute.status_code == 400 and minute.json()["chart"]["error"]["code"] == "Bad Request"
        backwards = client.get("/AAPL", params={**good, "period1": "1767916801"}, headers=browser)
        assert backwards.status_code == 400
        no_ua = client.get("/AAPL", params=good, headers={"User-Agent": ""})
        assert no_ua.status_code == 429 and no_ua.text == "Too Many Requests"
        unknown = client.get("/ZZZZ", params=good, headers=browser)
        assert unknown.status_code == 404 and unknown.json()["chart"]["result"] is None


async def _raw(yahoo: FakeYahooChart, symbol: str, start: date, end: date) -> dict[str, Any]:
    """What the fake sends the source for this range (asked the same way the source asks)."""
    period1, period2 = period_bounds(symbol, start, end)
    params = {
        "period1": period1,
        "period2": period2,
        "interval": "1d",
        "events": "div,splits",
        "includeAdjustedClose": "true",
    }
    async with httpx.AsyncClient() as client:
        response = await client.get(
            f"{yahoo.endpoint}/{url_quote(symbol, safe='')}", params=params, headers={"User-Agent": USER_AGENT}
        )
    assert response.status_code == 200, response.text
    return response.json()
