"""Fixtures for the HTTP API: an app on the session's PostgreSQL database, users with keys,
and reports made by the real pipeline from the bundled sample news (offline analyzer)."""

from __future__ import annotations

import threading
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
    """Collect, analyze and publish the sample news for `tickers` (the pipeline in this process,
    without notifying); the published report ids."""
    from stockteacher.pipeline import run_pipeline

    stages = ("collect", "analyze", "publish")
    result = run_pipeline(settings, [(t, "sample") for t in tickers], stages=stages)
    assert result.ok, result.summary()["errors"]
    return [i for p in result.published for i in p.published]


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


# --- report rows made directly (no pipeline), for filters, paging and ranking ---------------
REPORT_DEFAULTS: dict[str, Any] = {
    "status": "published",
    "sentiment_score": 0.0,
    "anomaly_score": 0.0,
    "tags": [],
    "keywords": [],
    "glossary": [{"term": "배당", "explanation": "회사가 이익의 일부를 주주에게 나눠 주는 것."}],
    "anomalies": [],
    "source_refs": [{"url": "https://news.example/a", "title": "A headline"}],
    "attachments": [],
    "quality_notes": [],
    "cost_usd": 0.0,
    "model": "offline-test",
    "locale": "en_US",
    "story_count": 1,
}


def insert_reports(settings: Settings, rows: list[dict[str, Any]]) -> list[str]:
    """Insert `Report` rows, each with the `Analysis` row its `analysis_id` needs; their ids.

    A row needs `ticker` and an aware `published_at`; `headline` and `summary_text` default to
    something bland, `insight_id` to a fresh `ins_…`, the rest to `REPORT_DEFAULTS`.
    """
    import uuid

    from stockteacher.store.db import session_scope
    from stockteacher.store.models import Analysis, Report

    ids: list[str] = []
    with session_scope(settings.dsn) as session:
        for row in rows:
            values = {**REPORT_DEFAULTS, **row}
            values.setdefault("insight_id", f"ins_{uuid.uuid4().hex[:16]}")
            values.setdefault("headline", f"{values['ticker']} news")
            values.setdefault("summary_text", f"What happened to {values['ticker']}.")
            values.setdefault("created_at", values["published_at"])
            values.setdefault("updated_at", values["published_at"])
            analysis = Analysis(
                ticker=values["ticker"],
                content_hash=uuid.uuid4().hex * 2,
                prompt_version="test",
                provider="offline",
                model=values["model"],
                locale=values["locale"],
                result={},
                story_ids=[],
            )
            session.add(analysis)
            session.flush()
            session.add(Report(analysis_id=analysis.id, **values))
            ids.append(values["insight_id"])
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
    from stockteacher.api.routes import reports as report_routes

    original = report_routes._lock
    fresh = threading.RLock() if isinstance(original, type(threading.RLock())) else threading.Lock()
    monkeypatch.setattr(report_routes, "_lock", TimedLock(fresh))
