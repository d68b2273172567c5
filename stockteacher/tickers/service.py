"""Tickers operators add, finding a ticker by name, and resolving what a user typed.

The bundled registry (`tickers.csv`) knows ~140 companies. Operators add more, or aliases for
the bundled ones, with `stockteacher tickers add`; those rows live in the `tickers` table and
are merged into the registry of every process that reads the database (`refresh`, at most
`REFRESH_SECONDS` stale: an API replica or a collector on another node sees an addition within
that time, the process that made it at once).

`resolve` turns a subscription's `ticker` into a symbol: a symbol we know, else a name or alias
that belongs to exactly one ticker, else an unknown but well-formed symbol (collected by symbol
alone, as before). A name shared by several tickers (`Alphabet`: GOOG and GOOGL), or a partial
name (`삼성`), is `AmbiguousTicker` with the candidates; a name nothing matches is `NotFound`.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from stockteacher.core.errors import Conflict, InvalidRequest, NotFound
from stockteacher.logs import get_logger
from stockteacher.store.db import session_scope
from stockteacher.store.models import TickerEntry, utcnow
from stockteacher.tickers import registry
from stockteacher.tickers.models import TickerOut
from stockteacher.tickers.registry import TickerError, TickerInfo

__all__ = [
    "REFRESH_SECONDS",
    "AmbiguousTicker",
    "TickerAddition",
    "add",
    "added",
    "forget",
    "refresh",
    "refresh_from",
    "remove",
    "resolve",
    "search",
]

log = get_logger(__name__)
REFRESH_SECONDS = 30.0
MAX_NAME = 200
_HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_EXCHANGE = re.compile(r"^[A-Z0-9]{1,20}$")
_KOREAN_EXCHANGES = {"KS": "KOSPI", "KQ": "KOSDAQ"}

_loaded_lock = threading.Lock()
_loaded: dict[str, float] = {}  # database URL → monotonic time its additions were installed


class AmbiguousTicker(Conflict):
    """What the user typed could be several tickers; `candidates` are they, best first."""

    code = "ambiguous_ticker"

    def __init__(self, message: str, candidates: Sequence[TickerInfo]) -> None:
        super().__init__(message)
        self.candidates = list(candidates)

    def body(self) -> dict[str, Any]:
        return {"candidates": [TickerOut.of(info).model_dump() for info in self.candidates]}


@dataclass(frozen=True)
class TickerAddition:
    """What `stockteacher tickers add` was given; blank fields keep what is there."""

    symbol: str
    name_en: str | None = None
    name_ko: str | None = None
    aliases: tuple[str, ...] = ()
    exchange: str | None = None
    country: str | None = None


def _database_key(db_session: Session) -> str:
    return db_session.get_bind().engine.url.render_as_string(hide_password=True)


def _info(row: TickerEntry) -> TickerInfo:
    return TickerInfo(
        symbol=row.symbol,
        exchange=row.exchange,
        country=row.country,
        name_en=row.name_en,
        name_ko=row.name_ko,
        aliases_en=tuple(row.aliases_en or ()),
        aliases_ko=tuple(row.aliases_ko or ()),
    )


def refresh(db_session: Session, *, max_age: float = REFRESH_SECONDS) -> None:
    """Install this database's additions into the registry unless they were, `max_age` ago."""
    key = _database_key(db_session)
    now = time.monotonic()
    with _loaded_lock:
        if key in _loaded and now - _loaded[key] < max_age:
            return
    rows = db_session.scalars(select(TickerEntry)).all()
    registry.install_added(_info(row) for row in rows)
    with _loaded_lock:
        _loaded.clear()  # the registry holds one database's additions at a time
        _loaded[key] = now


def forget() -> None:
    """Drop the installed additions; the next `refresh` reads the database again."""
    with _loaded_lock:
        _loaded.clear()
    registry.install_added(())


def refresh_from(dsn: str, *, max_age: float = REFRESH_SECONDS) -> None:
    """`refresh` for code that holds a DSN rather than a session (collect, notify). A database
    that does not answer leaves the registry as it was: the stage's own work then says why."""
    try:
        with session_scope(dsn) as db_session:
            refresh(db_session, max_age=max_age)
    except SQLAlchemyError as exc:
        log.warning("tickers.refresh_failed", error=type(exc).__name__)


def search(query: str, *, limit: int, db_session: Session) -> list[TickerInfo]:
    refresh(db_session)
    if not query.strip():
        return sorted(registry.all_tickers(), key=lambda info: info.symbol)[:limit]
    return registry.search(query, limit=limit)


def _label(info: TickerInfo) -> str:
    name = info.name_ko or info.name_en
    return f"{info.symbol} ({name})" if name else info.symbol


