"""The delivery outbox: deciding who gets which report when, and sending what is due.

**Planning.** A published report not yet planned (`reports.notify_planned_at IS NULL`) gets one
`deliveries` row per active subscriber and verified channel, with the due time that
`notify.timing.decide` gives (urgent reports at once, digests at the exchange's next session
open/close from its trading calendar, so never on a holiday and at a half day's early close,
weekly on Monday, quiet hours respected). The rows and the report's `notify_planned_at` are
written in one transaction, and `(insight_id, user_id, channel)` is unique, so a report is
never queued twice for the same place, whatever runs twice or concurrently.

**Sending.** Due rows (`pending`, or `failed` whose `next_attempt_at` has come) are claimed
with a lease (`claimed_until`, `FOR UPDATE SKIP LOCKED` on PostgreSQL), grouped by
(user, channel, digest key) into one message, sent, and marked in the same statement that
checks the lease is still ours:

- delivered → `sent`;
- a transient failure (5xx, 429, timeout, SMTP 4xx) → `failed`, retried after an exponential
  backoff with full jitter (`NOTIFY_BACKOFF_SECONDS` doubling, at most
  `NOTIFY_MAX_BACKOFF_SECONDS`) or the receiver's `Retry-After` if that is longer, and never
  inside the user's quiet hours (moved to their end); `dead` after `NOTIFY_MAX_ATTEMPTS`;
- a permanent failure (other 4xx, channel not configured) → `dead` at once.

A notifier killed mid-delivery leaves its rows claimed; when the lease runs out a restarted
notifier sends them again, with the same `webhook-id`, so a receiver that
de-duplicates on it sees each message once. Nothing is lost: rows only leave the outbox as
`sent` or `dead`.

`NOTIFY_SUSPEND_AFTER_DEAD` dead deliveries in a row suspend the subscription they came from.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from stockteacher.logs import get_logger
from stockteacher.notify.timing import Policy, after_quiet_hours, decide
from stockteacher.publish.materialize import report_to_dict
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope
from stockteacher.store.models import (
    Delivery,
    NotificationChannel,
    NotificationPolicy,
    Report,
    User,
    utcnow,
)
from stockteacher.subscriptions import service as subscriptions

__all__ = [
    "OutboxCounts",
    "backoff_seconds",
    "delivery_key",
    "list_deliveries",
    "plan_deliveries",
    "requeue",
    "send_due",
]

log = get_logger(__name__)
PENDING, SENT, FAILED, DEAD = "pending", "sent", "failed", "dead"


@dataclass
class OutboxCounts:
    planned: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    reports: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"planned": self.planned, "sent": self.sent, "retried": self.retried, "dead": self.dead}


def backoff_seconds(settings: Settings, attempts: int, rng: random.Random | None = None) -> float:
    """Full jitter: uniform in [base/2, base] with base = backoff × 2^(attempts-1), capped."""
    base = min(settings.notify_backoff_seconds * (2 ** max(attempts - 1, 0)), settings.notify_max_backoff_seconds)
    return (rng or random).uniform(base / 2, base)


def delivery_key(user_id: str, channel: str, digest_key: str) -> str:
    """The id receivers see in `webhook-id`: the same for every attempt of a message."""
    digest = hashlib.sha256(f"{user_id}\x1f{channel}\x1f{digest_key}".encode()).hexdigest()[:24]
    return f"dlv_{digest}"


def _policy(row: NotificationPolicy | None) -> tuple[Policy, list[str]]:
    """The user's timing and the channels they named (none named: every verified one)."""
    if row is None:
        return Policy(), []
    policy = Policy(
        timezone=row.timezone,
        window=row.window,
        frequency=row.frequency,
        quiet_hours_start=row.quiet_hours_start,
        quiet_hours_end=row.quiet_hours_end,
    )
    return policy, list(row.channels)


