"""RSS (0.9x, 1.0/RDF, 2.0) and Atom feeds, one or more URL templates per ticker (`RSS_FEED_TEMPLATES`).

A template holds `{ticker}` (the symbol, URL-quoted) and/or `{query}` (the company's name in
the feed's language, URL-quoted). Feeds are fetched with httpx (timeouts, retries) and parsed
with feedparser, which copes with both formats and with real-world mistakes in them.

Feeds are taken as they are published: feedparser gets the response's `Content-Type`, with
the charset the bytes really are in (`document_charset`: a byte order mark, then the header's
charset, then the XML declaration's, each with the superset servers send under its name —
CP949 as "EUC-KR" — as long as it decodes the document; otherwise charset-normalizer's reading
of the text, among the encodings of the feed's `<language>` when it names one), and
`Content-Location` (relative links resolve against it, or `xml:base`, or the feed's URL).

Dates are feedparser's readings in UTC (it reads many more formats than RFC 822), except the
Korean Nate and OnBlog formats and the zone names KST, JST and HKT, which it misreads and which
are read here. An item whose date cannot be read, or lies past either end of the calendar, is
kept without one: the article's `collected_at` then says when it was seen.
"""

from __future__ import annotations

import asyncio
import codecs
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urljoin

import feedparser
import httpx
from charset_normalizer import from_bytes

from stockteacher.core.tls import tls_context
from stockteacher.logs import get_logger
from stockteacher.settings import Settings
from stockteacher.sources.base import (
    HttpPolicy,
    MalformedResponseError,
    RateLimitedError,
    RawArticle,
    SourceConfigError,
    SourceError,
    error_for_status,
    get_with_policy,
    log_rate_limit,
    with_retries,
)
from stockteacher.tickers.registry import TickerInfo

__all__ = ["RssSource", "document_charset", "parse_feed"]

log = get_logger(__name__)
NAME = "rss"


