"""Naver News search source against a real local HTTP server speaking Naver's protocol."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from stockteacher.ingest.collect import collect_core, prepare_articles
from stockteacher.ingest.normalize import normalize_article
from stockteacher.settings import Settings
from stockteacher.sources import build_source
from stockteacher.sources.base import (
    PermanentSourceError,
    RateLimitedError,
    RawArticle,
    SourceConfigError,
    TransientSourceError,
)
from stockteacher.store.db import session_scope
from stockteacher.store.models import Article, JobRun
from stockteacher.tickers.registry import lookup
from tests.factories.sources import NAVER_ID, NAVER_SECRET
from tests.servers.naver import FakeNaver, error_body, make_item, make_items

SettingsFactory = Callable[..., Settings]
SAMSUNG = "005930.KS"


def fetch(settings: Settings, symbol: str = SAMSUNG) -> list[RawArticle]:
    return asyncio.run(build_source("naver", settings).fetch(lookup(symbol)))


def test_credentials_travel_in_headers_and_query_is_the_korean_name(
    naver: FakeNaver, naver_settings: SettingsFactory
) -> None:
    naver.items = make_items(3)
    articles = fetch(naver_settings())

    assert len(articles) == 3
    assert naver.count == 1
    request = naver.requests[0]
    assert request.path == "/v1/search/news.json"
    assert request.headers.get("X-Naver-Client-Id") == NAVER_ID
    assert request.headers.get("X-Naver-Client-Secret") == NAVER_SECRET
    assert NAVER_ID not in request.url and NAVER_SECRET not in request.url
    assert request.arg("query") == "삼성전자"
    assert request.arg("sort") == "date"
    assert request.arg("start") == "1"
    assert request.arg("display") == "50"


def test_pages_by_start_and_display(naver: FakeNaver, naver_settings: SettingsFactory) -> None:
    naver.items = make_items(120)
    articles = fetch(naver_settings(naver_display=50, naver_max_results=500))

    assert len(articles) == 120
    assert naver.starts() == [1, 51, 101]
    assert [r.arg("display") for r in naver.requests] == ["50", "50", "50"]
    assert [a.url for a in articles] == [i["originallink"] for i in naver.items]


def test_stops_at_the_configured_maximum(naver: FakeNaver, naver_settings: SettingsFactory) -> None:
    naver.items = make_items(300)
    articles = fetch(naver_settings(naver_display=50, naver_max_results=70))

    assert [a.url for a in articles] == [i["originallink"] for i in naver.items[:70]]
    assert naver.starts() == [1, 51]
    assert [r.arg("display") for r in naver.requests] == ["50", "20"]


def test_stops_when_total_is_exhausted(naver: FakeNaver, naver_settings: SettingsFactory) -> None:
    naver.items = make_items(100)
    articles = fetch(naver_settings(naver_display=50, naver_max_results=500))

    assert len(articles) == 100
    assert naver.starts() == [1, 51]  # total=100: no third request


def test_highlights_and_entities_stripped_dates_in_utc_originallink_preferred(
    naver: FakeNaver, naver_settings: SettingsFactory
) -> None:
    naver.items = [
        make_item(
            "<b>삼성전자</b>, &quot;HBM&quot; 공급 확대 &amp; 실적 &lt;개선&gt;",
            "https://www.hankyung.example/article/2026112301",
            link="https://n.news.naver.com/mnews/article/015/0005000001",
            description="<b>삼성전자</b>가 &quot;HBM3E&quot; 12단 제품을 &#39;엔비디아&#39;에 공급한다",
            pub_date="Mon, 23 Nov 2026 09:30:00 +0900",
        ),
        make_item(
            "<b>삼성전자</b> 주가 상승",
            "",  # no original link: Naver's own link is used
            link="https://n.news.naver.com/mnews/article/001/0014000002",
            pub_date="Sun, 22 Nov 2026 23:59:00 +0900",
        ),
    ]
    raw = fetch(naver_settings())

    assert raw[0].url == "https://www.hankyung.example/article/2026112301"
    assert raw[0].extra["naver_link"] == "https://n.news.naver.com/mnews/article/015/0005000001"
    assert raw[0].source_name == "hankyung.example"
    assert raw[0].language == "ko"
    assert raw[1].url == "https://n.news.naver.com/mnews/article/001/0014000002"

    first = normalize_article(raw[0], ticker=SAMSUNG, source_type="naver")
    assert first.title == '삼성전자, "HBM" 공급 확대 & 실적 <개선>'
    assert first.description == "삼성전자가 \"HBM3E\" 12단 제품을 '엔비디아'에 공급한다"
    assert first.published_at == datetime(2026, 11, 23, 0, 30, tzinfo=UTC)

    prepared = prepare_articles(raw, lookup(SAMSUNG), source_type="naver")
    assert prepared.invalid == 0 and prepared.irrelevant == 0
    assert [a.title for a in prepared.articles] == ['삼성전자, "HBM" 공급 확대 & 실적 <개선>', "삼성전자 주가 상승"]
    assert prepared.articles[1].published_at == datetime(2026, 11, 22, 14, 59, tzinfo=UTC)
    for article in prepared.articles:
        assert "<b>" not in article.title and "&quot;" not in article.title


def test_wrong_credentials_are_permanent(naver: FakeNaver, naver_settings: SettingsFactory) -> None:
    naver.client_secret = "something-else"
    with pytest.raises(PermanentSourceError) as info:
        fetch(naver_settings())

    assert info.value.code == "024"
    assert not isinstance(info.value, TransientSourceError)
    assert naver.count == 1


def test_bad_query_se01_is_permanent(naver: FakeNaver, naver_settings: SettingsFactory) -> None:
    naver.fail_next(5, status=400, json=error_body("SE01", "Incorrect query request (잘못된 쿼리요청입니다.)"))
    with pytest.raises(PermanentSourceError) as info:
        fetch(naver_settings())

    assert info.value.code == "SE01"
    assert naver.count == 1


def test_rate_limit_is_retried_then_succeeds(naver: FakeNaver, naver_settings: SettingsFactory) -> None:
    naver.items = make_items(4)
    naver.fail_next(2, status=429, json=error_body("010", "Request limit exceeded"))
    articles = fetch(naver_settings(naver_max_retries=2))

    assert len(articles) == 4
    assert naver.count == 3


def test_rate_limit_exhausts_the_retries(naver: FakeNaver, naver_settings: SettingsFactory) -> None:
    naver.fail_next(10, status=429, json=error_body("010", "Request limit exceeded"))
    with pytest.raises(RateLimitedError) as info:
        fetch(naver_settings(naver_max_retries=2))

    assert info.value.code == "010"
    assert naver.count == 3


def test_server_error_is_retried(naver: FakeNaver, naver_settings: SettingsFactory) -> None:
    naver.items = make_items(2)
    naver.fail_next(1, status=500, json=error_body("SE99", "System Error (시스템 에러)"))
    articles = fetch(naver_settings())

    assert len(articles) == 2
    assert naver.count == 2


def test_persistent_server_error_is_transient(naver: FakeNaver, naver_settings: SettingsFactory) -> None:
    naver.fail_next(10, status=500, json=error_body("SE99", "System Error (시스템 에러)"))
    with pytest.raises(TransientSourceError) as info:
        fetch(naver_settings(naver_max_retries=1))

    assert info.value.code == "SE99"
    assert naver.count == 2


@pytest.mark.parametrize(
    ("client_id", "secret"),
    [(None, None), (NAVER_ID, None), (None, NAVER_SECRET), ("", NAVER_SECRET), (NAVER_ID, "")],
)
def test_missing_credentials_are_a_config_error_without_requests(
    naver: FakeNaver, naver_settings: SettingsFactory, client_id: str | None, secret: str | None
) -> None:
    with pytest.raises(SourceConfigError):
        fetch(naver_settings(naver_client_id=client_id, naver_client_secret=secret))
    assert naver.count == 0


def test_collect_core_stores_clean_korean_articles(
    naver: FakeNaver, naver_settings: SettingsFactory, sqlite_dsn: str
) -> None:
    naver.items = [
        *make_items(3),
        make_item(
            "<b>삼성전자</b> 뉴스 0번 &quot;HBM&quot;", "https://www.koreanews.example/article/0?utm_source=naver"
        ),
        make_item("오늘의 날씨: 맑음", "https://weather.example/today"),  # not about the company
    ]
    settings = naver_settings(postgres_dsn=sqlite_dsn)

    assert collect_core(SAMSUNG, "naver", settings=settings) == {"fetched": 5, "unique": 3, "saved": 3}
    with session_scope(sqlite_dsn) as session:
        titles = sorted(session.scalars(select(Article.title)).all())
        run = session.scalars(select(JobRun)).one()
        assert (run.stage, run.status, run.source, run.ticker) == ("collect", "SUCCEEDED", "naver", SAMSUNG)
    assert titles == [f'삼성전자 뉴스 {i}번 "HBM"' for i in range(3)]
