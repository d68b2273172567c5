"""Yahoo Finance's chart API (`/v8/finance/chart/{symbol}`) as a price source, over httpx.

One GET per fetch: `period1`/`period2` are unix seconds from `start` 00:00 to `end + 1 day`
00:00 in the exchange's time zone, `interval=1d`, dividends and splits included, the adjusted
close asked for. Yahoo refuses clients without a browser-like `User-Agent`.

The answer is `{"chart": {"result": [{"meta", "timestamp", "events", "indicators"}], "error"}}`:
each timestamp is a session's open (00:00 UTC = 09:00 KST, 14:30 UTC = 09:30 New York in winter),
its trading date the date in `meta.exchangeTimezoneName`. Quote prices are already adjusted for
splits; `adjclose` also for dividends; both are stored as Yahoo gives them. Rows without a close
(a halted day, a partial live bar) or with a null adjusted close are skipped; when the same date
comes twice (today's live bar is sometimes repeated) the last row wins.

Errors: `chart.error` `Not Found` (404, an unknown or delisted symbol) and `Bad Request` (400)
are permanent (`not_found`, `bad_request`); 429 (often a plain-text "Too Many Requests") and
5xx are transient and retried, a `Retry-After` honoured; a 200 that is not JSON or has no
`chart.result` is a `MalformedResponseError`. A range without sessions is an empty list.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from stockteacher.core.tls import tls_context
from stockteacher.logs import get_logger
from stockteacher.prices.base import Bar, valid_bar
from stockteacher.prices.calendars import market_for
from stockteacher.settings import Settings
from stockteacher.sources.base import (
    HttpPolicy,
    MalformedResponseError,
    PermanentSourceError,
    RateLimitedError,
    SourceError,
    error_for_status,
    get_with_policy,
    log_rate_limit,
    with_retries,
)

__all__ = ["USER_AGENT", "YahooChartSource", "parse_chart", "period_bounds"]

log = get_logger(__name__)
NAME = "yahoo"
# Yahoo answers 429 (or 403) to clients that send no User-Agent or a library's default one.
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
# Yahoo's `chart.error.code` values and our codes for them.
ERROR_CODES = {"Not Found": "not_found", "Bad Request": "bad_request", "Unauthorized": "unauthorized"}


def period_bounds(symbol: str, start: date, end: date) -> tuple[int, int]:
    """`period1`, `period2`: `start` 00:00 to `end + 1 day` 00:00 in the symbol's exchange time zone."""
    zone = ZoneInfo(market_for(symbol).timezone)
    first = datetime.combine(start, time(), zone)
    after = datetime.combine(end + timedelta(days=1), time(), zone)
    return int(first.timestamp()), int(after.timestamp())


