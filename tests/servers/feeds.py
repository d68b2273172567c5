"""Fake RSS 2.0 / Atom 1.0 feed endpoints and builders for the two document formats.

`FakeFeedServer(httpserver, "/rss", key="s")` serves the document registered with
`add(value, document)` for requests whose `key` parameter is `value` (404 HTML page for any
other), with the document's own content type.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape, quoteattr

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.servers.base import ScriptedEndpoint

__all__ = ["FakeFeedServer", "FeedDocument", "FeedItem", "atom_document", "rss_document"]

RSS_TYPE = "application/rss+xml; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
NOT_FOUND_PAGE = b"<!DOCTYPE html><html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"


@dataclass(frozen=True)
class FeedItem:
    title: str
    link: str
    summary: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    author: str | None = None
    source: str | None = None  # RSS <source>: the outlet, as aggregators such as Google News set it
    guid: str | None = None


@dataclass(frozen=True)
class FeedDocument:
    body: bytes
    content_type: str


def rss_document(
    title: str, items: list[FeedItem], *, language: str | None = "en-us", link: str = "https://feeds.example.com/"
) -> FeedDocument:
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0"><channel>',
        f"<title>{escape(title)}</title><link>{escape(link)}</link><description>{escape(title)}</description>",
    ]
    if language:
        parts.append(f"<language>{escape(language)}</language>")
    for item in items:
        parts.append("<item>")
        parts.append(f"<title>{escape(item.title)}</title><link>{escape(item.link)}</link>")
        parts.append(f'<guid isPermaLink="false">{escape(item.guid or item.link)}</guid>')
        if item.summary is not None:
            parts.append(f"<description>{escape(item.summary)}</description>")
        if item.published is not None:
            parts.append(f"<pubDate>{format_datetime(item.published)}</pubDate>")
        if item.author is not None:
            parts.append(f"<author>{escape(item.author)}</author>")
        if item.source is not None:
            parts.append(f'<source url="https://outlet.example.com/rss">{escape(item.source)}</source>')
        parts.append("</item>")
    parts.append("</channel></rss>")
    return FeedDocument("".join(parts).encode("utf-8"), RSS_TYPE)


def atom_document(
    title: str, entries: list[FeedItem], *, feed_id: str = "urn:uuid:feed-1", updated: str = "2026-11-23T00:00:00Z"
) -> FeedDocument:
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        f"<title>{escape(title)}</title><id>{escape(feed_id)}</id><updated>{updated}</updated>",
        '<link rel="self" href="https://feeds.example.com/atom"/>',
    ]
    for index, entry in enumerate(entries):
        parts.append("<entry>")
        parts.append(f"<title>{escape(entry.title)}</title>")
        parts.append(f'<link rel="alternate" href={quoteattr(entry.link)}/>')
        parts.append(f"<id>{escape(entry.guid or f'urn:uuid:entry-{index}')}</id>")
        if entry.published is not None:
            parts.append(f"<published>{entry.published.isoformat()}</published>")
        stamp = entry.updated or entry.published or datetime.fromisoformat(updated)
        parts.append(f"<updated>{stamp.isoformat()}</updated>")
        if entry.summary is not None:
            parts.append(f'<summary type="html">{escape(entry.summary)}</summary>')
        if entry.author is not None:
            parts.append(f"<author><name>{escape(entry.author)}</name></author>")
        parts.append("</entry>")
    parts.append("</feed>")
    return FeedDocument("".join(parts).encode("utf-8"), ATOM_TYPE)


class FakeFeedServer(ScriptedEndpoint):
    def __init__(self, httpserver: HTTPServer, path: str, *, key: str = "s") -> None:
        self.key = key
        self.documents: dict[str, FeedDocument] = {}
        super().__init__(httpserver, path)

    def add(self, value: str, document: FeedDocument) -> None:
        self.documents[value] = document

    def template(self, placeholder: str = "{ticker}") -> str:
        """A `RSS_FEED_TEMPLATES` entry that points here."""
        return f"{self.url}?{self.key}={placeholder}"

    def serve(self, request: Request) -> Response:
        document = self.documents.get(request.args.get(self.key, ""))
        if document is None:
            return Response(NOT_FOUND_PAGE, status=404, content_type="text/html; charset=utf-8")
        return Response(document.body, status=200, content_type=document.content_type)

    def keys_requested(self) -> list[str | None]:
        return [r.arg(self.key) for r in self.requests]
