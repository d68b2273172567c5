"""The bundled ticker registry: names and aliases in English and Korean, queries, relevance.

Relevance decides whether an article is really about the company behind a ticker:

- English names and aliases match case-sensitively on word boundaries ("Apple" but not
  "apple pie", "Alibaba" but never a person called "Baba");
- Korean names and aliases match when not glued to a preceding Hangul syllable, so a trailing
  particle ("삼성전자가") still matches;
- the symbol matches as a cashtag (`$BABA`), after an exchange prefix (`NYSE: BABA`), or bare in
  upper case on word boundaries when it is at least three characters and not a common word;
  Korean codes also match by their six digits.

Unknown tickers still work: they are matched by symbol alone.

Operators add tickers and aliases on top of the bundled `tickers.csv` (`stockteacher tickers
add`, stored in the database); `tickers.service` installs them here with `install_added`, and
every lookup, search and relevance check then sees the merged registry. `search` and
`exact_matches` find tickers by symbol, English or Korean name and alias.
"""

from __future__ import annotations

import csv
import re
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import cache, cached_property
from importlib import resources

__all__ = [
    "TickerError",
    "TickerInfo",
    "all_tickers",
    "exact_matches",
    "install_added",
    "is_bundled",
    "lookup",
    "normalise_symbol",
    "search",
]

_WORD_BREAK = re.compile(r"[\s&.,()/-]+")
_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9.\-]{0,14}$")
# Upper-case words that are also tickers; bare matches of these are too noisy.
_COMMON_WORDS = frozenset(
    "ALL AND ARE CAN CAT FOR HAS KEY LOW NEW NOW ONE OUT SEE THE TWO USA WAS YOU CEO CFO IPO ETF "
    "GDP CPI FED SEC AI".split()
)


class TickerError(ValueError):
    """A ticker symbol that cannot be a ticker (empty, spaces, odd characters)."""


@dataclass(frozen=True)
class TickerInfo:
    symbol: str
    exchange: str | None = None
    country: str | None = None
    name_en: str | None = None
    name_ko: str | None = None
    aliases_en: tuple[str, ...] = field(default_factory=tuple)
    aliases_ko: tuple[str, ...] = field(default_factory=tuple)

    @property
    def known(self) -> bool:
        return self.name_en is not None or self.name_ko is not None

    @property
    def aliases(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.aliases_en + self.aliases_ko))

    def names(self) -> tuple[str, ...]:
        """Every name the company goes by, names first, then aliases."""
        return tuple(n for n in (self.name_en, self.name_ko, *self.aliases) if n)

    @property
    def base_symbol(self) -> str:
        """`005930` for `005930.KS`; the symbol itself otherwise."""
        head, _, suffix = self.symbol.partition(".")
        return head if suffix in ("KS", "KQ") else self.symbol

    def query(self, language: str) -> str:
        """A news-search query for this company in `language` (`ko` or anything else)."""
        if language == "ko" and self.name_ko:
            return self.name_ko
        if self.name_en:
            names = [self.name_en] + [a for a in self.aliases_en if " " not in a][:1]
            terms = [f'"{n}"' if " " in n else n for n in dict.fromkeys(names)]
            if self.country == "US" and len(self.symbol) >= 3 and self.symbol not in _COMMON_WORDS:
                terms.append(self.symbol)
            return " OR ".join(terms)
        return self.symbol

    @cached_property
    def _patterns(self) -> tuple[re.Pattern[str], ...]:
        patterns: list[re.Pattern[str]] = []
        english = [n for n in (self.name_en, *self.aliases_en) if n]
        if english:
            alternatives = "|".join(re.escape(n) for n in sorted(english, key=len, reverse=True))
            patterns.append(re.compile(rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])"))
        korean = [n for n in (self.name_ko, *self.aliases_ko) if n]
        if korean:
            alternatives = "|".join(re.escape(n) for n in sorted(korean, key=len, reverse=True))
            patterns.append(re.compile(rf"(?<![가-힣A-Za-z0-9])(?:{alternatives})"))
        symbols = {self.symbol, self.base_symbol}
        for symbol in symbols:
            s = re.escape(symbol)
            patterns.append(re.compile(rf"\${s}(?![A-Za-z0-9])"))
            patterns.append(
                re.compile(rf"\b(?:NYSE|NASDAQ|Nasdaq|NYSEARCA|AMEX|KRX|KOSPI|KOSDAQ)\s*:\s*{s}(?![A-Za-z0-9])")
            )
            bare_ok = (len(symbol) >= 3 and symbol not in _COMMON_WORDS) or symbol.isdigit()
            if bare_ok:
                patterns.append(re.compile(rf"(?<![A-Za-z0-9$.\-]){s}(?![A-Za-z0-9])"))
        return tuple(patterns)

    def mentioned_in(self, *texts: str | None) -> bool:
        """Whether any of `texts` is about this company (see the module docstring)."""
        present = [t for t in texts if t]
        # A match in the first text (mostly the title) is one in the joined text: it is its
        # prefix, followed by "\n", which no pattern's end needs to be other than it is. So
        # the short title is searched first, and the long body only when the title says nothing.
        if present and any(p.search(present[0]) for p in self._patterns):
            return True
        text = "\n".join(present)
        return len(present) > 1 and any(p.search(text) for p in self._patterns)


