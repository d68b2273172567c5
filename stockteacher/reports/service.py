"""Reports for readers and admins: listing, detail, related reports, search, favourites, the
per-ticker sentiment series and status changes; who may see which report is decided here once.

A report is `published`, `draft` (kept back by the materializer's quality checks) or `hidden`
(taken down by an admin). Readers see published reports only; admins see every status. Every
way of reaching a report (list, detail, related, search, sentiment series, favourites, chat)
asks `may_see` / `visible`, so a report an admin hid is gone everywhere at once.

Published reports do not change once written (only their status, by an admin), so each report
and each list page is kept, already serialised to its API JSON, in a per-process TTL cache
(`ReportCache`, `API_CACHE_SECONDS`). The `favorite` flags are per caller: the cached bytes never
carry them; each caller's set of favourite ids is kept beside them (`API_FAVORITES_CACHE_SECONDS`) and
spliced into the bytes per request, so a cache hit needs no database at all
(`cached_report_json`, `cached_list_json`: answered on the event loop), and a report not cached
yet is one query on the event loop (`fetch_report_json`). A list of the caller's favourites only
is never cached.

What a change reaches: a status change clears this process's reports at once, and a caller's
own favourite change drops this process's copy of their favourites once it commits (and when it
starts, so a read racing the change cannot keep the old set: `_FavoritesCache` stores a set only
if no change began while it was read). Other processes (uvicorn workers, Serve replicas) see
a status change within `API_CACHE_SECONDS`, and a reader's favourite within the much shorter
`API_FAVORITES_CACHE_SECONDS` (a reader who stars a report and reloads may land on another
replica).
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence, Set
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import bm25s
from cachetools import TTLCache
from sqlalchemy import Select, String, and_, bindparam, cast, delete, event, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import Session

from stockteacher.accounts.models import Principal
from stockteacher.core.errors import Forbidden, InvalidRequest, NotFound
from stockteacher.core.fields import EARLIEST, LATEST
from stockteacher.core.text import tokenize
from stockteacher.core.vocabulary import SENTIMENT_BAND, URGENT_ONLY_ANOMALY
from stockteacher.publish.materialize import report_to_dict
from stockteacher.reports.models import Favorite, Report, ReportDetail, ReportFilters, ReportSummary
from stockteacher.store.db import read_on_loop
from stockteacher.store.models import ReportOutcome, utcnow
from stockteacher.tickers.registry import TickerError, normalise_symbol
from stockteacher.track.service import outcome_body

__all__ = [
    "PUBLISHED",
    "STATUSES",
    "ReportCache",
    "cached_list_json",
    "cached_report_json",
    "check_dates",
    "fetch_report_json",
    "get_report",
    "get_report_json",
    "list_reports",
    "list_reports_json",
    "may_see",
    "related_reports",
    "search_reports",
    "sentiment_series",
    "set_favorite",
    "set_status",
    "visible",
]

PUBLISHED, DRAFT, HIDDEN = "published", "draft", "hidden"
STATUSES = (DRAFT, PUBLISHED, HIDDEN)
SUMMARY_FIELDS = (
    "insight_id",
    "ticker",
    "published_at",
    "status",
    "sentiment_score",
    "headline",
    "tags",
    "anomaly_score",
    "cost_usd",
)
_lock = threading.RLock()


# --- visibility ------------------------------------------------------------------------------
def may_see(status: str, *, is_admin: bool) -> bool:
    """Whether a reader (or an admin) may see a report with this status."""
    return is_admin or status == PUBLISHED


def visible(stmt: Select[Any], *, is_admin: bool) -> Select[Any]:
    """`stmt` over `Report` narrowed to what the caller may see (admins: unchanged)."""
    return stmt if is_admin else stmt.where(Report.status == PUBLISHED)


# --- cache -----------------------------------------------------------------------------------
class _FavoritesCache:
    """Each caller's favourite report ids for `seconds`. A change to a user's favourites bumps
    their generation (`forget`) when it starts and again once it commits; a set read from the
    database is kept only if the generation did not move while it was read, so a read that saw
    the old rows cannot outlive the change."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._sets: TTLCache[str, frozenset[str]] = TTLCache(maxsize=10_000, ttl=max(seconds, 0.001))
        self._generations: dict[str, int] = {}

    def get(self, user_id: str) -> frozenset[str] | None:
        if self.seconds <= 0:
            return None
        with _lock:
            return self._sets.get(user_id)

    def generation(self, user_id: str) -> int:
        with _lock:
            return self._generations.get(user_id, 0)

    def put(self, user_id: str, ids: frozenset[str], *, generation: int) -> None:
        if self.seconds <= 0:
            return
        with _lock:
            if self._generations.get(user_id, 0) == generation:
                self._sets[user_id] = ids

    def forget(self, user_id: str) -> None:
        with _lock:
            self._sets.pop(user_id, None)
            self._generations[user_id] = self._generations.get(user_id, 0) + 1


