"""A fake Yahoo Finance chart API (`/v8/finance/chart/<symbol>`) speaking the real JSON shape.

Series are registered per symbol as traded (unadjusted) daily values; the fake adjusts them the
way Yahoo does before answering:

- `quote` prices are split-adjusted (a day before a 4:1 split shows a quarter of its traded
  price, four times its volume), dividends are split-adjusted too;
- `adjclose` is the split-adjusted close times the dividend factors of every later ex-date,
  `1 - amount / previous close` (the CRSP method Yahoo uses);
- each row's timestamp is the session's open in the exchange's time zone (09:00 KST = 00:00 UTC,
  09:30 New York = 14:30 UTC in winter); only rows with `period1 <= timestamp < period2` are sent;
- `null_days` are sent as rows whose values are all `null` (a halted day);
- `live_close` repeats the last day with a later timestamp (today's live bar, sent twice);
- a range without rows answers Yahoo's empty result: meta, no `timestamp`, `quote: [{}]`.

Wire rules: an unknown symbol is 404 `chart.error` "Not Found"; an `interval` other than `1d`,
a missing or non-integer `period1`/`period2` or `period1 > period2` is 400 "Bad Request"; a
request without a browser-like User-Agent gets Yahoo's plain-text 429 "Too Many Requests".
Events are included when `events` asks for them (`div`, `splits`), `adjclose` when
`includeAdjustedClose=true`. Misbehaviour (429 with Retry-After, 500, garbage) is scripted with
`fail_next`; every request is recorded (`requests`, and the raw request target in `raw_uris`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from pytest_httpserver import HTTPServer, URIPattern
from werkzeug import Request, Response

from stockteacher.prices.calendars import market_for, sessions_between
from tests.servers.base import ScriptedEndpoint, json_response

__all__ = ["CHART_PATH", "Day", "FakeYahooChart", "chart_error", "days"]

CHART_PATH = "/v8/finance/chart"
OPENS = {"Asia/Seoul": time(9, 0), "America/New_York": time(9, 30)}
EXCHANGES = {"Asia/Seoul": ("KSC", "KSE"), "America/New_York": ("NMS", "NasdaqGS")}


class _DayLike(Protocol):
    trading_date: date
    close: float


@dataclass(frozen=True)
class Day:
    """One traded (unadjusted) day; `Bar`s of `stockteacher.prices.base` work as well."""

    trading_date: date
    close: float
    open: float | None = None
    high: float | None = None
    low: float | None = None
    volume: int | None = 1_000_000


def days(symbol: str, start: date, closes: Sequence[float], *, volume: int = 1_000_000) -> list[Day]:
    """`closes` on the exchange's sessions from `start` on (open/high/low around each close)."""
    market = market_for(symbol)
    sessions = sessions_between(market, start, start + timedelta(days=3 * len(closes) + 10))[: len(closes)]
    return [
        Day(d, c, open=round(c * 0.99, 4), high=round(c * 1.01, 4), low=round(c * 0.98, 4), volume=volume)
        for d, c in zip(sessions, closes, strict=True)
    ]


def chart_error(code: str, description: str) -> dict[str, Any]:
    return {"chart": {"result": None, "error": {"code": code, "description": description}}}


@dataclass
class _Series:
    symbol: str
    days: list[Any]
    timezone: str
    currency: str
    splits: dict[date, tuple[int, int]] = field(default_factory=dict)
    dividends: dict[date, float] = field(default_factory=dict)
    null_days: set[date] = field(default_factory=set)
    live_close: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)


class _ChartPaths(URIPattern):
    """Matches `/v8/finance/chart/<symbol>` (a pytest-httpserver URI pattern)."""

    pattern = re.compile(re.escape(CHART_PATH) + r"/[^/]+")

    def match(self, uri: str) -> bool:
        return bool(self.pattern.fullmatch(uri))


