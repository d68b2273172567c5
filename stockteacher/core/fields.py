"""Request field types whose OpenAPI schema says exactly what the server accepts.

Each is a pydantic `Annotated` type whose `pattern` is both the check (pydantic runs it before
anything else) and the document, so a client, or a fuzzer, reading `/openapi.json` knows which
values answer 422 without trying them:

- `Day`: a calendar day written `YYYY-MM-DD` in the years 1970-2999 (`EARLIEST`..`LATEST`; no
  arithmetic past the calendar's ends). Plain `date` also took `0` (a Unix timestamp) and
  `2025-03-03T00:00`, which the document's `format: date` does not.
- `TickerText`: what a ticker may be sent as, before it is upper-cased and stripped (`aapl`,
  ` BRK.B `, `005930`).
- `TickerOrName`: a ticker, or a company's name or alias (`삼성전자`, `Apple`, `LG에너지솔루션`,
  `Procter & Gamble`): up to 100 letters (Latin, Hangul, CJK, kana), digits, spaces and
  `& . , ' ( ) - · ㈜ + /`, starting with a letter or digit.
- `TickerList`: the same as `TickerText`, comma-separated (`AAPL,TSLA`); empty items are skipped.
- `HHMM`: a time of day `00:00`-`23:59`, or `""` for none.
- `EMAIL_PATTERN`: something@somewhere.tld, white space around it allowed (and dropped).

`PATTERN_HINTS` says each pattern in words, for the 422 that quotes it.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BeforeValidator, Field, StringConstraints

__all__ = [
    "EARLIEST",
    "EMAIL_PATTERN",
    "HHMM",
    "LATEST",
    "PATTERN_HINTS",
    "Day",
    "SymbolOrIndex",
    "TickerList",
    "TickerOrName",
    "TickerText",
]

EARLIEST, LATEST = date(1970, 1, 1), date(2999, 12, 31)
DAY_PATTERN = r"^(19[7-9][0-9]|2[0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
# ASCII classes, not \d or \w: the validator and the document's readers agree on what they match.
_SYMBOL = r"[A-Za-z0-9][A-Za-z0-9.\-]{0,14}"
TICKER_PATTERN = rf"^\s*{_SYMBOL}\s*$"
# A ticker, or a market index as price sources spell it (`^GSPC`, `^KS11`).
SYMBOL_OR_INDEX_PATTERN = rf"^\s*(\^[A-Za-z0-9]{{1,11}}|{_SYMBOL})\s*$"
TICKER_LIST_PATTERN = rf"^\s*({_SYMBOL}\s*)?(,\s*({_SYMBOL}\s*)?)*$"
# A name's letters: Latin (with accents), Hangul (syllables and jamo), CJK ideographs, kana.
_NAME_LETTER = r"A-Za-z0-9\u00c0-\u024f\u3131-\u318e\uac00-\ud7a3\u4e00-\u9fff\u3040-\u30ff"
TICKER_OR_NAME_PATTERN = rf"^ *[{_NAME_LETTER}][{_NAME_LETTER} &.,'()\-\u00b7\u3200-\u321e+/]* *$"
HHMM_PATTERN = r"^(([01][0-9]|2[0-3]):[0-5][0-9])?$"
# No control characters: PostgreSQL cannot store a NUL, and such an address was a 500.
# Spelled out, not `\s`: regex engines (Python's, Rust's in pydantic, a fuzzer's generator) differ
# on which Unicode characters `\s` covers (NEL U+0085 is one), and the document must mean the same.
_AROUND = r"[ \t\n\r\f\v]*"
_PART = r"[^@\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+"
EMAIL_PATTERN = rf"^{_AROUND}{_PART}@{_PART}\.{_PART}{_AROUND}$"
_TICKER_HINT = "a ticker is 1-15 letters, digits, '.' or '-' (e.g. AAPL, BRK.B, 005930.KS)"
PATTERN_HINTS = {
    TICKER_PATTERN: _TICKER_HINT,
    TICKER_LIST_PATTERN: _TICKER_HINT + ", comma-separated",
    SYMBOL_OR_INDEX_PATTERN: _TICKER_HINT + ", or an index such as ^GSPC or ^KS11",
    TICKER_OR_NAME_PATTERN: (
        "give a ticker (AAPL, 005930.KS) or a company's name (삼성전자): letters, digits, spaces and & . , ' ( ) - only"
    ),
    HHMM_PATTERN: "not a time of day HH:MM (00:00-23:59)",
    EMAIL_PATTERN: "not an e-mail address",
}


def _day_text(value: object) -> object:
    """A string must be exactly `YYYY-MM-DD` in range before pydantic reads it as a date."""
    import re

    if isinstance(value, str) and not re.fullmatch(DAY_PATTERN, value):
        raise ValueError(f"{value[:40]!r} is not a day YYYY-MM-DD between {EARLIEST} and {LATEST}")
    return value


Day = Annotated[date, BeforeValidator(_day_text), Field(json_schema_extra={"pattern": DAY_PATTERN})]
TickerText = Annotated[str, StringConstraints(pattern=TICKER_PATTERN)]
SymbolOrIndex = Annotated[str, StringConstraints(pattern=SYMBOL_OR_INDEX_PATTERN)]
TickerList = Annotated[str, StringConstraints(pattern=TICKER_LIST_PATTERN)]
TickerOrName = Annotated[str, StringConstraints(pattern=TICKER_OR_NAME_PATTERN, max_length=100)]
HHMM = Annotated[str, StringConstraints(pattern=HHMM_PATTERN)]
