"""The scheduler actor: one per cluster, slots kept in the database, and a kill in the middle
of a sweep neither skips a slot nor duplicates an article or an analysis."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import ray
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select

from stockteacher.cluster.scheduler import scheduler_handle
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope
from stockteacher.store.models import Analysis, Article, JobRun, Report, ScheduleState
from stockteacher.store.schedule import slot_for
from tests.factories.cluster import citing_responder
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


@pytest.mark.postgres
def test_start_with_changed_settings_replaces_the_scheduler_and_the_limiters_limits(
    ray_cluster: None,
    pg_dsn: str,
    newsapi: FakeNewsApi,
    llm_server: Any,
    make_settings: Callable[..., Settings],
    httpserver: HTTPServer,
) -> None:
    from stockteacher.cluster.actors import AnalyzerWorker, limiter_handle
    from stockteacher.cluster.entrypoints import scheduler_command

    llm_server.responder = citing_responder
    base = sched_settings(make_settings, pg_dsn, httpserver)

    def variant(**changes: Any) -> Settings:
        return base.model_copy(
            update={"openai_api_key": SecretStr("test-key"), "openai_base_url": llm_server.base_url, **changes}
        )

    first = scheduler_command("start", settings=variant(analysis_rpm_limit=120, analyzer_concurrency=1))
    assert first["status"] == "ok" and first["reconfigured"] == []
    handle = scheduler_handle(base, create=False)
    born = ray.get(handle.ping.remote())
    assert ray.get(limiter_handle(base).stats.remote())["rpm"] == 120

    same = scheduler_command("start", settings=variant(analysis_rpm_limit=120, analyzer_concurrency=1))
    assert same["reconfigured"] == [] and ray.get(scheduler_handle(base, create=False).ping.remote()) == born

    # A sweep is running (a slow model): a restart that cannot wait for it is refused, saying how.
    llm_server.default_delay = 4.0
    wait_for(lambda: llm_server.calls >= 1, 60, "an LLM call in the first sweep")
    from stockteacher.cluster import entrypoints

    refused = entrypoints._start_scheduler(variant(analysis_rpm_limit=60, analyzer_concurrency=2), drain_seconds=0.5)
    assert refused["status"] == "failed" and refused["error_code"] == "scheduler_busy"
    assert "ANALYSIS_RPM_LIMIT, ANALYZER_CONCURRENCY" in refused["error"] and "scheduler stop" in refused["error"]

    # Given time, the running sweep ends and a scheduler with the new settings takes over.
    changed = scheduler_command("start", settings=variant(analysis_rpm_limit=60, analyzer_concurrency=2))
    assert changed["status"] == "ok" and changed["running"] is True
    assert changed["reconfigured"] == ["ANALYSIS_RPM_LIMIT", "ANALYZER_CONCURRENCY"]
    handle = scheduler_handle(base, create=False)
    assert ray.get(handle.ping.remote()) != born
    status = ray.get(handle.status.remote())
    assert status["analyzers"]["concurrency_per_replica"] == 2
    assert status["limiter"]["rpm"] == 60  # the new pool set the cluster's limits
    assert count(pg_dsn, Report) == 3  # the first scheduler's sweep finished before it was replaced

    # A replica created with other settings only looks the limiter up: the limits stay.
    stray = ray.remote(AnalyzerWorker).remote(variant(analysis_rpm_limit=999), 99)
    ray.get(stray.ping.remote())
    assert ray.get(limiter_handle(base).stats.remote())["rpm"] == 60
    ray.kill(stray)
    scheduler_command("stop", settings=base)
