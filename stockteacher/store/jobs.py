"""`job_runs`: one row per run of a pipeline stage, written at its start and closed at its end.

The row is written in its own short transaction, so it survives the rollback of the work it
describes: a failed run still says what failed and why.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from stockteacher.store.db import session_scope
from stockteacher.store.models import JobRun, utcnow

__all__ = ["FAILED", "RUNNING", "SUCCEEDED", "finish_job_run", "start_job_run"]

RUNNING, SUCCEEDED, FAILED, SKIPPED = "RUNNING", "SUCCEEDED", "FAILED", "SKIPPED"


def start_job_run(
    dsn: str,
    *,
    stage: str,
    trace_id: str,
    ticker: str | None = None,
    source: str | None = None,
    details: dict[str, Any] | None = None,
) -> int:
    with session_scope(dsn) as session:
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
    **fields: Any,
) -> None:
    """Close a run: its status, counts (`fetched`, `unique`, `saved`, tokens, cost), error."""
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
        session.execute(update(JobRun).where(JobRun.id == run_id).values(**values))
