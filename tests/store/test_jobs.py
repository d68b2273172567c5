"""`job_run`: the one context manager every stage writes its `job_runs` row with."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from stockteacher.store.db import StoreError, session_scope
from stockteacher.store.jobs import ATTEMPT_LOST, FAILED, RUNNING, SUCCEEDED, job_run, start_job_run
from stockteacher.store.models import JobRun


def rows(dsn: str) -> list[JobRun]:
    with session_scope(dsn) as session:
        return list(session.scalars(select(JobRun).order_by(JobRun.id)))


def test_a_run_that_ends_is_succeeded_with_what_it_recorded(sqlite_dsn: str) -> None:
    with job_run(sqlite_dsn, stage="collect", trace_id="t1", ticker="AAPL", source="sample") as run:
        assert [r.status for r in rows(sqlite_dsn)] == [RUNNING]  # open while the work runs
        run.record(fetched=3, unique=2)
        run.record(saved=2, details={"keystore": "memory"})
    (row,) = rows(sqlite_dsn)
    assert (row.stage, row.status, row.ticker, row.source) == ("collect", SUCCEEDED, "AAPL", "sample")
    assert (row.fetched, row.unique, row.saved, row.error_code) == (3, 2, 2, None)
    assert row.details["keystore"] == "memory" and "worker" in row.details


def test_a_failed_run_keeps_its_counts_and_the_error_and_the_exception_goes_on(sqlite_dsn: str) -> None:
    with pytest.raises(StoreError), job_run(sqlite_dsn, stage="collect", trace_id="t1") as run:
        run.record(fetched=4, unique=1, saved=0)
        raise StoreError("disk full")
    with pytest.raises(KeyError), job_run(sqlite_dsn, stage="publish", trace_id="t1"):
        raise KeyError("x")
    typed, unexpected = rows(sqlite_dsn)
    assert (typed.status, typed.error_code, typed.error_message, typed.fetched) == (FAILED, "db_error", "disk full", 4)
    assert (unexpected.status, unexpected.error_code, unexpected.error_message) == (
        FAILED,
        "unexpected_error",
        "KeyError: 'x'",
    )


def test_on_error_chooses_the_failed_columns(sqlite_dsn: str) -> None:
    def on_error(exc: BaseException) -> dict[str, Any]:
        return {"error_code": type(exc).__name__, "error_message": "said so", "cost_usd": 0.5}

    with pytest.raises(ValueError), job_run(sqlite_dsn, stage="analyze", trace_id="t1", on_error=on_error):
        raise ValueError("no")
    (row,) = rows(sqlite_dsn)
    assert (row.error_code, row.error_message, row.cost_usd) == ("ValueError", "said so", 0.5)


def test_a_deferred_run_writes_a_row_only_when_it_did_something(sqlite_dsn: str) -> None:
    with job_run(sqlite_dsn, stage="notify", trace_id="idle", open_at_start=False) as run:
        run.discard()
    assert rows(sqlite_dsn) == []
    with job_run(sqlite_dsn, stage="notify", trace_id="busy", open_at_start=False) as run:
        assert rows(sqlite_dsn) == []
        run.record(saved=1)
    with pytest.raises(RuntimeError), job_run(sqlite_dsn, stage="notify", trace_id="broken", open_at_start=False):
        raise RuntimeError("smtp down")
    assert [(r.trace_id, r.status) for r in rows(sqlite_dsn)] == [("busy", SUCCEEDED), ("broken", FAILED)]


def test_a_retry_closes_the_lost_attempt(sqlite_dsn: str) -> None:
    start_job_run(sqlite_dsn, stage="collect", trace_id="t1", ticker="AAPL", source="sample")  # its process died
    with job_run(sqlite_dsn, stage="collect", trace_id="t1", ticker="AAPL", source="sample", supersede=True):
        pass
    lost, retry = rows(sqlite_dsn)
    assert (lost.status, lost.error_code) == (FAILED, ATTEMPT_LOST)
    assert (retry.status, retry.error_code) == (SUCCEEDED, None)
