"""`/feeds/{ticker}.rss|.atom|.json`, `/feeds/user/{token}.…` and `/api/feeds/token`: parse,
call `feeds.service`, answer.

A feed answers with a strong `ETag`, `Last-Modified` (its newest report) and `Cache-Control`
(`public` for a ticker's feed, `private` for a user's, 5 minutes); a request whose
`If-None-Match` names the current tag gets a 304 with no body. The feeds need no key: a ticker's
feed is public, and a user's is found by its private token alone (404 when unknown or revoked).
One route per format, not `{ticker}.{format}`: another extension is a 404, not a 422.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse

from stockteacher.api.deps import AppSettings, Caller, Db, ReadDb
from stockteacher.api.errors import documented
from stockteacher.core.errors import InvalidRequest
from stockteacher.core.fields import TickerText
from stockteacher.feeds import documents, service
from stockteacher.feeds.documents import FORMATS, MEDIA_TYPES, Feed, FeedFormat
from stockteacher.feeds.models import FeedTokenOut, FeedTokenStatus, FeedUrls, JsonFeed
from stockteacher.tickers.registry import TickerError, normalise_symbol

router = APIRouter(tags=["feeds"])
MAX_AGE = 300
Token = Annotated[str, Path(min_length=1, max_length=200, description="the private token of POST /api/feeds/token")]
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {304: {"description": "If-None-Match names the current ETag: no body"}}
UNKNOWN_TOKEN = documented(404, "unknown or revoked token")


def _answer(request: Request, feed: Feed, fmt: FeedFormat, *, cache: str) -> Response:
    """The feed in `fmt`, or a 304 when the client's copy is current."""
    tag = documents.etag(feed, fmt)
    headers = {"ETag": tag, "Cache-Control": f"{cache}, max-age={MAX_AGE}"}
    if feed.updated is not None:
        headers["Last-Modified"] = documents.http_date(feed.updated)
    if documents.etag_matches(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers=headers)
    return Response(documents.render(feed, fmt), media_type=MEDIA_TYPES[fmt], headers=headers)


def _symbol(ticker: str) -> str:
    try:
        return normalise_symbol(ticker)
    except TickerError as exc:
        raise InvalidRequest(f"ticker: {exc}") from None


def _ticker_route(fmt: FeedFormat) -> Callable[..., Response]:
    def ticker_feed(
        ticker: Annotated[TickerText, Path()], request: Request, db: ReadDb, settings: AppSettings
    ) -> Response:
        feed = service.ticker_feed(_symbol(ticker), settings, db_session=db)
        return _answer(request, feed, fmt, cache="public")

    return ticker_feed


def _user_route(fmt: FeedFormat) -> Callable[..., Response]:
    def user_feed(token: Token, request: Request, db: Db, settings: AppSettings) -> Response:
        feed = service.user_feed(token, settings, db_session=db)
        return _answer(request, feed, fmt, cache="private")

    return user_feed


def _response_class(fmt: FeedFormat) -> type[Response]:
    """A response class whose media type is the format's: what OpenAPI files the 200 under."""
    base = JSONResponse if fmt == "json" else Response  # JSON: OpenAPI shows the model's schema
    return type(f"{fmt.title()}FeedResponse", (base,), {"media_type": MEDIA_TYPES[fmt].split(";")[0]})


def _documented_body(fmt: FeedFormat) -> dict[int | str, dict[str, Any]]:
    if fmt == "json":
        return {200: {"description": "JSON Feed 1.1", "model": JsonFeed}}
    return {200: {"description": f"{'RSS 2.0' if fmt == 'rss' else 'Atom'} document"}}


# Feed readers ask for the same three paths forever, so each format is a path of its own.
for _fmt in FORMATS:
    _response = _response_class(_fmt)
    router.add_api_route(
        f"/feeds/{{ticker}}.{_fmt}",
        _ticker_route(_fmt),
        methods=["GET"],
        response_class=_response,
        responses={**_documented_body(_fmt), **NOT_MODIFIED},
        name=f"ticker_feed_{_fmt}",
        summary=f"A ticker's published reports ({_fmt})",
        description="Newest first, at most FEED_MAX_ITEMS; no key needed.",
    )
    router.add_api_route(
        f"/feeds/user/{{token}}.{_fmt}",
        _user_route(_fmt),
        methods=["GET"],
        response_class=_response,
        responses={**_documented_body(_fmt), **NOT_MODIFIED, **UNKNOWN_TOKEN},
        name=f"user_feed_{_fmt}",
        summary=f"Your subscriptions' published reports ({_fmt})",
        description="The private feed of a token's owner; no key needed, the token is the proof.",
    )


@router.post("/api/feeds/token", status_code=201, response_model=FeedTokenOut, tags=["feeds"])
def create_token(db: Db, caller: Caller, settings: AppSettings) -> FeedTokenOut:
    """Make your private feed address; any earlier one stops working. The token is shown only here."""
    token, row = service.create_token(caller.user_id, db_session=db)
    urls = FeedUrls.model_validate(service.feed_urls(settings.public_base_url, f"user/{token}"))
    return FeedTokenOut(token=token, urls=urls, created_at=row.created_at)


@router.get("/api/feeds/token", response_model=FeedTokenStatus)
def token_status(db: ReadDb, caller: Caller) -> FeedTokenStatus:
    """Whether you have a private feed address, when it was made and last read (to the minute)."""
    row = service.token_status(caller.user_id, db_session=db)
    if row is None:
        return FeedTokenStatus(active=False)
    return FeedTokenStatus(active=True, created_at=row.created_at, last_used_at=row.last_used_at)


@router.delete("/api/feeds/token", status_code=204, responses=documented(404, "you have no feed token"))
def revoke_token(db: Db, caller: Caller) -> Response:
    """Revoke your private feed address: it answers 404 from now on."""
    service.revoke_token(caller.user_id, db_session=db)
    return Response(status_code=204)
