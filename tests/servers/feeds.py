"""Fake feed endpoints and builders for the feed formats and the ways a charset is declared.

`FakeFeedServer(httpserver, "/rss", key="s")` serves the document registered with
`add(value, document)` for requests whose `key` parameter is `value` (404 HTML page for any
other), with the document's own content type, sent exactly as built.

The builders write RSS 2.0 (`rss_document`), Atom 1.0 (`atom_document`), RSS 1.0 / RDF
(`rdf_document`) and Netscape's RSS 0.91 (`rss091_document`). Each can write the document in
any encoding and declare its charset where real servers do (`declare`):

- `"header"`  — only in the HTTP `Content-Type` (`charset=`), the XML declaration names none;
- `"xml"`     — only in the XML declaration (`<?xml … encoding="…"?>`);
- `"both"`    — in both;
- `"nowhere"` — in neither; a reader has to detect it.

`"UTF-16"` is written little-endian after a byte order mark; `"UTF-16LE"` and `"UTF-16BE"` have
none. `written_as` writes the bytes in another codec than the one declared, as Korean servers
do that send CP949 as "EUC-KR".
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import Literal
from xml.sax.saxutils import escape, quoteattr

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.servers.base import ScriptedEndpoint

__all__ = [
    "DECLARATIONS",
    "Declaration",
    "FakeFeedServer",
    "FeedDocument",
    "FeedItem",
    "atom_document",
    "encode_feed",
    "rdf_document",
    "rss091_document",
    "rss_document",
]

Declaration = Literal["header", "xml", "both", "nowhere"]
DECLARATIONS: tuple[Declaration, ...] = ("header", "xml", "both", "nowhere")
RSS_TYPE = "application/rss+xml"
ATOM_TYPE = "application/atom+xml"
RDF_TYPE = "application/rdf+xml"
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


def encode_feed(
    text: str, *, mimetype: str, encoding: str = "UTF-8", declare: Declaration = "both", written_as: str | None = None
) -> FeedDocument:
    """`text` (a document without its XML declaration) in `encoding`, declared as `declare` says.
    Characters the encoding cannot hold are an error, not a `?`."""
    attribute = f' encoding="{encoding}"' if declare in ("xml", "both") else ""
    document = f'<?xml version="1.0"{attribute}?>\n{text}'
    codec = written_as or encoding
    if codecs.lookup(codec).name == "utf-16":
        body = codecs.BOM_UTF16_LE + document.encode("utf-16-le")
    else:
        body = document.encode(codec)
    content_type = f"{mimetype}; charset={encoding}" if declare in ("header", "both") else mimetype
    return FeedDocument(body, content_type)


def _rss_items(items: list[FeedItem], *, dates: bool = True) -> list[str]:
    parts = []
    for item in items:
        parts.append("<item>")
        parts.append(f"<title>{escape(item.title)}</title><link>{escape(item.link)}</link>")
        if dates:
            parts.append(f'<guid isPermaLink="false">{escape(item.guid or item.link)}</guid>')
        if item.summary is not None:
            parts.append(f"<description>{escape(item.summary)}</description>")
        if dates and item.published is not None:
            parts.append(f"<pubDate>{format_datetime(item.published)}</pubDate>")
        if dates and item.author is not None:
            parts.append(f"<author>{escape(item.author)}</author>")
        if dates and item.source is not None:
            parts.append(f'<source url="https://outlet.example.com/rss">{escape(item.source)}</source>')
        parts.append("</item>")
    return parts


def rss_document(
    title: str,
    items: list[FeedItem],
    *,
    language: str | None = "en-us",
    link: str = "https://feeds.example.com/",
    encoding: str = "UTF-8",
    declare: Declaration = "both",
    written_as: str | None = None,
) -> FeedDocument:
    parts = [
        '<rss version="2.0"><channel>',
        f"<title>{escape(title)}</title><link>{escape(link)}</link><description>{escape(title)}</description>",
    ]
    if language:
        parts.append(f"<language>{escape(language)}</language>")
    parts.extend(_rss_items(items))
    parts.append("</channel></rss>")
    return encode_feed("".join(parts), mimetype=RSS_TYPE, encoding=encoding, declare=declare, written_as=written_as)


def rss091_document(
    title: str,
    items: list[FeedItem],
    *,
    language: str | None = "en-us",
    link: str = "https://feeds.example.com/",
    encoding: str = "UTF-8",
    declare: Declaration = "both",
    written_as: str | None = None,
) -> FeedDocument:
    """Netscape's RSS 0.91, with its DOCTYPE: items carry a title, a link and a description only."""
    parts = [
        '<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"'
        ' "http://my.netscape.com/publish/formats/rss-0.91.dtd">',
        '<rss version="0.91"><channel>',
        f"<title>{escape(title)}</title><link>{escape(link)}</link><description>{escape(title)}</description>",
        f"<language>{escape(language or 'en-us')}</language>",  # required in 0.91
    ]
    parts.extend(_rss_items(items, dates=False))
    parts.append("</channel></rss>")
    return encode_feed("\n".join(parts), mimetype=RSS_TYPE, encoding=encoding, declare=declare, written_as=written_as)


def rdf_document(
    title: str,
    items: list[FeedItem],
    *,
    language: str | None = "en-us",
    link: str = "https://feeds.example.com/",
    encoding: str = "UTF-8",
    declare: Declaration = "both",
    written_as: str | None = None,
) -> FeedDocument:
    """RSS 1.0: the channel lists its items, which follow it; dates and language are Dublin Core."""
    parts = [
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/">',
        f"<channel rdf:about={quoteattr(link)}><title>{escape(title)}</title><link>{escape(link)}</link>",
        f"<description>{escape(title)}</description>",
    ]
    if language:
        parts.append(f"<dc:language>{escape(language)}</dc:language>")
    parts.append("<items><rdf:Seq>")
    parts.extend(f"<rdf:li rdf:resource={quoteattr(item.link)}/>" for item in items)
    parts.append("</rdf:Seq></items></channel>")
    for item in items:
        parts.append(f"<item rdf:about={quoteattr(item.link)}><title>{escape(item.title)}</title>")
        parts.append(f"<link>{escape(item.link)}</link>")
        if item.summary is not None:
            parts.append(f"<description>{escape(item.summary)}</description>")
        if item.published is not None:
            parts.append(f"<dc:date>{item.published.isoformat()}</dc:date>")
        if item.author is not None:
            parts.append(f"<dc:creator>{escape(item.author)}</dc:creator>")
        parts.append("</item>")
    parts.append("</rdf:RDF>")
    return encode_feed("".join(parts), mimetype=RDF_TYPE, encoding=encoding, declare=declare, written_as=written_as)


def atom_document(
    title: str,
    entries: list[FeedItem],
    *,
    feed_id: str = "urn:uuid:feed-1",
    updated: str = "2026-11-23T00:00:00Z",
    language: str | None = None,
    encoding: str = "UTF-8",
    declare: Declaration = "both",
    written_as: str | None = None,
) -> FeedDocument:
    lang = f" xml:lang={quoteattr(language)}" if language else ""
    parts = [
        f'<feed xmlns="http://www.w3.org/2005/Atom"{lang}>',
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
    return encode_feed("".join(parts), mimetype=ATOM_TYPE, encoding=encoding, declare=declare, written_as=written_as)


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
