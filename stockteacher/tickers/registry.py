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
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib import resources

__all__ = ["TickerInfo", "TickerError", "all_tickers", "lookup", "normalise_symbol"]

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
        return self.name_en is not None

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
        text = "\n".join(t for t in texts if t)
        return any(p.search(text) for p in self._patterns)


def normalise_symbol(raw: str) -> str:
    """Upper-case and validate a ticker; a bare Korean code gains its registry suffix."""
    symbol = (raw or "").strip().upper()
    if not _SYMBOL.match(symbol):
        raise TickerError(f"invalid ticker {raw!r}: use 1-15 letters, digits, '.' or '-' (e.g. AAPL, BRK.B, 005930.KS)")
    if symbol.isdigit() and len(symbol) == 6:
        for suffix in (".KS", ".KQ"):
            if symbol + suffix in _registry():
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


def lookup(symbol: str) -> TickerInfo:
    """The registry entry for `symbol`, or a symbol-only entry for a ticker we do not know."""
    normalised = normalise_symbol(symbol)
    return _registry().get(normalised) or TickerInfo(symbol=normalised)


def all_tickers() -> list[TickerInfo]:
    return list(_registry().values())