class YahooChartSource:
    """Daily bars from Yahoo's chart API (`PriceSource`)."""

    name = NAME

    def __init__(self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.transport = transport
        self.policy = HttpPolicy.of(settings, "yahoo")

    def url_for(self, symbol: str) -> str:
        return f"{self.settings.yahoo_chart_endpoint.rstrip('/')}/{quote(symbol.strip(), safe='')}"

    async def fetch(self, symbol: str, start: date, end: date) -> list[Bar]:
        if end < start:
            return []
        period1, period2 = period_bounds(symbol, start, end)
        params = {
            "period1": str(period1),
            "period2": str(period2),
            "interval": "1d",
            "events": "div,splits",
            "includeAdjustedClose": "true",
        }
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        url = self.url_for(symbol)
        async with httpx.AsyncClient(
            timeout=self.policy.timeout_seconds, transport=self.transport, verify=tls_context()
        ) as client:
            body = await with_retries(
                lambda: self._get(client, url, params, headers, symbol), source=NAME, policy=self.policy
            )
        bars = parse_chart(body, symbol, start, end)
        log.info("yahoo.fetched", symbol=symbol, start=start.isoformat(), end=end.isoformat(), bars=len(bars))
        return bars

    async def _get(
        self, client: httpx.AsyncClient, url: str, params: dict[str, str], headers: dict[str, str], symbol: str
    ) -> dict[str, Any]:
        response = await get_with_policy(client, url, source=NAME, params=params, headers=headers)
        try:
            body = response.json()
        except ValueError:
            body = None
        error = _chart_error(body)
        if response.status_code >= 400 or error is not None:
            raise self._error(response, error, symbol)
        chart = body.get("chart") if isinstance(body, dict) else None
        if not isinstance(chart, dict) or not isinstance(chart.get("result"), list):
            raise MalformedResponseError(
                f"yahoo: unexpected response for {symbol} (HTTP {response.status_code}, "
                f"{response.headers.get('content-type', 'no content-type')})",
                source=NAME,
            )
        return body

    @staticmethod
    def _error(response: httpx.Response, error: dict[str, Any] | None, symbol: str) -> SourceError:
        yahoo_code = str((error or {}).get("code") or "")
        description = str((error or {}).get("description") or "")[:200]
        message = f"{symbol}: {description}" if description else symbol
        status = response.status_code
        if status == 429 or status >= 500:
            exc = error_for_status(response, source=NAME, message=message)
            if isinstance(exc, RateLimitedError):
                log_rate_limit(NAME, exc)
            return exc
        if yahoo_code:
            code = ERROR_CODES.get(yahoo_code) or yahoo_code.strip().lower().replace(" ", "_")
            return PermanentSourceError(f"yahoo: HTTP {status} {yahoo_code}: {message}", source=NAME, code=code)
        return error_for_status(response, source=NAME, message=message)


def _chart_error(body: Any) -> dict[str, Any] | None:
    """The `error` object of a chart (or, for crumb/auth failures, a `finance`) answer."""
    if not isinstance(body, dict):
        return None
    for key in ("chart", "finance"):
        part = body.get(key)
        if isinstance(part, dict) and isinstance(part.get("error"), dict):
            return part["error"]
    return None


def _zone(meta: dict[str, Any], symbol: str) -> tzinfo:
    """The exchange's time zone: `exchangeTimezoneName`, else the fixed `gmtoffset`, else ours."""
    name = meta.get("exchangeTimezoneName")
    if isinstance(name, str) and name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("yahoo.unknown_timezone", symbol=symbol, timezone=name)
    offset = meta.get("gmtoffset")
    if isinstance(offset, int | float) and not isinstance(offset, bool) and abs(offset) < 86400:
        return timezone(timedelta(seconds=int(offset)))
    return ZoneInfo(market_for(symbol).timezone)


def _number(values: Sequence[Any] | None, i: int) -> float | None:
    if not isinstance(values, list) or i >= len(values):
        return None
    value = values[i]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _first(items: Any) -> dict[str, Any]:
    return items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}


def parse_chart(body: dict[str, Any], symbol: str, start: date, end: date) -> list[Bar]:
    """The bars of a chart answer dated `start` to `end`, sorted by date (see the module doc)."""
    results = body["chart"]["result"]
    if not results:
        return []
    result = results[0]
    if not isinstance(result, dict):
        raise MalformedResponseError(f"yahoo: chart.result[0] for {symbol} is not an object", source=NAME)
    meta = result.get("meta") if isinstance(result.get("meta"), dict) else {}
    timestamps = result.get("timestamp")
    if not timestamps:
        return []  # no session in the range (a holiday, a weekend)
    if not isinstance(timestamps, list):
        raise MalformedResponseError(f"yahoo: chart timestamps for {symbol} are not a list", source=NAME)
    indicators = result.get("indicators") if isinstance(result.get("indicators"), dict) else {}
    quote_ = _first(indicators.get("quote"))
    adjclose_block = _first(indicators.get("adjclose"))
    adjclose = adjclose_block.get("adjclose") if "adjclose" in adjclose_block else None
    zone = _zone(meta, symbol)
    currency = meta.get("currency") if isinstance(meta.get("currency"), str) else None
    by_date: dict[date, Bar] = {}
    for i, ts in enumerate(timestamps):
        if isinstance(ts, bool) or not isinstance(ts, int | float):
            continue
        day = datetime.fromtimestamp(ts, UTC).astimezone(zone).date()
        if not start <= day <= end:
            continue
        close = _number(quote_.get("close"), i)
        if close is None:
            continue  # a halted day or a partial bar
        adj = close if adjclose is None else _number(adjclose, i)
        if adj is None:
            continue
        volume = _number(quote_.get("volume"), i)
        bar = Bar(
            symbol=symbol,
            trading_date=day,
            open=_number(quote_.get("open"), i),
            high=_number(quote_.get("high"), i),
            low=_number(quote_.get("low"), i),
            close=close,
            adj_close=adj,
            volume=None if volume is None else int(volume),
            currency=currency,
        )
        if valid_bar(bar):
            by_date[day] = bar  # a repeated date (today's live bar twice): the last one wins
    return [by_date[d] for d in sorted(by_date)]