class ReportCache:
    """Report JSON and list pages for `seconds` (0: no cache), one per app, and each caller's
    favourite ids (`favorites`) for `favorites_seconds` (default: as long). `hits` and `misses`
    count report look-ups (benchmarks report them: which requests the cache answered)."""

    def __init__(self, seconds: float, favorites_seconds: float | None = None) -> None:
        self.seconds = seconds
        self.hits = self.misses = 0
        self._items: TTLCache[Any, Any] = TTLCache(maxsize=20_000 if seconds > 0 else 1, ttl=max(seconds, 0.001))
        self.favorites = _FavoritesCache(seconds if favorites_seconds is None else favorites_seconds)

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        if self.seconds <= 0:
            return make()
        with _lock:
            hit = self._items.get(key)
            if hit is not None:
                self.hits += 1
                return hit
            self.misses += 1
        value = make()
        if value is not None:
            with _lock:
                self._items[key] = value
        return value

    def peek(self, key: Any) -> Any:
        """The cached value, or None (counted as a hit only when found: a miss is counted by
        the `get` that follows it)."""
        if self.seconds <= 0:
            return None
        with _lock:
            hit = self._items.get(key)
            if hit is not None:
                self.hits += 1
            return hit

    def store(self, key: Any, value: Any) -> None:
        """Keep a value read without `get` (counted as the miss it was)."""
        with _lock:
            self.misses += 1
            if self.seconds > 0:
                self._items[key] = value

    def clear(self) -> None:
        with _lock:
            self._items.clear()


@dataclass(frozen=True, slots=True)
class _Entry:
    """One report as the API shows it, without the caller's `favorite` flag: as a dict, and as
    its JSON (validated and serialised once, by the response model the route declares)."""

    data: dict[str, Any]
    body: bytes  # a JSON object without "favorite"; its last byte is the closing brace

    @classmethod
    def of(cls, data: dict[str, Any], model: type[ReportSummary]) -> _Entry:
        body = model.model_validate({**data, "favorite": False}).model_dump_json(exclude={"favorite"}).encode()
        return cls(data, body)

    def json(self, favorite: bool) -> bytes:
        return self.body[:-1] + (b',"favorite":true}' if favorite else b',"favorite":false}')


# --- helpers ---------------------------------------------------------------------------------
def _summary(report: Report) -> dict[str, Any]:
    data = report_to_dict(report)
    return {field: data[field] for field in SUMMARY_FIELDS}


_FAVORITES = Favorite.__table__
# Built once: building a statement costs more CPU than running it through the ORM session
# (measured: ~0.4 ms of ~0.9 ms per call).
_FAVORITES_OF = select(_FAVORITES.c.insight_id).where(
    _FAVORITES.c.user_id == bindparam("user_id"), _FAVORITES.c.insight_id.in_(bindparam("ids", expanding=True))
)
_ALL_FAVORITES_OF = select(_FAVORITES.c.insight_id).where(_FAVORITES.c.user_id == bindparam("user_id"))


def _favorites(db_session: Session, user_id: str, ids: list[str], cache: ReportCache | None = None) -> Set[str]:
    """Which of `ids` the user marked: from the cached set of all their favourites (read and
    kept when missing), or, without a cache, one query over `ids`."""
    if cache is not None and cache.seconds > 0:
        known = cache.favorites.get(user_id)
        if known is None:
            generation = cache.favorites.generation(user_id)
            rows = db_session.connection().execute(_ALL_FAVORITES_OF, {"user_id": user_id}).scalars()
            known = frozenset(rows)
            cache.favorites.put(user_id, known, generation=generation)
        return known.intersection(ids)
    if not ids:
        return set()
    return set(db_session.connection().execute(_FAVORITES_OF, {"user_id": user_id, "ids": ids}).scalars())


def _with_favorites(
    db_session: Session, user_id: str, items: list[dict[str, Any]], cache: ReportCache | None = None
) -> list[dict[str, Any]]:
    favs = _favorites(db_session, user_id, [item["insight_id"] for item in items], cache)
    return [{**item, "favorite": item["insight_id"] in favs} for item in items]


