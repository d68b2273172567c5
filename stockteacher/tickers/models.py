"""The API's ticker bodies (API.md `GET /api/tickers?q=`)."""

from __future__ import annotations

from pydantic import BaseModel

from stockteacher.tickers.registry import TickerInfo

__all__ = ["TickerOut"]


class TickerOut(BaseModel):
    ticker: str
    name_en: str | None
    name_ko: str | None
    exchange: str | None
    country: str | None
    aliases: list[str]

    @classmethod
    def of(cls, info: TickerInfo) -> TickerOut:
        return cls(
            ticker=info.symbol,
            name_en=info.name_en,
            name_ko=info.name_ko,
            exchange=info.exchange,
            country=info.country,
            aliases=list(info.aliases),
        )
