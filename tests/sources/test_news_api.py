"""NewsAPI source against a real local HTTP server speaking NewsAPI's protocol."""

from __future__ import annotations

import asyncio
import io
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from sqlalchemy import func, select

from stockteacher.ingest.collect import collect_core, prepare_articles
from stockteacher.logs import configure_logging
from stockteacher.settings import Settings
from stockteacher.sources import build_source
from stockteacher.sources.base import (
    MalformedResponseError,
    PermanentSourceError,
    RateLimitedError,
    RawArticle,
    SourceConfigError,
    TransientSourceError,
)
from stockteacher.store.db import session_scope
from stockteacher.store.models import Article, JobRun
from stockteacher.tickers.registry import lookup
from tests.factories.sources import NEWS_API_KEY
from tests.servers.newsapi import FakeNewsApi, error_body, make_article, make_articles

SettingsFactory = Callable[..., Settings]


def fetch(settings: Settings, symbol: str = "AAPL") -> list[RawArticle]:
    return asyncio.run(build_source("news_api", settings).fetch(lookup(symbol)))


# --- pagination, parameters, the key ---------------------------------------------------------


def test_pages_through_all_results_with_the_documented_parameters(
    newsapi: FakeNewsApi, news_settings: SettingsFactory
) -> None:
    newsapi.articles = make_articles(45)
    articles = fetch(news_settings(news_api_page_size=20))

    assert len(articles) == 45
    assert [a.url for a in articles] == [a["url"] for a in newsapi.articles]
    assert newsapi.count == 3
    assert newsapi.pages() == [1, 2, 3]
    for request in newsapi.requests:
        assert request.path == "/v2/everything"
        assert "Apple" in request.arg("q")
        assert request.arg("language") == "en"
        assert request.arg("pageSize") == "20"
        assert request.arg("sortBy") == "publishedAt"


def test_api_key_travels_only_in_the_header(newsapi: FakeNewsApi, news_settings: SettingsFactory) -> None:
    newsapi.articles = make_articles(30)
    fetch(news_settings(news_api_page_size=20))

    assert newsapi.count == 2
    for request in newsapi.requests:
        assert request.headers.get("X-Api-Key") == NEWS_API_KEY
        assert NEWS_API_KEY not in request.url
        assert NEWS_API_KEY not in request.query_string
        assert "apiKey" not in request.args and "apikey" not in request.query_string.lower()
        assert "Authorization" not in request.headers


def test_stops_at_the_plan_cap_without_asking_for_more(newsapi: FakeNewsApi, news_settings: SettingsFactory) -> None:
    newsapi.articles = make_articles(250)
    articles = fetch(news_settings(news_api_page_size=50))  # NEWS_API_MAX_RESULTS defaults to 100

    assert len(articles) == 100
    assert newsapi.pages() == [1, 2]
    assert [a.url for a in articles] == [a["url"] for a in newsapi.articles[:100]]


def test_server_side_result_cap_ends_paging_gracefully(newsapi: FakeNewsApi, news_settings: SettingsFactory) -> None:
    newsapi.articles = make_articles(250)
    articles = fetch(news_settings(news_api_page_size=50, news_api_max_results=500))

    assert len(articles) == 100
    assert newsapi.pages() == [1, 2, 3]  # the third answered 426 maximumResultsReached, not retried
    assert [a.url for a in articles] == [a["url"] for a in newsapi.articles[:100]]


def test_cap_that_is_not_a_multiple_of_the_page_size_returns_the_first_results_once(
    newsapi: FakeNewsApi, news_settings: SettingsFactory
) -> None:
    newsapi.articles = make_articles(80)
    articles = fetch(news_settings(news_api_page_size=20, news_api_max_results=50))

    urls = [a.url for a in articles]
    assert len(urls) == len(set(urls)), "the same article was returned twice"
    assert urls == [a["url"] for a in newsapi.articles[:50]]


def test_stops_when_total_results_are_exhausted(newsapi: FakeNewsApi, news_settings: SettingsFactory) -> None:
    newsapi.articles = make_articles(40)
    articles = fetch(news_settings(news_api_page_size=20))

    assert len(articles) == 40
    # totalResults (40) says there is nothing after page 2: no third request
    assert newsapi.pages() == [1, 2]


