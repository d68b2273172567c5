"""The scheduler's memory in the database: which slot of each (ticker, source) ran.

Slots are aligned to the epoch: a 5-minute schedule has slots at :00, :05, :10... A pair is
due when its newest slot has not been claimed. Claiming is a compare-and-set `UPDATE`, so two
schedulers (or a restarted one) never run a slot twice. A claimed slot whose run never
finished (the scheduler died mid-sweep) is resumed by the next scheduler to start. Slots
missed while no scheduler ran are coalesced into one catch-up run: collection fetches
everything since, so nothing is lost by not running each missed slot separately.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, or_, select, update

from stockteacher.core.vocabulary import COLLECTED_SUBSCRIPTIONS
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope
from stockteacher.store.models import ScheduleState, Subscription, utcnow

__all__ = ["DuePair", "claim_slot", "due_pairs", "finish_slot", "scheduled_pairs", "slot_for"]

RUNNING, DONE, FAILED = "RUNNING", "SUCCEEDED", "FAILED"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class DuePair:
    ticker: str
    source: str
    interval_minutes: int
    slot: datetime
    resumed: bool = False
    previous_trace_id: str | None = None  # the cut-off sweep's, for a resumed slot


def slot_for(now: datetime, interval_minutes: int) -> datetime:
    step = interval_minutes * 60
    seconds = int((now - EPOCH).total_seconds())
    return EPOCH + timedelta(seconds=seconds - seconds % step)


def scheduled_pairs(settings: Settings) -> dict[tuple[str, str], int]:
    """(ticker, source) → interval, from `COLLECTION_SCHEDULES` and subscriptions that are not
    suspended (one waiting for its channel's verification is collected already, so the reports
    are on the web page). An explicit schedule wins over a subscription's default interval."""
    pairs: dict[tuple[str, str], int] = {}
    with session_scope(settings.dsn) as session:
        tickers = session.scalars(
            select(Subscription.ticker).where(Subscription.status.in_(COLLECTED_SUBSCRIPTIONS)).distinct()
        ).all()
    for ticker in tickers:
        pairs[(ticker, settings.subscription_source)] = settings.subscription_interval_minutes
    for schedule in settings.collection_schedules:
        if schedule.enabled:
            pairs[(schedule.ticker, schedule.source)] = schedule.interval_minutes
        else:
            pairs.pop((schedule.ticker, schedule.source), None)
    return pairs


def due_pairs(
    settings: Settings,
    *,
    now: datetime | None = None,
    resume: bool = False,
    busy: frozenset[tuple[str, str]] = frozenset(),
) -> list[DuePair]:
    """Pairs whose current slot has not run. With `resume`, also those whose claimed slot
    never finished (only a freshly started scheduler may resume: it owns no running work)."""
    now = now or utcnow()
    wanted = scheduled_pairs(settings)
    with session_scope(settings.dsn) as session:
        states = {(s.ticker, s.source): s for s in session.scalars(select(ScheduleState))}
    due = []
    for (ticker, source), interval in sorted(wanted.items()):
        if (ticker, source) in busy:
            continue
        slot = slot_for(now, interval)
        state = states.get((ticker, source))
        if state is None or state.last_slot_at is None or state.last_slot_at < slot:
            due.append(DuePair(ticker, source, interval, slot))
        elif resume and state.last_status == RUNNING:
            due.append(
                DuePair(
                    ticker, source, interval, state.last_slot_at, resumed=True, previous_trace_id=state.last_trace_id
                )
            )
    return due


def claim_slot(settings: Settings, pair: DuePair, *, trace_id: str) -> bool:
    """Mark the pair's slot as running; False if someone else already has it."""
    now = utcnow()
    with session_scope(settings.dsn) as session:
        if session.get(ScheduleState, (pair.ticker, pair.source)) is None:
            session.add(
                ScheduleState(
                    ticker=pair.ticker, source=pair.source, interval_minutes=pair.interval_minutes, updated_at=now
                )
            )
            session.flush()
        newer = or_(ScheduleState.last_slot_at.is_(None), ScheduleState.last_slot_at < pair.slot)
        condition = (
            or_(newer, and_(ScheduleState.last_slot_at == pair.slot, ScheduleState.last_status == RUNNING))
            if pair.resumed
            else newer
        )
        result = session.execute(
            update(ScheduleState)
            .where(ScheduleState.ticker == pair.ticker, ScheduleState.source == pair.source, condition)
            .values(
                last_slot_at=pair.slot,
                last_status=RUNNING,
                last_started_at=now,
                last_trace_id=trace_id,
                interval_minutes=pair.interval_minutes,
                last_error=None,
                updated_at=now,
            )
        )
        claimed = bool(result.rowcount)
    if claimed and pair.resumed and pair.previous_trace_id:
        _close_cut_off_runs(settings, pair, trace_id)
    return claimed


def _close_cut_off_runs(settings: Settings, pair: DuePair, trace_id: str) -> None:
    """The sweep that claimed this slot died with its scheduler: its unfinished `job_runs` rows
    for the pair are closed as lost, pointing at the sweep that resumes them."""
    from stockteacher.store.jobs import mark_lost_runs

    reason = f"the scheduler running this sweep died; the slot was resumed in trace {trace_id}"
    assert pair.previous_trace_id is not None
    for stage, source in (("collect", pair.source), ("analyze", None)):
        mark_lost_runs(
            settings.dsn,
            trace_id=pair.previous_trace_id,
            stage=stage,
            ticker=pair.ticker,
            source=source,
            reason=reason,
        )


def finish_slot(settings: Settings, ticker: str, source: str, *, ok: bool, error: str | None = None) -> None:
    now = utcnow()
    with session_scope(settings.dsn) as session:
        session.execute(
            update(ScheduleState)
            .where(ScheduleState.ticker == ticker, ScheduleState.source == source)
            .values(last_status=DONE if ok else FAILED, last_finished_at=now, last_error=error, updated_at=now)
        )
