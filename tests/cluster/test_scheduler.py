"""The scheduler actor: one per cluster, slots kept in the database, and a kill in the middle
of a sweep neither skips a slot nor duplicates an article or an analysis."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
import ray
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select

from stockteacher.cluster.scheduler import scheduler_handle
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope
from stockteacher.store.models import Analysis, Article, JobRun, Report, ScheduleState
from stockteacher.store.schedule import slot_for
from tests.servers.newsapi import FakeNewsApi, make_article

TICKERS = {"AAPL": "Apple", "TSLA": "Tesla", "NVDA": "Nvidia"}
INTERVAL = 1440  # daily slots: a test never straddles two


@pytest.fixture
def newsapi(httpserver: HTTPServer) -> Iterator[FakeNewsApi]:
    articles = [
        make_article(
            f"{name} update {i}",
            f"https://wire{i}.example/{t.lower()}/{i}",
            description=f"{name} item {i} {t * (i + 1)}",
        )
        for t, name in TICKERS.items()
        for i in range(3)
    ]
    server = FakeNewsApi(httpserver, api_key="k-sched", articles=articles)
    yield server
    server.close()


def sched_settings(make_settings: Callable[..., Settings], dsn: str, httpserver: HTTPServer) -> Settings:
    schedules = [{"ticker": t, "source": "news_api", "interval_minutes": INTERVAL} for t in TICKERS]
    import json
    import os

    os.environ["COLLECTION_SCHEDULES"] = json.dumps(schedules)
    try:
        return make_settings(
            postgres_dsn=dsn,
            news_api_key="k-sched",
            news_api_endpoint=httpserver.url_for("/v2/everything"),
            news_api_lang="en",
            scheduler_tick_seconds=0.5,
            scheduler_max_in_flight=1,
            analyzer_concurrency=1,
            news_api_timeout_seconds=10,
        ).for_workers()
    finally:
        del os.environ["COLLECTION_SCHEDULES"]


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def states(dsn: str) -> list[ScheduleState]:
    with session_scope(dsn) as session:
        return list(session.scalars(select(ScheduleState)))


def count(dsn: str, model: type) -> int:
    with session_scope(dsn) as session:
        return int(session.scalar(select(func.count()).select_from(model)))


def pipeline_runs(dsn: str) -> int:
    """job_runs of the collecting stages (idle ticks still run the notifier, by design)."""
    with session_scope(dsn) as session:
        return int(session.scalar(select(func.count()).select_from(JobRun).where(JobRun.stage != "notify")))


@pytest.mark.postgres
def test_starting_twice_gives_one_scheduler(
    ray_cluster: None, pg_dsn: str, make_settings: Callable[..., Settings], httpserver: HTTPServer
) -> None:
    settings = sched_settings(make_settings, pg_dsn, httpserver)
    first, second = scheduler_handle(settings), scheduler_handle(settings)
    assert ray.get(first.ping.remote()) == ray.get(second.ping.remote())
    assert first._actor_id == second._actor_id
    status = ray.get(first.status.remote())
    assert status["running"] is False and status["schedules"] == 3
    assert sorted(status["due_now"]) == [f"{t}:news_api" for t in sorted(TICKERS)]


@pytest.mark.postgres
def test_killed_mid_sweep_it_resumes_without_skipping_or_duplicating(
    ray_cluster: None,
    pg_dsn: str,
    newsapi: FakeNewsApi,
    make_settings: Callable[..., Settings],
    httpserver: HTTPServer,
) -> None:
    settings = sched_settings(make_settings, pg_dsn, httpserver)
    newsapi.stall_next(2, 2.0)  # the first collections are slow: the kill lands mid-sweep
    handle = scheduler_handle(settings)
    ray.get(handle.start.remote())
    wait_for(lambda: any(s.last_status == "RUNNING" for s in states(pg_dsn)), 30, "a claimed slot")
    first_pid_started = ray.get(handle.ping.remote())
    ray.kill(handle, no_restart=False)  # Ray restarts it; it must resume from the database

    slot = slot_for(datetime.now(UTC), INTERVAL)
    wait_for(
        lambda: len(states(pg_dsn)) == 3 and all(s.last_status == "SUCCEEDED" for s in states(pg_dsn)),
        90,
        "every slot finished",
    )
    wait_for(lambda: count(pg_dsn, Report) == 3, 60, "three reports")
    assert ray.get(handle.ping.remote()) != first_pid_started  # a new incarnation did the work
    assert all(s.last_slot_at == slot for s in states(pg_dsn))  # no slot skipped
    assert count(pg_dsn, Article) == 9  # each article once
    with session_scope(pg_dsn) as session:
        per_ticker = dict(session.execute(select(Analysis.ticker, func.count()).group_by(Analysis.ticker)).all())
    assert per_ticker == {t: 1 for t in TICKERS}  # each analysis once
    # The slot is not run again on later ticks.
    collects = pipeline_runs(pg_dsn)
    time.sleep(2)
    status = ray.get(handle.status.remote())
    assert status["running"] and status["due_now"] == []
    assert pipeline_runs(pg_dsn) == collects
    ray.get(handle.stop.remote())
