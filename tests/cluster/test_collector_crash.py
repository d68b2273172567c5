"""A collector SIGKILLed between its Redis claims and its commit loses nothing: Ray retries the
task, and the retry — the same claimant — claims the same articles again and stores them all.
`job_runs` says what happened: the killed attempt is closed as `attempt_lost`."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import psycopg
import pytest
import ray
import redis
from sqlalchemy import func, select

from stockteacher.cluster.actors import collect_options, collect_task
from stockteacher.ingest.dedupe import STORED
from stockteacher.logs import new_trace_id
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope
from stockteacher.store.models import Article, JobRun


def _running_collect(dsn: str, trace_id: str) -> JobRun | None:
    with session_scope(dsn) as session:
        return session.scalars(
            select(JobRun).where(JobRun.trace_id == trace_id, JobRun.stage == "collect", JobRun.status == "RUNNING")
        ).first()


@pytest.mark.postgres
@pytest.mark.redis
def test_a_collector_killed_between_claims_and_commit_is_retried_and_stores_everything(
    ray_cluster: None, pg_dsn: str, redis_url: str, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(postgres_dsn=pg_dsn, ingestion_redis_url=redis_url, collector_max_retries=2)
    keys = redis.Redis.from_url(redis_url, decode_responses=True)
    trace_id = new_trace_id()
    # Hold the ticker's article lock: the collector claims its fingerprints, then waits to insert.
    blocker = psycopg.connect(pg_dsn.replace("+psycopg", ""), autocommit=True)
    blocker.execute("SELECT pg_advisory_lock(hashtextextended('stockteacher:articles:AAPL', 0))")
    try:
        ref = collect_task.options(**collect_options(settings)).remote(settings, "AAPL", "sample", trace_id, None)
        deadline = time.monotonic() + 60
        run = None
        while time.monotonic() < deadline:
            run = _running_collect(pg_dsn, trace_id)
            if run is not None and keys.keys("dedupe:*"):
                break
            time.sleep(0.1)
        assert run is not None and keys.keys("dedupe:*"), "the collector never claimed"
        time.sleep(0.5)  # the claims are one pipeline: all of them are there now
        claimed = len(keys.keys("dedupe:*"))
        assert all(keys.get(k) == f"{trace_id}:sample" for k in keys.keys("dedupe:*"))  # claims, not stored marks
        victim = run.details["worker"]["pid"]
        os.kill(victim, signal.SIGKILL)  # OOM killer, node loss: no cleanup runs
        time.sleep(1.0)
    finally:
        blocker.close()  # releases the lock: the retry can insert

    result = ray.get(ref, timeout=120)
    assert result.saved == claimed  # the retry stored every article the dead attempt had claimed
    with session_scope(pg_dsn) as session:
        stored = session.scalar(select(func.count()).select_from(Article).where(Article.ticker == "AAPL"))
        runs = session.scalars(select(JobRun).where(JobRun.trace_id == trace_id).order_by(JobRun.id)).all()
    assert stored == claimed
    assert [(r.status, r.error_code) for r in runs] == [("FAILED", "attempt_lost"), ("SUCCEEDED", None)]
    assert runs[0].details["worker"]["pid"] == victim and runs[1].details["worker"]["pid"] != victim
    assert runs[1].saved == claimed
    assert {keys.get(k) for k in keys.keys("dedupe:*")} == {STORED}  # after the commit: stored marks
