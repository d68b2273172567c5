"""Reports (API.md): parse, call `reports.service`, answer.

The list and the detail answer bytes the service keeps serialised (through the response model
each route declares, so `/openapi.json` and the bodies agree): no validation and encoding of
the same report on every request. They are async: a cache hit is answered on the event loop
with no database session; only a miss goes to the thread pool (`in_read_session`).

`CachedReports` answers the commonest of those requests before FastAPI sees them (its routing
and dependency solving cost more than a hit itself): a plain page or a report, for a key whose
owner and favourites are cached, with the bytes and headers the route would send; a report not
cached yet is read on the event loop there, not in a thread. Anything else goes on to the route.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import ValidationError
from starlette.routing import get_route_path

from stockteacher.accounts.models import Principal
from stockteacher.accounts.service import cached_principal
from stockteacher.api.auth import bearer_token
from stockteacher.api.deps import AppSettings, Caller, Db, ReadDb, in_read_session
from stockteacher.api.errors import documented
from stockteacher.core.errors import InvalidRequest, StockTeacherError
from stockteacher.core.fields import TickerText
from stockteacher.reports import service
from stockteacher.reports.models import ReportDetail, ReportFilters, ReportStatusIn, ReportSummary, SentimentSeries
from stockteacher.settings import Settings
from stockteacher.store.db import loop_reader

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


# --- cache hits before FastAPI ---------------------------------------------------------------
Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]
PAGE_QUERY = re.compile(rb"(?:(limit|offset)=(0|[1-9][0-9]{0,6}))(?:&(?!\1)(limit|offset)=(0|[1-9][0-9]{0,6}))?")
JSON_HEADERS = [(b"content-type", b"application/json")]


class CachedReports:
    """Pure ASGI, inside the app's middleware (security headers, CORS) and in front of its
    router: `GET /api/reports` with no query but `limit` and `offset`, and `GET
    /api/reports/{id}` with none, answered when the caller's key, the page or report, and the
    caller's favourites are all cached (`list_reports` and `get_report` give the same bytes, via
    the same service calls). A miss, another query, no key, an unknown key and anything the
    service refuses go on to the app, which answers them in its own words."""

    def __init__(self, app: ASGIApp, *, settings: Settings, cache: service.ReportCache) -> None:
        self.app, self.settings, self.cache = app, settings, cache
        self.answered = 0  # requests answered here (tests and benchmarks read it)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        body = await self._answer(scope) if scope["type"] == "http" and scope["method"] == "GET" else None
        if body is None:
            await self.app(scope, receive, send)
            return
        self.answered += 1
        headers = [(b"content-length", str(len(body)).encode()), *JSON_HEADERS]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, scope: Scope) -> bytes | None:
        path = get_route_path(scope)
        if not path.startswith("/api/reports"):
            return None
        caller = self._caller(scope)
        if caller is None:
            return None
        query: bytes = scope.get("query_string", b"")
        try:
            if path == "/api/reports":
                filters = _page_filters(query)
                if filters is None:
                    return None
                size = self.settings.api_max_page_size
                return service.cached_list_json(filters, caller, cache=self.cache, max_page_size=size)
            insight_id = path.removeprefix("/api/reports/")
            if query or not insight_id or insight_id == path or "/" in insight_id:
                return None
            body = service.cached_report_json(insight_id, caller, cache=self.cache)
            engine = loop_reader(self.settings.dsn) if body is None else None
            if engine is not None:  # a report not cached yet: read on the event loop, no thread
                body = await service.fetch_report_json(insight_id, caller, engine=engine, cache=self.cache)
            return body
        except StockTeacherError:
            return None  # refused: the route says so, with its status and words

    def _caller(self, scope: Scope) -> Principal | None:
        authorization = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        token = bearer_token(authorization.decode("latin-1")) if authorization is not None else None
        if token is None:
            return None
        hit, principal = cached_principal(self.settings, token)
        return principal if hit else None


def _page_filters(query: bytes) -> ReportFilters | None:
    """The filters of a query with `limit` and `offset` only (each at most once, plain digits),
    as FastAPI would read them; None for anything else, or a value the route would refuse."""
    if not query:
        return ReportFilters.model_validate({})
    match = PAGE_QUERY.fullmatch(query)
    if match is None:
        return None
    name, value, other, other_value = match.groups()
    values = {name.decode(): int(value), **({other.decode(): int(other_value)} if other else {})}
    try:
        return ReportFilters.model_validate(values)
    except ValidationError:
        return None
