"""A full sweep on Ray over three tickers: local NewsAPI and OpenAI servers, PostgreSQL,
Redis; reports published and one trace_id joining every stage's job_runs rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from stockteacher.cluster.pool import AnalyzerPool
from stockteacher.cluster.sweep import run_sweep
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope
from stockteacher.store.models import JobRun, Report
from tests.factories.cluster import citing_responder
from tests.servers.newsapi import FakeNewsApi, make_article
from tests.servers.openai_server import FakeOpenAI

TICKERS = ["AAPL", "TSLA", "NVDA"]
COMPANIES = {"AAPL": "Apple", "TSLA": "Tesla", "NVDA": "Nvidia"}


@pytest.fixture
def newsapi(httpserver: HTTPServer) -> Iterator[FakeNewsApi]:
    # The server answers every query with every article; relevance keeps each ticker's own.
    articles = [
        make_article(
            f"{name} headline {i}: something about {name}",
            f"https://wire{i}.example/{t.lower()}/{i}",
            description=f"{name} news number {i} with distinct words {t * i}",
        )
        for t, name in COMPANIES.items()
        for i in range(1, 5)
    ]
    server = FakeNewsApi(httpserver, api_key="news-test-key", articles=articles)
    yield server
    server.close()


@pytest.mark.postgres
@pytest.mark.redis
def test_full_sweep_over_three_tickers(
    ray_cluster: None,
    pg_dsn: str,
    redis_url: str,
    newsapi: FakeNewsApi,
    llm_server: FakeOpenAI,
    make_settings: Callable[..., Settings],
    httpserver: HTTPServer,
) -> None:
    llm_server.responder = citing_responder
    settings = make_settings(
        postgres_dsn=pg_dsn,
        ingestion_redis_url=redis_url,
        news_api_key="news-test-key",
        news_api_endpoint=httpserver.url_for("/v2/everything"),
        news_api_lang="en",
        openai_api_key="test-key",
        openai_base_url=llm_server.base_url,
        analysis_retry_backoff_seconds=0.01,
    ).for_workers()
    pool = AnalyzerPool(settings, 2)
    try:
        result = run_sweep(settings, [(t, "news_api") for t in TICKERS], pool)
    finally:
        pool.shutdown()

    summary = result.summary()
    assert summary["status"] == "ok", summary["errors"]
    assert summary["saved"] == 12 and summary["analyses"] == 3 and summary["published"] == 3
    assert llm_server.calls == 3
    with session_scope(pg_dsn) as session:
        reports = session.scalars(select(Report)).all()
        runs = session.scalars(select(JobRun)).all()
    assert sorted(r.ticker for r in reports) == sorted(TICKERS) and {r.status for r in reports} == {"published"}
    assert {r.trace_id for r in runs} == {result.trace_id}  # one trace joins every stage
    stages = sorted((r.stage, r.ticker) for r in runs)
    assert stages == sorted(
        [("collect", t) for t in TICKERS]
        + [("analyze", t) for t in TICKERS]
        + [("publish", t) for t in TICKERS]
        + [("notify", None)]  # the last stage, in the same sweep
    )
    assert {r.status for r in runs} == {"SUCCEEDED"}
    assert {r.trace_id for r in reports} == {result.trace_id}


def test_a_failing_source_is_reported_and_the_rest_continues(
    ray_cluster: None, sqlite_dsn: str, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(postgres_dsn=sqlite_dsn).for_workers()  # news_api without a key: permanent error
    pool = AnalyzerPool(settings, 1)
    try:
        result = run_sweep(settings, [("AAPL", "sample"), ("TSLA", "news_api")], pool)
    finally:
        pool.shutdown()
    summary = result.summary()
    assert summary["status"] == "partial"
    assert [e["error_code"] for e in summary["errors"]] == ["apiKeyMissing"]
    assert summary["published"] >= 1  # AAPL's report, and TSLA analysed nothing new
