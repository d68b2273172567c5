"""`/api/usage` and `/api/jobs`: parse, call `operations.service`, answer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from stockteacher.api.deps import Admin, AppSettings, Caller, Db
from stockteacher.api.errors import documented
from stockteacher.core.fields import Day, TickerText
from stockteacher.operations import service
from stockteacher.operations.models import JobRun, JobRunOut, UsageOut

router = APIRouter(tags=["operations"])


@router.get("/api/usage", response_model=UsageOut)
def usage(
    db: Db, caller: Caller, settings: AppSettings, date_from: Day | None = None, date_to: Day | None = None
) -> dict[str, Any]:
    """Tokens and USD by UTC day, ticker and stage: your own chat for users; everything for admins."""
    return service.usage(caller, date_from, date_to, settings, db_session=db)


@router.get("/api/jobs", response_model=list[JobRunOut], responses=documented(403, "needs an admin key"))
def jobs(
    db: Db,
    _admin: Admin,
    stage: Annotated[str | None, Query(max_length=20)] = None,
    status_: Annotated[str | None, Query(alias="status", max_length=20)] = None,
    ticker: Annotated[TickerText | None, Query()] = None,
    trace_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[JobRun]:
    """Recent pipeline runs, newest first (admin)."""
    return service.recent_runs(
        db_session=db, stage=stage, status_=status_, ticker=ticker, trace_id=trace_id, limit=limit, offset=offset
    )