def _day_start(value: date) -> datetime:
    return datetime.combine(value, time.min, tzinfo=UTC)


def _json_pattern(text: str) -> str:
    """A LIKE pattern for one whole element `"text"` of a JSON list of strings, as the column
    stores it (non-ASCII escaped as \\uXXXX): `earn` does not match "earnings", and `ub` does
    not match inside the escapes of a Korean keyword."""
    element = json.dumps(text)
    return "%" + element.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def check_dates(**dates: date | None) -> None:
    """`InvalidRequest` for a date outside 1970-2999 (no arithmetic past the calendar's ends)."""
    for name, value in dates.items():
        if value is not None and not EARLIEST <= value <= LATEST:
            raise InvalidRequest(f"{name}: must be between {EARLIEST} and {LATEST}")


def _symbol(value: str, field: str | None = None) -> str:
    try:
        return normalise_symbol(value)
    except TickerError as exc:
        raise InvalidRequest(f"{field}: {exc}" if field else str(exc)) from None


def _tickers(values: list[str] | None) -> list[str]:
    return [_symbol(part, "tickers") for value in values or [] for part in value.split(",") if part.strip()]


# --- listing ---------------------------------------------------------------------------------
def _filtered(f: ReportFilters, caller: Principal, symbols: list[str], words: list[str], term: str) -> Select[Any]:
    stmt = visible(select(Report), is_admin=caller.is_admin)
    if f.status_ is None:
        stmt = stmt.where(Report.status != HIDDEN)
    elif f.status_ != "all":
        stmt = stmt.where(Report.status == f.status_)
    if f.date_ is not None:
        stmt = stmt.where(
            Report.published_at >= _day_start(f.date_), Report.published_at < _day_start(f.date_ + timedelta(1))
        )
    if f.date_from is not None:
        stmt = stmt.where(Report.published_at >= _day_start(f.date_from))
    if f.date_to is not None:
        stmt = stmt.where(Report.published_at < _day_start(f.date_to + timedelta(1)))
    if symbols:
        stmt = stmt.where(Report.ticker.in_(symbols))
    if words:
        stmt = stmt.where(
            or_(
                *[
                    or_(
                        cast(Report.keywords, String).ilike(_json_pattern(w), escape="\\"),
                        cast(Report.tags, String).ilike(_json_pattern(w), escape="\\"),
                    )
                    for w in words
                ]
            )
        )
    if f.urgent_only:
        stmt = stmt.where(Report.anomaly_score >= URGENT_ONLY_ANOMALY)
    if f.sentiment == "positive":
        stmt = stmt.where(Report.sentiment_score > SENTIMENT_BAND)
    elif f.sentiment == "negative":
        stmt = stmt.where(Report.sentiment_score < -SENTIMENT_BAND)
    elif f.sentiment == "neutral":
        stmt = stmt.where(Report.sentiment_score >= -SENTIMENT_BAND, Report.sentiment_score <= SENTIMENT_BAND)
    if term:
        pattern = _like(term)
        stmt = stmt.where(
            or_(
                Report.headline.ilike(pattern, escape="\\"),
                Report.summary_text.ilike(pattern, escape="\\"),
                Report.ticker.ilike(pattern, escape="\\"),
            )
        )
    if f.favorites_only:
        stmt = stmt.join(Favorite, and_(Favorite.insight_id == Report.insight_id, Favorite.user_id == caller.user_id))
    return stmt.order_by(Report.published_at.desc(), Report.insight_id.desc()).limit(f.limit).offset(f.offset)


def list_reports(
    f: ReportFilters, caller: Principal, *, db_session: Session, cache: ReportCache, max_page_size: int
) -> list[dict[str, Any]]:
    """API.md's `GET /api/reports`: newest first, with the caller's favourite flags."""
    entries = _list_entries(f, caller, db_session=db_session, cache=cache, max_page_size=max_page_size)
    return _with_favorites(db_session, caller.user_id, [e.data for e in entries], cache)


def list_reports_json(
    f: ReportFilters, caller: Principal, *, db_session: Session, cache: ReportCache, max_page_size: int
) -> bytes:
    """`list_reports` as its JSON body (a `ReportSummary` list), from cached bytes."""
    entries = _list_entries(f, caller, db_session=db_session, cache=cache, max_page_size=max_page_size)
    favs = _favorites(db_session, caller.user_id, [e.data["insight_id"] for e in entries], cache)
    return _json_list(entries, favs)