def _insert(session: Session, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(Delivery).values(rows)
    statement = statement.on_conflict_do_nothing(index_elements=["insight_id", "user_id", "channel"])
    return len(session.execute(statement.returning(Delivery.id)).all())  # rows really inserted


def plan_deliveries(settings: Settings, *, now: datetime | None = None, trace_id: str | None = None) -> OutboxCounts:
    """Queue the deliveries of every published report not planned yet (see the module docstring)."""
    now = now or utcnow()
    counts = OutboxCounts()
    with session_scope(settings.dsn) as session:
        query = select(Report).where(Report.status == "published", Report.notify_planned_at.is_(None))
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        reports = list(session.execute(query.order_by(Report.published_at)).scalars())
        for report in reports:
            counts.planned += _insert(session, list(_rows_for(session, report, now, trace_id)))
            report.notify_planned_at = now
            counts.reports.append(report.insight_id)
    if counts.planned:
        log.info("notify.planned", deliveries=counts.planned, reports=len(counts.reports))
    return counts


def _rows_for(session: Session, report: Report, now: datetime, trace_id: str | None) -> Iterable[dict[str, Any]]:
    for sub in subscriptions.notified_for_ticker(report.ticker, db_session=session):
        policy, wanted = _policy(session.get(NotificationPolicy, sub.user_id))
        verified = {
            row.channel
            for row in session.execute(
                select(NotificationChannel).where(
                    NotificationChannel.user_id == sub.user_id, NotificationChannel.status == "verified"
                )
            ).scalars()
        }
        decision = decide(
            alert_window=sub.alert_window,
            policy=policy,
            ticker=report.ticker,
            anomaly_score=report.anomaly_score,
            sentiment_score=report.sentiment_score,
            published_at=report.published_at,
            now=now,
            report_id=report.insight_id,
        )
        for channel in wanted or sorted(verified):
            if channel not in verified:
                log.info("notify.channel_unverified", user=sub.user_id, channel=channel)
                continue
            yield {
                "insight_id": report.insight_id,
                "user_id": sub.user_id,
                "channel": channel,
                "subscription_id": sub.subscription_id,
                "status": PENDING,
                "reason": decision.reason,
                "digest_key": decision.digest_key[:80],
                "due_at": decision.due_at,
                "next_attempt_at": decision.due_at,
                "attempts": 0,
                "trace_id": trace_id or report.trace_id,
                "created_at": now,
            }


Sender = Callable[[str, NotificationChannel | None, list[dict[str, Any]], str, str, str], Any]


def _claim(settings: Settings, now: datetime, limit: int) -> tuple[datetime, list[Delivery]]:
    lease = now + timedelta(seconds=settings.notify_lease_seconds)
    with session_scope(settings.dsn) as session:
        query = (
            select(Delivery)
            .where(
                Delivery.status.in_((PENDING, FAILED)),
                Delivery.due_at <= now,
                Delivery.next_attempt_at <= now,
                or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now),
            )
            .order_by(Delivery.id)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = list(session.execute(query).scalars())
        for row in rows:
            row.claimed_until = lease
        session.flush()
        session.expunge_all()
    return lease, rows


def send_due(
    settings: Settings,
    send: Sender,
    *,
    now: datetime | None = None,
    limit: int = 500,
    rng: random.Random | None = None,
) -> OutboxCounts:
    """Send every due delivery (grouped into digests) once; returns what happened.

    `send(channel, channel_row, reports, locale, reason, delivery_id)` returns a result with
    `ok`, `permanent` and `error` (see `notify.channels.SendResult`).
    """
    now = now or utcnow()
    counts = OutboxCounts()
    lease, rows = _claim(settings, now, limit)
    groups: dict[tuple[str, str, str], list[Delivery]] = defaultdict(list)
    for row in rows:
        groups[(row.user_id, row.channel, row.digest_key)].append(row)
    for (user_id, channel, digest_key), deliveries in groups.items():
        with session_scope(settings.dsn) as session:
            target = session.get(NotificationChannel, (user_id, channel))
            user = session.get(User, user_id)
            reports = [
                report_to_dict(r)
                for r in session.execute(
                    select(Report).where(Report.insight_id.in_([d.insight_id for d in deliveries]))
                ).scalars()
            ]
            session.expunge_all()
        locale = (user.locale if user and user.locale else None) or settings.default_locale
        reason = deliveries[0].reason
        try:
            result = send(channel, target, reports, locale, reason, delivery_key(user_id, channel, digest_key))
        except Exception as exc:  # a sender bug must not lose the rows: retry them like a transient error
            log.error("notify.sender_error", channel=channel, error=type(exc).__name__)
            result = _Failure(f"{type(exc).__name__}: {exc}")
        _record(settings, deliveries, lease, result, now, counts, rng)
    return counts


@dataclass(frozen=True)
class _Failure:
    error: str
    ok: bool = False
    permanent: bool = False


def _record(
    settings: Settings,
    deliveries: list[Delivery],
    lease: datetime,
    result: Any,
    now: datetime,
    counts: OutboxCounts,
    rng: random.Random | None,
) -> None:
    ids = [d.id for d in deliveries]
    attempts = max(d.attempts for d in deliveries) + 1
    mine = and_(Delivery.id.in_(ids), Delivery.claimed_until == lease)
    with session_scope(settings.dsn) as session:
        if result.ok:
            values: dict[str, Any] = {"status": SENT, "sent_at": now, "attempts": attempts, "last_error": None}
            counts.sent += len(ids)
            event = "notify.sent"
        elif result.permanent or attempts >= settings.notify_max_attempts:
            values = {"status": DEAD, "attempts": attempts, "last_error": (result.error or "")[:2000]}
            counts.dead += len(ids)
            event = "notify.dead"
        else:
            delay = max(backoff_seconds(settings, attempts, rng), getattr(result, "retry_after", None) or 0.0)
            policy, _ = _policy(session.get(NotificationPolicy, deliveries[0].user_id))
            values = {
                "status": FAILED,
                "attempts": attempts,
                "last_error": (result.error or "")[:2000],
                "next_attempt_at": after_quiet_hours(now + timedelta(seconds=delay), policy),
            }
            counts.retried += len(ids)
            event = "notify.retry"
        session.execute(update(Delivery).where(mine).values(claimed_until=None, **values))
        if values["status"] == DEAD:
            _maybe_suspend(settings, session, {d.subscription_id for d in deliveries if d.subscription_id})
    log.info(event, channel=deliveries[0].channel, deliveries=len(ids), attempts=attempts)


def _maybe_suspend(settings: Settings, session: Session, subscription_ids: set[str]) -> None:
    limit = settings.notify_suspend_after_dead
    for subscription_id in subscription_ids:
        last = session.execute(
            select(Delivery.status)
            .where(Delivery.subscription_id == subscription_id, Delivery.status.in_((SENT, DEAD)))
            .order_by(Delivery.id.desc())
            .limit(limit)
        ).scalars()
        statuses = list(last)
        if len(statuses) == limit and all(s == DEAD for s in statuses):
            subscriptions.suspend([subscription_id], db_session=session)
            log.warning("notify.subscription_suspended", subscription_id=subscription_id, dead=limit)


# --- operators (`stockteacher outbox …`) ----------------------------------------------------
def list_deliveries(*, db_session: Session, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The newest deliveries, optionally of one status."""
    query = select(Delivery).order_by(Delivery.id.desc()).limit(limit)
    if status:
        query = query.where(Delivery.status == status)
    return [
        {
            "id": d.id,
            "insight_id": d.insight_id,
            "user_id": d.user_id,
            "channel": d.channel,
            "status": d.status,
            "reason": d.reason,
            "due_at": d.due_at.isoformat(),
            "attempts": d.attempts,
            "next_attempt_at": d.next_attempt_at.isoformat(),
            "last_error": d.last_error,
        }
        for d in db_session.execute(query).scalars()
    ]


def requeue(*, db_session: Session, ids: Sequence[int] = ()) -> int:
    """Send failed and dead deliveries (all, or these) again, from their first attempt."""
    query = update(Delivery).where(Delivery.status.in_((FAILED, DEAD)))
    if ids:
        query = query.where(Delivery.id.in_(list(ids)))
    result = db_session.execute(query.values(status=PENDING, next_attempt_at=utcnow(), claimed_until=None, attempts=0))
    return int(result.rowcount or 0)
