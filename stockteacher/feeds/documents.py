"""Feed documents: a `Feed` of reports written as RSS 2.0 or Atom (feedgen) or JSON Feed 1.1
(a dict: no well-kept library writes it), and the ETag that stands for each. Pure: no database,
no settings, no clock.

- One `Feed` makes every format, so the three list the same reports in the same order (newest
  first) with the same words.
- An item's id is the report's insight_id: the RSS `<guid isPermaLink="false">` and the JSON
  Feed `id`. Atom ids must be IRIs, so there it is `urn:stockteacher:report:<insight_id>`.
- `etag(feed, format)` is a strong validator: a digest of the format, `DOCUMENT_VERSION` and
  every field of the feed (its metadata, and each item's id, timestamps and text), so two
  answers with the same tag are the same bytes, and a new, changed or hidden report changes it.
  It is computed without writing the document, so a 304 costs the query only.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Literal, get_args

from feedgen.feed import FeedGenerator  # type: ignore[import-untyped]  # feedgen ships no types

__all__ = [
    "DOCUMENT_VERSION",
    "FORMATS",
    "JSON_FEED_VERSION",
    "MEDIA_TYPES",
    "Feed",
    "FeedFormat",
    "FeedItem",
    "atom_id",
    "etag",
    "etag_matches",
    "http_date",
    "json_feed",
    "render",
]

FeedFormat = Literal["rss", "atom", "json"]
FORMATS: tuple[FeedFormat, ...] = get_args(FeedFormat)
MEDIA_TYPES: dict[FeedFormat, str] = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
# Raise when the documents are written differently, so every client's cached copy is stale.
DOCUMENT_VERSION = "1"
AUTHOR = "StockTeacher"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # Atom needs an `updated` even for a feed with no items
_ETAG = re.compile(r'(?:W/)?("[^"]*")')


@dataclass(frozen=True)
class FeedItem:
    """One published report, as every format shows it."""

    insight_id: str
    title: str  # the headline
    url: str  # the report on the web page
    summary: str  # the report's summary_text
    text: str  # the summary and its sources: Atom's content, JSON Feed's content_text
    language: str  # "ko" / "en"
    categories: tuple[str, ...]  # the ticker, the sentiment in words, the report's tags
    published_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Feed:
    """A list of reports, newest first, with what a feed reader shows about it."""

    title: str
    description: str
    language: str
    home_page_url: str
    feed_urls: dict[str, str]  # format -> this feed's own address in it
    items: tuple[FeedItem, ...]

    @property
    def updated(self) -> datetime | None:
        """When the newest change to any item was made (None for an empty feed)."""
        moments = [max(i.published_at, i.updated_at) for i in self.items]
        return max(moments) if moments else None


def atom_id(insight_id: str) -> str:
    return f"urn:stockteacher:report:{insight_id}"


def render(feed: Feed, fmt: FeedFormat) -> bytes:
    """The document in `fmt`, UTF-8."""
    if fmt == "json":
        return json.dumps(json_feed(feed), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    generator = _generator(feed, fmt)
    return generator.atom_str(pretty=False) if fmt == "atom" else generator.rss_str(pretty=False)


def json_feed(feed: Feed) -> dict[str, Any]:
    """JSON Feed 1.1 (https://jsonfeed.org/version/1.1): the required `version`, `title`,
    `items` (each with `id` and `content_text`), and what readers use besides."""
    return {
        "version": JSON_FEED_VERSION,
        "title": feed.title,
        "home_page_url": feed.home_page_url,
        "feed_url": feed.feed_urls["json"],
        "description": feed.description,
        "language": feed.language,
        "authors": [{"name": AUTHOR}],
        "items": [_json_item(item) for item in feed.items],
    }


def _json_item(item: FeedItem) -> dict[str, Any]:
    return {
        "id": item.insight_id,
        "url": item.url,
        "title": item.title,
        "content_text": item.text,
        "summary": item.summary,
        "date_published": _rfc3339(item.published_at),
        "date_modified": _rfc3339(item.updated_at),
        "tags": list(item.categories),
        "language": item.language,
    }


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _generator(feed: Feed, fmt: FeedFormat) -> FeedGenerator:
    generator = FeedGenerator()
    generator.id(feed.feed_urls["atom"])
    generator.title(feed.title)
    generator.description(feed.description)  # RSS <description>, Atom <subtitle>
    generator.language(feed.language)
    generator.author(name=AUTHOR)
    generator.generator(AUTHOR)
    generator.link(href=feed.feed_urls[fmt], rel="self", type=MEDIA_TYPES[fmt].split(";")[0])
    generator.link(href=feed.home_page_url, rel="alternate")  # the last link is RSS's <link>
    generator.updated(feed.updated or EPOCH)  # Atom <updated>, RSS <lastBuildDate>: not "now"
    for item in feed.items:
        _add_entry(generator, item, fmt)
    return generator


def _add_entry(generator: FeedGenerator, item: FeedItem, fmt: FeedFormat) -> None:
    entry = generator.add_entry(order="append")  # feedgen prepends by default
    entry.title(item.title)
    entry.link(href=item.url, rel="alternate")
    if fmt == "atom":
        entry.id(atom_id(item.insight_id))
        entry.content(item.text, type="text")
    else:
        entry.guid(item.insight_id, permalink=False)
    entry.summary(item.summary)  # Atom <summary>, RSS <description>
    entry.published(item.published_at)
    entry.updated(item.updated_at)
    for term in item.categories:
        entry.category(term=term)


def etag(feed: Feed, fmt: FeedFormat) -> str:
    """A strong ETag for `render(feed, fmt)`, without rendering it."""
    facts = json.dumps([DOCUMENT_VERSION, fmt, _facts(feed)], default=_moment, sort_keys=True, ensure_ascii=False)
    return f'"{fmt}-{hashlib.sha256(facts.encode("utf-8")).hexdigest()[:32]}"'


def _facts(value: object) -> object:
    """Every field of a feed (or item), in order: what `asdict` gives, without its deep copies
    (they were 40 % of a 304's time)."""
    if isinstance(value, (Feed, FeedItem)):
        return [_facts(getattr(value, f.name)) for f in fields(value)]
    if isinstance(value, (tuple, list)):
        return [_facts(v) for v in value]
    if isinstance(value, dict):
        return {k: _facts(v) for k, v in value.items()}
    return value


def _moment(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def etag_matches(if_none_match: str | None, current: str) -> bool:
    """Whether `If-None-Match` names `current`: `*`, or a list of tags compared weakly (RFC 9110
    13.1.2: `W/"x"` matches `"x"`), as a GET's conditional request is."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = current.removeprefix("W/")
    return any(tag == wanted for tag in _ETAG.findall(if_none_match))


def http_date(moment: datetime) -> str:
    """`Last-Modified`'s format: `Tue, 03 Mar 2025 09:00:00 GMT`."""
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0), usegmt=True)
