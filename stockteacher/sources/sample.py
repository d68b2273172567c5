"""`sample`: the bundled, synthetic demo data set; the embedded default that needs no network."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from stockteacher.sources.base import RawArticle
from stockteacher.sources.files import read_articles
from stockteacher.tickers.registry import TickerInfo

__all__ = ["SampleSource", "sample_path"]


def sample_path() -> Path:
    return Path(str(resources.files("stockteacher.sources").joinpath("data/sample_articles.jsonl")))


class SampleSource:
    name = "sample"

    async def fetch(self, ticker: TickerInfo) -> list[RawArticle]:
        return read_articles(sample_path(), ticker=ticker, source=self.name)
