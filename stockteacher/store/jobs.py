"""`job_runs`: one row per run of a pipeline stage, written at its start and closed at its end.

The row is written in its own short transaction, so it survives the rollback of the work it
describes: a failed run still says what failed and why. `details.worker` says where it ran
(host, pid, and the Ray node when the Ray layer said so with `set_worker_context`).

A run whose process or node died (SIGKILL, OOM, a lost node) cannot close its row. The retry
that takes its place (`start_job_run(..., supersede=True)`, same trace, stage, ticker and
source) closes it as `FAILED` with `error_code=attempt_lost`, and so does a restarted
scheduler resuming a slot (`mark_lost_runs`): no row stays `RUNNING` for work nobody does.

Every stage writes its row through `job_run`, one context manager: the row is opened on entry
and closed on exit, `SUCCEEDED` with what the body recorded, or `FAILED` with what the
stage's `on_error` says about the exception (which is then re-raised).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from stockteacher.store.db import session_scope
from stockteacher.store.models import JobRun, utcnow

__all__ = [
    "ATTEMPT_LOST",
    "FAILED",
    "RUNNING",
    "SUCCEEDED",
    "JobRunRecord",
    "failure_fields",
    "finish_job_run",
    "job_run",
    "mark_lost_runs",
    "set_worker_context",
    "start_job_run",
]

RUNNING, SUCCEEDED, FAILED, SKIPPED = "RUNNING", "SUCCEEDED", "FAILED", "SKIPPED"
ATTEMPT_LOST = "attempt_lost"
_worker_context: dict[str, Any] = {}


def set_worker_context(**fields: Any) -> None:
    """Extra facts about this process for `details.worker` (the Ray layer adds its node id)."""
    _worker_context.update(fields)


def _worker() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), **_worker_context}


def mark_lost_runs(
    dsn: str, *, trace_id: str, stage: str, ticker: str | None, source: str | None = None, reason: str
) -> int:
    """Close the `RUNNING` rows of (trace, stage, ticker[, source]) as lost; returns how many."""

    with session_scope(dsn) as session:
        return _mark_lost(session, trace_id=trace_id, stage=stage, ticker=ticker, source=source, reason=reason)


def _mark_lost(
    session: Session, *, trace_id: str, stage: str, ticker: str | None, source: str | None, reason: str
) -> int:
    from stockteacher.store.models import utcnow as now

    query = update(JobRun).where(
        JobRun.trace_id == trace_id, JobRun.stage == stage, JobRun.ticker == ticker, JobRun.status == RUNNING
    )
    if source is not None:
        query = query.where(JobRun.source == source)
    result = session.execute(
        query.values(status=FAILED, finished_at=now(), error_code=ATTEMPT_LOST, error_message=reason[:2000])
    )
    return int(getattr(result, "rowcount", 0) or 0)  # a CursorResult for an UPDATE


def start_job_run(
    dsn: str,
    *,
    stage: str,
    trace_id: str,
    ticker: str | None = None,
    source: str | None = None,
    details: dict[str, Any] | None = None,
    supersede: bool = False,
) -> int:
    """Open a run. With `supersede`, this run is a retry of any still-`RUNNING` one of the same
    trace, stage, ticker and source, whose process died: that one is closed as lost (in the
    same transaction as the new row)."""
    details = {"worker": _worker(), **(details or {})}
    with session_scope(dsn) as session:
        if supersede:
            _mark_lost(
                session,
                trace_id=trace_id,
                stage=stage,
                ticker=ticker,
                source=source,
                reason="superseded by a retry: the process or node running this attempt died",
            )
        run = JobRun(
            stage=stage,
            status=RUNNING,
            ticker=ticker,
            source=source,
            trace_id=trace_id,
            started_at=utcnow(),
            details=details,
        )
        session.add(run)
        session.flush()
        return run.id


def finish_job_run(
    dsn: str,
    run_id: int,
    *,
    status: str,
    error_code: str | None = None,
    error_message: str | None = None,
    started_details: dict[str, Any] | None = None,
    **fields: Any,
) -> None:
    """Close a run: its status, counts (`fetched`, `unique`, `saved`, tokens, cost), error.
    `details` are added to those the run started with: `started_details` when the caller
    knows them (`job_run` does), else read back from the row."""
    allowed = {"fetched", "unique", "saved", "prompt_tokens", "completion_tokens", "cost_usd", "details"}
    unknown = set(fields) - allowed
    if unknown:
        raise TypeError(f"unknown job_runs fields: {sorted(unknown)}")
    from stockteacher.logs import mask_text

    values = {
        "status": status,
        "finished_at": utcnow(),
        "error_code": error_code,
        "error_message": mask_text(error_message)[:2000] if error_message else None,
        **fields,
    }
    with session_scope(dsn) as session:
        if "details" in values:
            started = started_details
            if started is None:
                started = session.execute(select(JobRun.details).where(JobRun.id == run_id)).scalar_one_or_none()
            values["details"] = {**(started or {}), **(values["details"] or {})}
        session.execute(update(JobRun).where(JobRun.id == run_id).values(**values))


def failure_fields(exc: BaseException) -> dict[str, Any]:
    """The default error columns: a typed error's `code` and message, else `unexpected_error`
    and the exception's type and message."""
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code:
        return {"error_code": code, "error_message": str(exc)}
    return {"error_code": "unexpected_error", "error_message": f"{type(exc).__name__}: {exc}"}


@dataclass
class JobRunRecord:
    """What the body of `job_run` says about its run: the columns to close the row with
    (`fetched`, `unique`, `saved`, tokens, cost, `details`), set with `record`; `discard()`
    for a run that did nothing worth a row (only with `open_at_start=False`)."""

    id: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    discarded: bool = False

    def record(self, **fields: Any) -> None:
        self.fields.update(fields)

    def discard(self) -> None:
        self.discarded = True


@contextmanager
def job_run(
    dsn: str,
    *,
    stage: str,
    trace_id: str,
    ticker: str | None = None,
    source: str | None = None,
    supersede: bool = False,
    open_at_start: bool = True,
    on_error: Callable[[BaseException], dict[str, Any]] = failure_fields,
) -> Iterator[JobRunRecord]:
    """One `job_runs` row around the body; see the module docstring.

    `on_error(exc)` returns the failed row's columns (`error_code`, `error_message`, and any
    counts); it may log. With `supersede`, the run is a Ray retry (`start_job_run`). With
    `open_at_start=False` the row is written only when the body ends — not at all after
    `discard()` — for runs that usually find nothing to do (the scheduler's idle notify)."""

    started: dict[str, Any] = {}  # the details the row was opened with: merged at the end without reading them back

    def start() -> int:
        started.update(worker=_worker())  # what start_job_run opens the row with
        return start_job_run(
            dsn, stage=stage, trace_id=trace_id, ticker=ticker, source=source, details=started, supersede=supersede
        )

    run = JobRunRecord(id=start() if open_at_start else None)
    try:
        yield run
    except BaseException as exc:
        failed = {**run.fields, **on_error(exc)}
        run_id = run.id if run.id is not None else start()
        finish_job_run(dsn, run_id, status=FAILED, started_details=started, **failed)
        raise
    if run.id is None:
        if run.discarded:
            return
        run.id = start()
    finish_job_run(dsn, run.id, status=SUCCEEDED, started_details=started, **run.fields)
