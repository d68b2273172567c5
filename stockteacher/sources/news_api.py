"""NewsAPI `/v2/everything` over httpx.

The key goes in the `X-Api-Key` header, never the URL. Pages are requested until the result
set, the plan's cap (`NEWS_API_MAX_RESULTS`, or the server's `maximumResultsReached`) or an
empty page ends it. `status:"error"` bodies carry a `code` that decides transient or permanent.
Articles that the publisher removed (`"[Removed]"`) are dropped.
"""

from __future__ import annotations

from typing import Any

import httpx

from stockteacher.core.tls import tls_context
from stockteacher.logs import get_logger
from stockteacher.settings import Settings
from stockteacher.sources.base import (
    HttpPolicy,
    MalformedResponseError,
    PermanentSourceError,
    RateLimitedError,
    RawArticle,
    SourceConfigError,
    SourceError,
    TransientSourceError,
    error_for_status,
    get_with_policy,
    log_rate_limit,
    with_retries,
)
from stockteacher.tickers.registry import TickerInfo

__all__ = ["NewsApiSource", "TRANSIENT_CODES", "PERMANENT_CODES"]

log = get_logger(__name__)
NAME = "news_api"
# The `language` values /v2/everything accepts (NewsAPI's documentation).
NEWS_API_LANGUAGES = frozenset("ar de en es fr he it nl no pt ru sv ud zh".split())
_warned: set[str] = set()
TRANSIENT_CODES = frozenset({"rateLimited", "unexpectedError", "apiKeyExhausted"})
PERMANENT_CODES = frozenset(
    {
        "apiKeyDisabled",
        "apiKeyInvalid",
        "apiKeyMissing",
        "parameterInvalid",
        "parametersMissing",
        "sourcesTooMany",
        "sourceDoesNotExist",
        "corsNotAllowed",
    }
)
REMOVED = "[Removed]"


class NewsApiSource:
    name = NAME

    def __init__(self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.transport = transport
        self.policy = HttpPolicy.of(settings, "news_api")

    def _language(self) -> dict[str, str]:
        """NewsAPI's `language` filter, when NEWS_API_LANG is one NewsAPI has. It has no Korean
        (`ko`, the original system's default): then every language is searched, with the query
        still in Korean names, instead of NewsAPI refusing the request (`parameterInvalid`)."""
        lang = self.settings.news_api_lang.lower()
        if lang in NEWS_API_LANGUAGES:
            return {"language": lang}
        if lang not in _warned:
            _warned.add(lang)
            log.warning("news_api.language_not_offered", language=lang, offered=sorted(NEWS_API_LANGUAGES))
        return {}

    async def fetch(self, ticker: TickerInfo) -> list[RawArticle]:
        key = self.settings.news_api_key
        if key is None or not key.get_secret_value():
            raise SourceConfigError("news_api: NEWS_API_KEY is not set", source=NAME, code="apiKeyMissing")
        headers = {"X-Api-Key": key.get_secret_value(), "User-Agent": "StockTeacher/0.1"}
        query = ticker.query(self.settings.news_api_lang)
        page_size = self.settings.news_api_page_size
        cap = self.settings.news_api_max_results
        articles: list[RawArticle] = []
        seen = 0
        async with httpx.AsyncClient(
            timeout=self.policy.timeout_seconds, transport=self.transport, verify=tls_context()
        ) as client:
            page = 1
            while seen < cap:
                params = {
                    "q": query,
                    # Always the same page size: NewsAPI's offset is (page - 1) * pageSize.
                    "pageSize": page_size,
                    "page": page,
                    "sortBy": self.settings.news_api_sort_by,
                    **self._language(),
                }
                body = await with_retries(
                    lambda p=params: self._get_page(client, p, headers), source=NAME, policy=self.policy
                )
                if body is None:  # the plan's result cap was reached
                    break
                items = body["articles"][: cap - seen]
                seen += len(items)
                articles.extend(
                    a for a in (self._to_raw(item, self.settings.news_api_lang) for item in items) if a is not None
                )
                total = body.get("totalResults")
                if not items or len(items) < page_size or (isinstance(total, int) and seen >= total):
                    break
                page += 1
        log.info("news_api.fetched", pages=page, items=seen, kept=len(articles))
        return articles

    async def _get_page(
        self, client: httpx.AsyncClient, params: dict[str, Any], headers: dict[str, str]
    ) -> dict[str, Any] | None:
        response = await get_with_policy(
            client, self.settings.news_api_endpoint, source=NAME, params=params, headers=headers
        )
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("status") == "error":
            code, message = str(body.get("code") or ""), str(body.get("message") or "")
            if code == "maximumResultsReached":
                log.info("news_api.result_cap_reached", message=message[:200])
                return None
            raise self._error(response, code, message)
        if response.status_code >= 400:
            raise self._error(response, "", "")
        if not isinstance(body, dict) or body.get("status") != "ok" or not isinstance(body.get("articles"), list):
            raise MalformedResponseError(
                f"news_api: unexpected response (HTTP {response.status_code}, "
                f"{response.headers.get('content-type', 'no content-type')})",
                source=NAME,
            )
        return body

    def _error(self, response: httpx.Response, code: str, message: str) -> SourceError:
        if code in TRANSIENT_CODES or (not code and response.status_code == 429):
            exc = error_for_status(response, source=NAME, code=code or None, message=message[:200])
            if not isinstance(exc, RateLimitedError):
                exc = (
                    RateLimitedError(str(exc), source=NAME, code=code, retry_after=None)
                    if code in ("rateLimited", "apiKeyExhausted")
                    else TransientSourceError(str(exc), source=NAME, code=code)
                )
            if isinstance(exc, RateLimitedError):
                log_rate_limit(NAME, exc)
            return exc
        if code in PERMANENT_CODES:
            return PermanentSourceError(
                f"news_api: HTTP {response.status_code} {code}: {message[:200]}", source=NAME, code=code
            )
        return error_for_status(response, source=NAME, code=code or None, message=message[:200] or None)

    @staticmethod
    def _to_raw(item: Any, language: str | None = None) -> RawArticle | None:
        if not isinstance(item, dict):
            return None
        title, url = item.get("title"), item.get("url")
        if title == REMOVED or url == "https://removed.com" or not title or not url:
            return None
        source = item.get("source") if isinstance(item.get("source"), dict) else {}
        return RawArticle(
            title=title,
            url=url,
            description=item.get("description"),
            body=item.get("content"),
            source_name=(source or {}).get("name"),
            published_at=item.get("publishedAt"),
            author=item.get("author"),
            language=language,
        )