# --- errors ----------------------------------------------------------------------------------


def test_wrong_key_is_permanent_apikeyinvalid_and_not_retried(
    newsapi: FakeNewsApi, news_settings: SettingsFactory
) -> None:
    newsapi.api_key = "the-real-key-on-the-server"
    with pytest.raises(PermanentSourceError) as info:
        fetch(news_settings())

    assert info.value.code == "apiKeyInvalid"
    assert not isinstance(info.value, TransientSourceError)
    assert newsapi.count == 1


@pytest.mark.parametrize("lang", ["ko", "xx"])
def test_a_language_newsapi_does_not_offer_searches_every_language_instead_of_failing(
    newsapi: FakeNewsApi, news_settings: SettingsFactory, lang: str
) -> None:
    """NEWS_API_LANG=ko (the original default) would be `parameterInvalid`; the request goes
    without `language`, and the query keeps the names of that language when the registry has them."""
    newsapi.articles = make_articles(3)
    assert len(fetch(news_settings(news_api_lang=lang))) == 3
    (request,) = newsapi.requests
    assert request.arg("language") is None
    if lang == "ko":
        assert "애플" in request.arg("q")


@pytest.mark.parametrize(
    ("status", "code"),
    [(401, "apiKeyInvalid"), (401, "apiKeyDisabled"), (400, "parameterInvalid"), (400, "parametersMissing")],
)
def test_permanent_error_codes_are_raised_once(
    newsapi: FakeNewsApi, news_settings: SettingsFactory, status: int, code: str
) -> None:
    newsapi.articles = make_articles(5)
    newsapi.fail_next(5, status=status, json=error_body(code))
    with pytest.raises(PermanentSourceError) as info:
        fetch(news_settings(news_api_max_retries=3))

    assert info.value.code == code
    assert info.value.source == "news_api"
    assert not isinstance(info.value, (TransientSourceError, SourceConfigError))
    assert newsapi.count == 1


def test_rate_limited_is_retried_until_the_budget_is_spent(
    newsapi: FakeNewsApi, news_settings: SettingsFactory
) -> None:
    newsapi.fail_next(10, status=429, json=error_body("rateLimited"))
    with pytest.raises(RateLimitedError) as info:
        fetch(news_settings(news_api_max_retries=2))

    assert info.value.code == "rateLimited"
    assert newsapi.count == 3


def test_rate_limited_recovers_when_the_server_does(newsapi: FakeNewsApi, news_settings: SettingsFactory) -> None:
    newsapi.articles = make_articles(7)
    newsapi.fail_next(2, status=429, json=error_body("rateLimited"))
    articles = fetch(news_settings(news_api_max_retries=2))

    assert len(articles) == 7
    assert newsapi.count == 3
    assert newsapi.pages() == [1, 1, 1]


def test_unexpected_error_is_transient_and_retried(newsapi: FakeNewsApi, news_settings: SettingsFactory) -> None:
    newsapi.articles = make_articles(3)
    newsapi.fail_next(1, status=500, json=error_body("unexpectedError"))
    newsapi.fail_next(1, status=502, body=b"<html><body>Bad gateway</body></html>", content_type="text/html")
    articles = fetch(news_settings(news_api_max_retries=2))

    assert len(articles) == 3
    assert newsapi.count == 3


def test_persistent_server_error_gives_up_as_transient(newsapi: FakeNewsApi, news_settings: SettingsFactory) -> None:
    newsapi.fail_next(10, status=500, json=error_body("unexpectedError"))
    with pytest.raises(TransientSourceError) as info:
        fetch(news_settings(news_api_max_retries=1))

    assert info.value.code == "unexpectedError"
    assert not isinstance(info.value, RateLimitedError)
    assert newsapi.count == 2


