"""Fixtures for analysis tests: a SQLite database with the sample news of one ticker collected."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from stockteacher.ingest.collect import collect_core
from stockteacher.settings import Settings


@pytest.fixture
def collected(make_settings: Callable[..., Settings], sqlite_dsn: str) -> Callable[..., Settings]:
    """Collect the sample news of a ticker; returns a settings factory for that database."""

    def factory(ticker: str = "AAPL", **overrides: Any) -> Settings:
        settings = make_settings(postgres_dsn=sqlite_dsn, **overrides)
        collect_core(ticker, "sample", settings=settings)
        return settings

    return factory
