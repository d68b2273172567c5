"""The scheduler's memory: due pairs, compare-and-set slot claims, resuming cut-off slots."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from stockteacher.settings import Settings, load_settings
from stockteacher.store import schedule
from stockteacher.store.db import session_scope
from stockteacher.store.models import Subscription

NOW = datetime(2026, 11, 26, 10, 7, tzinfo=UTC)


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, sqlite_dsn: str) -> Settings:
    monkeypatch.setenv("POSTGRES_DSN", sqlite_dsn)
    monkeypatch.setenv("COLLECTION_SCHEDULES", json.dumps([
        {"ticker": "AAPL", "source": "news_api", "interval_minutes": 5},
        {"ticker": "TSLA", "source": "rss", "interval_minutes": 60},
        {"ticker": "MSFT", "source": "rss", "interval_minutes": 5, "enabled": False},
    ]))
    return load_settings(_env_file=None)


def test_slots_are_aligned_to_the_interval() -> None:
    assert schedule.slot_for(NOW, 5) == datetime(2026, 11, 26, 10, 5, tzinfo=UTC)
    assert schedule.slot_for(NOW, 60) == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def test_pairs_come_from_schedules_and_active_subscriptions(settings: Settings) -> None:
    with session_scope(settings.dsn) as session:
        for i, (ticker, status) in enumerate([("NVDA", "Active"), ("005930.KS", "Suspended"), ("AAPL", "Active")]):
            session.add(Subscription(subscription_id=f"sub_{i}", user_id=f"u{i}", ticker=ticker,
                                     alert_window="daily_close", status=status))
    pairs = schedule.scheduled_pairs(settings)
    assert pairs == {("AAPL", "news_api"): 5, ("TSLA", "rss"): 60, ("NVDA", "sample"): 60, ("AAPL", "sample"): 60}


def test_a_claimed_slot_is_not_due_and_cannot_be_claimed_twice(settings: Settings) -> None:
    due = schedule.due_pairs(settings, now=NOW)
    assert [(p.ticker, p.source) for p in due] == [("AAPL", "news_api"), ("TSLA", "rss")]
    aapl = due[0]
    assert schedule.claim_slot(settings, aapl, trace_id="t1") is True
    assert schedule.claim_slot(settings, aapl, trace_id="t2") is False  # a second scheduler loses
    assert [(p.ticker, p.source) for p in schedule.due_pairs(settings, now=NOW)] == [("TSLA", "rss")]
    schedule.finish_slot(settings, "AAPL", "news_api", ok=True)
    later = NOW + timedelta(minutes=5)
    assert [(p.ticker, p.slot) for p in schedule.due_pairs(settings, now=later)][0] == (
        "AAPL", datetime(2026, 11, 26, 10, 10, tzinfo=UTC))


def test_only_a_fresh_scheduler_resumes_a_cut_off_slot(settings: Settings) -> None:
    aapl = schedule.due_pairs(settings, now=NOW)[0]
    assert schedule.claim_slot(settings, aapl, trace_id="dead")  # then the scheduler died
    assert "AAPL" not in {p.ticker for p in schedule.due_pairs(settings, now=NOW)}
    resumed = [p for p in schedule.due_pairs(settings, now=NOW, resume=True) if p.ticker == "AAPL"]
    assert len(resumed) == 1 and resumed[0].resumed and resumed[0].slot == aapl.slot
    assert schedule.claim_slot(settings, resumed[0], trace_id="new") is True
    schedule.finish_slot(settings, "AAPL", "news_api", ok=False, error="boom")
    # a failed slot is finished: not resumed, not run again in the same slot
    assert "AAPL" not in {p.ticker for p in schedule.due_pairs(settings, now=NOW, resume=True)}


def test_busy_pairs_are_skipped(settings: Settings, make_settings: Callable[..., Settings]) -> None:
    due = schedule.due_pairs(settings, now=NOW, busy=frozenset({("AAPL", "news_api")}))
    assert [(p.ticker, p.source) for p in due] == [("TSLA", "rss")]
