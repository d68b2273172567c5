"""A fake NewsAPI `/v2/everything` with the wire semantics of the real service.

- the key is read from `X-Api-Key` (or `Authorization: Bearer`, or the `apiKey` parameter, as
  the real service accepts): none → 401 `apiKeyMissing`, a wrong one → 401 `apiKeyInvalid`;
- `q` is required (400 `parametersMissing`), `pageSize` is 1-100 (default 100), `page` ≥ 1,
  `sortBy` one of relevancy/popularity/publishedAt, `language` one of the documented codes
  (400 `parameterInvalid` otherwise);
- the developer plan serves at most `plan_cap` (100) results: a page that starts at or beyond
  the cap answers 426 `maximumResultsReached`; `totalResults` still reports the full count;
- answers are `{"status": "ok", "totalResults", "articles": [...]}`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.servers.base import ScriptedEndpoint, json_response

__all__ = ["FakeNewsApi", "LANGUAGES", "PerCompanyNewsApi", "error_body", "make_article", "make_articles"]

LANGUAGES = frozenset("ar de en es fr he it nl no pt ru sv ud zh".split())
SORTS = frozenset({"relevancy", "popularity", "publishedAt"})


def error_body(code: str, message: str = "") -> dict[str, Any]:
    return {"status": "error", "code": code, "message": message or f"{code} (fake NewsAPI)"}


def make_article(
    title: str | None,
    url: str | None,
    *,
    source_name: str | None = "Example Wire",
    author: str | None = "Jane Doe",
    description: str | None = "A description.",
    content: str | None = "Some content… [+1234 chars]",
    published_at: str | None = "2026-11-20T10:00:00Z",
    url_to_image: str | None = None,
) -> dict[str, Any]:
    """One article in NewsAPI's shape (every field may be null)."""
    return {
        "source": {"id": None, "name": source_name},
        "author": author,
        "title": title,
        "description": description,
        "url": url,
        "urlToImage": url_to_image,
        "publishedAt": published_at,
        "content": content,
    }


def make_articles(n: int, *, about: str = "Apple", host: str = "news.example.com") -> list[dict[str, Any]]:
    """`n` distinct articles whose titles mention `about`."""
    return [
        make_article(
            f"{about} story number {i}",
            f"https://{host}/stories/{i}",
            published_at=f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
        )
        for i in range(n)
    ]


class FakeNewsApi(ScriptedEndpoint):
    path = "/v2/everything"

    def __init__(
        self,
        httpserver: HTTPServer,
        *,
        api_key: str,
        articles: Sequence[dict[str, Any]] = (),
        plan_cap: int = 100,
    ) -> None:
        self.api_key = api_key
        self.articles: list[dict[str, Any]] = list(articles)
        self.plan_cap = plan_cap
        super().__init__(httpserver)

    def serve(self, request: Request) -> Response:
        auth = request.headers.get("Authorization", "")
        key = (
            request.headers.get("X-Api-Key")
            or (auth[7:] if auth.lower().startswith("bearer ") else None)
            or request.args.get("apiKey")
        )
        if not key:
            return json_response(
                error_body(
                    "apiKeyMissing",
                    "Your API key is missing. Append this to the URL with the apiKey param, or use the "
                    "x-api-key HTTP header.",
                ),
                401,
            )
        if key != self.api_key:
            return json_response(
                error_body(
                    "apiKeyInvalid",
                    "Your API key is invalid or incorrect. Check your key, or go to https://newsapi.org "
                    "to create a free API key.",
                ),
                401,
            )
        if not request.args.get("q"):
            return json_response(
                error_body(
                    "parametersMissing",
                    "Required parameters are missing. Please set any of the following parameters and try "
                    "again: q, qInTitle, sources, domains.",
                ),
                400,
            )
        try:
            page_size = int(request.args.get("pageSize", "100"))
            page = int(request.args.get("page", "1"))
        except ValueError:
            return json_response(error_body("parameterInvalid", "pageSize and page must be integers."), 400)
        if not 1 <= page_size <= 100 or page < 1:
            return json_response(
                error_body("parameterInvalid", "pageSize must be between 1 and 100 and page at least 1."), 400
            )
        language = request.args.get("language")
        if language is not None and language not in LANGUAGES:
            return json_response(
                error_body("parameterInvalid", f"The language param you've specified is invalid: {language}."), 400
            )
        sort_by = request.args.get("sortBy")
        if sort_by is not None and sort_by not in SORTS:
            return json_response(error_body("parameterInvalid", f"Invalid sortBy: {sort_by}."), 400)
        offset = (page - 1) * page_size
        if offset >= self.plan_cap:
            return json_response(
                error_body(
                    "maximumResultsReached",
                    f"You have requested too many results. Developer accounts are limited to a max of "
                    f"{self.plan_cap} results. You are trying to request results {offset} to "
                    f"{offset + page_size}. Please upgrade to a paid plan if you need more results.",
                ),
                426,
            )
        end = min(offset + page_size, self.plan_cap)
        return json_response(
            {"status": "ok", "totalResults": len(self.articles), "articles": self.articles[offset:end]}
        )

    # --- assertions helpers -----------------------------------------------------------------
    def pages(self) -> list[int]:
        return [int(r.arg("page") or 1) for r in self.requests]


class PerCompanyNewsApi(FakeNewsApi):
    """NewsAPI answering each query with `per_ticker` articles about the registry company it
    names (`Apple OR AAPL` → Apple's), after `latency` seconds: a slow provider for the cluster
    tests and benchmarks."""

    def __init__(self, httpserver: HTTPServer, *, api_key: str, tickers: Sequence[str], per_ticker: int) -> None:
        from stockteacher.tickers.registry import lookup

        self.names = {t: lookup(t).name_en or t for t in tickers}
        self.per_ticker = per_ticker
        self.latency = 0.0
        self._answering = threading.Lock()  # `articles` is the parent's per-server state
        super().__init__(httpserver, api_key=api_key)

    def serve(self, request: Request) -> Response:
        terms = {t.strip().strip('"') for t in (request.args.get("q") or "").split(" OR ")}
        ticker = next((t for t, name in self.names.items() if name in terms or t in terms), None)
        if self.latency:
            time.sleep(self.latency)
        with self._answering:
            self.articles = (
                make_articles(self.per_ticker, about=self.names[ticker], host=f"{ticker.lower()}.example.com")
                if ticker
                else []
            )
            return super().serve(request)
