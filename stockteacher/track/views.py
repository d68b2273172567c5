"""`/api/tickers/{ticker}/prices`, `/api/tickers/{ticker}/track-record`, `/api/track-record`."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from stockteacher.api.deps import Caller, ReadDb
from stockteacher.core.errors import InvalidRequest
from stockteacher.core.fields import Day, SymbolOrIndex, TickerText
from stockteacher.prices.service import prices_body
from stockteacher.tickers.registry import TickerError, normalise_symbol
from stockteacher.track import service
from stockteacher.track.models import OverallTrackRecordOut, PricesOut, TrackRecordOut

router = APIRouter(tags=["prices"])


def _symbol(ticker: str) -> str:
    """A ticker normalised, or an index as given (`^GSPC`; the route's pattern checked it)."""
    value = ticker.strip()
    if value.startswith("^"):
        return value.upper()
    try:
        return normalise_symbol(value)
    except TickerError as exc:
        raise InvalidRequest(f"ticker: {exc}") from None


@router.get("/api/tickers/{ticker}/prices", response_model=PricesOut)
def prices(
    ticker: Annotated[SymbolOrIndex, Path()],
    db: ReadDb,
    _caller: Caller,
    from_: Annotated[Day | None, Query(alias="from", description="first day (default: 180 days before `to`)")] = None,
    to: Annotated[Day | None, Query(description="last day (default: the latest stored bar)")] = None,
) -> dict[str, Any]:
    """The ticker's stored daily bars from `from` to `to`, oldest first (empty before any)."""
    # `from` after `to` is an empty range (no bars), like any range with no stored days. The
    # answer is bounded by what is stored: one row per trading day.
    return prices_body(db, _symbol(ticker), from_ or ((to or date.today()) - timedelta(days=180)), to)


@router.get("/api/tickers/{ticker}/track-record", response_model=TrackRecordOut)
def ticker_track_record(ticker: Annotated[TickerText, Path()], db: ReadDb, _caller: Caller) -> dict[str, Any]:
    """What the ticker's reports were followed by: calls, hits, a Wilson 95 % interval, the mean
    excess return per sentiment bucket, for +1, +5 and +20 trading days (stored by the
    evaluation job; `enough_data` is false below 20 calls)."""
    return service.ticker_track_record(db, _symbol(ticker))


@router.get("/api/track-record", response_model=OverallTrackRecordOut)
def overall_track_record(db: ReadDb, _caller: Caller) -> dict[str, Any]:
    """Every ticker's reports together, then each ticker's."""
    return service.overall_track_record(db)
