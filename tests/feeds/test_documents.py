"""`feeds.documents` without a database: If-None-Match matching, ETags that follow the content,
and the three formats written from one `Feed`."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import feedparser
import pytest

from stockteacher.feeds.documents import Feed, FeedItem, etag, etag_matches, http_date, json_feed, render

MOMENT = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)
ITEM = FeedItem(
    insight_id="ins_0001",
    title="삼성전자 <급락> & 반등",
    url="https://st.example/#report=ins_0001",
    summary="요약: 주가가 6% 떨어졌다가 반등했습니다.",
    text="요약: 주가가 6% 떨어졌다가 반등했습니다.\n\n출처:\n- 기사 https://news.example/1",
    language="ko",
    categories=("005930.KS", "부정적", "urgent"),
    published_at=MOMENT,
    updated_at=MOMENT,
)
FEED = Feed(
    title="StockTeacher · 삼성전자 (005930.KS)",
    description="리포트",
    language="ko",
    home_page_url="https://st.example/",
    feed_urls={fmt: f"https://st.example/feeds/005930.KS.{fmt}" for fmt in ("rss", "atom", "json")},
    items=(ITEM,),
)


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (None, False),
        ("", False),
        ('"rss-abc"', True),
        ('W/"rss-abc"', True),
        ('"x", "rss-abc"', True),
        ('"x",W/"rss-abc" ', True),
        ("*", True),
        (" * ", True),
        ('"rss-ab"', False),
        ("rss-abc", False),  # not a quoted tag
        ('"x", "y"', False),
    ],
)
def test_if_none_match(header: str | None, matches: bool) -> None:
    assert etag_matches(header, '"rss-abc"') is matches


def test_the_etag_follows_the_format_and_every_field() -> None:
    tag = etag(FEED, "rss")
    assert tag == etag(dataclasses.replace(FEED), "rss") and tag.startswith('"rss-') and tag.endswith('"')
    changed = [
        etag(FEED, "atom"),
        etag(dataclasses.replace(FEED, title="other"), "rss"),
        etag(dataclasses.replace(FEED, items=()), "rss"),
        etag(
            dataclasses.replace(FEED, items=(dataclasses.replace(ITEM, updated_at=datetime(2025, 3, 4, tzinfo=UTC)),)),
            "rss",
        ),
        etag(dataclasses.replace(FEED, items=(dataclasses.replace(ITEM, title="정정"),)), "rss"),
    ]
    assert tag not in changed and len(set(changed)) == len(changed)


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_xml_keeps_the_text_intact(fmt: str) -> None:
    parsed = feedparser.parse(render(FEED, fmt))  # type: ignore[arg-type]
    assert not parsed.bozo, parsed.bozo_exception
    assert parsed.feed.title == FEED.title and parsed.feed.language == "ko"
    entry = parsed.entries[0]
    assert entry.title == ITEM.title  # <, > and & escaped by feedgen, read back as written
    assert entry.summary == ITEM.summary
    assert [t.term for t in entry.tags] == list(ITEM.categories)


def test_the_xml_is_the_same_bytes_each_time() -> None:
    """No "now" in the document (lastBuildDate, updated): equal tags mean equal bytes."""
    assert render(FEED, "rss") == render(dataclasses.replace(FEED), "rss")
    assert b"Mon, 03 Mar 2025 09:30:00 +0000" in render(FEED, "rss")
    assert b"1970" in render(dataclasses.replace(FEED, items=()), "atom")


def test_json_feed_is_utf8_and_complete() -> None:
    body = render(FEED, "json")
    assert ITEM.title.encode() in body
    document = json.loads(body)
    assert document == json_feed(FEED)
    assert set(document) >= {"version", "title", "items", "home_page_url", "feed_url", "language"}
    assert document["items"][0]["date_published"] == "2025-03-03T09:30:00Z"
    assert document["items"][0]["content_text"] == ITEM.text


def test_http_date() -> None:
    assert http_date(datetime(2025, 3, 3, 18, 30, 5, 123, tzinfo=UTC)) == "Mon, 03 Mar 2025 18:30:05 GMT"
