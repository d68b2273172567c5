"""Reports (API.md): list with filters, detail, related, status, favourites, search, and the
per-ticker sentiment series for the chart.

Published reports do not change once written, so the detail JSON and list pages are kept in a
short per-process TTL cache (`API_CACHE_SECONDS`); the caller's `favorite` flags are looked up
fresh on every request, and a status change clears this process's cache at once.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

import bm25s
from cachetools import TTLCache
from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from sqlalchemy import String, and_, cast, delete, func, or_, select
from sqlalchemy.orm import Session

from stockteacher.api.deps import Caller, Db, ReadDb
from stockteacher.api.schemas import ErrorOut, ReportDetail, ReportStatusIn, ReportSummary, SentimentSeries
from stockteacher.chat.retrieval import tokenize
from stockteacher.core.vocabulary import SENTIMENT_BAND, Sentiment
from stockteacher.ingest.tickers import TickerError, normalise_symbol
from stockteacher.publish.materialize import report_to_dict
from stockteacher.reports.service import may_see, visible
from stockteacher.store.models import Favorite, Report, utcnow

router = APIRouter(tags=["reports"])
NOT_FOUND = {404: {"model": ErrorOut, "description": "no such report (or not one the caller may see)"}}
ADMINS_ONLY = {403: {"model": ErrorOut, "description": "only admins see draft and hidden reports"}}
URGENT_ONLY_ANOMALY = 0.4  # API.md's `urgent_only` filter (notifications use notify.timing's 0.7)
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


def new_report_cache(seconds: float) -> TTLCache[Any, Any]:
    """The per-app cache of report JSON and list pages (`app.state.report_cache`)."""
    return TTLCache(maxsize=20_000 if seconds > 0 else 1, ttl=max(seconds, 0.001))


def _cache(request: Request) -> TTLCache[Any, Any]:
    return request.app.state.report_cache


def _cached(request: Request, key: Any, make: Any) -> Any:
    if request.app.state.settings.api_cache_seconds <= 0:
        return make()
    cache = _cache(request)
    with _lock:
        hit = cache.get(key)
    if hit is not None:
        return hit
    value = make()
    if value is not None:
        with _lock:
            cache[key] = value
    return value


def _clear_cache(request: Request) -> None:
    with _lock:
        _cache(request).clear()


def _summary(report: Report) -> dict[str, Any]:
    data = report_to_dict(report)
    return {field: data[field] for field in SUMMARY_FIELDS}


def _favorites(db: Session, user_id: str, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    rows = db.execute(select(Favorite.insight_id).where(Favorite.user_id == user_id, Favorite.insight_id.in_(ids)))
    return {row.insight_id for row in rows}


def _with_favorites(db: Session, user_id: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    favs = _favorites(db, user_id, [item["insight_id"] for item in items])
    return [{**item, "favorite": item["insight_id"] in favs} for item in items]


def _day_start(value: date) -> datetime:
    return datetime.combine(value, time.min, tzinfo=UTC)


def _json_pattern(text: str) -> str:
    """A LIKE pattern for one whole element `"text"` of a JSON list of strings, as the column
    stores it (non-ASCII escaped as \\uXXXX): `earn` does not match "earnings", and `ub` does
    not match inside the escapes of a Korean keyword."""
    element = json.dumps(text)
    return "%" + element.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


EARLIEST, LATEST = date(1970, 1, 1), date(2999, 12, 31)


def check_dates(**dates: date | None) -> None:
    """422 for a date outside 1970-2999 (and no arithmetic past the calendar's ends)."""
    for name, value in dates.items():
        if value is not None and not EARLIEST <= value <= LATEST:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, f"{name}: must be between {EARLIEST} and {LATEST}"
            )


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _tickers(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for value in values or []:
        for part in value.split(","):
            if part.strip():
                try:
                    out.append(normalise_symbol(part))
                except TickerError as exc:
                    raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"tickers: {exc}") from None
    return out


