"""Normalisation and fingerprinting of raw articles.

- times become aware UTC datetimes (naive times are taken as UTC);
- HTML tags are stripped and entities decoded in title, description and body;
- URLs are made canonical: scheme and host lower-cased, default ports, fragments, tracking
  parameters (`utm_*`, `fbclid`, `gclid`, ...) and trailing slashes dropped, remaining query
  parameters sorted;
- the fingerprint is sha256(canonical URL + "\\n" + normalised title).

An article without a usable title or http(s) URL is rejected with `InvalidArticle`.
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
_WS = re.compile(r"\s+")
_TITLE_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)


class InvalidArticle(ValueError):
    """A raw article that cannot be stored (no title, no http(s) URL, unreadable date)."""


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


def strip_html(text: str | None) -> str | None:
    """Plain text from an HTML fragment, whitespace collapsed; None for empty input."""
    if text is None:
        return None
    if "<" in text or "&" in text:
        parser = _TextExtractor()
        parser.feed(text)
        parser.close()
        text = "".join(parser.parts)  # convert_charrefs already decoded the entities, once
    text = _WS.sub(" ", text).strip()
    return text or None


def canonical_url(url: str) -> str:
    """The URL that identifies an article, whatever tracking decorations it arrived with."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidArticle(f"not an http(s) URL: {url[:200]!r}")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise InvalidArticle(f"URL without a host: {url[:200]!r}")
    try:
        port = parts.port
    except ValueError as exc:
        raise InvalidArticle(f"URL with a bad port: {url[:200]!r}") from exc
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in _TRACKING_EXACT and not k.lower().startswith(_TRACKING_PREFIXES)
    ]
    path = re.sub(r"/{2,}", "/", parts.path).rstrip("/")
    return urlunsplit((scheme, netloc, path, urlencode(sorted(query)), ""))


def normalise_title(title: str) -> str:
    text = unicodedata.normalize("NFKC", title).casefold()
    text = _TITLE_PUNCT.sub(" ", text)
    return _WS.sub(" ", text).strip()


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
            except (TypeError, ValueError, IndexError) as exc:
                raise InvalidArticle(f"unreadable date {text[:60]!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def normalize_article(raw: RawArticle, *, ticker: str, source_type: str) -> NormalizedArticle:
    """Clean one raw article and compute its fingerprint."""
    title = strip_html(raw.title)
    if not title:
        raise InvalidArticle("article without a title")
    if not raw.url:
        raise InvalidArticle(f"article without a URL: {title[:80]!r}")
    canonical = canonical_url(raw.url)
    source = strip_html(raw.source_name) or urlsplit(canonical).hostname or source_type
    language = (raw.language or "").strip().lower()[:8] or None
    return NormalizedArticle(
        ticker=ticker,
        fingerprint=fingerprint(canonical, title),
        canonical_url=canonical,
        url=raw.url.strip(),
        title=title,
        description=strip_html(raw.description),
        body=strip_html(raw.body),
        author=(strip_html(raw.author) or None) if raw.author else None,
        source=source[:200],
        source_type=source_type,
        language=language,
        published_at=parse_datetime(raw.published_at),
    )
