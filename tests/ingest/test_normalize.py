"""Normalisation: canonical URLs, fingerprints, HTML stripping, dates, whole articles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from stockteacher.ingest.normalize import (
    InvalidArticle,
    canonical_url,
    fingerprint,
    normalize_article,
    parse_datetime,
    strip_html,
    strip_title,
)
from stockteacher.sources.base import RawArticle

BASE = "https://www.example.com/news/apple-probe"


# --- canonical_url ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "decorated",
    [
        BASE + "?utm_source=newsletter",
        BASE + "?utm_source=newsletter&utm_medium=email&utm_campaign=nov",
        BASE + "?UTM_Source=x",
        BASE + "?fbclid=IwAR0synthetic",
        BASE + "?gclid=Cj0KCQ",
        BASE + "?utm_source=a&fbclid=b&gclid=c",
        BASE + "#comments",
        BASE + "?utm_source=newsletter#top",
    ],
)
def test_canonical_url_drops_tracking_parameters_and_fragments(decorated: str) -> None:
    assert canonical_url(decorated) == BASE


def test_canonical_url_lowercases_scheme_and_host_but_not_path() -> None:
    assert canonical_url("HTTPS://WWW.Example.COM/News/Apple") == "https://www.example.com/News/Apple"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("http://example.com:443/a", "http://example.com:443/a"),
    ],
)
def test_canonical_url_drops_only_default_ports(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize(
    "url",
    ["https://example.com/a/b/", "https://example.com/a/b", "https://example.com/a/b//", "https://example.com//a/b/"],
)
def test_canonical_url_drops_trailing_slash(url: str) -> None:
    assert canonical_url(url) == "https://example.com/a/b"


def test_canonical_url_of_bare_host_has_no_trailing_slash() -> None:
    assert canonical_url("https://example.com/") == canonical_url("https://example.com") == "https://example.com"


def test_canonical_url_keeps_and_sorts_real_query_parameters() -> None:
    expected = "https://example.com/view?id=5&page=2"
    assert canonical_url("https://example.com/view?id=5&page=2") == expected
    assert canonical_url("https://example.com/view?page=2&id=5") == expected
    assert canonical_url("https://example.com/view?page=2&utm_source=x&id=5&fbclid=y#frag") == expected


def test_canonical_url_distinguishes_articles_by_real_query_parameters() -> None:
    a = canonical_url("https://www.hanbiteconomy.example/news/articleView.html?idxno=204562")
    b = canonical_url("https://www.hanbiteconomy.example/news/articleView.html?idxno=204420")
    assert a != b
    assert a.endswith("?idxno=204562")


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/file.txt",
        "javascript:alert(1)",
        "mailto:news@example.com",
        "file:///etc/passwd",
        "example.com/no-scheme",
        "",
        "https://",
    ],
)
def test_canonical_url_rejects_non_http_urls(url: str) -> None:
    with pytest.raises(InvalidArticle):
        canonical_url(url)


@pytest.mark.parametrize("url", ["https://example.com:abc/a", "https://example.com:99999/a"])
def test_canonical_url_rejects_malformed_port_with_invalid_article(url: str) -> None:
    with pytest.raises(InvalidArticle):
        canonical_url(url)


def test_canonical_url_keeps_ipv6_brackets() -> None:
    assert canonical_url("http://[2001:db8::1]:8080/a/") == "http://[2001:db8::1]:8080/a"


# --- fingerprint -----------------------------------------------------------------------------

TITLE = "Apple Faces EU Antitrust Probe Over App Store Fees"


def test_fingerprint_equal_for_urls_differing_only_by_tracking_decorations() -> None:
    plain = fingerprint(canonical_url(BASE), TITLE)
    for decorated in (
        BASE + "?utm_source=newsletter&utm_medium=email",
        BASE + "/?fbclid=IwAR0#comments",
        "HTTPS://WWW.EXAMPLE.COM:443" + "/news/apple-probe?gclid=z",
    ):
        assert fingerprint(canonical_url(decorated), TITLE) == plain


@pytest.mark.parametrize(
    "variant",
    [
        "apple faces eu antitrust probe over app store fees",
        "APPLE FACES EU ANTITRUST PROBE OVER APP STORE FEES",
        "  Apple   Faces EU\tAntitrust Probe\nOver App Store Fees  ",
        "Apple faces EU antitrust probe over App Store fees!",
        "Apple: faces EU antitrust probe -- over App Store fees.",
    ],
)
def test_fingerprint_equal_for_titles_differing_only_in_case_whitespace_punctuation(variant: str) -> None:
    canonical = canonical_url(BASE)
    assert fingerprint(canonical, variant) == fingerprint(canonical, TITLE)


def test_fingerprint_differs_for_different_titles() -> None:
    canonical = canonical_url(BASE)
    assert fingerprint(canonical, TITLE) != fingerprint(canonical, "Apple launches Vision Air headset")
    assert fingerprint(canonical, "삼성전자, 분기 배당 결정") != fingerprint(canonical, "SK하이닉스, 분기 배당 결정")


def test_fingerprint_differs_for_different_urls() -> None:
    assert fingerprint(canonical_url(BASE), TITLE) != fingerprint(canonical_url(BASE + "-2"), TITLE)


def test_fingerprint_is_sha256_hex() -> None:
    value = fingerprint(canonical_url(BASE), TITLE)
    assert len(value) == 64 and set(value) <= set("0123456789abcdef")


# --- strip_html ------------------------------------------------------------------------------


def test_strip_html_removes_tags() -> None:
    assert strip_html("<p>Harbor upgrades <b>Apple</b> to <i>Buy</i></p>") == "Harbor upgrades Apple to Buy"


def test_strip_html_drops_script_and_style_contents() -> None:
    text = "<p>Before</p><script>alert('x'); var a = 1 < 2;</script><style>p { color: red }</style><p>After</p>"
    assert strip_html(text) == "Before After"


def test_strip_html_decodes_entities() -> None:
    assert strip_html("Harbor &amp; Pine said &quot;buy&quot; &#39;now&#39;") == "Harbor & Pine said \"buy\" 'now'"


def test_strip_html_decodes_entities_inside_tags() -> None:
    assert strip_html("<p>&quot;Services&quot; &amp; more</p>") == '"Services" & more'


def test_strip_html_collapses_whitespace_and_separates_blocks() -> None:
    assert strip_html("  one\n\n two\t three  ") == "one two three"
    assert strip_html("<p>first</p><p>second</p>line<br>break") == "first second line break"


@pytest.mark.parametrize("empty", [None, "", "   ", "<p> </p>", "<script>only()</script>"])
def test_strip_html_returns_none_for_empty_text(empty: str | None) -> None:
    assert strip_html(empty) is None


def test_strip_html_leaves_plain_text_alone() -> None:
    assert strip_html("Tesla recalls 239,000 Model Y vehicles") == "Tesla recalls 239,000 Model Y vehicles"
    assert strip_html("AT&T and 5 < 6") == "AT&T and 5 < 6"


def test_strip_html_decodes_entities_exactly_once() -> None:
    assert strip_html("Use &amp;lt;b&amp;gt; for bold") == "Use &lt;b&gt; for bold"


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("<b>삼성전자</b> 3분기 &quot;어닝 서프라이즈&quot;", '삼성전자 3분기 "어닝 서프라이즈"'),
        ("&lt;b&gt;삼성전자&lt;/b&gt; 3분기 &amp;quot;어닝&amp;quot;", '삼성전자 3분기 "어닝"'),  # escaped twice
        ("AT&T와 R&D 투자 확대", "AT&T와 R&D 투자 확대"),  # bare ampersands are text
        ("AT&amp;T, P&amp;G and S&amp;P 500", "AT&T, P&G and S&P 500"),
        ("Apple &amp;amp; Samsung", "Apple & Samsung"),
        ("5 < 6 그리고 AT&T", "5 < 6 그리고 AT&T"),
        ("삼성&nbsp;전자&#160;&#xAE30;&#xC0AC;", "삼성 전자 기사"),
    ],
)
def test_strip_title_decodes_html_escaped_twice_but_leaves_literal_ampersands(title: str, expected: str) -> None:
    assert strip_title(title) == expected


def test_only_titles_get_the_second_pass() -> None:
    raw = RawArticle(
        title="&lt;b&gt;Apple&lt;/b&gt; Q3", url="https://example.com/a", description="Use &lt;b&gt; for bold"
    )
    article = normalize_article(raw, ticker="AAPL", source_type="rss")
    assert article.title == "Apple Q3"
    assert article.description == "Use <b> for bold"


# --- parse_datetime --------------------------------------------------------------------------


def test_parse_datetime_iso_with_z() -> None:
    assert parse_datetime("2026-11-18T09:12:00Z") == datetime(2026, 11, 18, 9, 12, tzinfo=UTC)


def test_parse_datetime_iso_with_offset_converts_to_utc() -> None:
    parsed = parse_datetime("2026-11-23T08:30:00+09:00")
    assert parsed == datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
    assert parsed is not None and parsed.utcoffset() == timedelta(0)


def test_parse_datetime_naive_is_taken_as_utc() -> None:
    parsed = parse_datetime("2026-11-18T09:12:00")
    assert parsed == datetime(2026, 11, 18, 9, 12, tzinfo=UTC)
    assert parsed is not None and parsed.tzinfo is not None and parsed.utcoffset() == timedelta(0)


def test_parse_datetime_rfc822() -> None:
    parsed = parse_datetime("Mon, 23 Nov 2026 09:30:00 +0900")
    assert parsed == datetime(2026, 11, 23, 0, 30, tzinfo=UTC)
    assert parsed is not None and parsed.utcoffset() == timedelta(0)


def test_parse_datetime_rfc822_gmt() -> None:
    assert parse_datetime("Wed, 18 Nov 2026 09:12:00 GMT") == datetime(2026, 11, 18, 9, 12, tzinfo=UTC)


def test_parse_datetime_accepts_datetimes() -> None:
    kst = timezone(timedelta(hours=9))
    assert parse_datetime(datetime(2026, 11, 23, 8, 30, tzinfo=kst)) == datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
    assert parse_datetime(datetime(2026, 11, 23, 8, 30)) == datetime(2026, 11, 23, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize("empty", [None, ""])
def test_parse_datetime_empty_is_none(empty: str | None) -> None:
    assert parse_datetime(empty) is None


@pytest.mark.parametrize("garbage", ["garbage", "yesterday at noon", "2026-13-45T99:00:00Z", "Mon, 99 Foo 2026"])
def test_parse_datetime_garbage_raises_invalid_article(garbage: str) -> None:
    with pytest.raises(InvalidArticle):
        parse_datetime(garbage)


# --- normalize_article -----------------------------------------------------------------------


def _raw(**overrides: object) -> RawArticle:
    values: dict[str, object] = {
        "title": "Apple faces EU antitrust probe",
        "url": "https://www.example.com/a?utm_source=x",
        "description": "<p>Shares fell &amp; analysts worried.</p>",
        "body": "<p>Body</p>",
        "source_name": "Market Wire",
        "published_at": "2026-11-18T09:12:00Z",
        "language": "EN",
        "author": "Laura Finch",
    }
    values.update(overrides)
    return RawArticle(**values)  # type: ignore[arg-type]


def test_normalize_article_cleans_fields_and_fingerprints() -> None:
    article = normalize_article(_raw(), ticker="AAPL", source_type="sample")
    assert article.ticker == "AAPL"
    assert article.canonical_url == "https://www.example.com/a"
    assert article.url == "https://www.example.com/a?utm_source=x"
    assert article.description == "Shares fell & analysts worried."
    assert article.body == "Body"
    assert article.language == "en"
    assert article.source == "Market Wire"
    assert article.source_type == "sample"
    assert article.published_at == datetime(2026, 11, 18, 9, 12, tzinfo=UTC)
    assert article.fingerprint == fingerprint("https://www.example.com/a", "Apple faces EU antitrust probe")
    assert article.as_text() == "Apple faces EU antitrust probe\nShares fell & analysts worried."


@pytest.mark.parametrize("title", [None, "", "   ", "<b></b>"])
def test_normalize_article_rejects_missing_title(title: str | None) -> None:
    with pytest.raises(InvalidArticle):
        normalize_article(_raw(title=title), ticker="AAPL", source_type="sample")


@pytest.mark.parametrize("url", [None, "", "ftp://example.com/a"])
def test_normalize_article_rejects_missing_or_non_http_url(url: str | None) -> None:
    with pytest.raises(InvalidArticle):
        normalize_article(_raw(url=url), ticker="AAPL", source_type="sample")


def test_normalize_article_keeps_korean_text_intact() -> None:
    title = "삼성전자, HBM4 북미 고객사 품질 테스트 통과…공급 계약 체결"
    description = "삼성전자가 차세대 HBM4의 북미 대형 고객사 품질 테스트를 통과했다."
    article = normalize_article(
        _raw(
            title=title,
            description=description,
            body="<p>삼성전자 노조는 &quot;파업&quot;을 예고했다.</p>",
            source_name="코리아마켓뉴스",
            author="박서연",
            language="ko",
            url="https://www.koreamarketnews.example/view/2026111700065",
            published_at="2026-11-17T08:55:00+09:00",
        ),
        ticker="005930.KS",
        source_type="sample",
    )
    assert article.title == title
    assert article.description == description
    assert article.body == '삼성전자 노조는 "파업"을 예고했다.'
    assert article.source == "코리아마켓뉴스"
    assert article.author == "박서연"
    assert article.published_at == datetime(2026, 11, 16, 23, 55, tzinfo=UTC)


def test_normalize_article_falls_back_to_host_as_source() -> None:
    article = normalize_article(_raw(source_name=None), ticker="AAPL", source_type="sample")
    assert article.source == "www.example.com"


@pytest.mark.parametrize(
    "published",
    [
        "Fri, 31 Dec 9999 23:59:59 -0100",  # past the calendar in UTC
        "0001-01-01T00:30:00+01:00",  # before it
        "the day after tomorrow",
        "2026-13-45",
    ],
)
def test_an_unusable_date_keeps_the_article_without_one(published: str) -> None:
    article = normalize_article(
        RawArticle(title="Apple news", url="https://wire.example/a", published_at=published),
        ticker="AAPL",
        source_type="rss",
    )
    assert article.title == "Apple news" and article.published_at is None


@pytest.mark.parametrize(
    ("url", "published", "reason"),
    [
        ("http://[::1/item", None, "bad_url"),  # an unclosed IPv6 literal
        ("http://wire.example:99999/a", None, "bad_url"),
        ("javascript:alert(1)", None, "bad_url"),
        ("https:///no-host", None, "bad_url"),
    ],
)
def test_whatever_is_wrong_with_an_item_only_invalid_article_comes_out(
    url: str, published: str | None, reason: str
) -> None:
    raw = RawArticle(title="Apple news", url=url, published_at=published)
    with pytest.raises(InvalidArticle) as caught:
        normalize_article(raw, ticker="AAPL", source_type="rss")
    assert caught.value.reason == reason