def cached_list_json(f: ReportFilters, caller: Principal, *, cache: ReportCache, max_page_size: int) -> bytes | None:
    """`list_reports_json` when the cache holds both the page and the caller's favourites (no
    database: safe on the event loop), else None. Refuses what `list_reports_json` refuses."""
    *_, key = _list_query(f, caller, max_page_size=max_page_size)
    favs = cache.favorites.get(caller.user_id) if key is not None else None
    entries = cache.peek(key) if favs is not None else None
    return None if entries is None else _json_list(entries, favs)  # type: ignore[arg-type]


def _json_list(entries: Iterable[_Entry], favs: Set[str]) -> bytes:
    return b"[" + b",".join(e.json(e.data["insight_id"] in favs) for e in entries) + b"]"


def _list_query(
    f: ReportFilters, caller: Principal, *, max_page_size: int
) -> tuple[list[str], list[str], str, tuple[Any, ...] | None]:
    """The filters checked (`InvalidRequest`, `Forbidden`) and normalised: tickers, keywords,
    search term, and the page's cache key (None: a favourites-only page, never cached)."""
    if f.limit > max_page_size:
        raise InvalidRequest(f"limit: at most {max_page_size} (API_MAX_PAGE_SIZE)")
    check_dates(date=f.date_, date_from=f.date_from, date_to=f.date_to)
    if f.date_from and f.date_to and f.date_from > f.date_to:
        raise InvalidRequest("date_from is after date_to")
    if f.status_ not in (None, PUBLISHED) and not caller.is_admin:
        raise Forbidden("only admins see draft and hidden reports")
    symbols = _tickers(f.tickers)
    words = [k.strip() for k in f.keywords or [] if k.strip()]
    term = (f.search or "").strip()
    if f.favorites_only:
        return symbols, words, term, None  # depends on this caller's favourites: never cached
    key = ("list", caller.is_admin, f.date_, f.date_from, f.date_to, tuple(symbols), tuple(words), f.urgent_only,
           f.sentiment, term, f.status_, f.limit, f.offset)  # fmt: skip
    return symbols, words, term, key


def _list_entries(
    f: ReportFilters, caller: Principal, *, db_session: Session, cache: ReportCache, max_page_size: int
) -> tuple[_Entry, ...]:
    symbols, words, term, key = _list_query(f, caller, max_page_size=max_page_size)

    def query() -> tuple[_Entry, ...]:
        stmt = _filtered(f, caller, symbols, words, term)
        return tuple(_Entry.of(_summary(row), ReportSummary) for row in db_session.execute(stmt).scalars())

    return query() if key is None else cache.get(key, query)  # type: ignore[no-any-return]


# --- one report ------------------------------------------------------------------------------
# A cache miss reads one row: a Core row has the attributes `report_to_dict` reads, without the
# ORM's identity map and instance state (measured: 0.3 ms of CPU instead of 0.8 ms).
_REPORT_BY_ID = select(Report.__table__).where(Report.__table__.c.insight_id == bindparam("insight_id"))
_OUTCOMES = ReportOutcome.__table__.c
_OUTCOMES_BY_ID = select(
    _OUTCOMES.horizon_days, _OUTCOMES.stock_return, _OUTCOMES.benchmark, _OUTCOMES.benchmark_return,
    _OUTCOMES.excess_return, _OUTCOMES.hit, _OUTCOMES.base_date, _OUTCOMES.end_date,
).where(_OUTCOMES.insight_id == bindparam("insight_id"))  # fmt: skip


def _with_outcome(data: dict[str, Any], rows: Sequence[Any]) -> dict[str, Any]:
    """`data` with its `outcome` (API.md): what the stock did next per horizon, or None until
    the first horizon has passed (`track.service` writes the rows)."""
    outcome = {str(r.horizon_days): outcome_body(r) for r in rows}
    data["outcome"] = outcome or None
    return data


def _detail_entry(insight_id: str, caller: Principal, *, db_session: Session, cache: ReportCache) -> _Entry:
    """The report; `NotFound` when it does not exist or the caller may not see it."""

    def load() -> _Entry | None:
        connection = db_session.connection()
        row = connection.execute(_REPORT_BY_ID, {"insight_id": insight_id}).first()
        if row is None:
            return None
        outcomes = connection.execute(_OUTCOMES_BY_ID, {"insight_id": insight_id}).all()
        return _Entry.of(_with_outcome(report_to_dict(row), outcomes), ReportDetail)  # type: ignore[arg-type]

    entry = cache.get(("detail", insight_id), load) if len(insight_id) <= 32 else None
    if entry is None or not may_see(entry.data["status"], is_admin=caller.is_admin):
        raise NotFound(f"report {insight_id!r} not found")
    return entry  # type: ignore[no-any-return]


