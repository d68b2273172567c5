"""Daily prices behind one interface: `build_price_source(name, settings)` returns a `PriceSource`."""

from __future__ import annotations

from pathlib import Path

import httpx

from stockteacher.prices.base import PriceSource
from stockteacher.settings import Settings
from stockteacher.sources.base import SourceConfigError

__all__ = ["PRICE_SOURCES", "build_price_source"]

PRICE_SOURCES = ("yahoo", "file", "sample")


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
    if name == "file":
        from stockteacher.prices.files import FilePriceSource

        return FilePriceSource(path or settings.price_file_path)
    if name == "sample":
        from stockteacher.prices.sample import SamplePriceSource

        return SamplePriceSource()
    raise SourceConfigError(
        f"unknown price source {name!r}; choose one of {', '.join(PRICE_SOURCES)}", source=name, code="unknown_source"
    )
