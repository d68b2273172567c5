"""Normalisation and fingerprinting of raw articles.

- times become aware UTC datetimes (naive times are taken as UTC);
- HTML tags are stripped and entities decoded in title, description and body (titles a second
  time when the first pass leaves markup: HTML escaped twice, `strip_title`);
- URLs are made canonical: scheme and host lower-cased, default ports, fragments, tracking
  parameters (`utm_*`, `fbclid`, `gclid`, ...) and trailing slashes dropped, remaining query
  parameters sorted;
- the fingerprint is sha256(canonical URL + "\\n" + normalised title).

An article without a usable title or http(s) URL is rejected with `InvalidArticle`; one without a
usable date is kept without one (collect then dates it by its collection, flagged).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from stockteacher.sources.base import RawArticle

__all__ = [
    "InvalidArticle",
    "NormalizedArticle",
    "canonical_url",
    "fingerprint",
    "normalize_article",
    "parse_datetime",
    "strip_html",
    "strip_title",
]

_TRACKING_EXACT = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "_ga",
        "_gl",
        "ocid",
        "cmpid",
        "smid",
        "sr_share",
        "spm",
        "guccounter",
        "guce_referrer",
        "guce_referrer_sig",
        "ncid",
    }
)
_TRACKING_PREFIXES = ("utm_", "hsa_", "pk_", "mtm_")
_SLASHES = re.compile(r"/{2,}")
_TITLE_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)


class InvalidArticle(ValueError):
    """A raw article that cannot be stored (no title, no http(s) URL), or a date that cannot be
    read (`parse_datetime`); `reason` is a short code for counting (`no_title`, `bad_url`,
    `bad_date`, `malformed`). `normalize_article` keeps an article whose date is unreadable."""

    def __init__(self, message: str, *, reason: str = "malformed") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(slots=True)
class NormalizedArticle:
    ticker: str
    fingerprint: str
    canonical_url: str
    url: str
    title: str
    description: str | None
    body: str | None
    author: str | None
    source: str
    source_type: str
    language: str | None
    published_at: datetime | None

    def as_text(self) -> str:
        return f"{self.title}\n{self.description or ''}"


class _TextExtractor(HTMLParser):
    _BLOCK = frozenset({"p", "br", "div", "li", "h1", "h2", "h3", "h4", "tr"})
    _SKIP = frozenset({"script", "style"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1
        elif tag in self._BLOCK:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def valid_unicode(text: str) -> str:
    """`text` with any lone surrogate (`"\\ud800"` in a JSON file: valid JSON, no character)
    replaced by U+FFFD. Left in, one such title failed its whole batch where text is encoded
    (shingling, PostgreSQL); replaced, the article is kept."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)
    return text


def strip_html(text: str | None) -> str | None:
    """Plain text from an HTML fragment, whitespace collapsed; None for empty input."""
    if text is None:
        return None
    text = valid_unicode(text)
    if "<" in text or "&" in text:
        parser = _TextExtractor()
        parser.feed(text)
        parser.close()
        text = "".join(parser.parts)  # convert_charrefs already decoded the entities, once
    text = " ".join(text.split())  # whitespace collapsed: str.split splits on exactly what re calls \s
    return text or None


# What a title still holds after one pass when its feed escaped the HTML twice: a tag, or an
# entity reference with its semicolon (a bare `&` as in `AT&T` or `R&D` is neither).
_MARKUP_LEFT = re.compile(r"<[A-Za-z/!][^<>]*>|&(?:#[0-9]+|#[xX][0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]*);")


def strip_title(text: str | None) -> str | None:
    """`strip_html`, and once more when what is left is still markup: feeds put entity-escaped
    HTML inside CDATA (`<![CDATA[&lt;b&gt;삼성전자&lt;/b&gt; &amp;quot;…&amp;quot;]]>`). Only
    titles get the second pass, as only headlines are written that way; a body that says
    `&lt;b&gt;` once decoded means the characters."""
    once = strip_html(text)
    if once is not None and _MARKUP_LEFT.search(once):
        return strip_html(once)
    return once


def canonical_url(url: str) -> str:
    """The URL that identifies an article, whatever tracking decorations it arrived with."""
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:  # e.g. an unclosed IPv6 literal: http://[::1/item
        raise InvalidArticle(f"malformed URL ({exc}): {url[:200]!r}", reason="bad_url") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidArticle(f"not an http(s) URL: {url[:200]!r}", reason="bad_url")
    try:
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port
    except ValueError as exc:
        raise InvalidArticle(f"URL with a bad host or port: {url[:200]!r}", reason="bad_url") from exc
    if not host:
        raise InvalidArticle(f"URL without a host: {url[:200]!r}", reason="bad_url")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in _TRACKING_EXACT and not k.lower().startswith(_TRACKING_PREFIXES)
    ]
    path = (_SLASHES.sub("/", parts.path) if "//" in parts.path else parts.path).rstrip("/")
    return urlunsplit((scheme, netloc, path, urlencode(sorted(query)), ""))


def normalise_title(title: str) -> str:
    text = unicodedata.normalize("NFKC", title).casefold()
    return " ".join(_TITLE_PUNCT.sub(" ", text).split())


def fingerprint(canonical: str, title: str) -> str:
    return hashlib.sha256(f"{canonical}\n{normalise_title(title)}".encode()).hexdigest()


def parse_datetime(value: datetime | str | None) -> datetime | None:
    """ISO-8601 or RFC-822 text (or a datetime) as an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        text = str(value).strip()
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            try:
                parsed = parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError, OverflowError) as exc:
                raise InvalidArticle(f"unreadable date {text[:60]!r}", reason="bad_date") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError) as exc:  # 9999-12-31 23:59 -01:00 is past the calendar in UTC
        raise InvalidArticle(f"date outside the calendar {value!s:.60}", reason="bad_date") from exc


def normalize_article(raw: RawArticle, *, ticker: str, source_type: str) -> NormalizedArticle:
    """Clean one raw article and compute its fingerprint. Whatever is wrong with it, the only
    exception is `InvalidArticle`: one bad item never stops the batch it came in."""
    try:
        return _normalize(raw, ticker=ticker, source_type=source_type)
    except InvalidArticle:
        raise
    except (ValueError, TypeError, OverflowError, IndexError, AttributeError) as exc:
        raise InvalidArticle(f"malformed item ({type(exc).__name__}: {str(exc)[:120]})") from exc


def _normalize(raw: RawArticle, *, ticker: str, source_type: str) -> NormalizedArticle:
    title = strip_title(raw.title)
    if not title:
        raise InvalidArticle("article without a title", reason="no_title")
    if not raw.url:
        raise InvalidArticle(f"article without a URL: {title[:80]!r}", reason="bad_url")
    url = valid_unicode(raw.url)
    canonical = canonical_url(url)
    source = strip_html(raw.source_name) or urlsplit(canonical).hostname or source_type
    language = (raw.language or "").strip().lower()[:8] or None
    return NormalizedArticle(
        ticker=ticker,
        fingerprint=fingerprint(canonical, title),
        canonical_url=canonical,
        url=url.strip(),
        title=title,
        description=strip_html(raw.description),
        body=strip_html(raw.body),
        author=(strip_html(raw.author) or None) if raw.author else None,
        source=source[:200],
        source_type=source_type,
        language=language,
        published_at=_usable_date(raw.published_at),
    )


def _usable_date(value: datetime | str | None) -> datetime | None:
    """The article's date, or None when there is none that can be used: the article is kept,
    and collect dates it by its collection (flagged `published_at_estimated`)."""
    try:
        return parse_datetime(value)
    except InvalidArticle:
        return None