def _detail(insight_id: str, caller: Principal, *, db_session: Session, cache: ReportCache) -> dict[str, Any]:
    return _detail_entry(insight_id, caller, db_session=db_session, cache=cache).data


def get_report(insight_id: str, caller: Principal, *, db_session: Session, cache: ReportCache) -> dict[str, Any]:
    data = _detail(insight_id, caller, db_session=db_session, cache=cache)
    return {**data, "favorite": bool(_favorites(db_session, caller.user_id, [insight_id], cache))}


def get_report_json(insight_id: str, caller: Principal, *, db_session: Session, cache: ReportCache) -> bytes:
    """`get_report` as its JSON body (`ReportDetail`), from cached bytes."""
    entry = _detail_entry(insight_id, caller, db_session=db_session, cache=cache)
    return entry.json(bool(_favorites(db_session, caller.user_id, [insight_id], cache)))


def cached_report_json(insight_id: str, caller: Principal, *, cache: ReportCache) -> bytes | None:
    """`get_report_json` when the cache holds both the report and the caller's favourites (no
    database: safe on the event loop), else None. `NotFound` as `get_report_json`."""
    if len(insight_id) > 32:
        raise NotFound(f"report {insight_id!r} not found")
    favs = cache.favorites.get(caller.user_id)
    entry: _Entry | None = cache.peek(("detail", insight_id)) if favs is not None else None
    if entry is None:
        return None
    if not may_see(entry.data["status"], is_admin=caller.is_admin):
        raise NotFound(f"report {insight_id!r} not found")
    return entry.json(insight_id in favs)  # type: ignore[operator]


async def fetch_report_json(
    insight_id: str, caller: Principal, *, engine: AsyncEngine, cache: ReportCache
) -> bytes | None:
    """`get_report_json` for a report the cache lacks, read on the event loop (no thread) when
    the caller's favourites are cached; the report is cached as `get_report_json` caches it.
    None when it cannot answer so: favourites not cached, no such report, or one the caller may
    not see (`get_report_json` says which)."""
    favs = cache.favorites.get(caller.user_id)
    if favs is None or len(insight_id) > 32:
        return None

    async def load(connection: AsyncConnection) -> Any:
        row = (await connection.execute(_REPORT_BY_ID, {"insight_id": insight_id})).first()
        if row is None:
            return None, []
        return row, (await connection.execute(_OUTCOMES_BY_ID, {"insight_id": insight_id})).all()

    row, outcomes = await read_on_loop(engine, load)
    if row is None:
        return None
    entry = _Entry.of(_with_outcome(report_to_dict(row), outcomes), ReportDetail)  # type: ignore[arg-type]
    cache.store(("detail", insight_id), entry)
    return entry.json(insight_id in favs) if may_see(entry.data["status"], is_admin=caller.is_admin) else None


def related_reports(
    insight_id: str, caller: Principal, limit: int, *, db_session: Session, cache: ReportCache
) -> list[dict[str, Any]]:
    """Reports on the same ticker or sharing a keyword, most overlap first, then newest."""
    base = _detail(insight_id, caller, db_session=db_session, cache=cache)
    keywords = [k for k in base["keywords"] if k]
    conditions = [Report.ticker == base["ticker"]]
    conditions += [cast(Report.keywords, String).ilike(_json_pattern(k), escape="\\") for k in keywords[:10]]
    rows = db_session.execute(
        visible(select(Report), is_admin=caller.is_admin)
        .where(Report.insight_id != insight_id, Report.status != HIDDEN, or_(*conditions))
        .order_by(Report.published_at.desc())
        .limit(200)
    ).scalars()
    mine = {k.lower() for k in keywords}

    def score(row: Report) -> tuple[int, int, datetime]:
        shared = len(mine & {k.lower() for k in row.keywords})
        return (int(row.ticker == base["ticker"]), shared, row.published_at)

    ranked = sorted(rows, key=score, reverse=True)[:limit]
    return _with_favorites(db_session, caller.user_id, [_summary(row) for row in ranked], cache)