@pytest.mark.parametrize("key", [None, ""])
def test_no_key_configured_is_a_config_error_without_any_request(
    newsapi: FakeNewsApi, news_settings: SettingsFactory, key: str | None
) -> None:
    with pytest.raises(SourceConfigError):
        fetch(news_settings(news_api_key=key))
    assert newsapi.count == 0


# --- Retry-After -----------------------------------------------------------------------------


def test_retry_after_is_honoured(newsapi: FakeNewsApi, news_settings: SettingsFactory) -> None:
    newsapi.articles = make_articles(2)
    newsapi.fail_next(1, status=429, json=error_body("rateLimited"), headers={"Retry-After": "1"})
    articles = fetch(news_settings())

    assert len(articles) == 2
    assert newsapi.count == 2
    assert newsapi.gaps()[0] >= 0.95


def test_429_without_retry_after_uses_the_short_backoff(newsapi: FakeNewsApi, news_settings: SettingsFactory) -> None:
    newsapi.articles = make_articles(2)
    newsapi.fail_next(2, status=429, json=error_body("rateLimited"))
    articles = fetch(news_settings())

    assert len(articles) == 2
    assert newsapi.count == 3
    assert all(gap < 0.5 for gap in newsapi.gaps())


def test_retry_after_beyond_the_maximum_wait_is_not_waited_for(
    newsapi: FakeNewsApi, news_settings: SettingsFactory
) -> None:
    newsapi.articles = make_articles(2)
    newsapi.fail_next(3, status=429, json=error_body("rateLimited"), headers={"Retry-After": "120"})
    started = time.monotonic()
    with pytest.raises(RateLimitedError) as info:
        fetch(news_settings(source_max_retry_wait_seconds=5))

    assert time.monotonic() - started < 2
    assert info.value.retry_after == 120
    assert newsapi.count == 1


def test_retry_after_as_an_http_date(newsapi: FakeNewsApi, news_settings: SettingsFactory) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    newsapi.fail_next(3, status=429, json=error_body("rateLimited"), headers={"Retry-After": later})
    with pytest.raises(RateLimitedError) as info:
        fetch(news_settings(source_max_retry_wait_seconds=5))

    assert info.value.retry_after is not None and 3500 < info.value.retry_after <= 3600
    assert newsapi.count == 1


# --- timeouts and unreadable answers ---------------------------------------------------------


def test_timeouts_are_transient_and_retried(newsapi: FakeNewsApi, news_settings: SettingsFactory) -> None:
    newsapi.stall_next(10, seconds=1.0)
    started = time.monotonic()
    with pytest.raises(TransientSourceError) as info:
        fetch(news_settings(news_api_timeout_seconds=0.3, news_api_max_retries=2))

    assert info.value.code == "timeout"
    assert newsapi.count == 3
    assert time.monotonic() - started < 3


def test_one_timeout_then_success(newsapi: FakeNewsApi, news_settings: SettingsFactory) -> None:
    newsapi.articles = make_articles(4)
    newsapi.stall_next(1, seconds=1.0)
    articles = fetch(news_settings(news_api_timeout_seconds=0.3, news_api_max_retries=2))

    assert len(articles) == 4
    assert newsapi.count == 2


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<html><body>Service page</body></html>", "text/html"),
        (b"this is not json", "application/json"),
        (b'{"status": "ok", "totalResults": 3}', "application/json"),
        (b"[1, 2, 3]", "application/json"),
    ],
)
def test_unreadable_200_answer_is_malformed(
    newsapi: FakeNewsApi, news_settings: SettingsFactory, body: bytes, content_type: str
) -> None:
    newsapi.fail_next(5, status=200, body=body, content_type=content_type)
    with pytest.raises(MalformedResponseError):
        fetch(news_settings())
    assert newsapi.count == 1


# --- article contents ------------------------------------------------------------------------


