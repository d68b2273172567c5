"""RSS 2.0 and Atom 1.0 feeds from URL templates, against a real local HTTP server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pytest_httpserver import HTTPServer

from stockteacher.ingest.collect import prepare_articles
from stockteacher.ingest.normalize import normalize_article
from stockteacher.settings import Settings
from stockteacher.sources import build_source
from stockteacher.sources.base import (
    MalformedResponseError,
    PermanentSourceError,
    RawArticle,
    SourceConfigError,
    TransientSourceError,
)
from stockteacher.sources.rss import parse_feed
from stockteacher.tickers.registry import lookup
from tests.factories.feeds import HTML_TITLES, MIXED_FEED_DATES, MIXED_FEED_DROPPED, ODD_DATES, mixed_feed
from tests.servers.feeds import FakeFeedServer, FeedDocument, FeedItem, atom_document, rss_document

KST = timezone(timedelta(hours=9))
CEST = timezone(timedelta(hours=2))


@pytest.fixture
def rss(httpserver: HTTPServer) -> Iterator[FakeFeedServer]:
    server = FakeFeedServer(httpserver, "/rss", key="s")
    yield server
    server.close()
    httpserver.check_handler_errors()


@pytest.fixture
def atom(httpserver: HTTPServer) -> Iterator[FakeFeedServer]:
    server = FakeFeedServer(httpserver, "/atom", key="q")
    yield server
    server.close()
    httpserver.check_handler_errors()


def fetch(settings: Settings, symbol: str) -> list[RawArticle]:
    return asyncio.run(build_source("rss", settings).fetch(lookup(symbol)))


def rss_settings(make_settings: Callable[..., Settings], *templates: str, **overrides: object) -> Settings:
    options: dict[str, object] = {"rss_timeout_seconds": 3, **overrides}
    return make_settings(rss_feed_templates=list(templates), **options)


APPLE_RSS = rss_document(
    "Market Wire — Apple",
    [
        FeedItem(
            "Apple &amp; the <b>App Store</b>: EU opens probe",
            "https://marketwire.example/apple/eu-probe?utm_source=rss",
            summary="<p>The European Commission opened an investigation into <b>Apple</b>.</p>",
            published=datetime(2026, 11, 23, 9, 30, tzinfo=KST),
            author="desk@marketwire.example (Laura Finch)",
        ),
        FeedItem(
            "Apple supplier ramps up iPhone output",
            "https://outlet.example.com/apple-supplier",
            summary="Foxconn adds shifts.",
            published=datetime(2026, 11, 22, 18, 0, tzinfo=UTC),
            source="Reuters",
        ),
    ],
)


def test_rss_feed_parsed(make_settings: Callable[..., Settings], rss: FakeFeedServer) -> None:
    rss.add("AAPL", APPLE_RSS)
    articles = fetch(rss_settings(make_settings, rss.template()), "AAPL")

    assert rss.count == 1
    assert [a.url for a in articles] == [
        "https://marketwire.example/apple/eu-probe?utm_source=rss",
        "https://outlet.example.com/apple-supplier",
    ]
    assert articles[0].source_name == "Market Wire — Apple"  # the channel's title
    assert articles[1].source_name == "Reuters"  # the item's own <source>
    assert articles[0].language == "en"

    prepared = prepare_articles(articles, lookup("AAPL"), source_type="rss")
    assert prepared.invalid == 0 and prepared.irrelevant == 0
    first, second = prepared.articles
    assert first.title == "Apple & the App Store: EU opens probe"
    assert first.description == "The European Commission opened an investigation into Apple."
    assert first.published_at == datetime(2026, 11, 23, 0, 30, tzinfo=UTC)
    assert first.canonical_url == "https://marketwire.example/apple/eu-probe"
    assert second.published_at == datetime(2026, 11, 22, 18, 0, tzinfo=UTC)
    assert second.source == "Reuters"


def test_atom_feed_parsed(make_settings: Callable[..., Settings], atom: FakeFeedServer) -> None:
    atom.add(
        "Apple OR AAPL",
        atom_document(
            "Tech Daily",
            [
                FeedItem(
                    "Apple's M5 chip benchmarks leak",
                    "https://techdaily.example/2026/11/apple-m5",
                    summary="Early numbers for <em>Apple</em>'s next chip.",
                    published=datetime(2026, 11, 20, 10, 0, tzinfo=CEST),
                    author="Sam Lee",
                ),
                FeedItem(
                    "Apple Vision Pro 2 rumours",
                    "https://techdaily.example/2026/11/vision-pro-2",
                    updated=datetime(2026, 11, 21, 7, 15, tzinfo=UTC),  # no <published>
                ),
            ],
        ),
    )
    articles = fetch(rss_settings(make_settings, atom.template("{query}")), "AAPL")

    assert atom.count == 1
    assert [a.url for a in articles] == [
        "https://techdaily.example/2026/11/apple-m5",
        "https://techdaily.example/2026/11/vision-pro-2",
    ]
    assert {a.source_name for a in articles} == {"Tech Daily"}
    assert articles[0].author == "Sam Lee"

    prepared = prepare_articles(articles, lookup("AAPL"), source_type="rss")
    assert [a.title for a in prepared.articles] == ["Apple's M5 chip benchmarks leak", "Apple Vision Pro 2 rumours"]
    assert prepared.articles[0].description == "Early numbers for Apple's next chip."
    assert prepared.articles[0].published_at == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    assert prepared.articles[1].published_at == datetime(2026, 11, 21, 7, 15, tzinfo=UTC)


def test_template_placeholders_are_substituted_and_quoted(
    make_settings: Callable[..., Settings], rss: FakeFeedServer, atom: FakeFeedServer
) -> None:
    samsung = rss_document("KR Wire", [FeedItem("삼성전자, 신고가", "https://krwire.example/1")], language="ko")
    rss.add("005930.KS", samsung)
    atom.add("삼성전자", atom_document("KR Atom", [FeedItem("삼성전자 실적 발표", "https://kratom.example/1")]))
    articles = fetch(rss_settings(make_settings, rss.template("{ticker}"), atom.template("{query}")), "005930.KS")

    assert rss.keys_requested() == ["005930.KS"]
    assert atom.keys_requested() == ["삼성전자"]
    assert atom.requests[0].query_string == "q=%EC%82%BC%EC%84%B1%EC%A0%84%EC%9E%90"
    assert {a.url for a in articles} == {"https://krwire.example/1", "https://kratom.example/1"}
    assert [a.language for a in articles if a.url == "https://krwire.example/1"] == ["ko"]


def test_query_with_spaces_quotes_and_ampersands_is_url_quoted(
    make_settings: Callable[..., Settings], rss: FakeFeedServer, atom: FakeFeedServer
) -> None:
    query = '"Johnson & Johnson" OR J&J OR JNJ'
    assert lookup("JNJ").query("en") == query
    atom.add(query, atom_document("Health Wire", [FeedItem("Johnson & Johnson talc ruling", "https://hw.example/1")]))
    rss.add("BRK.B", rss_document("Omaha", [FeedItem("Berkshire Hathaway buys more", "https://omaha.example/1")]))
    assert [a.url for a in fetch(rss_settings(make_settings, atom.template("{query}")), "JNJ")] == [
        "https://hw.example/1"
    ]
    assert atom.keys_requested() == [query]
    raw = atom.requests[0].query_string
    assert raw == "q=%22Johnson%20%26%20Johnson%22%20OR%20J%26J%20OR%20JNJ"
    assert atom.requests[0].args.getlist("q") == [query]

    assert [a.url for a in fetch(rss_settings(make_settings, rss.template("{ticker}")), "BRK.B")] == [
        "https://omaha.example/1"
    ]
    assert rss.requests[0].query_string == "s=BRK.B"


def test_two_templates_fetched_and_merged(
    make_settings: Callable[..., Settings], rss: FakeFeedServer, atom: FakeFeedServer
) -> None:
    rss.add("AAPL", APPLE_RSS)
    atom.add("Apple OR AAPL", atom_document("Tech Daily", [FeedItem("Apple news", "https://techdaily.example/a")]))
    articles = fetch(rss_settings(make_settings, rss.template(), atom.template("{query}")), "AAPL")

    assert rss.count == 1 and atom.count == 1
    assert sorted(a.url for a in articles) == [
        "https://marketwire.example/apple/eu-probe?utm_source=rss",
        "https://outlet.example.com/apple-supplier",
        "https://techdaily.example/a",
    ]


@pytest.mark.parametrize(
    "body",
    [
        b"<!DOCTYPE html><html><head><title>Welcome</title></head><body><p>Hello</p></body></html>",
        b"this is plain text, not a feed",
        b'{"items": []}',
    ],
)
def test_a_page_that_is_not_a_feed_is_malformed(
    make_settings: Callable[..., Settings], rss: FakeFeedServer, body: bytes
) -> None:
    rss.fail_next(5, status=200, body=body, content_type="text/html; charset=utf-8")
    with pytest.raises(MalformedResponseError):
        fetch(rss_settings(make_settings, rss.template()), "AAPL")
    assert rss.count == 1


def test_503_is_retried(make_settings: Callable[..., Settings], rss: FakeFeedServer) -> None:
    rss.add("AAPL", APPLE_RSS)
    rss.fail_next(2, status=503, body=b"Service Unavailable")
    articles = fetch(rss_settings(make_settings, rss.template(), rss_max_retries=2), "AAPL")

    assert len(articles) == 2
    assert rss.count == 3


def test_persistent_503_gives_up_as_transient(make_settings: Callable[..., Settings], rss: FakeFeedServer) -> None:
    rss.fail_next(10, status=503, body=b"Service Unavailable")
    with pytest.raises(TransientSourceError) as info:
        fetch(rss_settings(make_settings, rss.template(), rss_max_retries=1), "AAPL")

    assert info.value.code == "http_503"
    assert rss.count == 2


def test_404_is_permanent(make_settings: Callable[..., Settings], rss: FakeFeedServer) -> None:
    # nothing registered for this ticker: the fake answers its 404 page
    with pytest.raises(PermanentSourceError) as info:
        fetch(rss_settings(make_settings, rss.template(), rss_max_retries=2), "MSFT")

    assert info.value.code == "http_404"
    assert not isinstance(info.value, TransientSourceError)
    assert rss.keys_requested() == ["MSFT"]


def test_no_templates_is_a_config_error(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(SourceConfigError):
        fetch(make_settings(rss_feed_templates=[]), "AAPL")


def test_a_valid_empty_feed_is_no_articles(make_settings: Callable[..., Settings], rss: FakeFeedServer) -> None:
    rss.add("AAPL", rss_document("Quiet Wire", []))
    assert fetch(rss_settings(make_settings, rss.template()), "AAPL") == []
    assert rss.count == 1


def test_slow_feed_times_out_as_transient(make_settings: Callable[..., Settings], rss: FakeFeedServer) -> None:
    rss.add("AAPL", APPLE_RSS)
    rss.stall_next(10, seconds=1.0)
    with pytest.raises(TransientSourceError) as info:
        fetch(rss_settings(make_settings, rss.template(), rss_timeout_seconds=0.3, rss_max_retries=1), "AAPL")
    assert info.value.code == "timeout"
    assert rss.count == 2


def test_one_slow_answer_then_the_feed(make_settings: Callable[..., Settings], rss: FakeFeedServer) -> None:
    rss.add("AAPL", APPLE_RSS)
    rss.stall_next(1, seconds=1.0)
    articles = fetch(rss_settings(make_settings, rss.template(), rss_timeout_seconds=0.3), "AAPL")
    assert len(articles) == 2
    assert rss.count == 2


def test_one_broken_feed_does_not_hide_the_others(
    make_settings: Callable[..., Settings], rss: FakeFeedServer, atom: FakeFeedServer
) -> None:
    rss.add("AAPL", APPLE_RSS)
    atom.fail_next(5, status=404, body=b"not found", content_type="text/plain")
    articles = fetch(rss_settings(make_settings, rss.template(), atom.template("{query}")), "AAPL")

    assert atom.count == 1  # permanent: not retried
    assert len(articles) == 2 and all("marketwire" in a.url or "outlet" in a.url for a in articles)


def test_every_feed_broken_is_an_error(
    make_settings: Callable[..., Settings], rss: FakeFeedServer, atom: FakeFeedServer
) -> None:
    rss.fail_next(5, status=404, body=b"gone", content_type="text/plain")
    atom.fail_next(5, status=404, body=b"gone", content_type="text/plain")
    with pytest.raises(PermanentSourceError):
        fetch(rss_settings(make_settings, rss.template(), atom.template("{query}")), "AAPL")


# --- one bad item among good ones ------------------------------------------------------------
def test_one_bad_item_of_each_kind_is_dropped_and_counted_and_the_rest_is_stored(
    make_settings: Callable[..., Settings], rss: FakeFeedServer, pg_dsn: str
) -> None:
    """A malformed link, a link that is not http(s) (ftp:, javascript:), no link, no title and an
    empty item are each dropped with their reason and counted; items whose date cannot be read
    or lies past either end of the calendar are kept, dated by their collection and flagged;
    the batch goes on."""
    from stockteacher.ingest.collect import collect
    from stockteacher.store.db import session_scope
    from stockteacher.store.models import Article, JobRun

    rss.add("AAPL", mixed_feed())
    settings = rss_settings(
        make_settings, rss.template(), postgres_dsn=pg_dsn, ingestion_redis_url="redis://127.0.0.1:1/0"
    )
    outcome = collect("AAPL", "rss", settings=settings)
    dropped = sum(MIXED_FEED_DROPPED.values())
    assert (outcome.fetched, outcome.saved, outcome.invalid) == (len(MIXED_FEED_DATES) + dropped, 5, 6)
    with session_scope(pg_dsn) as session:
        articles = list(session.query(Article))
        dated = {a.title: a.published_at for a in articles if not a.published_at_estimated}
        undated = {a.title for a in articles if a.published_at_estimated and a.published_at == a.collected_at}
        (run,) = session.query(JobRun).filter(JobRun.stage == "collect").all()
        assert run.status == "SUCCEEDED"
        undated_count = sum(1 for d in MIXED_FEED_DATES.values() if d is None)
        assert run.details["invalid"] == 6 and run.details["undated"] == undated_count == 3
        assert run.details["invalid_reasons"] == MIXED_FEED_DROPPED == {"bad_url": 4, "no_title": 2}
    assert dated == {title: d for title, d in MIXED_FEED_DATES.items() if d is not None}
    assert undated == {title for title, d in MIXED_FEED_DATES.items() if d is None}


def test_the_cli_reports_the_dropped_items(
    make_settings: Callable[..., Settings], rss: FakeFeedServer, pg_dsn: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    import json

    from stockteacher.cli import main

    rss.add("AAPL", mixed_feed())
    monkeypatch.setenv("POSTGRES_DSN", pg_dsn)
    monkeypatch.setenv("RSS_FEED_TEMPLATES", json.dumps([rss.template()]))
    monkeypatch.setenv("INGESTION_REDIS_URL", "redis://127.0.0.1:1/0")
    assert main(["collect", "AAPL", "--source", "rss", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out == {"fetched": 11, "unique": 5, "saved": 5, "invalid": 6}


# --- feeds as they are published: charsets, relative links, dates ------------------------------
def _korean_rss(declaration: str = "", link: str = "/news/1", date: str = "Tue, 24 Nov 2026 08:00:00 +0900") -> str:
    return (
        f'<?xml version="1.0"{declaration}?><rss version="2.0"><channel><title>경제 뉴스</title>'
        f"<item><title>삼성전자, 반도체 투자 확대</title><link>{link}</link><pubDate>{date}</pubDate>"
        "<description>삼성전자가 평택 공장에 새 라인을 짓는다.</description></item></channel></rss>"
    )


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        pytest.param(_korean_rss().encode("euc-kr"), {"Content-Type": "application/rss+xml; charset=euc-kr"},
                     id="euc-kr in the header only"),
        pytest.param(_korean_rss(' encoding="euc-kr"').encode("euc-kr"), {"Content-Type": "application/rss+xml"},
                     id="euc-kr in the xml only"),
        pytest.param(_korean_rss().encode("cp949"), {"Content-Type": "text/xml; charset=cp949"}, id="cp949 header"),
        pytest.param(_korean_rss().encode("euc-kr"), {"Content-Type": "application/rss+xml"}, id="declared nowhere"),
        pytest.param(_korean_rss(' encoding="utf-16"').encode("utf-16"), {}, id="utf-16 with a byte order mark"),
        pytest.param(_korean_rss().encode("utf-8"), {}, id="utf-8 declared nowhere"),
    ],
)  # fmt: skip
def test_korean_headlines_survive_every_way_of_declaring_the_charset(body: bytes, headers: dict[str, str]) -> None:
    (article,) = parse_feed(body, url="https://news.example.kr/rss", headers=headers)
    assert article.title == "삼성전자, 반도체 투자 확대"
    assert lookup("005930.KS").mentioned_in(article.title, article.description, None)  # so it is kept


@pytest.mark.parametrize(
    "headers",
    [{"Content-Type": "text/xml; charset=shift_jis"}, {"Content-Type": "text/xml"}],
    ids=["header", "nowhere"],
)
def test_shift_jis_feeds_are_read(headers: dict[str, str]) -> None:
    document = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item>'
        "<title>トヨタ自動車の決算、営業利益が過去最高</title><link>https://news.example.jp/a</link></item></channel></rss>"
    )
    (article,) = parse_feed(document.encode("shift_jis"), url="https://news.example.jp/rss", headers=headers)
    assert article.title == "トヨタ自動車の決算、営業利益が過去最高"


@pytest.mark.parametrize(("written", "title"), list(HTML_TITLES.items()))
def test_html_in_titles_is_stripped_however_the_feed_escaped_it(written: str, title: str) -> None:
    document = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        f"<item><title>{written}</title><link>https://news.example.kr/1</link></item></channel></rss>"
    )
    (raw,) = parse_feed(document.encode(), url="https://news.example.kr/rss")
    assert normalize_article(raw, ticker="005930.KS", source_type="rss").title == title


def test_relative_links_resolve_against_xml_base_content_location_or_the_feed_url() -> None:
    atom = (
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://base.example/news/">'
        '<title>t</title><entry><title>Apple x</title><link href="item/7"/><updated>2026-11-24T08:00:00Z</updated>'
        "</entry></feed>"
    )
    assert parse_feed(atom.encode(), url="https://feeds.example/atom")[0].url == "https://base.example/news/item/7"
    moved = {"Content-Location": "https://cdn.example/k/feed.xml"}
    rss = _korean_rss().encode()
    assert parse_feed(rss, url="https://feeds.example/rss", headers=moved)[0].url == "https://cdn.example/news/1"
    assert parse_feed(rss, url="https://feeds.example/a/rss")[0].url == "https://feeds.example/news/1"


@pytest.mark.parametrize(("written", "utc"), list(ODD_DATES.items()), ids=list(ODD_DATES))
def test_dates_keep_their_time_in_utc_and_an_unreadable_one_keeps_the_item(written: str, utc: datetime | None) -> None:
    """Nate and OnBlog's Korean formats, zone names (PT, MET, KST), odd offsets, ISO with and
    without an offset; a date past either end of the calendar or unreadable leaves None."""
    (raw,) = parse_feed(_korean_rss(date=written).encode(), url="https://news.example.kr/rss")
    assert raw.published_at == utc
    assert normalize_article(raw, ticker="005930.KS", source_type="rss").published_at == utc


def test_a_charset_sent_only_in_the_header_reaches_the_parser_through_the_source(
    make_settings: Callable[..., Settings], rss: FakeFeedServer
) -> None:
    rss.add("005930.KS", FeedDocument(_korean_rss().encode("euc-kr"), "application/rss+xml; charset=euc-kr"))
    (article,) = fetch(rss_settings(make_settings, rss.template()), "005930.KS")
    assert article.title == "삼성전자, 반도체 투자 확대"
    assert article.url == f"{rss.url.rsplit('/', 1)[0]}/news/1"


def test_rss_1_0_rdf_feeds_are_read() -> None:
    rdf = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/">'
        '<channel rdf:about="https://rdf.example/"><title>RDF wire</title><link>https://rdf.example/</link></channel>'
        '<item rdf:about="https://rdf.example/apple"><title>Apple ships a new Mac</title>'
        "<link>https://rdf.example/apple</link><dc:date>2026-11-24T08:00:00+09:00</dc:date></item></rdf:RDF>"
    )
    (article,) = parse_feed(rdf.encode(), url="https://rdf.example/rss")
    assert (article.title, article.url) == ("Apple ships a new Mac", "https://rdf.example/apple")
    assert article.published_at == datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