@router.get("/api/reports", response_model=list[ReportSummary], responses=ADMINS_ONLY)
def list_reports(
    request: Request,
    db: ReadDb,
    caller: Caller,
    date_: Annotated[date | None, Query(alias="date", description="published on this UTC day")] = None,
    date_from: Annotated[date | None, Query(description="published on or after this UTC day")] = None,
    date_to: Annotated[date | None, Query(description="published on or before this UTC day")] = None,
    tickers: Annotated[list[str] | None, Query(description="repeatable, or comma-separated")] = None,
    keywords: Annotated[list[str] | None, Query(description="repeatable; any keyword or tag matches")] = None,
    urgent_only: bool = False,
    sentiment: Sentiment | None = None,
    favorites_only: bool = False,
    search: Annotated[str | None, Query(max_length=200)] = None,
    status_: Annotated[
        Literal["all", "draft", "published", "hidden"] | None,
        Query(
            alias="status",
            description="admins: `all` includes hidden reports, default all but hidden; readers see published only",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[dict[str, Any]]:
    settings = request.app.state.settings
    if limit > settings.api_max_page_size:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"limit: at most {settings.api_max_page_size} (API_MAX_PAGE_SIZE)"
        )
    check_dates(date=date_, date_from=date_from, date_to=date_to)
    if date_from and date_to and date_from > date_to:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "date_from is after date_to")
    if status_ not in (None, "published") and not caller.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only admins see draft and hidden reports")
    symbols = _tickers(tickers)
    words = [k.strip() for k in keywords or [] if k.strip()]
    term = (search or "").strip()

    def query() -> list[dict[str, Any]]:
        stmt = visible(select(Report), is_admin=caller.is_admin)
        if status_ in (None,):
            stmt = stmt.where(Report.status != "hidden")
        elif status_ != "all":
            stmt = stmt.where(Report.status == status_)
        if date_ is not None:
            stmt = stmt.where(
                Report.published_at >= _day_start(date_), Report.published_at < _day_start(date_ + timedelta(1))
            )
        if date_from is not None:
            stmt = stmt.where(Report.published_at >= _day_start(date_from))
        if date_to is not None:
            stmt = stmt.where(Report.published_at < _day_start(date_to + timedelta(1)))
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
        if urgent_only:
            stmt = stmt.where(Report.anomaly_score >= URGENT_ONLY_ANOMALY)
        if sentiment == "positive":
            stmt = stmt.where(Report.sentiment_score > SENTIMENT_BAND)
        elif sentiment == "negative":
            stmt = stmt.where(Report.sentiment_score < -SENTIMENT_BAND)
        elif sentiment == "neutral":
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
        if favorites_only:
            stmt = stmt.join(
                Favorite, and_(Favorite.insight_id == Report.insight_id, Favorite.user_id == caller.user_id)
            )
        stmt = stmt.order_by(Report.published_at.desc(), Report.insight_id.desc()).limit(limit).offset(offset)
        return [_summary(row) for row in db.execute(stmt).scalars()]

    if favorites_only:
        items = query()  # depends on this caller's favourites: never cached
    else:
        key = ("list", caller.is_admin, date_, date_from, date_to, tuple(symbols), tuple(words), urgent_only,
               sentiment, term, status_, limit, offset)  # fmt: skip
        items = _cached(request, key, query)
    return _with_favorites(db, caller.user_id, items)


def _detail(request: Request, db: Session, insight_id: str, caller: Any) -> dict[str, Any]:
    """The report's JSON, or 404 when it does not exist or the caller may not see it."""

    def load() -> dict[str, Any] | None:
        row = db.get(Report, insight_id)
        return None if row is None else report_to_dict(row)

    data = _cached(request, ("detail", insight_id), load) if len(insight_id) <= 32 else None
    if data is None or not may_see(data["status"], is_admin=caller.is_admin):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"report {insight_id!r} not found")
    return data


@router.get("/api/reports/{insight_id}", response_model=ReportDetail, responses=NOT_FOUND)
def get_report(insight_id: str, request: Request, db: ReadDb, caller: Caller) -> dict[str, Any]:
    data = _detail(request, db, insight_id, caller)
    return {**data, "favorite": bool(_favorites(db, caller.user_id, [insight_id]))}


@router.get("/api/reports/{insight_id}/related", response_model=list[ReportSummary], responses=NOT_FOUND)
def related_reports(
    insight_id: str, request: Request, db: ReadDb, caller: Caller, limit: Annotated[int, Query(ge=1, le=50)] = 10
) -> list[dict[str, Any]]:
    """Reports on the same ticker or sharing a keyword, most overlap first, then newest."""
    base = _detail(request, db, insight_id, caller)
    keywords = [k for k in base["keywords"] if k]
    conditions = [Report.ticker == base["ticker"]]
    conditions += [cast(Report.keywords, String).ilike(_json_pattern(k), escape="\\") for k in keywords[:10]]
    rows = db.execute(
        visible(select(Report), is_admin=caller.is_admin)
        .where(Report.insight_id != insight_id, Report.status != "hidden", or_(*conditions))
        .order_by(Report.published_at.desc())
        .limit(200)
    ).scalars()
    mine = {k.lower() for k in keywords}

    def score(row: Report) -> tuple[int, int, datetime]:
        shared = len(mine & {k.lower() for k in row.keywords})
        return (int(row.ticker == base["ticker"]), shared, row.published_at)

    ranked = sorted(rows, key=score, reverse=True)[:limit]
    return _with_favorites(db, caller.user_id, [_summary(row) for row in ranked])


