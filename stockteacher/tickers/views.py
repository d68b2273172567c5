"""`/api/tickers` (API.md): find a ticker by symbol, name or alias."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from stockteacher.api.deps import Caller, ReadDb
from stockteacher.tickers import service
from stockteacher.tickers.models import TickerOut

router = APIRouter(prefix="/api/tickers", tags=["tickers"])


@router.get("", response_model=list[TickerOut])
def search_tickers(
    db: ReadDb,
    _caller: Caller,
    q: Annotated[
        str, Query(max_length=100, description="symbol, English or Korean name, alias; a prefix will do")
    ] = "",
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> list[TickerOut]:
    """Tickers ranked: the symbol, a name, an alias, then prefixes of each. Without `q`, every
    ticker by symbol."""
    return [TickerOut.of(info) for info in service.search(q, limit=limit, db_session=db)]
