"""Reports (API.md): parse, call `reports.service`, answer.

The list and the detail answer bytes the service keeps serialised (through the response model
each route declares, so `/openapi.json` and the bodies agree): no validation and encoding of
the same report on every request. They are async: a cache hit is answered on the event loop
with no database session; only a miss goes to the thread pool (`in_read_session`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from stockteacher.api.deps import AppSettings, Caller, Db, ReadDb, in_read_session
from stockteacher.api.errors import documented
from stockteacher.core.errors import InvalidRequest
from stockteacher.core.fields import TickerText
from stockteacher.reports import service
from stockteacher.reports.models import ReportDetail, ReportFilters, ReportStatusIn, ReportSummary, SentimentSeries

router = APIRouter(tags=["reports"])
NOT_FOUND = documented(404, "no such report (or not one the caller may see)")


def _cache(request: Request) -> service.ReportCache:
    return request.app.state.report_cache


@router.get("/api/reports", response_model=list[ReportSummary], responses=documented(403, "only admins see drafts"))
async def list_reports(
    filters: Annotated[ReportFilters, Query()], request: Request, caller: Caller, settings: AppSettings
) -> Response:
    cache, size = _cache(request), settings.api_max_page_size
    body = service.cached_list_json(filters, caller, cache=cache, max_page_size=size)
    if body is None:
        body = await in_read_session(
            request, service.list_reports_json, filters, caller, cache=cache, max_page_size=size
        )
    return Response(body, media_type="application/json")


@router.get("/api/reports/{insight_id}", response_model=ReportDetail, responses=NOT_FOUND)
async def get_report(insight_id: str, request: Request, caller: Caller) -> Response:
    cache = _cache(request)
    body = service.cached_report_json(insight_id, caller, cache=cache)
    if body is None:
        body = await in_read_session(request, service.get_report_json, insight_id, caller, cache=cache)
    return Response(body, media_type="application/json")


@router.get("/api/reports/{insight_id}/related", response_model=list[ReportSummary], responses=NOT_FOUND)
def related_reports(
    insight_id: str, request: Request, db: ReadDb, caller: Caller, limit: Annotated[int, Query(ge=1, le=50)] = 10
) -> list[dict[str, Any]]:
    """Reports on the same ticker or sharing a keyword, most overlap first, then newest."""
    return service.related_reports(insight_id, caller, limit, db_session=db, cache=_cache(request))


@router.patch(
    "/api/reports/{insight_id}/status",
    response_model=ReportDetail,
    responses={**NOT_FOUND, **documented(403, "only admins change a report's status")},
)
def set_status(insight_id: str, body: ReportStatusIn, request: Request, db: Db, caller: Caller) -> dict[str, Any]:
    """Publish, hide or return a report to draft (admins: it changes what every reader sees)."""
    return service.set_status(insight_id, body.status, caller, db_session=db, cache=_cache(request))


@router.put("/api/reports/{insight_id}/favorite", status_code=204, responses=NOT_FOUND)
def add_favorite(insight_id: str, request: Request, db: Db, caller: Caller) -> Response:
    service.set_favorite(insight_id, caller, True, db_session=db, cache=_cache(request))
    return Response(status_code=204)


@router.delete("/api/reports/{insight_id}/favorite", status_code=204, responses=NOT_FOUND)
def remove_favorite(insight_id: str, request: Request, db: Db, caller: Caller) -> Response:
    service.set_favorite(insight_id, caller, False, db_session=db, cache=_cache(request))
    return Response(status_code=204)


@router.get("/api/search", response_model=list[ReportSummary])
def search_reports(
    db: ReadDb,
    caller: Caller,
    query: Annotated[str | None, Query(min_length=1, max_length=200, description="the words to look for")] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=200, description="`query`, for short")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[dict[str, Any]]:
    """Reports ranked by BM25 over headline, summary, keywords and ticker (hidden excluded)."""
    words = query if query is not None else q
    if words is None:
        raise InvalidRequest("query: give the words to search for as ?query= (or ?q=)")
    return service.search_reports(words, limit, caller, db_session=db)


@router.get("/api/tickers/{ticker}/sentiment", response_model=SentimentSeries)
def sentiment_series(
    ticker: Annotated[TickerText, Path()], db: ReadDb, caller: Caller, days: Annotated[int, Query(ge=1, le=3650)] = 90
) -> dict[str, Any]:
    """Mean sentiment of the ticker's reports per UTC day (hidden excluded), oldest first."""
    return service.sentiment_series(ticker, days, caller, db_session=db)