class RssSource:
    name = NAME

    def __init__(self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.transport = transport
        self.policy = HttpPolicy.of(settings, "rss")

    def urls_for(self, ticker: TickerInfo) -> list[str]:
        urls = []
        for template in self.settings.rss_feed_templates:
            language = "ko" if ticker.country == "KR" else "en"
            urls.append(
                template.replace("{ticker}", quote(ticker.symbol, safe="")).replace(
                    "{query}", quote(ticker.query(language), safe="")
                )
            )
        return urls

    async def fetch(self, ticker: TickerInfo) -> list[RawArticle]:
        urls = self.urls_for(ticker)
        if not urls:
            raise SourceConfigError("rss: RSS_FEED_TEMPLATES is empty", source=NAME, code="not_configured")
        async with httpx.AsyncClient(
            timeout=self.policy.timeout_seconds,
            transport=self.transport,
            verify=tls_context(),
            follow_redirects=True,
            headers={
                "User-Agent": "StockTeacher/0.1",
                "Accept": "application/rss+xml, application/atom+xml, application/xml, text/xml;q=0.9, */*;q=0.5",
            },
        ) as client:
            results = await asyncio.gather(
                *(
                    with_retries(lambda u=url: self._get_feed(client, u), source=NAME, policy=self.policy)
                    for url in urls
                ),
                return_exceptions=True,
            )
        # One broken feed must not hide the others; only when every feed failed is it an error.
        failures = [r for r in results if isinstance(r, BaseException)]
        for url, result in zip(urls, results, strict=True):
            if isinstance(result, SourceError):
                log.warning("rss.feed_failed", feed=url, error_code=result.code, error=str(result))
            elif isinstance(result, BaseException):
                raise result
        if failures and len(failures) == len(results):
            raise failures[0]
        articles = [article for r in results if not isinstance(r, BaseException) for article in r]
        log.info("rss.fetched", feeds=len(urls), items=len(articles))
        return articles

    async def _get_feed(self, client: httpx.AsyncClient, url: str) -> list[RawArticle]:
        response = await get_with_policy(client, url, source=NAME)
        if response.status_code >= 400:
            exc = error_for_status(response, source=NAME)
            if isinstance(exc, RateLimitedError):
                log_rate_limit(NAME, exc)
            raise exc
        return parse_feed(response.content, url=str(response.url), headers=response.headers)


# Labels servers use for an encoding that Python knows under another name, or not at all.
_LABELS = {"windows-949": "cp949", "x-windows-949": "cp949", "ks_c_5601-1987": "cp949", "windows-31j": "cp932",
           "x-sjis": "shift_jis", "x-x-big5": "big5", "x-gbk": "gbk", "x-euc-jp": "euc_jp"}  # fmt: skip
# What a label is used for in practice (the WHATWG Encoding Standard's reading): the declared
# codec is tried first, then the superset servers send under its name (CP949 as "EUC-KR",
# Windows-31J as "Shift_JIS", CP950 as "Big5"). "ISO-8859-1" is read as Windows-1252 first:
# the two differ only where Latin-1 has control characters and Windows-1252 has “curly quotes”.
_CANDIDATES = {"euc_kr": ("euc_kr", "cp949"), "shift_jis": ("shift_jis", "cp932"), "big5": ("big5", "cp950"),
               "gb2312": ("gb2312", "gbk", "gb18030"), "gbk": ("gbk", "gb18030"),
               "iso8859-1": ("cp1252", "iso8859-1"), "ascii": ("ascii", "cp1252")}  # fmt: skip
# Codecs that decode almost any bytes, so decoding is no evidence for them: a document that is
# valid UTF-8 (and not ASCII) is UTF-8 whichever of these it is labelled with.
_SINGLE_BYTE = frozenset({"cp1252", "iso8859-1", "ascii"})
# A feed's language says which legacy encodings it can be in, when a detector cannot tell from
# a few short headlines (Big5 and Shift_JIS look alike in a handful of bytes).
_LANGUAGE_CODECS = {"ko": ("cp949",), "ja": ("cp932", "euc_jp"), "zh-tw": ("cp950",), "zh-hk": ("cp950", "big5hkscs"),
                    "zh-mo": ("cp950",), "zh-hant": ("cp950",), "zh-cn": ("gb18030",), "zh-sg": ("gb18030",),
                    "zh-hans": ("gb18030",), "zh": ("gb18030", "cp950")}  # fmt: skip
_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
# XML 1.0 appendix F: '<?' in UTF-16 without a byte order mark
_UTF16_MARKERS = ((b"<\x00?\x00", "utf-16-le"), (b"\x00<\x00?", "utf-16-be"))
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""", re.IGNORECASE)
_FEED_LANGUAGE = re.compile(
    rb"""<(?:dc:)?language>\s*([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*)\s*<|xml:lang\s*=\s*["']([A-Za-z]{2,3}[A-Za-z0-9_-]*)""",
    re.IGNORECASE,
)
_MARKUP = re.compile(rb"<[^<>]*>")


def _response_headers(content: bytes, url: str, headers: Mapping[str, str] | None) -> dict[str, str]:
    """What feedparser should know of the response: its content type, with the charset the
    document is really in, and where relative links start."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    content_type = headers.get("content-type", "application/xml")
    mimetype, _, params = content_type.partition(";")
    declared = re.search(r"charset\s*=\s*[\"']?([^\s;\"']+)", params, re.IGNORECASE)
    charset = document_charset(
        content, declared=declared.group(1) if declared else None, language=headers.get("content-language")
    )
    if charset is not None:
        content_type = f"{mimetype.strip()}; charset={charset}"
    base = urljoin(url, headers["content-location"]) if headers.get("content-location") else url
    return {"content-type": content_type, "content-location": base}


def document_charset(content: bytes, *, declared: str | None = None, language: str | None = None) -> str | None:
    """The codec a feed's bytes decode with, or None when nothing fits (feedparser then tries).

    A byte order mark, or '<?' in UTF-16, is the document's own word. Otherwise the charset
    declared in the HTTP header comes first and then the XML declaration's (RFC 7303), each
    with the superset servers send under its name; the first that decodes the whole document
    cleanly wins (a UTF-8 document labelled Latin-1 is UTF-8). A document that declares none,
    or none that fits, is detected with
    charset-normalizer from its text content, among the encodings of its declared language
    when it names one."""
    for mark, codec in _BOMS + _UTF16_MARKERS:
        if content.startswith(mark):
            return codec
    in_document = _XML_ENCODING.match(content[:500])
    for label in (declared, in_document.group(1).decode("ascii") if in_document else None):
        for codec in _codec_family(label):
            if codec in _SINGLE_BYTE and not content.isascii() and _decodes(content, "utf-8"):
                return "utf-8"  # a server's default label on a UTF-8 feed
            if _decodes(content, codec):
                return codec
    return _detected_charset(content, language)


def _codec_family(label: str | None) -> tuple[str, ...]:
    if not label:
        return ()
    label = _LABELS.get(label.strip().lower(), label.strip())
    try:
        codec = codecs.lookup(label).name
    except LookupError:
        return ()
    return _CANDIDATES.get(codec, (codec,))


def _decodes(content: bytes, codec: str) -> bool:
    try:
        content.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _detected_charset(content: bytes, language: str | None) -> str | None:
    found = _FEED_LANGUAGE.search(content[:5_000])
    if found:
        language = (found.group(1) or found.group(2)).decode("ascii")
    # The detector sees the text, not the markup: tags, URLs of links and the XML declaration
    # are ASCII and would outweigh a few short headlines. CDATA sections are text.
    text = _MARKUP.sub(b"\n", content[:200_000].replace(b"<![CDATA[", b"").replace(b"]]>", b""))
    hinted = _language_codecs(language)
    for isolation in ([*hinted, "utf_8"], None) if hinted else (None,):
        for match in from_bytes(text, cp_isolation=isolation):
            codec = "utf-8" if match.encoding == "ascii" else match.encoding
            for candidate in _codec_family(codec):
                if _decodes(content, candidate):
                    return candidate
    return None


def _language_codecs(language: str | None) -> tuple[str, ...]:
    tag = (language or "").strip().lower().replace("_", "-")
    while tag:
        if tag in _LANGUAGE_CODECS:
            return _LANGUAGE_CODECS[tag]
        tag = tag.rpartition("-")[0]
    return ()


# Korean formats feedparser has readers for but misreads, because its looser W3C reader is
# tried first and takes a prefix: Nate's `2004-05-25 오후 11:23:17` loses its time, OnBlog's
# `2004년 05월 28일 01:31:15` becomes 1 December. Both are KST.
_NATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})\s+(오전|오후)\s*(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?")
_ONBLOG = re.compile(r"(\d{4})년\s*(\d{1,2})월\s*(\d{1,2})일\s*(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?")
_KST = timezone(timedelta(hours=9))
# Zone names of the markets we follow that feedparser's RFC 822 reader takes for UTC.
_ZONE_NAMES = {"KST": "+0900", "JST": "+0900", "HKT": "+0800"}
_NAMED_ZONE = re.compile(r"(.*\d:\d{2}(?::\d{2})?)\s+(KST|JST|HKT)", re.IGNORECASE)
_WRITTEN_YEAR = re.compile(r"(?<![\d+\-:])(\d{4})(?![\d:])")


def _parsed_date(entry: Any) -> datetime | None:
    """When the item says it was published (or else updated), in UTC; None when no date of it
    can be read or it lies outside the calendar. feedparser reads most formats; the ones it
    gets wrong are read here first."""
    for key in ("published", "updated"):
        text = dict.get(entry, key)  # not FeedParserDict's aliasing
        parsed: time.struct_time | None = dict.get(entry, f"{key}_parsed")
        reading = _read_date(str(text or "").strip(), parsed)
        if reading is not None:
            return reading
    return None


def _read_date(text: str, parsed: time.struct_time | None) -> datetime | None:
    try:
        moment = _korean_date(text) or _named_zone_date(text)
        if moment is None and parsed is not None:
            moment = datetime(*parsed[:6], tzinfo=UTC)
        if moment is None:
            return None
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError, TypeError, IndexError):  # past either end of the calendar
        return None
    # When the written date has a four-digit year, a reading of another year is a fallback
    # reader's guess (feedparser reads `01 Jan 0001 00:30 +0100` as the year 100): no date.
    written = _WRITTEN_YEAR.search(text)
    if written and abs(int(written.group(1)) - moment.year) > 1:
        return None
    return moment


def _korean_date(text: str) -> datetime | None:
    if nate := _NATE.fullmatch(text):
        year, month, day, half, hour, minute, second = nate.groups()
        hour_24 = int(hour) % 12 + (12 if half == "오후" else 0)  # 오전 12시 is midnight, 오후 12시 noon
        return datetime(int(year), int(month), int(day), hour_24, int(minute), int(second or 0), tzinfo=_KST)
    if onblog := _ONBLOG.fullmatch(text):
        year, month, day, hour, minute, second = onblog.groups()
        return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), tzinfo=_KST)
    return None


def _named_zone_date(text: str) -> datetime | None:
    if named := _NAMED_ZONE.fullmatch(text):
        return parsedate_to_datetime(f"{named.group(1)} {_ZONE_NAMES[named.group(2).upper()]}")
    return None


def parse_feed(content: bytes, *, url: str = "", headers: Mapping[str, str] | None = None) -> list[RawArticle]:
    """Articles from an RSS or Atom document; `MalformedResponseError` if it is neither."""
    parsed = feedparser.parse(content, response_headers=_response_headers(content, url, headers))
    if parsed.bozo and not parsed.entries:
        reason = getattr(parsed.get("bozo_exception"), "getMessage", lambda: str(parsed.get("bozo_exception")))()
        raise MalformedResponseError(f"rss: {url or 'feed'} is not a readable RSS/Atom feed ({reason})", source=NAME)
    if not parsed.version and not parsed.entries:
        raise MalformedResponseError(f"rss: {url or 'feed'} is not an RSS/Atom feed", source=NAME)
    feed: Any = parsed.feed
    feed_title = feed.get("title")
    language = (feed.get("language") or "").split("-")[0] or None
    articles = []
    for entry in parsed.entries:
        content = entry.get("content")
        body = content[0].get("value") if content else None
        source = entry.get("source", {}).get("title") if isinstance(entry.get("source"), dict) else None
        articles.append(
            RawArticle(
                title=entry.get("title"),
                url=entry.get("link"),
                description=entry.get("summary"),
                body=body,
                source_name=source or feed_title,
                published_at=_parsed_date(entry),
                language=language,
                author=entry.get("author"),
            )
        )
    return articles
