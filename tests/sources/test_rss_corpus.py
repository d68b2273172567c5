"""Feeds as they are published, through the real `RssSource` against one local server: every
flavour × encoding × way of declaring the charset (`tests/factories/feeds.py`), short
headlines whose charset only the feed's language gives away, and dates as feeds write them."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Iterator

import httpx
import pytest
from pytest_httpserver import HTTPServer

from stockteacher.ingest.collect import prepare_articles
from stockteacher.settings import Settings
from stockteacher.sources.base import RawArticle
from stockteacher.sources.rss import RssSource, document_charset, parse_feed
from stockteacher.tickers.registry import lookup
from tests.factories.feeds import CorpusFeed, charset_matrix, odd_dates_expected, odd_dates_feed, short_headline_feeds
from tests.servers.feeds import FakeFeedServer, FeedDocument

MATRIX = charset_matrix() + short_headline_feeds()


@pytest.fixture(scope="module")
def corpus() -> Iterator[FakeFeedServer]:
    """One server for the module, holding every document of the corpus (its own, so the
    per-test `httpserver` clean-up elsewhere never removes it)."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    feeds = FakeFeedServer(server, "/corpus", key="feed")
    for feed in MATRIX:
        feeds.add(feed.id, feed.document)
    feeds.add("odd-dates", odd_dates_feed())
    yield feeds
    feeds.close()
    server.check_handler_errors()
    server.clear()
    server.stop()


_TLS = ssl.create_default_context()  # built once: httpx builds one per client otherwise (~40 ms)


def fetch(make_settings: Callable[..., Settings], corpus: FakeFeedServer, feed: str, ticker: str) -> list[RawArticle]:
    settings = make_settings(rss_feed_templates=[f"{corpus.url}?feed={feed}&ticker={{ticker}}"], rss_timeout_seconds=3)
    source = RssSource(settings, transport=httpx.AsyncHTTPTransport(verify=_TLS))
    return asyncio.run(source.fetch(lookup(ticker)))


def test_the_matrix_covers_every_flavour_encoding_and_declaration() -> None:
    ids = {f.id for f in MATRIX}
    assert len(ids) == len(MATRIX) == 4 * (9 * 4 - 1) + 12
    assert {"rss0.91-big5-nowhere", "atom1.0-cp949-as-euc-kr-header", "rss1.0-utf-16be-xml"} <= ids
    nowhere = next(f.document for f in MATRIX if f.id == "rss2.0-big5-nowhere")
    assert nowhere.content_type == "application/rss+xml" and b"encoding=" not in nowhere.body[:60]
    header = next(f.document for f in MATRIX if f.id == "rss2.0-shift_jis-header")
    assert header.content_type == "application/rss+xml; charset=Shift_JIS" and b"encoding=" not in header.body[:60]


@pytest.mark.parametrize("feed", MATRIX, ids=[f.id for f in MATRIX])
def test_every_headline_comes_out_as_written(
    make_settings: Callable[..., Settings], corpus: FakeFeedServer, feed: CorpusFeed
) -> None:
    articles = fetch(make_settings, corpus, feed.id, feed.ticker)
    assert tuple(a.title for a in articles) == feed.titles
    assert tuple(a.description for a in articles) == feed.summaries
    prepared = prepare_articles(articles, lookup(feed.ticker), source_type="rss")
    assert (len(prepared.articles), prepared.invalid, prepared.irrelevant) == (len(feed.titles), 0, 0)
    assert tuple(a.published_at for a in prepared.articles) == feed.published


def test_the_server_sends_the_content_type_as_built(corpus: FakeFeedServer) -> None:
    response = httpx.get(f"{corpus.url}?feed=rss2.0-big5-xml")
    assert response.headers["content-type"] == "application/rss+xml"  # no charset added on the way


_SHORT = {
    "big5": ("zh-TW", ["台積電", "台積電法說會", "台股今日收盤上漲", "外資買超台積電", "台積電董事會"]),
    "shift_jis": ("ja", ["トヨタ", "日本株反発", "日経平均は続伸"]),
    "cp949": ("ko-KR", ["햏", "똠방각하", "코스피 상승"]),
    "gb18030": ("zh-CN", ["阿里巴巴", "腾讯控股"]),
}


