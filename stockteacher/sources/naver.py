"""Naver News search API (`/v1/search/news.json`) for Korean-language news.

Credentials go in `X-Naver-Client-Id` / `X-Naver-Client-Secret`. Results are paged with
`start` (1-based, at most 1000) and `display` (at most 100). Titles and descriptions arrive
with `<b>` highlight tags and HTML entities, stripped later by normalisation; `pubDate` is
RFC-822. Errors come as `{"errorCode", "errorMessage"}`: 429 and 5xx are transient.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from stockteacher.core.tls import tls_context
from stockteacher.logs import get_logger
from stockteacher.settings import Settings
from stockteacher.sources.base import (
    HttpPolicy,
    MalformedResponseError,
    RateLimitedError,
    RawArticle,
    SourceConfigError,
    error_for_status,
    get_with_policy,
    log_rate_limit,
    with_retries,
)
from stockteacher.tickers.registry import TickerInfo

__all__ = ["NaverNewsSource"]

log = get_logger(__name__)
NAME = "naver"
MAX_START = 1000


class NaverNewsSource:
    name = NAME

    def __init__(self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.transport = transport
        self.policy = HttpPolicy.of(settings, "naver")

    async def fetch(self, ticker: TickerInfo) -> list[RawArticle]:
        client_id, secret = self.settings.naver_client_id, self.settings.naver_client_secret
        if not client_id or not secret or not client_id.get_secret_value() or not secret.get_secret_value():
            raise SourceConfigError(
                "naver: NAVER_CLIENT_ID and NAVER_CLIENT_SECRET must both be set",
                source=NAME,
                code="credentials_missing",
            )
        headers = {
            "X-Naver-Client-Id": client_id.get_secret_value(),
            "X-Naver-Client-Secret": secret.get_secret_value(),
        }
        query = ticker.query("ko")
        display = self.settings.naver_display
        cap = self.settings.naver_max_results
        articles: list[RawArticle] = []
        start = 1
        async with httpx.AsyncClient(
            timeout=self.policy.timeout_seconds, transport=self.transport, verify=tls_context()
        ) as client:
            while start <= MAX_START and len(articles) < cap:
                params = {
                    "query": query,
                    "display": min(display, cap - len(articles)),
                    "start": start,
                    "sort": self.settings.naver_sort,
                }
                body = await with_retries(
                    lambda p=params: self._get_page(client, p, headers), source=NAME, policy=self.policy
                )
                items = body["items"]
                articles.extend(self._to_raw(item) for item in items if isinstance(item, dict))
                total = body.get("total")
                if (
                    not items
                    or len(items) < params["display"]
                    or (isinstance(total, int) and start + len(items) > total)
                ):
                    break
                start += len(items)
        log.info("naver.fetched", items=len(articles))
        return articles

    async def _get_page(
        self, client: httpx.AsyncClient, params: dict[str, Any], headers: dict[str, str]
    ) -> dict[str, Any]:
        response = await get_with_policy(
            client, self.settings.naver_endpoint, source=NAME, params=params, headers=headers
        )
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            code = str(body.get("errorCode")) if isinstance(body, dict) and body.get("errorCode") else None
            message = str(body.get("errorMessage")) if isinstance(body, dict) and body.get("errorMessage") else None
            exc = error_for_status(response, source=NAME, code=code, message=message)
            if isinstance(exc, RateLimitedError):
                log_rate_limit(NAME, exc)
            raise exc
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise MalformedResponseError(f"naver: unexpected response (HTTP {response.status_code})", source=NAME)
        return body

    @staticmethod
    def _to_raw(item: dict[str, Any]) -> RawArticle:
        url = item.get("originallink") or item.get("link")
        host = urlsplit(url).hostname if isinstance(url, str) else None
        return RawArticle(
            title=item.get("title"),
            url=url,
            description=item.get("description"),
            source_name=(host or "").removeprefix("www.") or "naver",
            published_at=item.get("pubDate"),
            language="ko",
            extra={"naver_link": item.get("link")},
        )
