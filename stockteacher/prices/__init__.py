"""Price sources behind one interface: `build_price_source(name, settings)` returns a `PriceSource`."""

from __future__ import annotations

from pathlib import Path

import httpx

from stockteacher.prices.base import PriceSource
from stockteacher.settings import Settings
from stockteacher.sources.base import SourceConfigError

__all__ = ["build_price_source"]


def build_price_source(
    name: str,
    settings: Settings,
    *,
    path: str | Path | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> PriceSource:
    """The price source called `name`, configured from `settings`."""
    if name == "yahoo":
        from stockteacher.prices.yahoo import YahooChartSource

        return YahooChartSource(settings, transport=transport)
    raise SourceConfigError(f"unknown price source {name!r}", source=name, code="unknown_source")