def test_removed_items_dropped_null_fields_tolerated_unicode_preserved(
    newsapi: FakeNewsApi, news_settings: SettingsFactory
) -> None:
    korean = "애플, 새 아이폰 공개 — Apple 🚀"
    accents = "Apple's café résumé: naïve Zürich façade"
    newsapi.articles = [
        make_article(
            "[Removed]",
            "https://removed.com",
            source_name="[Removed]",
            author=None,
            description="[Removed]",
            content="[Removed]",
            published_at="1970-01-01T00:00:00Z",
        ),
        make_article("[Removed]", "https://news.example.com/apple/removed-title"),
        make_article("Apple story whose link was removed", "https://removed.com"),
        make_article(
            korean, "https://news.example.kr/apple/1", source_name=None, author=None, description=None, content=None
        ),
        make_article(accents, "https://news.example.fr/apple/2", published_at=None),
        make_article(None, "https://news.example.com/untitled"),
        make_article("Apple without a link", None),
        {**make_article("Apple with no source object", "https://news.example.com/apple/3"), "source": None},
    ]
    articles = fetch(news_settings())

    assert [a.title for a in articles] == [korean, accents, "Apple with no source object"]
    first = articles[0]
    assert (first.description, first.body, first.author, first.source_name) == (None, None, None, None)
    assert first.published_at == "2026-11-20T10:00:00Z"
    assert articles[1].published_at is None
    assert articles[2].source_name is None

    prepared = prepare_articles(articles, lookup("AAPL"), source_type="news_api")
    assert prepared.invalid == 0
    assert [a.title for a in prepared.articles] == [korean, accents, "Apple with no source object"]
    assert prepared.articles[0].source == "news.example.kr"
    assert prepared.articles[0].published_at == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


# --- end to end through collect_core ---------------------------------------------------------


EARNINGS = "Apple beats quarterly earnings estimates"
VARIANTS = [
    "https://news.example.com/apple/earnings",
    "https://news.example.com/apple/earnings?utm_source=twitter&utm_medium=social",
    "https://NEWS.Example.COM/apple/earnings/",
    "https://news.example.com/apple/earnings#comments",
    "https://news.example.com/apple/earnings?fbclid=IwAR0abc",
    "https://news.example.com/apple/earnings/?gclid=Cj0KCQ&utm_campaign=q4#top",
]


def _collect_articles() -> list[dict[str, object]]:
    return [
        *(make_article(EARNINGS, url) for url in VARIANTS),
        make_article("Apple unveils a new iPad", "https://tech.example.com/ipad?id=7&utm_source=x"),
        make_article("애플, 서울에 새 매장 개장", "https://news.example.kr/apple-store"),
        make_article("Bananas are cheaper this winter", "https://food.example.com/bananas"),  # irrelevant
        make_article("[Removed]", "https://removed.com"),
    ]


def _job_runs(dsn: str) -> list[JobRun]:
    with session_scope(dsn) as session:
        rows = session.execute(select(JobRun).order_by(JobRun.id)).scalars().all()
        session.expunge_all()
        return list(rows)


def test_collect_core_saves_each_article_once(
    newsapi: FakeNewsApi, news_settings: SettingsFactory, sqlite_dsn: str
) -> None:
    newsapi.articles = _collect_articles()
    settings = news_settings(postgres_dsn=sqlite_dsn)

    counts = collect_core("AAPL", "news_api", settings=settings)

    assert counts == {"fetched": 9, "unique": 3, "saved": 3}
    with session_scope(sqlite_dsn) as session:
        rows = session.execute(select(Article.canonical_url, Article.title, Article.ticker)).all()
    assert sorted(r.canonical_url for r in rows) == [
        "https://news.example.com/apple/earnings",
        "https://news.example.kr/apple-store",
        "https://tech.example.com/ipad?id=7",
    ]
    assert {r.ticker for r in rows} == {"AAPL"}
    assert "애플, 서울에 새 매장 개장" in {r.title for r in rows}

    runs = _job_runs(sqlite_dsn)
    assert len(runs) == 1
    run = runs[0]
    assert (run.stage, run.status, run.ticker, run.source) == ("collect", "SUCCEEDED", "AAPL", "news_api")
    assert (run.fetched, run.unique, run.saved) == (9, 3, 3)
    assert run.error_code is None and run.finished_at is not None

    # the same answers again: nothing new
    again = collect_core("AAPL", "news_api", settings=settings)
    assert again == {"fetched": 9, "unique": 0, "saved": 0}
    with session_scope(sqlite_dsn) as session:
        assert session.scalar(select(func.count()).select_from(Article)) == 3