@pytest.mark.parametrize(
    ("codec", "language", "headline"),
    [(codec, language, h) for codec, (language, headlines) in _SHORT.items() for h in headlines],
)
def test_a_few_bytes_declared_nowhere_are_read_in_the_feeds_language(codec: str, language: str, headline: str) -> None:
    """Five bytes of Big5 are also valid Shift_JIS (and Latin-2): a detector alone guesses. The
    feed's <language> or xml:lang narrows it to the encodings that language is written in."""
    rss = (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><language>{language}</language>'
        f"<item><title>{headline}</title><link>https://a.example/1</link></item></channel></rss>"
    )
    atom = (
        f'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{language}"><title>t</title>'
        f'<entry><title>{headline}</title><link href="https://a.example/1"/></entry></feed>'
    )
    for document in (rss, atom):
        (article,) = parse_feed(document.encode(codec), url="https://a.example/feed", headers={})
        assert article.title == headline


_KO = "<rss><channel><language>ko</language><title>똠방각하 삼성전자</title></channel></rss>"


@pytest.mark.parametrize(
    ("body", "declared", "expected"),
    [
        (_KO.encode("cp949"), "EUC-KR", "cp949"),  # CP949 sent as EUC-KR: the superset the label is used for
        (_KO.replace("똠방각하", "한국").encode("euc_kr"), "EUC-KR", "euc_kr"),
        (_KO.encode("cp949"), "ks_c_5601-1987", "cp949"),
        ("<rss><title>トヨタ〜自動車</title></rss>".encode("shift_jis"), "Shift_JIS", "shift_jis"),  # its own 〜
        ("<rss><title>トヨタ㈱</title></rss>".encode("cp932"), "Shift_JIS", "cp932"),
        (_KO.encode("cp949"), "utf-8", "cp949"),  # a header that lies: the bytes decide, in the feed's language
        ("<rss><language>zh-tw</language><title>台積電法說會</title></rss>".encode("big5"), "no-such-charset", "cp950"),
        ("<rss><title>Apple’s “iPhone”</title></rss>".encode("cp1252"), "ISO-8859-1", "cp1252"),
        ("<rss><title>Apple’s “iPhone”</title></rss>".encode(), "ISO-8859-1", "utf-8"),  # a server default
        (b"<rss><title>Apple</title></rss>", "ISO-8859-1", "cp1252"),
    ],
)  # fmt: skip
def test_the_declared_charset_is_taken_as_servers_mean_it(body: bytes, declared: str, expected: str) -> None:
    assert document_charset(body, declared=declared) == expected


def test_a_byte_order_mark_outranks_a_header_that_contradicts_it() -> None:
    body = b"\xfe\xff" + '<?xml version="1.0" encoding="utf-16"?><rss/>'.encode("utf-16-be")
    assert document_charset(body, declared="utf-8") == "utf-16-be"
    assert document_charset('<?xml version="1.0"?><rss/>'.encode("utf-16-le"), declared="utf-8") == "utf-16-le"


def test_odd_dates_keep_their_time_in_utc(make_settings: Callable[..., Settings], corpus: FakeFeedServer) -> None:
    articles = fetch(make_settings, corpus, "odd-dates", "005930.KS")
    prepared = prepare_articles(articles, lookup("005930.KS"), source_type="rss")
    assert prepared.invalid == 0
    assert {a.title: a.published_at for a in prepared.articles} == odd_dates_expected()


def test_a_feed_served_as_html_is_still_read() -> None:
    document = FeedDocument(
        '<?xml version="1.0" encoding="euc-kr"?><rss version="2.0"><channel><title>t</title>'
        "<item><title>SK하이닉스 신고가</title><link>https://a.example/1</link></item></channel></rss>".encode(
            "euc-kr"
        ),
        "text/html",
    )
    (article,) = parse_feed(document.body, url="https://a.example/rss", headers={"Content-Type": document.content_type})
    assert article.title == "SK하이닉스 신고가"
