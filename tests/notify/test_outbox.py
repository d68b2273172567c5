"""The outbox on PostgreSQL: planning (who, which channel, when), one row per report, user and
channel whatever runs twice, retries with backoff, dead after the bound, restarts after a
crash, and suspension after repeated dead deliveries."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from stockteacher.notify.outbox import backoff_seconds, delivery_key, plan_deliveries, send_due
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope
from stockteacher.store.models import (
    Delivery,
    NotificationChannel,
    NotificationPolicy,
    Report,
    Subscription,
)
from tests.factories.notify import NOW, add_report, add_user


@dataclass(frozen=True)
class Result:
    ok: bool
    permanent: bool = False
    error: str | None = None
    retry_after: float | None = None


class Recorder:
    """A sender that records each message and answers from a script (default: delivered)."""

    def __init__(self, *answers: Result) -> None:
        self.answers = list(answers)
        self.messages: list[dict[str, Any]] = []

    def __call__(self, channel: str, target: Any, reports: list[dict[str, Any]], locale: str, reason: str,
                 delivery_id: str) -> Result:  # fmt: skip
        self.messages.append(
            {
                "channel": channel,
                "ids": sorted(r["insight_id"] for r in reports),
                "locale": locale,
                "reason": reason,
                "delivery_id": delivery_id,
            }  # fmt: skip
        )
        return self.answers.pop(0) if self.answers else Result(ok=True)


@pytest.fixture
def settings(make_settings: Callable[..., Settings], pg_dsn: str) -> Settings:
    return make_settings(postgres_dsn=pg_dsn, notify_backoff_seconds=10, notify_max_attempts=3)


def deliveries(settings: Settings) -> list[Delivery]:
    with session_scope(settings.dsn) as session:
        rows = list(session.execute(select(Delivery).order_by(Delivery.id)).scalars())
        session.expunge_all()
        return rows


def test_plans_once_per_report_user_and_channel(settings: Settings) -> None:
    add_user(settings, "alice", tickers={"AAPL": "intraday"}, channels=("webhook", "email"))
    add_user(settings, "bob", tickers={"TSLA": "intraday"})
    add_user(settings, "carol", tickers={"AAPL": "intraday"}, status="PendingVerification")
    first = add_report(settings, 1, "AAPL")
    add_report(settings, 2, "MSFT")  # nobody follows MSFT
    add_report(settings, 3, "AAPL", status="draft")  # drafts are not announced

    assert plan_deliveries(settings, now=NOW).planned == 2
    assert plan_deliveries(settings, now=NOW).planned == 0  # planned reports are not planned again
    rows = deliveries(settings)
    assert {(r.insight_id, r.user_id, r.channel) for r in rows} == {
        (first, "alice", "webhook"),
        (first, "alice", "email"),
    }
    assert all(r.status == "pending" and r.reason == "intraday" and r.due_at == NOW for r in rows)

    # even if the report were planned again (a second notifier racing), the unique key holds
    with session_scope(settings.dsn) as session:
        session.get(Report, first).notify_planned_at = None
    assert plan_deliveries(settings, now=NOW).planned == 0
    assert len(deliveries(settings)) == 2


def test_a_policy_naming_no_channel_uses_every_verified_one(settings: Settings) -> None:
    # Never saved a policy, one verified webhook: told on the webhook (the old default wanted e-mail).
    add_user(settings, "alice", tickers={"AAPL": "intraday"}, channels=("webhook",), saved_policy=False)
    # Saved a policy naming no channel, two verified ones: both.
    add_user(settings, "bob", tickers={"AAPL": "intraday"}, channels=("webhook", "email"), policy={"channels": []})
    report = add_report(settings, 1)
    assert plan_deliveries(settings, now=NOW).planned == 3
    assert {(r.insight_id, r.user_id, r.channel) for r in deliveries(settings)} == {
        (report, "alice", "webhook"),
        (report, "bob", "email"),
        (report, "bob", "webhook"),
    }


def test_channels_the_policy_names_but_that_are_not_verified_get_no_rows(settings: Settings) -> None:
    add_user(settings, "alice", tickers={"AAPL": "intraday"}, channels=("webhook", "apprise"))
    with session_scope(settings.dsn) as session:
        session.get(NotificationChannel, ("alice", "webhook")).status = "pending"
        session.get(NotificationPolicy, "alice").channels = ["webhook", "email", "apprise"]  # no e-mail set up
    add_report(settings, 1)
    plan_deliveries(settings, now=NOW)
    assert [(r.channel, r.status) for r in deliveries(settings)] == [("apprise", "pending")]


def test_a_digest_is_one_message_and_waits_for_its_time(settings: Settings) -> None:
    add_user(settings, "alice", tickers={"005930.KS": "daily_close"}, policy={"window": "daily_close"})
    ids = [add_report(settings, n, "005930.KS") for n in (1, 2, 3)]
    plan_deliveries(settings, now=NOW)
    rows = deliveries(settings)
    assert len({r.digest_key for r in rows}) == 1 and all(r.reason == "daily_close" for r in rows)
    close = rows[0].due_at
    assert close == datetime(2026, 11, 25, 6, 30, tzinfo=UTC)  # 15:30 in Seoul, the KRX close

    sender = Recorder()
    assert send_due(settings, sender, now=NOW).sent == 0  # not yet
    assert send_due(settings, sender, now=close).sent == 3
    assert [m["ids"] for m in sender.messages] == [sorted(ids)]  # one message for the three
    assert sender.messages[0]["delivery_id"] == delivery_key("alice", "webhook", rows[0].digest_key)


def test_retries_back_off_then_deliver_once(settings: Settings) -> None:
    add_user(settings, "alice", tickers={"AAPL": "intraday"})
    add_report(settings, 1)
    plan_deliveries(settings, now=NOW)
    sender = Recorder(Result(ok=False, error="HTTP 503"), Result(ok=False, error="timeout"))
    rng = random.Random(1)

    assert send_due(settings, sender, now=NOW, rng=rng).retried == 1
    (row,) = deliveries(settings)
    first_wait = (row.next_attempt_at - NOW).total_seconds()
    assert row.status == "failed" and row.attempts == 1 and 5 <= first_wait <= 10 and row.last_error == "HTTP 503"
    assert send_due(settings, sender, now=NOW + timedelta(seconds=1)).sent == 0  # waits for its time

    later = row.next_attempt_at
    assert send_due(settings, sender, now=later, rng=rng).retried == 1
    (row,) = deliveries(settings)
    second_wait = (row.next_attempt_at - later).total_seconds()
    assert row.attempts == 2 and 10 <= second_wait <= 20  # the backoff doubled

    assert send_due(settings, sender, now=row.next_attempt_at).sent == 1
    assert send_due(settings, sender, now=row.next_attempt_at + timedelta(hours=1)).sent == 0
    assert len(sender.messages) == 3 and len({m["delivery_id"] for m in sender.messages}) == 1
    assert deliveries(settings)[0].status == "sent"


def test_a_retry_waits_for_the_receivers_retry_after(settings: Settings) -> None:
    add_user(settings, "alice", tickers={"AAPL": "intraday"})
    add_report(settings, 1)
    plan_deliveries(settings, now=NOW)
    send_due(settings, Recorder(Result(ok=False, error="HTTP 429", retry_after=900)), now=NOW, rng=random.Random(1))
    (row,) = deliveries(settings)
    assert row.status == "failed" and row.next_attempt_at == NOW + timedelta(seconds=900)  # not the 5-10 s backoff


def test_a_retry_never_lands_in_the_users_quiet_hours(settings: Settings) -> None:
    # 12:00 in Seoul now; quiet from 12:01 to 13:00: the first attempt goes out before them.
    quiet = {"quiet_hours_start": "12:01", "quiet_hours_end": "13:00"}
    add_user(settings, "alice", tickers={"AAPL": "intraday"}, policy=quiet)
    add_report(settings, 1)
    plan_deliveries(settings, now=NOW)
    (row,) = deliveries(settings)
    assert row.due_at == NOW
    rng = random.Random(1)
    send_due(settings, Recorder(Result(ok=False, error="HTTP 503", retry_after=120)), now=NOW, rng=rng)
    (row,) = deliveries(settings)
    assert row.next_attempt_at == datetime(2026, 11, 25, 4, 0, tzinfo=UTC)  # 13:00 in Seoul, when quiet ends


def test_dead_after_the_bound_or_a_permanent_failure(settings: Settings) -> None:
    add_user(settings, "alice", tickers={"AAPL": "intraday"})
    add_user(settings, "bob", tickers={"TSLA": "intraday"})
    add_report(settings, 1, "AAPL")
    add_report(settings, 2, "TSLA")
    plan_deliveries(settings, now=NOW)

    def sender(channel: str, target: Any, reports: list[dict[str, Any]], *rest: Any) -> Result:
        if reports[0]["ticker"] == "TSLA":
            return Result(ok=False, permanent=True, error="HTTP 410")
        return Result(ok=False, error="HTTP 502")

    at = NOW
    for _ in range(3):
        send_due(settings, sender, now=at)
        at += timedelta(hours=2)
    by_user = {r.user_id: r for r in deliveries(settings)}
    assert by_user["bob"].status == "dead" and by_user["bob"].attempts == 1
    assert by_user["alice"].status == "dead" and by_user["alice"].attempts == 3  # NOTIFY_MAX_ATTEMPTS


def test_a_crashed_notifier_loses_nothing_and_a_restart_sends_each_message_once(settings: Settings) -> None:
    add_user(settings, "alice", tickers={"AAPL": "intraday"})
    add_report(settings, 1)
    plan_deliveries(settings, now=NOW)

    def crash(*args: Any) -> Result:
        raise SystemExit("killed mid-delivery")  # the process dies while sending

    with pytest.raises(SystemExit):
        send_due(settings, crash, now=NOW)
    (row,) = deliveries(settings)
    assert row.status == "pending" and row.claimed_until is not None  # still in the outbox, leased

    sender = Recorder()
    assert send_due(settings, sender, now=NOW + timedelta(seconds=30)).sent == 0  # the lease still holds
    assert send_due(settings, sender, now=NOW + timedelta(minutes=5)).sent == 1  # a restarted notifier
    assert send_due(settings, sender, now=NOW + timedelta(minutes=10)).sent == 0
    assert len(sender.messages) == 1 and deliveries(settings)[0].status == "sent"


def test_repeated_dead_deliveries_suspend_the_subscription(settings: Settings) -> None:
    add_user(settings, "alice", tickers={"AAPL": "intraday"})
    for n in range(1, 4):
        add_report(settings, n)
    plan_deliveries(settings, now=NOW)
    with session_scope(settings.dsn) as session:  # three separate messages
        for i, row in enumerate(session.execute(select(Delivery)).scalars()):
            row.digest_key = f"k{i}"

    send_due(settings, lambda *a: Result(ok=False, permanent=True, error="HTTP 404"), now=NOW)
    with session_scope(settings.dsn) as session:
        assert session.get(Subscription, "sub_alice_0").status == "Suspended"
    add_report(settings, 9)
    assert plan_deliveries(settings, now=NOW).planned == 0  # suspended: no more deliveries


def test_backoff_is_capped(settings: Settings) -> None:
    capped = settings.model_copy(update={"notify_backoff_seconds": 10, "notify_max_backoff_seconds": 60})
    waits = [backoff_seconds(capped, attempts, random.Random(attempts)) for attempts in range(1, 12)]
    assert all(w <= 60 for w in waits) and waits[-1] >= 30


def test_outbox_cli_lists_and_requeues(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from stockteacher.cli import main

    add_user(settings, "alice", tickers={"AAPL": "intraday"})
    add_report(settings, 1)
    plan_deliveries(settings, now=NOW)
    send_due(settings, lambda *a: Result(ok=False, permanent=True, error="HTTP 410"), now=NOW)
    monkeypatch.setenv("POSTGRES_DSN", settings.dsn)

    assert main(["outbox", "list", "--status", "dead", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (row["user_id"], row["status"], row["last_error"]) == ("alice", "dead", "HTTP 410")
    assert main(["outbox", "retry", "--id", str(row["id"])]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {"requeued": 1}
    (again,) = deliveries(settings)
    assert again.status == "pending" and again.attempts == 0
    assert main(["outbox", "list"]) == 0
    assert "pending" in capsys.readouterr().out


def test_idle_scheduler_ticks_leave_no_job_runs_rows(settings: Settings) -> None:
    from stockteacher.notify.notifier import notify_core
    from stockteacher.store.models import JobRun

    assert notify_core(settings, now=NOW, sender=Recorder(), record_idle=False)["sent"] == 0
    add_user(settings, "alice", tickers={"AAPL": "intraday"})
    add_report(settings, 1)
    assert notify_core(settings, now=NOW, sender=Recorder(), record_idle=False)["sent"] == 1
    with session_scope(settings.dsn) as session:
        runs = session.execute(select(JobRun)).scalars().all()
    assert [(r.stage, r.status, r.saved) for r in runs] == [("notify", "SUCCEEDED", 1)]  # only the busy one