def test_collect_core_records_a_permanent_failure(
    newsapi: FakeNewsApi, news_settings: SettingsFactory, sqlite_dsn: str
) -> None:
    newsapi.articles = _collect_articles()
    newsapi.api_key = "a-different-key"
    settings = news_settings(postgres_dsn=sqlite_dsn)

    with pytest.raises(PermanentSourceError) as info:
        collect_core("AAPL", "news_api", settings=settings)

    assert info.value.code == "apiKeyInvalid"
    assert newsapi.count == 1
    runs = _job_runs(sqlite_dsn)
    assert len(runs) == 1
    run = runs[0]
    assert (run.stage, run.status, run.ticker, run.source) == ("collect", "FAILED", "AAPL", "news_api")
    assert run.error_code == "apiKeyInvalid"
    assert run.error_message and "apiKeyInvalid" in run.error_message
    assert run.saved == 0
    with session_scope(sqlite_dsn) as session:
        assert session.scalar(select(func.count()).select_from(Article)) == 0


# --- the key never reaches the logs ----------------------------------------------------------


def test_api_key_never_logged(
    newsapi: FakeNewsApi,
    news_settings: SettingsFactory,
    sqlite_dsn: str,
    capfd: pytest.CaptureFixture[str],
    restore_logging: None,
) -> None:
    settings = news_settings(postgres_dsn=sqlite_dsn, structlog_level="DEBUG")
    stream = io.StringIO()
    configure_logging(settings, stream=stream)

    newsapi.articles = _collect_articles()
    assert collect_core("AAPL", "news_api", settings=settings)["saved"] == 3

    newsapi.fail_next(1, status=429, json=error_body("rateLimited"))  # a retry warning
    newsapi.api_key = "a-different-key"
    with pytest.raises(PermanentSourceError):
        collect_core("AAPL", "news_api", settings=settings)

    # a misbehaving server (or proxy) that echoes the key back in its error message
    newsapi.fail_next(1, status=401, json=error_body("apiKeyInvalid", f"The key {NEWS_API_KEY} is invalid."))
    with pytest.raises(PermanentSourceError):
        collect_core("AAPL", "news_api", settings=settings)

    logged = stream.getvalue()
    out, err = capfd.readouterr()
    assert "collect.saved" in logged and "collect.failed" in logged and "apiKeyInvalid" in logged
    assert "news_api.retry" in logged
    for text in (logged, out, err):
        assert NEWS_API_KEY not in text


# --- retry budget and transport failures -----------------------------------------------------


def test_zero_retries_means_one_attempt(newsapi: FakeNewsApi, news_settings: SettingsFactory) -> None:
    newsapi.fail_next(5, status=500, json=error_body("unexpectedError"))
    with pytest.raises(TransientSourceError):
        fetch(news_settings(news_api_max_retries=0))
    assert newsapi.count == 1


def test_connection_refused_is_transient(news_settings: SettingsFactory) -> None:
    with socket.socket() as sock:  # a port that nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(TransientSourceError) as info:
        fetch(news_settings(news_api_endpoint=f"http://127.0.0.1:{port}/v2/everything", news_api_max_retries=1))
    assert info.value.code == "connection_error"
    assert time.monotonic() - started < 3


def test_collect_core_records_an_exhausted_transient_failure(
    newsapi: FakeNewsApi, news_settings: SettingsFactory, sqlite_dsn: str
) -> None:
    newsapi.articles = _collect_articles()
    newsapi.fail_next(10, status=429, json=error_body("rateLimited"))

    with pytest.raises(RateLimitedError):
        collect_core("AAPL", "news_api", settings=news_settings(postgres_dsn=sqlite_dsn, news_api_max_retries=1))

    assert newsapi.count == 2
    (run,) = _job_runs(sqlite_dsn)
    assert (run.status, run.error_code, run.fetched, run.saved) == ("FAILED", "rateLimited", 0, 0)