def resolve(text: str, *, db_session: Session) -> str:
    """The symbol a subscription's `ticker` means (see the module docstring)."""
    refresh(db_session)
    typed = text.strip()
    try:
        symbol = registry.normalise_symbol(typed)
    except TickerError:
        symbol = None
    if symbol is not None and registry.lookup(symbol).known:
        return symbol
    exact = registry.exact_matches(typed)
    if len(exact) == 1:
        return exact[0].symbol
    if exact:
        names = ", ".join(_label(info) for info in exact)
        raise AmbiguousTicker(f"{typed!r} is the name of {len(exact)} tickers: {names}; pick one", exact)
    if symbol is not None:
        return symbol  # a ticker we do not know: collected and matched by its symbol alone
    candidates = registry.search(typed, limit=10)
    if candidates:
        names = ", ".join(_label(info) for info in candidates[:5])
        raise AmbiguousTicker(f"no ticker is called {typed!r}; did you mean {names}?", candidates)
    raise NotFound(
        f"{typed[:60]!r} is neither a ticker (e.g. AAPL, 005930.KS) nor the name of a company we know; "
        "search with GET /api/tickers?q="
    )


def _clean(value: str | None, what: str, *, limit: int = MAX_NAME) -> str | None:
    if value is None:
        return None
    text = " ".join(value.split())
    if not text:
        return None
    if len(text) > limit or _CONTROL.search(text):
        raise InvalidRequest(f"{what} must be at most {limit} printable characters: {value[:40]!r}")
    return text


def added(*, db_session: Session) -> list[TickerInfo]:
    """The operators' additions, by symbol (what the bundled registry does not say by itself)."""
    rows = db_session.scalars(select(TickerEntry).order_by(TickerEntry.symbol)).all()
    return [_info(row) for row in rows]


def add(addition: TickerAddition, *, db_session: Session) -> TickerInfo:
    """Add a ticker, or names and aliases to one; the merged entry as every lookup now sees it."""
    try:
        symbol = registry.normalise_symbol(addition.symbol)
    except TickerError as exc:
        raise InvalidRequest(str(exc)) from None
    name_en = _clean(addition.name_en, "--name-en")
    name_ko = _clean(addition.name_ko, "--name-ko")
    aliases = [a for a in (_clean(a, "--alias", limit=100) for a in addition.aliases) if a]
    exchange = _clean(addition.exchange, "--exchange", limit=20)
    country = _clean(addition.country, "--country", limit=20)
    if exchange is not None and not _EXCHANGE.match(exchange.upper()):
        raise InvalidRequest(f"--exchange must be letters and digits (KOSPI, NASDAQ): {exchange!r}")
    if country is not None and not _COUNTRY.match(country.upper()):
        raise InvalidRequest(f"--country must be a two-letter ISO code (KR, US): {country!r}")
    suffix = symbol.rpartition(".")[2] if "." in symbol else ""
    bundled = registry.is_bundled(symbol)
    row = db_session.get(TickerEntry, symbol)
    if row is None:
        if not (name_en or name_ko or bundled):
            raise InvalidRequest(f"{symbol} is not in the registry: give it a name (--name-ko and/or --name-en)")
        row = TickerEntry(symbol=symbol, aliases_en=[], aliases_ko=[], created_at=utcnow())
        if not bundled and suffix in _KOREAN_EXCHANGES:
            row.country, row.exchange = "KR", _KOREAN_EXCHANGES[suffix]
        db_session.add(row)
    row.name_en = name_en or row.name_en
    row.name_ko = name_ko or row.name_ko
    row.exchange = exchange.upper() if exchange else row.exchange
    row.country = country.upper() if country else row.country
    korean = [a for a in aliases if _HANGUL.search(a)]
    english = [a for a in aliases if not _HANGUL.search(a)]
    row.aliases_ko = list(dict.fromkeys([*(row.aliases_ko or []), *korean]))
    row.aliases_en = list(dict.fromkeys([*(row.aliases_en or []), *english]))
    row.updated_at = utcnow()
    db_session.flush()
    refresh(db_session, max_age=0)
    return registry.lookup(symbol)


def remove(symbol: str, *, db_session: Session) -> None:
    """Take back an operator's addition; a bundled ticker keeps its bundled names."""
    try:
        normalised = registry.normalise_symbol(symbol)
    except TickerError as exc:
        raise InvalidRequest(str(exc)) from None
    row = db_session.get(TickerEntry, normalised)
    if row is None:
        raise NotFound(f"{normalised} has no additions to remove (bundled tickers cannot be removed)")
    db_session.delete(row)
    db_session.flush()
    refresh(db_session, max_age=0)