def normalise_symbol(raw: str) -> str:
    """Upper-case and validate a ticker; a bare Korean code gains its registry suffix."""
    symbol = (raw or "").strip().upper()
    if not _SYMBOL.match(symbol):
        raise TickerError(f"invalid ticker {raw!r}: use 1-15 letters, digits, '.' or '-' (e.g. AAPL, BRK.B, 005930.KS)")
    if symbol.isdigit() and len(symbol) == 6:
        for suffix in (".KS", ".KQ"):
            if symbol + suffix in _entries():
                return symbol + suffix
    return symbol


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split("|") if v.strip())


@cache
def _registry() -> dict[str, TickerInfo]:
    text = resources.files("stockteacher.tickers").joinpath("tickers.csv").read_text(encoding="utf-8")
    registry: dict[str, TickerInfo] = {}
    for row in csv.DictReader(text.splitlines()):
        info = TickerInfo(
            symbol=row["symbol"].strip().upper(),
            exchange=row["exchange"] or None,
            country=row["country"] or None,
            name_en=row["name_en"] or None,
            name_ko=row["name_ko"] or None,
            aliases_en=_split(row["aliases_en"]),
            aliases_ko=_split(row["aliases_ko"]),
        )
        registry[info.symbol] = info
    return registry


_added_lock = threading.Lock()
_added: dict[str, TickerInfo] = {}
_merged: dict[str, TickerInfo] | None = None


def install_added(entries: Iterable[TickerInfo]) -> None:
    """Make `entries` (the operators' additions) part of the registry, replacing earlier ones.

    An addition for a bundled symbol keeps the bundled names it does not give and adds its
    aliases to the bundled ones."""
    global _merged
    added = {entry.symbol: entry for entry in entries}
    with _added_lock:
        if added != _added:
            _added.clear()
            _added.update(added)
            _merged = None


def _merge(bundled: TickerInfo, added: TickerInfo) -> TickerInfo:
    return replace(
        bundled,
        exchange=added.exchange or bundled.exchange,
        country=added.country or bundled.country,
        name_en=added.name_en or bundled.name_en,
        name_ko=added.name_ko or bundled.name_ko,
        aliases_en=tuple(dict.fromkeys(bundled.aliases_en + added.aliases_en)),
        aliases_ko=tuple(dict.fromkeys(bundled.aliases_ko + added.aliases_ko)),
    )


def _entries() -> dict[str, TickerInfo]:
    """The bundled registry with the operators' additions merged in."""
    global _merged
    merged = _merged
    if merged is None:
        with _added_lock:
            bundled = _registry()
            merged = dict(bundled)
            for symbol, entry in _added.items():
                merged[symbol] = _merge(bundled[symbol], entry) if symbol in bundled else entry
            _merged = merged
    return merged


def lookup(symbol: str) -> TickerInfo:
    """The registry entry for `symbol`, or a symbol-only entry for a ticker we do not know."""
    normalised = normalise_symbol(symbol)
    return _entries().get(normalised) or TickerInfo(symbol=normalised)


def is_bundled(symbol: str) -> bool:
    """Whether `symbol` (normalised) is in the bundled `tickers.csv`."""
    return symbol in _registry()


def all_tickers() -> list[TickerInfo]:
    return list(_entries().values())


def _key(text: str) -> str:
    """What a name is compared as: NFKC, case-folded, without spaces (`삼성 전자` is `삼성전자`)."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


def _symbol_key(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().casefold()


def exact_matches(text: str) -> list[TickerInfo]:
    """Tickers whose symbol or Korean code is `text` (case aside), or whose name or alias is
    (case and spaces aside)."""
    symbol, name = _symbol_key(text), _key(text)
    if not name:
        return []
    return [
        info
        for info in _entries().values()
        if symbol in (_symbol_key(info.symbol), _symbol_key(info.base_symbol))
        or any(_key(n) == name for n in info.names())
    ]


def _rank(info: TickerInfo, symbol: str, name: str) -> tuple[int, int] | None:
    """How well `info` matches a search for `symbol` / `name` (the query as `_symbol_key` and
    `_key` read it): (tier, length of what matched); lower is better.

    Tiers: 0 the symbol, 1 a name, 2 an alias, 3 a symbol prefix, 4 a name prefix, 5 an alias
    prefix, 6 the start of a word inside a name or alias (`hathaway`, `해서웨이`)."""
    symbols = [_symbol_key(s) for s in dict.fromkeys((info.symbol, info.base_symbol))]
    names = [_key(n) for n in (info.name_en, info.name_ko) if n]
    aliases = [_key(a) for a in info.aliases]
    words = [_key(w) for text in info.names() for w in _WORD_BREAK.split(text)[1:] if w]
    candidates = ((0, symbol, symbols), (1, name, names), (2, name, aliases))
    for tier, key, values in candidates:
        if key in values:
            return (tier, len(key))
    for tier, key, values in ((3, symbol, symbols), (4, name, names), (5, name, aliases), (6, name, words)):
        lengths = [len(v) for v in values if v.startswith(key)]
        if lengths:
            return (tier, min(lengths))
    return None


def search(query: str, *, limit: int = 10) -> list[TickerInfo]:
    """Tickers matching `query` by symbol, name or alias, exact matches first, then prefixes;
    shorter matches before longer ones within a tier (`삼성` finds 삼성전자 before 삼성바이오로직스)."""
    symbol, name = _symbol_key(query), _key(query)
    if not name:
        return []
    ranked = []
    for position, info in enumerate(_entries().values()):  # ties: the registry's order (largest first)
        rank = _rank(info, symbol, name)
        if rank is not None:
            ranked.append((rank, position, info))
    ranked.sort(key=lambda item: (item[0], item[1]))
    return [info for _, _, info in ranked[:limit]]