class FakeYahooChart(ScriptedEndpoint):
    def __init__(self, httpserver: HTTPServer) -> None:
        self.series: dict[str, _Series] = {}
        self.raw_uris: list[str] = []
        super().__init__(httpserver, path=_ChartPaths())  # type: ignore[arg-type]

    # --- what tests use -----------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        """What `YAHOO_CHART_ENDPOINT` should be: `http://127.0.0.1:<port>/v8/finance/chart`."""
        return self.httpserver.url_for(CHART_PATH)

    @property
    def url(self) -> str:
        return self.endpoint

    def add_series(
        self,
        symbol: str,
        bars: Iterable[_DayLike],
        *,
        timezone: str | None = None,
        currency: str | None = None,
        splits: Mapping[date, tuple[int, int]] | None = None,
        dividends: Mapping[date, float] | None = None,
        null_days: Iterable[date] = (),
        live_close: float | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        """Serve `bars` (traded values) for `symbol`. `splits` maps an ex-date to (numerator,
        denominator), 4:1 being `(4, 1)`; `dividends` an ex-date to the amount per share then
        traded; `meta` overrides meta fields (a `None` value removes the field)."""
        zone = timezone or market_for(symbol).timezone
        self.series[symbol] = _Series(
            symbol=symbol,
            days=sorted(bars, key=lambda b: b.trading_date),
            timezone=zone,
            currency=currency or ("KRW" if zone == "Asia/Seoul" else "USD"),
            splits=dict(splits or {}),
            dividends=dict(dividends or {}),
            null_days=set(null_days),
            live_close=live_close,
            meta=dict(meta or {}),
        )

    def symbols_requested(self) -> list[str]:
        return [r.path.removeprefix(CHART_PATH + "/") for r in self.requests]

    # --- protocol -----------------------------------------------------------------------------
    def _handle(self, request: Request) -> Response:
        self.raw_uris.append(str(request.environ.get("REQUEST_URI") or request.environ.get("RAW_URI") or ""))
        return super()._handle(request)

    def serve(self, request: Request) -> Response:
        if "Mozilla" not in request.headers.get("User-Agent", ""):
            return Response("Too Many Requests", status=429, content_type="text/plain;charset=utf-8")
        symbol = request.path.removeprefix(CHART_PATH + "/")
        interval = request.args.get("interval", "1d")
        if interval != "1d":
            return json_response(
                chart_error(
                    "Bad Request", f"Invalid input - interval={interval} is not supported. Valid intervals: [1d]"
                ),
                400,
            )
        try:
            period1, period2 = int(request.args["period1"]), int(request.args["period2"])
        except (KeyError, ValueError):
            return json_response(
                chart_error("Bad Request", "Invalid input - period1 and period2 must be integers"), 400
            )
        if period1 > period2:
            return json_response(
                chart_error(
                    "Bad Request",
                    f"Invalid input - start date cannot be after end date. startDate = {period1}, endDate = {period2}",
                ),
                400,
            )
        series = self.series.get(symbol)
        if series is None:
            return json_response(chart_error("Not Found", "No data found, symbol may be delisted"), 404)
        events = set((request.args.get("events") or "").replace("|", ",").split(","))
        adjusted = request.args.get("includeAdjustedClose", "").lower() == "true"
        return json_response(
            {"chart": {"result": [self._result(series, period1, period2, events, adjusted)], "error": None}}
        )

    # --- Yahoo's arithmetic -------------------------------------------------------------------
    def _timestamp(self, series: _Series, day: date, at: time | None = None) -> int:
        zone = ZoneInfo(series.timezone)
        return int(datetime.combine(day, at or OPENS.get(series.timezone, time(9, 0)), zone).timestamp())

    def _rows(self, series: _Series) -> list[dict[str, Any]]:
        """Every day, split-adjusted, with its adjusted close (before any range is applied)."""
        rows = []
        for day in series.days:
            ratio = 1.0
            for when, (num, den) in series.splits.items():
                if day.trading_date < when:
                    ratio *= num / den

            def price(value: float | None, ratio: float = ratio) -> float | None:
                return None if value is None else value / ratio

            volume = getattr(day, "volume", None)
            rows.append(
                {
                    "date": day.trading_date,
                    "open": price(getattr(day, "open", None)),
                    "high": price(getattr(day, "high", None)),
                    "low": price(getattr(day, "low", None)),
                    "close": price(day.close),
                    "volume": None if volume is None else round(volume * ratio),
                }
            )
        factor = 1.0
        for i in range(len(rows) - 1, -1, -1):  # walk back, applying each ex-date's dividend
            rows[i]["adjclose"] = rows[i]["close"] * factor
            amount = self._dividend(series, rows[i]["date"])
            if amount and i > 0:
                factor *= 1 - amount / rows[i - 1]["close"]
        return rows

    def _dividend(self, series: _Series, day: date) -> float | None:
        amount = series.dividends.get(day)
        if amount is None:
            return None
        for when, (num, den) in series.splits.items():
            if day < when:
                amount /= num / den
        return amount

    def _result(self, series: _Series, period1: int, period2: int, events: set[str], adjusted: bool) -> dict[str, Any]:
        rows = [(self._timestamp(series, r["date"]), r) for r in self._rows(series)]
        rows = [(ts, r) for ts, r in rows if period1 <= ts < period2]
        if rows and series.live_close is not None and rows[-1][1]["date"] == series.days[-1].trading_date:
            last_ts, last = rows[-1]
            live = {**last, "close": series.live_close, "adjclose": series.live_close}
            rows.append((last_ts + 5 * 3600, live))
        for _, r in rows:
            if r["date"] in series.null_days:
                r.update(open=None, high=None, low=None, close=None, volume=None, adjclose=None)
        meta = self._meta(series, period1, period2, rows)
        if not rows:
            result: dict[str, Any] = {"meta": meta, "indicators": {"quote": [{}]}}
            if adjusted:
                result["indicators"]["adjclose"] = [{}]
            return result
        result = {
            "meta": meta,
            "timestamp": [ts for ts, _ in rows],
            "indicators": {"quote": [{k: [r[k] for _, r in rows] for k in ("open", "high", "volume", "low", "close")}]},
        }
        if adjusted:
            result["indicators"]["adjclose"] = [{"adjclose": [r["adjclose"] for _, r in rows]}]
        found: dict[str, Any] = {}
        if "div" in events:
            found["dividends"] = {
                str(ts): {"amount": self._dividend(series, r["date"]), "date": ts}
                for ts, r in rows
                if r["date"] in series.dividends
            }
        if "splits" in events:
            found["splits"] = {
                str(ts): {
                    "date": ts,
                    "numerator": series.splits[r["date"]][0],
                    "denominator": series.splits[r["date"]][1],
                    "splitRatio": f"{series.splits[r['date']][0]}:{series.splits[r['date']][1]}",
                }
                for ts, r in rows
                if r["date"] in series.splits
            }
        found = {k: v for k, v in found.items() if v}
        if found:
            result["events"] = found
        return result

    def _meta(self, series: _Series, period1: int, period2: int, rows: list[tuple[int, Any]]) -> dict[str, Any]:
        zone = ZoneInfo(series.timezone)
        now = datetime.now(UTC).astimezone(zone)
        exchange, full_exchange = EXCHANGES.get(series.timezone, ("NYQ", "NYSE"))
        last_close = next((r["close"] for _, r in reversed(rows) if r["close"] is not None), None)
        meta: dict[str, Any] = {
            "currency": series.currency,
            "symbol": series.symbol,
            "exchangeName": exchange,
            "fullExchangeName": full_exchange,
            "instrumentType": "INDEX" if series.symbol.startswith("^") else "EQUITY",
            "firstTradeDate": self._timestamp(series, series.days[0].trading_date) if series.days else None,
            "regularMarketTime": rows[-1][0] if rows else period2,
            "hasPrePostMarketData": True,
            "gmtoffset": int(now.utcoffset().total_seconds()),  # type: ignore[union-attr]
            "timezone": now.tzname(),
            "exchangeTimezoneName": series.timezone,
            "regularMarketPrice": last_close,
            "chartPreviousClose": last_close,
            "priceHint": 2,
            "dataGranularity": "1d",
            "range": "",
            "validRanges": ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"],
        }
        for key, value in series.meta.items():
            if value is None:
                meta.pop(key, None)
            else:
                meta[key] = value
        return meta
