"""Fixtures for the HTTP API: an app on the session's PostgreSQL database, users with keys,
and reports made by the real pipeline from the bundled sample news (offline analyzer)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stockteacher.accounts.service import create_user
from stockteacher.api.app import create_app
from stockteacher.settings import Settings
from tests.factories.api import ApiUsers
from tests.factories.reports import insert_reports, run_sample_pipeline


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


@pytest.fixture
def make_reports(api_settings: Settings) -> Callable[[list[dict[str, Any]]], list[str]]:
    """`make_reports([{ticker, published_at, …}, …])` inserts reports into the API's database."""
    return lambda rows: insert_reports(api_settings, rows)


class TimedLock:
    """A lock that gives up after `timeout` seconds with TimeoutError instead of hanging forever."""

    def __init__(self, lock: Any, timeout: float = 2.0) -> None:
        self._lock, self._timeout = lock, timeout

    def __enter__(self) -> TimedLock:
        if not self._lock.acquire(timeout=self._timeout):
            raise TimeoutError(f"lock not acquired within {self._timeout} s: a deadlock")
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


@pytest.fixture
def report_cache_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """Turn a deadlock on the reports router's cache lock into an error: the module lock is
    replaced by a fresh lock of the same kind that raises TimeoutError after 2 s, so a nested
    acquisition fails the test instead of hanging the session. (The cache itself lives on each
    app, so tests never share one.)"""
    from stockteacher.reports import service as report_routes

    original = report_routes._lock
    fresh = threading.RLock() if isinstance(original, type(threading.RLock())) else threading.Lock()
    monkeypatch.setattr(report_routes, "_lock", TimedLock(fresh))
