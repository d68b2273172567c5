"""RSS 2.0 and Atom feeds, one or more URL templates per ticker (`RSS_FEED_TEMPLATES`).

A template holds `{ticker}` (the symbol, URL-quoted) and/or `{query}` (the company's name in
the feed's language, URL-quoted). Feeds are fetched with httpx (timeouts, retries) and parsed
with feedparser, which copes with both formats and with real-world mistakes in them.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import feedparser
import httpx

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
        return parse_feed(response.content, url=url)


def parse_feed(content: bytes, *, url: str = "") -> list[RawArticle]:
    """Articles from an RSS or Atom document; `MalformedResponseError` if it is neither."""
    parsed = feedparser.parse(content)
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
                published_at=entry.get("published") or entry.get("updated"),
                language=language,
                author=entry.get("author"),
            )
        )
    return articles
