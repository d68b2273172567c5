"""RSS 2.0 and Atom feeds, one or more URL templates per ticker (`RSS_FEED_TEMPLATES`).

A template holds `{ticker}` (the symbol, URL-quoted) and/or `{query}` (the company's name in
the feed's language, URL-quoted). Feeds are fetched with httpx (timeouts, retries) and parsed
with feedparser, which copes with both formats and with real-world mistakes in them.

Feeds are taken as they are published: feedparser gets the response's `Content-Type` (a
charset sent only in the header counts) and `Content-Location` (relative links resolve against
it, or `xml:base`, or the feed's URL). A feed that declares no charset anywhere is decoded as
what charset-normalizer detects (EUC-KR, CP949, Shift_JIS, … instead of Latin-1). Dates are
feedparser's parsed ones (it reads many more formats than RFC 822), and an item whose date
cannot be read is kept without one: the article's `collected_at` then says when it was seen.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urljoin

import feedparser
import httpx
from charset_normalizer import from_bytes

from stockteacher.logs import get_logger
from stockteacher.settings import Settings
from stockteacher.sources.base import (
    HttpPolicy,
    MalformedResponseError,
    RateLimitedError,
    RawArticle,
    SourceConfigError,
    SourceError,
    error_for_status,
    get_with_policy,
    log_rate_limit,
    with_retries,
)
from stockteacher.tickers.registry import TickerInfo

__all__ = ["RssSource", "parse_feed"]

log = get_logger(__name__)
NAME = "rss"


class RssSource:
    name = NAME

    def __init__(self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.transport = transport
        self.policy = HttpPolicy(
            timeout_seconds=settings.rss_timeout_seconds,
            max_retries=settings.rss_max_retries,
            backoff_seconds=settings.source_backoff_seconds,
            max_retry_wait_seconds=settings.source_max_retry_wait_seconds,
        )

    def urls_for(self, ticker: TickerInfo) -> list[str]:
        urls = []
        for template in self.settings.rss_feed_templates:
            language = "ko" if ticker.country == "KR" else "en"
            urls.append(
                template.replace("{ticker}", quote(ticker.symbol, safe="")).replace(
                    "{query}", quote(ticker.query(language), safe="")
                )
            )
        return urls

    async def fetch(self, ticker: TickerInfo) -> list[RawArticle]:
        urls = self.urls_for(ticker)
        if not urls:
            raise SourceConfigError("rss: RSS_FEED_TEMPLATES is empty", source=NAME, code="not_configured")
        async with httpx.AsyncClient(
            timeout=self.policy.timeout_seconds,
            transport=self.transport,
            follow_redirects=True,
            headers={
                "User-Agent": "StockTeacher/0.1",
                "Accept": "application/rss+xml, application/atom+xml, application/xml, text/xml;q=0.9, */*;q=0.5",
            },
        ) as client:
            results = await asyncio.gather(
                *(
                    with_retries(lambda u=url: self._get_feed(client, u), source=NAME, policy=self.policy)
                    for url in urls
                ),
                return_exceptions=True,
            )
        # One broken feed must not hide the others; only when every feed failed is it an error.
        failures = [r for r in results if isinstance(r, BaseException)]
        for url, result in zip(urls, results, strict=True):
            if isinstance(result, SourceError):
                log.warning("rss.feed_failed", feed=url, error_code=result.code, error=str(result))
            elif isinstance(result, BaseException):
                raise result
        if failures and len(failures) == len(results):
            raise failures[0]
        articles = [article for r in results if not isinstance(r, BaseException) for article in r]
        log.info("rss.fetched", feeds=len(urls), items=len(articles))
        return articles

    async def _get_feed(self, client: httpx.AsyncClient, url: str) -> list[RawArticle]:
        response = await get_with_policy(client, url, source=NAME)
        if response.status_code >= 400:
            exc = error_for_status(response, source=NAME)
            if isinstance(exc, RateLimitedError):
                log_rate_limit(NAME, exc)
            raise exc
        return parse_feed(response.content, url=str(response.url), headers=response.headers)


_XML_ENCODING = re.compile(rb"^\s*<\?xml[^>]*encoding\s*=", re.IGNORECASE)
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


def _response_headers(content: bytes, url: str, headers: Mapping[str, str] | None) -> dict[str, str]:
    """What feedparser should know of the response: its content type (with a detected charset
    when neither the header nor the document names one) and where relative links start."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    content_type = headers.get("content-type", "application/xml")
    declared = "charset=" in content_type.lower() or _XML_ENCODING.match(content[:200]) or content.startswith(_BOMS)
    if not declared:
        best = from_bytes(content[:200_000]).best()
        if best is not None and best.encoding not in ("ascii", "utf_8"):
            content_type = f"{content_type.split(';')[0]}; charset={best.encoding}"
    base = urljoin(url, headers["content-location"]) if headers.get("content-location") else url
    return {"content-type": content_type, "content-location": base}


def _parsed_date(entry: Any) -> datetime | str | None:
    """feedparser's reading of the date in UTC; None when the item has no readable date."""
    for key in ("published_parsed", "updated_parsed"):
        value: time.struct_time | None = dict.get(entry, key)  # not FeedParserDict's aliasing
        if value is not None:
            try:
                return datetime(*value[:6], tzinfo=UTC)
            except (ValueError, OverflowError):
                return None
    return None


def parse_feed(content: bytes, *, url: str = "", headers: Mapping[str, str] | None = None) -> list[RawArticle]:
    """Articles from an RSS or Atom document; `MalformedResponseError` if it is neither."""
    parsed = feedparser.parse(content, response_headers=_response_headers(content, url, headers))
    if parsed.bozo and not parsed.entries:
        reason = getattr(parsed.get("bozo_exception"), "getMessage", lambda: str(parsed.get("bozo_exception")))()
        raise MalformedResponseError(f"rss: {url or 'feed'} is not a readable RSS/Atom feed ({reason})", source=NAME)
    if not parsed.version and not parsed.entries:
        raise MalformedResponseError(f"rss: {url or 'feed'} is not an RSS/Atom feed", source=NAME)
    feed: Any = parsed.feed
    feed_title = feed.get("title")
    language = (feed.get("language") or "").split("-")[0] or None
    articles = []
    for entry in parsed.entries:
        content = entry.get("content")
        body = content[0].get("value") if content else None
        source = entry.get("source", {}).get("title") if isinstance(entry.get("source"), dict) else None
        articles.append(
            RawArticle(
                title=entry.get("title"),
                url=entry.get("link"),
                description=entry.get("summary"),
                body=body,
                source_name=source or feed_title,
                published_at=_parsed_date(entry),
                language=language,
                author=entry.get("author"),
            )
        )
    return articles