@router.patch(
    "/api/reports/{insight_id}/status",
    response_model=ReportDetail,
    responses={**NOT_FOUND, 403: {"model": ErrorOut, "description": "only admins change a report's status"}},
)
def set_status(insight_id: str, body: ReportStatusIn, request: Request, db: Db, caller: Caller) -> dict[str, Any]:
    """Publish, hide or return a report to draft (admins: it changes what every reader sees)."""
    row = db.get(Report, insight_id) if len(insight_id) <= 32 else None
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"report {insight_id!r} not found")
    if not caller.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only admins change a report's status")
    row.status = body.status
    row.updated_at = utcnow()
    db.flush()
    _clear_cache(request)
    return {**report_to_dict(row), "favorite": bool(_favorites(db, caller.user_id, [insight_id]))}


@router.put("/api/reports/{insight_id}/favorite", status_code=204, responses=NOT_FOUND)
def add_favorite(insight_id: str, request: Request, db: Db, caller: Caller) -> Response:
    _detail(request, db, insight_id, caller)
    if db.get(Favorite, (caller.user_id, insight_id)) is None:
        db.add(Favorite(user_id=caller.user_id, insight_id=insight_id, created_at=utcnow()))
    return Response(status_code=204)


@router.delete("/api/reports/{insight_id}/favorite", status_code=204, responses=NOT_FOUND)
def remove_favorite(insight_id: str, request: Request, db: Db, caller: Caller) -> Response:
    _detail(request, db, insight_id, caller)
    db.execute(delete(Favorite).where(Favorite.user_id == caller.user_id, Favorite.insight_id == insight_id))
    return Response(status_code=204)


@router.get("/api/search", response_model=list[ReportSummary])
def search_reports(
    db: ReadDb,
    caller: Caller,
    query: Annotated[str, Query(min_length=1, max_length=200)],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[dict[str, Any]]:
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
    rows = list(
        db.execute(
            visible(select(Report), is_admin=caller.is_admin)
            .where(Report.status != "hidden", or_(*clauses))
            .order_by(Report.published_at.desc())
            .limit(1000)
        ).scalars()
    )
    if not rows:
        return []
    corpus = [
        tokenize(" ".join([r.ticker, r.headline, r.headline, r.summary_text, " ".join(r.keywords)])) or ["_"]
        for r in rows
    ]
    retriever = bm25s.BM25()
    retriever.index(corpus, show_progress=False)
    k = min(limit, len(rows))
    results, scores = retriever.retrieve([tokens], k=k, show_progress=False)
    ranked = [rows[int(i)] for i, s in zip(results[0], scores[0], strict=True) if s > 0]
    return _with_favorites(db, caller.user_id, [_summary(row) for row in ranked])


@router.get("/api/tickers/{ticker}/sentiment", response_model=SentimentSeries, tags=["reports"])
def sentiment_series(
    ticker: str, db: ReadDb, caller: Caller, days: Annotated[int, Query(ge=1, le=3650)] = 90
) -> dict[str, Any]:
    """Mean sentiment of the ticker's reports per UTC day (hidden excluded), oldest first."""
    try:
        symbol = normalise_symbol(ticker)
    except TickerError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    newest = db.execute(
        visible(select(func.max(Report.published_at)), is_admin=caller.is_admin).where(
            Report.ticker == symbol, Report.status != "hidden"
        )
    ).scalar()
    if newest is None:
        return {"ticker": symbol, "points": []}
    since = _day_start(newest.date() - timedelta(days=days - 1))
    rows = db.execute(
        visible(select(Report.published_at, Report.sentiment_score), is_admin=caller.is_admin).where(
            Report.ticker == symbol, Report.status != "hidden", Report.published_at >= since
        )
    )
    by_day: dict[str, list[float]] = defaultdict(list)
    for published_at, score in rows:
        by_day[published_at.date().isoformat()].append(score)
    points = [
        {"date": day, "sentiment": round(sum(v) / len(v), 4), "reports": len(v)} for day, v in sorted(by_day.items())
    ]
    return {"ticker": symbol, "points": points}
