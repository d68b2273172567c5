"""Fixtures for analysis tests: a SQLite database with the sample news of one ticker collected."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from stockteacher.analysis.service import load_new_stories
from stockteacher.ingest.collect import collect_core
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope


@pytest.fixture
def collected(make_settings: Callable[..., Settings], sqlite_dsn: str) -> Callable[..., Settings]:
    """Collect the sample news of a ticker; returns a settings factory for that database."""

    def factory(ticker: str = "AAPL", **overrides: Any) -> Settings:
        settings = make_settings(postgres_dsn=sqlite_dsn, **overrides)
        collect_core(ticker, "sample", settings=settings)
        return settings

    return factory


def new_story_ids(settings: Settings, ticker: str = "AAPL") -> list[int]:
    with session_scope(settings.dsn) as session:
        return [s.story_id for s in load_new_stories(session, ticker)]
