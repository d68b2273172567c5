"""The notifier end to end on PostgreSQL: channels set up and verified through the API, the
outbox, and the real webhook and SMTP senders against local servers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from stockteacher.accounts.service import create_user
from stockteacher.api.app import create_app
from stockteacher.notify.notifier import notify_core
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope
from stockteacher.store.models import Delivery, JobRun, User
from tests.factories.notify import WEBHOOK_SECRET, add_report
from tests.servers.smtp import SMTPSink
from tests.servers.webhook import WebhookReceiver

SECRET = WEBHOOK_SECRET


@pytest.fixture
def settings(make_settings: Callable[..., Settings], pg_dsn: str, sink: SMTPSink) -> Settings:
    return make_settings(
        postgres_dsn=pg_dsn,
        auth_mode="api_key",
        smtp_host=sink.host,
        smtp_port=sink.port,
        smtp_starttls=False,
        notify_backoff_seconds=10,
        public_base_url="http://127.0.0.1:8000",
        webhook_allow_private_hosts=True,  # the local receiver is on 127.0.0.1
    )


def _deliveries(settings: Settings) -> list[Delivery]:
    with session_scope(settings.dsn) as session:
        rows = list(session.execute(select(Delivery).order_by(Delivery.id)).scalars())
        session.expunge_all()
        return rows


def _subscribe_with_webhook(client: TestClient, headers: dict[str, str], url: str) -> dict[str, Any]:
    sub = client.post("/api/subscriptions", json={"ticker": "AAPL", "alert_window": "intraday"}, headers=headers)
    assert sub.status_code == 201 and sub.json()["status"] == "PendingVerification"  # no channel yet
    channel = client.put("/api/notifications/channels/webhook", json={"url": url, "secret": SECRET}, headers=headers)
    assert channel.status_code == 200 and channel.json()["status"] == "verified", channel.text
    assert channel.json()["secret"] is None  # we chose it: it is not echoed
    policy = {"timezone": "America/New_York", "window": "immediate", "channels": ["webhook"]}
    assert client.put("/api/notifications/policy", json=policy, headers=headers).status_code == 200
    (mine,) = client.get("/api/subscriptions", headers=headers).json()
    assert mine["status"] == "Active"  # the verified channel activated it
    return mine


def test_webhook_down_then_up_gets_each_report_once_signed(settings: Settings, hook: WebhookReceiver) -> None:
    _, key = create_user(settings, "alice")
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(settings)) as client:
        _subscribe_with_webhook(client, headers, hook.url)
    assert hook.requests[0].json()["type"] == "verification" and hook.requests[0].signature_valid

    insight_id = add_report(settings, 1, "AAPL")
    hook.fail_next(2, status=503)  # the receiver is down for the first two attempts
    now = datetime.now(UTC)
    first = notify_core(settings, now=now)
    assert (first["planned"], first["sent"], first["retried"]) == (1, 0, 1)
    (row,) = _deliveries(settings)
    wait_1 = row.next_attempt_at - now
    second = notify_core(settings, now=row.next_attempt_at)
    assert second["retried"] == 1
    (row2,) = _deliveries(settings)
    wait_2 = row2.next_attempt_at - row.next_attempt_at
    assert timedelta(seconds=5) <= wait_1 <= timedelta(seconds=10) < wait_2 <= timedelta(seconds=20)  # backs off
    assert notify_core(settings, now=row2.next_attempt_at)["sent"] == 1
    assert notify_core(settings, now=row2.next_attempt_at + timedelta(hours=1))["sent"] == 0

    reports = [r for r in hook.requests if r.json()["type"] == "reports"]
    assert [r.answered for r in reports] == [503, 503, 200]
    assert len({r.delivery_id for r in reports}) == 1 and hook.unique_deliveries == 2  # verification + report
    assert all(r.signature_valid for r in reports)
    body = reports[-1].json()
    assert body["reason"] == "intraday" and [r["insight_id"] for r in body["reports"]] == [insight_id]
    with session_scope(settings.dsn) as session:
        runs = session.execute(select(JobRun).where(JobRun.stage == "notify")).scalars().all()
        assert len(runs) == 4 and all(r.status == "SUCCEEDED" for r in runs)
        assert runs[-2].saved == 1 and runs[-2].details["sent"] == 1


def test_email_in_korean_with_both_parts_after_link_verification(settings: Settings, sink: SMTPSink) -> None:
    user_id, key = create_user(settings, "minji")
    with session_scope(settings.dsn) as session:
        session.get(User, user_id).locale = "ko_KR"
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(settings)) as client:
        client.post("/api/subscriptions", json={"ticker": "005930.KS", "alert_window": "intraday"}, headers=headers)
        put = client.put("/api/notifications/channels/email", json={"address": "minji@example.kr"}, headers=headers)
        assert put.status_code == 200 and put.json()["status"] == "pending"
        (verification,) = sink.messages
        link = re.search(
            r"https?://\S+/api/notifications/channels/email/verify\?token=[\w-]+",
            verification.get_body(("plain",)).get_content(),
        )
        assert link, "no verification link in the e-mail"
        path = link.group(0).split("8000", 1)[1]
        assert client.get(path).status_code == 200
        assert client.get(path).status_code == 404  # a link works once
        channels = client.get("/api/notifications/channels", headers=headers).json()
        assert [(c["channel"], c["status"]) for c in channels] == [("email", "verified")]
        assert client.get("/api/subscriptions", headers=headers).json()[0]["status"] == "Active"
        client.put("/api/notifications/policy", json={"window": "immediate", "channels": ["email"]}, headers=headers)

    add_report(settings, 7, "005930.KS")
    assert notify_core(settings)["sent"] == 1
    mail = sink.messages[-1]
    assert mail["To"] == "minji@example.kr"
    assert "삼성전자" in mail["Subject"] or "005930" in mail["Subject"]
    plain, html = mail.get_body(("plain",)).get_content(), mail.get_body(("html",)).get_content()
    assert "headline 7" in plain and "headline 7" in html
    assert re.search(r"[\uac00-\ud7a3]", plain) and re.search(r"[\uac00-\ud7a3]", html)  # Korean text


def test_a_killed_notifier_loses_nothing_and_sends_nothing_twice(
    settings: Settings, hook: WebhookReceiver, tmp_path: Path
) -> None:
    _, key = create_user(settings, "alice")
    with TestClient(create_app(settings)) as client:
        _subscribe_with_webhook(client, {"Authorization": f"Bearer {key}"}, hook.url)
    add_report(settings, 1, "AAPL")
    hook.stall_next(1, 30)  # the receiver holds the first report delivery open

    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_DSN", "DATABASE_URL"))}
    env.update(POSTGRES_DSN=settings.dsn, SECRET_KEY=settings.secret_keys or "")
    env.update(NOTIFY_LEASE_SECONDS="2", WEBHOOK_TIMEOUT_SECONDS="60")
    cli = str(Path(sys.executable).with_name("stockteacher"))
    notifier = subprocess.Popen([cli, "notify", "run-once", "--json"], cwd=tmp_path, env=env)
    deadline = time.monotonic() + 30
    while hook.count < 2 and time.monotonic() < deadline:  # verification ping + the report
        time.sleep(0.05)
    assert hook.count == 2
    notifier.send_signal(signal.SIGKILL)  # killed mid-delivery
    notifier.wait(timeout=10)
    (row,) = _deliveries(settings)
    assert row.status == "pending" and row.claimed_until is not None  # not lost, still leased

    time.sleep(2.5)  # the lease runs out
    done = subprocess.run([cli, "notify", "run-once", "--json"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    (row,) = _deliveries(settings)
    assert row.status == "sent"
    reports = [r for r in hook.requests if r.json()["type"] == "reports"]
    assert len({r.delivery_id for r in reports}) == 1  # the resend carries the same delivery id …
    assert hook.unique_deliveries == 2  # … so the receiver took the report once (plus the ping)


def test_web_push_is_not_offered_a_policy_naming_it_is_refused_and_nothing_is_queued(settings: Settings) -> None:
    _, key = create_user(settings, "alice")
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(settings)) as client:
        refused = client.put("/api/notifications/policy", json={"channels": ["web-push"]}, headers=headers)
        assert refused.status_code == 422 and "'webhook', 'email' or 'apprise'" in refused.json()["detail"]
        assert client.get("/api/notifications/policy", headers=headers).json()["channels"] == []
        assert client.delete("/api/notifications/channels/web-push", headers=headers).status_code in (404, 405)
    add_report(settings, 3, "AAPL")
    assert notify_core(settings)["planned"] == 0


def test_api_key_users_cannot_point_webhooks_at_the_servers_network(
    make_settings: Callable[..., Settings], pg_dsn: str, hook: WebhookReceiver
) -> None:
    settings = make_settings(postgres_dsn=pg_dsn, auth_mode="api_key")  # the default: private hosts refused
    _, key = create_user(settings, "mallory")
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(settings)) as client:
        for url in (hook.url, "http://169.254.169.254/latest/meta-data", "http://10.0.0.8/hook", "http://[::1]/x"):
            response = client.put("/api/notifications/channels/webhook", json={"url": url}, headers=headers)
            assert response.status_code == 422 and "private or local" in response.json()["detail"], url
    assert hook.count == 0  # nothing was sent


def test_losing_the_last_verified_channel_puts_subscriptions_back_to_waiting(
    settings: Settings, hook: WebhookReceiver
) -> None:
    _, key = create_user(settings, "alice")
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(settings)) as client:
        _subscribe_with_webhook(client, headers, hook.url)
        hook.fail_next(1, status=500)
        failed = client.put("/api/notifications/channels/webhook", json={"url": hook.url, "secret": SECRET},
                            headers=headers)  # fmt: skip
        assert failed.json()["status"] == "pending"
        assert failed.json()["last_error"] == (
            "verification ping failed: the receiver did not answer with 2xx (down, too slow, or failing)"
        )  # the receiver's own status line and body are not echoed
        assert failed.json()["last_error_code"] == "ping_no_answer"
        assert client.get("/api/subscriptions", headers=headers).json()[0]["status"] == "PendingVerification"
        _subscribe_again = client.put(
            "/api/notifications/channels/webhook", json={"url": hook.url, "secret": SECRET}, headers=headers
        )
        assert client.get("/api/subscriptions", headers=headers).json()[0]["status"] == "Active"
        assert client.delete("/api/notifications/channels/webhook", headers=headers).status_code == 204
        assert client.get("/api/subscriptions", headers=headers).json()[0]["status"] == "PendingVerification"
        assert client.delete("/api/notifications/channels/webhook", headers=headers).status_code == 404


def test_a_webhook_saved_while_private_hosts_were_allowed_is_refused_at_delivery(
    settings: Settings, hook: WebhookReceiver
) -> None:
    """Verified on 127.0.0.1 while WEBHOOK_ALLOW_PRIVATE_HOSTS=1; the operator turns it off: the
    next delivery checks the address when it connects, and the row dies instead of reaching it."""
    _, key = create_user(settings, "alice")
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(settings)) as client:
        _subscribe_with_webhook(client, headers, hook.url)
    strict = settings.model_copy(update={"webhook_allow_private_hosts": False})
    add_report(strict, 1, "AAPL")
    result = notify_core(strict, now=datetime.now(UTC))
    assert (result["planned"], result["sent"], result["dead"]) == (1, 0, 1)
    (row,) = _deliveries(strict)
    assert row.status == "dead" and "private or local address" in (row.last_error or "")
    assert [r.json()["type"] for r in hook.requests] == ["verification"]  # the report never left
