"""`/api/usage` and `/api/jobs` over HTTP: who sees whose spend, date ranges, admin-only runs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stockteacher.settings import Settings
from stockteacher.store.db import session_scope
from stockteacher.store.models import ChatMessage, ChatSession, JobRun, utcnow
from tests.factories.api import ApiUsers, error, timestamp

# every test: a fresh reports cache, and a deadlock on its lock fails the test instead of hanging
pytestmark = pytest.mark.usefixtures("report_cache_guard")

SUMMARY_FIELDS = {"insight_id", "ticker", "published_at", "status", "sentiment_score", "headline", "tags", "favorite"}


# --- usage and jobs ------------------------------------------------------------------------
def _chat(settings: Settings, user_id: str, insight_id: str, costs: list[float], *, when: datetime) -> None:
    """A chat session of `user_id` on the report with one user + one agent message per cost."""
    import uuid

    with session_scope(settings.dsn) as session:
        sid = f"chs_{uuid.uuid4().hex[:12]}"
        session.add(ChatSession(session_id=sid, user_id=user_id, insight_id=insight_id, status="Conversing",
                                started_at=when, updated_at=when))  # fmt: skip
        session.flush()
        for cost in costs:
            for sender, tokens, paid in (("user", 0, 0.0), ("agent", 100, cost)):
                session.add(
                    ChatMessage(
                        message_id=f"msg_{uuid.uuid4().hex[:12]}",
                        session_id=sid,
                        user_id=user_id,
                        sender=sender,
                        content="…",
                        prompt_tokens=tokens,
                        completion_tokens=tokens // 2,
                        cost_usd=paid,
                        created_at=when,
                    )  # fmt: skip
                )


def _job(settings: Settings, **values: Any) -> None:
    with session_scope(settings.dsn) as session:
        session.add(JobRun(**{"status": "SUCCEEDED", "trace_id": "t-default", **values}))


@pytest.fixture
def spending(api_settings: Settings, make_reports: Callable[[list[dict[str, Any]]], list[str]]) -> datetime:
    """Chat by alice (AAPL, 0.001 + 0.002 USD) and bob (TSLA, 0.005 USD); one paid analysis run."""
    now = utcnow()
    aapl, tsla = make_reports([{"ticker": "AAPL", "published_at": now}, {"ticker": "TSLA", "published_at": now}])
    _chat(api_settings, "alice", aapl, [0.001, 0.002], when=now)
    _chat(api_settings, "bob", tsla, [0.005], when=now)
    _job(api_settings, stage="analyze", ticker="AAPL", started_at=now, prompt_tokens=1000, completion_tokens=200,
         cost_usd=0.03)  # fmt: skip
    _job(api_settings, stage="collect", ticker="AAPL", started_at=now)  # free: not spending
    return now


def test_users_see_only_their_own_chat_usage(client: TestClient, users: ApiUsers, spending: datetime) -> None:
    response = client.get("/api/usage", headers=users.alice)
    assert response.status_code == 200
    body = response.json()
    assert body["scope"] == "own" and body["user_id"] == "alice"
    today = spending.date().isoformat()
    assert body["rows"] == [
        {"day": today, "stage": "chat", "ticker": "AAPL", "calls": 2, "prompt_tokens": 200,
         "completion_tokens": 100, "cost_usd": 0.003},
    ]  # fmt: skip
    assert body["total_cost_usd"] == pytest.approx(0.003)
    assert body["chat_spent_today_usd"] == pytest.approx(0.003)
    assert body["analysis_daily_budget_usd"] is None
    assert body["date_to"] == today
    bob = client.get("/api/usage", headers=users.bob).json()
    assert [(r["ticker"], r["calls"], r["cost_usd"]) for r in bob["rows"]] == [("TSLA", 1, 0.005)]


def test_admins_see_everyones_usage_including_pipeline_runs(
    client: TestClient, users: ApiUsers, spending: datetime
) -> None:
    body = client.get("/api/usage", headers=users.admin).json()
    assert body["scope"] == "all" and body["user_id"] == "root"
    rows = {(r["stage"], r["ticker"]): (r["calls"], r["cost_usd"]) for r in body["rows"]}
    assert rows == {("analyze", "AAPL"): (1, 0.03), ("chat", "AAPL"): (2, 0.003), ("chat", "TSLA"): (1, 0.005)}
    assert body["total_cost_usd"] == pytest.approx(0.038)
    assert body["chat_spent_today_usd"] == 0  # the admin's own chat


def test_usage_date_range(client: TestClient, users: ApiUsers, spending: datetime) -> None:
    yesterday = (spending - timedelta(days=1)).date().isoformat()
    body = client.get(f"/api/usage?date_to={yesterday}", headers=users.alice).json()
    assert body["rows"] == [] and body["total_cost_usd"] == 0
    error(client.get(f"/api/usage?date_from={spending.date()}&date_to={yesterday}", headers=users.alice), 422)
    error(client.get("/api/usage?date_from=last-week", headers=users.alice), 422)
    error(client.get("/api/usage"), 401)


@pytest.fixture
def job_runs(api_settings: Settings) -> datetime:
    start = utcnow() - timedelta(hours=1)
    _job(api_settings, stage="collect", status="SUCCEEDED", ticker="AAPL", source="sample", trace_id="t-1",
         started_at=start, finished_at=start + timedelta(seconds=2), fetched=10, unique=8, saved=8)  # fmt: skip
    _job(api_settings, stage="analyze", status="FAILED", ticker="AAPL", source="offline", trace_id="t-1",
         started_at=start + timedelta(minutes=1), error_code="llm_unavailable", error_message="timed out",
         details={"attempts": 3})  # fmt: skip
    _job(api_settings, stage="collect", status="SUCCEEDED", ticker="TSLA", trace_id="t-2",
         started_at=start + timedelta(minutes=2))  # fmt: skip
    return start


def test_jobs_for_admins_newest_first(client: TestClient, users: ApiUsers, job_runs: datetime) -> None:
    response = client.get("/api/jobs", headers=users.admin)
    assert response.status_code == 200
    body = response.json()
    assert [(j["stage"], j["ticker"]) for j in body] == [("collect", "TSLA"), ("analyze", "AAPL"), ("collect", "AAPL")]
    failed = body[1]
    assert failed["status"] == "FAILED" and failed["error_code"] == "llm_unavailable"
    assert failed["details"] == {"attempts": 3} and failed["finished_at"] is None
    assert timestamp(body[2]["finished_at"]) > timestamp(body[2]["started_at"])
    assert {"id", "stage", "status", "ticker", "source", "trace_id", "started_at", "cost_usd"} <= set(failed)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("stage=collect", [("collect", "TSLA"), ("collect", "AAPL")]),
        ("status=failed", [("analyze", "AAPL")]),
        ("status=SUCCEEDED&ticker=aapl", [("collect", "AAPL")]),
        ("ticker=TSLA", [("collect", "TSLA")]),
        ("trace_id=t-1", [("analyze", "AAPL"), ("collect", "AAPL")]),
        ("trace_id=t-9", []),
        ("limit=1&offset=1", [("analyze", "AAPL")]),
    ],
)
def test_job_filters(
    client: TestClient, users: ApiUsers, job_runs: datetime, query: str, expected: list[tuple[str, str]]
) -> None:
    response = client.get(f"/api/jobs?{query}", headers=users.admin)
    assert response.status_code == 200
    assert [(j["stage"], j["ticker"]) for j in response.json()] == expected


def test_jobs_are_for_admins_only(client: TestClient, users: ApiUsers, job_runs: datetime) -> None:
    assert "admin" in error(client.get("/api/jobs", headers=users.alice), 403)
    response = client.get("/api/jobs")
    error(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    error(client.get("/api/jobs?limit=0", headers=users.admin), 422)