def set_status(
    insight_id: str, status: str, caller: Principal, *, db_session: Session, cache: ReportCache
) -> dict[str, Any]:
    """Publish, hide or return a report to draft (admins: it changes what every reader sees)."""
    row = db_session.get(Report, insight_id) if len(insight_id) <= 32 else None
    if row is None:
        raise NotFound(f"report {insight_id!r} not found")
    if not caller.is_admin:
        raise Forbidden("only admins change a report's status")
    row.status = status
    row.updated_at = utcnow()
    db_session.flush()
    # Now and once committed: a request that read the old row in between does not keep it.
    cache.clear()
    event.listen(db_session, "after_commit", lambda _session: cache.clear(), once=True)
    outcomes = db_session.connection().execute(_OUTCOMES_BY_ID, {"insight_id": insight_id}).all()
    data = _with_outcome(report_to_dict(row), outcomes)
    return {**data, "favorite": bool(_favorites(db_session, caller.user_id, [insight_id], cache))}


def set_favorite(insight_id: str, caller: Principal, on: bool, *, db_session: Session, cache: ReportCache) -> None:
    """Mark (or unmark) a report the caller may see as a favourite; idempotent. This process's
    copy of the caller's favourites is dropped now and once the change commits."""
    _detail(insight_id, caller, db_session=db_session, cache=cache)
    user_id, favorites = caller.user_id, cache.favorites
    favorites.forget(user_id)
    event.listen(db_session, "after_commit", lambda _session: favorites.forget(user_id), once=True)
    if not on:
        db_session.execute(
            delete(Favorite).where(Favorite.user_id == caller.user_id, Favorite.insight_id == insight_id)
        )
    elif db_session.get(Favorite, (caller.user_id, insight_id)) is None:
        db_session.add(Favorite(user_id=caller.user_id, insight_id=insight_id, created_at=utcnow()))


# --- search and series -----------------------------------------------------------------------
def search_reports(query: str, limit: int, caller: Principal, *, db_session: Session) -> list[dict[str, Any]]:
    """Reports ranked by BM25 over headline, summary, keywords and ticker (hidden excluded)."""
    tokens = tokenize(query)
    if not tokens:
        return []
    clauses = []
    for token in dict.fromkeys(tokens):
        pattern = _like(token)
        clauses += [
            Report.headline.ilike(pattern, escape="\\"),
            Report.summary_text.ilike(pattern, escape="\\"),
            Report.ticker.ilike(pattern, escape="\\"),
            cast(Report.keywords, String).ilike(_json_pattern(token), escape="\\"),
        ]
    stmt = (
        visible(select(Report), is_admin=caller.is_admin)
        .where(Report.status != HIDDEN, or_(*clauses))
        .order_by(Report.published_at.desc())
        .limit(1000)
    )
    rows = list(db_session.execute(stmt).scalars())
    if not rows:
        return []
    corpus = [
        tokenize(" ".join([r.ticker, r.headline, r.headline, r.summary_text, " ".join(r.keywords)])) or ["_"]
        for r in rows
    ]
    retriever = bm25s.BM25()
    retriever.index(corpus, show_progress=False)
    results, scores = retriever.retrieve([tokens], k=min(limit, len(rows)), show_progress=False)
    ranked = [rows[int(i)] for i, s in zip(results[0], scores[0], strict=True) if s > 0]
    return _with_favorites(db_session, caller.user_id, [_summary(row) for row in ranked])


def sentiment_series(ticker: str, days: int, caller: Principal, *, db_session: Session) -> dict[str, Any]:
    """Mean sentiment of the ticker's reports per UTC day (hidden excluded), oldest first."""
    symbol = _symbol(ticker)
    newest = db_session.execute(
        visible(select(func.max(Report.published_at)), is_admin=caller.is_admin).where(
            Report.ticker == symbol, Report.status != HIDDEN
        )
    ).scalar()
    if newest is None:
        return {"ticker": symbol, "points": []}
    since = _day_start(newest.date() - timedelta(days=days - 1))
    rows = db_session.execute(
        visible(select(Report.published_at, Report.sentiment_score), is_admin=caller.is_admin).where(
            Report.ticker == symbol, Report.status != HIDDEN, Report.published_at >= since
        )
    )
    by_day: dict[str, list[float]] = defaultdict(list)
    for published_at, score in rows:
        by_day[published_at.date().isoformat()].append(score)
    points = [
        {"date": day, "sentiment": round(sum(v) / len(v), 4), "reports": len(v)} for day, v in sorted(by_day.items())
    ]
    return {"ticker": symbol, "points": points}
