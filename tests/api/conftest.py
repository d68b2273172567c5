"""Fixtures for the HTTP API: an app on the session's PostgreSQL database, users with keys,
and reports made by the real pipeline from the bundled sample news (offline analyzer)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stockteacher.api.app import create_app
from stockteacher.api.auth import create_user
from stockteacher.settings import Settings


@dataclass
class ApiUsers:
    alice: dict[str, str]
    bob: dict[str, str]
    admin: dict[str, str]


def run_sample_pipeline(settings: Settings, tickers: tuple[str, ...] = ("AAPL", "TSLA")) -> list[str]:
    """Collect, analyze and publish the sample news for `tickers`; the published report ids."""
    from stockteacher.analysis.service import analyze_core
    from stockteacher.ingest.collect import collect_core
    from stockteacher.publish.materialize import materialize_reports

    ids: list[str] = []
    for ticker in tickers:
        collect_core(ticker, "sample", settings=settings)
        analyze_core(ticker, settings=settings)
        ids += materialize_reports(settings=settings, ticker=ticker).published
    return ids


@pytest.fixture
def api_settings(make_settings: Callable[..., Settings], pg_dsn: str) -> Settings:
    """API-key mode on PostgreSQL, offline analysis and chat."""
    return make_settings(postgres_dsn=pg_dsn, auth_mode="api_key", analysis_provider="offline")


@pytest.fixture
def client(api_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings)) as test_client:
        yield test_client


@pytest.fixture
def users(api_settings: Settings) -> ApiUsers:
    def headers(name: str, role: str = "user") -> dict[str, str]:
        _, key = create_user(api_settings, name, role=role)
        return {"Authorization": f"Bearer {key}"}

    return ApiUsers(alice=headers("alice"), bob=headers("bob"), admin=headers("root", "admin"))


@pytest.fixture
def reports(api_settings: Settings) -> list[str]:
    """Published reports for AAPL and TSLA (ids), made by the real pipeline."""
    ids = run_sample_pipeline(api_settings)
    assert ids, "the sample pipeline published nothing"
    return ids


def detail(response: Any) -> str:
    body = response.json()
    assert isinstance(body.get("detail"), str), body
    return body["detail"]
