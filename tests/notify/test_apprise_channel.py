"""Apprise channels as a user meets them, on PostgreSQL through the API: set by URL, verified by
the code the chat received, then reports delivered through the one outbox with its guarantees
(one message per report even with two notifiers at once, retries, dead letters, suspension),
each against a local stand-in of the service's real API."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from stockteacher.accounts.service import create_user
from stockteacher.api.app import create_app
from stockteacher.core.crypto import open_sealed
from stockteacher.notify.notifier import notify_core
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope
from stockteacher.store.models import Delivery, NotificationChannel, Subscription
from tests.factories.notify import add_report
from tests.servers.chat import ChatServer
from tests.servers.discord import DiscordServer
from tests.servers.ntfy import NtfyServer
from tests.servers.slack import SlackServer
from tests.servers.telegram import TelegramServer

CODE = re.compile(r"\b(\d{6})\b")
SERVERS: dict[str, Callable[[], ChatServer]] = {
    "Telegram": TelegramServer,
    "Slack": SlackServer,
    "Discord": DiscordServer,
    "ntfy": NtfyServer,
}


def _overrides(server: ChatServer) -> dict[str, str]:
    host = getattr(server, "host", None)
    return {host: server.origin} if host else {}


def _settings(make_settings: Callable[..., Settings], pg_dsn: str, server: ChatServer, **extra: Any) -> Settings:
    return make_settings(postgres_dsn=pg_dsn, auth_mode="api_key", apprise_host_overrides=_overrides(server),
                         webhook_allow_private_hosts=True, apprise_timeout_seconds=2, public_base_url="https://st.example",
                         notify_backoff_seconds=0, **extra)  # fmt: skip


def _code(server: ChatServer) -> str:
    message = server.messages[-1]
    found = CODE.search(f"{message.title}\n{message.text}")
    assert found, message
    return found.group(1)


def _user(settings: Settings, name: str) -> dict[str, str]:
    _, key = create_user(settings, name)
    return {"Authorization": f"Bearer {key}"}


def _set_up(client: TestClient, headers: dict[str, str], server: ChatServer) -> dict[str, Any]:
    """Subscribe to AAPL (intraday, so each report goes out at once) and verify the Apprise channel."""
    sub = client.post("/api/subscriptions", json={"ticker": "AAPL", "alert_window": "intraday"}, headers=headers)
    assert sub.status_code == 201, sub.text
    put = client.put("/api/notifications/channels/apprise", json={"url": server.url()}, headers=headers)  # type: ignore[attr-defined]
    assert put.status_code == 200 and put.json()["status"] == "pending", put.text
    verified = client.post("/api/notifications/channels/apprise/verify", json={"code": _code(server)}, headers=headers)
    assert verified.status_code == 200 and verified.json()["status"] == "verified", verified.text
    return verified.json()


@pytest.fixture(params=list(SERVERS))
def server(request: pytest.FixtureRequest) -> Iterator[ChatServer]:
    with SERVERS[request.param]() as running:
        yield running


def test_each_service_is_verified_by_the_code_it_received_then_gets_each_report_once(
    server: ChatServer, make_settings: Callable[..., Settings], pg_dsn: str
) -> None:
    settings = _settings(make_settings, pg_dsn, server)
    headers = _user(settings, "minji")
    with TestClient(create_app(settings)) as client:
        channel = _set_up(client, headers, server)
        (sub,) = client.get("/api/subscriptions", headers=headers).json()
    assert sub["status"] == "Active" and channel["verification_expires_at"] is None
    assert len(server.messages) == 1 and "StockTeacher" in server.messages[0].title + server.messages[0].text

    insight_id = add_report(settings, 1, "AAPL", sentiment=-0.7)
    assert notify_core(settings)["sent"] == 1
    assert notify_core(settings)["sent"] == 0  # nothing is sent twice
    assert len(server.messages) == 2
    delivered = server.messages[-1]
    seen = f"{delivered.title}\n{delivered.text}"
    assert "headline 1" in seen and "매우 부정적" in seen  # the headline, the sentiment in words …
    assert f"https://st.example/#report={insight_id}" in seen  # … and the link to the report


def test_the_url_is_sealed_and_shown_masked_and_a_wrong_code_costs_one_of_five_tries(
    make_settings: Callable[..., Settings], pg_dsn: str
) -> None:
    with TelegramServer() as telegram:
        settings = _settings(make_settings, pg_dsn, telegram)
        headers = _user(settings, "jisoo")
        with TestClient(create_app(settings)) as client:
            put = client.put("/api/notifications/channels/apprise", json={"url": telegram.url()}, headers=headers)
            assert put.status_code == 200, put.text
            shown = put.json()
            code = _code(telegram)
            wrong = "000000" if code != "000000" else "111111"
            tries = []
            for _ in range(4):
                refused = client.post("/api/notifications/channels/apprise/verify", json={"code": wrong}, headers=headers)
                tries.append((refused.status_code, refused.json()["reason"], refused.json()["tries_left"]))
            assert tries == [(422, "wrong_code", left) for left in (4, 3, 2, 1)]
            ok = client.post("/api/notifications/channels/apprise/verify", json={"code": f" {code} "}, headers=headers)
            assert ok.status_code == 200 and ok.json()["status"] == "verified"
            again = client.post("/api/notifications/channels/apprise/verify", json={"code": code}, headers=headers)
            assert again.status_code == 409
    token = telegram.token.split(":")[1]
    assert shown["channel"] == "apprise" and shown["status"] == "pending" and token not in str(shown)
    assert shown["address"].startswith("tgram://") and shown["verification_expires_at"]
    with session_scope(settings.dsn) as session:
        row = session.execute(text("SELECT * FROM notification_channels WHERE user_id = 'jisoo'")).mappings().one()
    assert token not in " ".join(str(v) for v in row.values())
    assert token in open_sealed(settings.secret_keys, row["target"])


def test_used_up_and_expired_codes_need_a_new_registration(make_settings: Callable[..., Settings], pg_dsn: str) -> None:
    with NtfyServer() as ntfy:
        settings = _settings(make_settings, pg_dsn, ntfy)
        headers = _user(settings, "hana")
        with TestClient(create_app(settings)) as client:
            client.put("/api/notifications/channels/apprise", json={"url": ntfy.url()}, headers=headers)
            code = _code(ntfy)
            wrong = "000000" if code != "000000" else "111111"
            for _ in range(5):
                client.post("/api/notifications/channels/apprise/verify", json={"code": wrong}, headers=headers)
            used_up = client.post("/api/notifications/channels/apprise/verify", json={"code": code}, headers=headers)
            assert used_up.status_code == 422 and used_up.json()["reason"] == "too_many_attempts"

            client.put("/api/notifications/channels/apprise", json={"url": ntfy.url()}, headers=headers)  # a new code
            fresh = _code(ntfy)
            with session_scope(settings.dsn) as session:
                row = session.get(NotificationChannel, ("hana", "apprise"))
                row.verification_expires_at = datetime.now(UTC) - timedelta(seconds=1)
            expired = client.post("/api/notifications/channels/apprise/verify", json={"code": fresh}, headers=headers)
            assert expired.status_code == 422 and expired.json()["reason"] == "code_expired"
            assert "PUT /api/notifications/channels/apprise" in expired.json()["detail"]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("json://example.com/hook", "not a supported service"),
        ("mailto://me:pw@example.com", "not a supported service"),
        ("windows://", "not a supported service"),
        ("tgram://", "tgram"),
        ("not a url at all", "not a supported service"),
    ],
)
def test_an_unusable_url_is_a_422_that_says_why_and_stores_nothing(
    make_settings: Callable[..., Settings], pg_dsn: str, url: str, says: str
) -> None:
    settings = make_settings(postgres_dsn=pg_dsn, auth_mode="api_key")
    headers = _user(settings, "yuna")
    with TestClient(create_app(settings)) as client:
        refused = client.put("/api/notifications/channels/apprise", json={"url": url}, headers=headers)
        assert refused.status_code == 422 and says.lower() in refused.json()["detail"].lower(), refused.text
        assert client.get("/api/notifications/channels", headers=headers).json() == []


def test_a_self_hosted_service_on_the_servers_network_is_refused_for_api_key_users(
    make_settings: Callable[..., Settings], pg_dsn: str
) -> None:
    with NtfyServer() as ntfy:
        settings = make_settings(postgres_dsn=pg_dsn, auth_mode="api_key")  # private hosts refused: the default
        headers = _user(settings, "mallory")
        with TestClient(create_app(settings)) as client:
            refused = client.put("/api/notifications/channels/apprise", json={"url": ntfy.url()}, headers=headers)
    assert refused.status_code == 422 and "private or local" in refused.json()["detail"]
    assert ntfy.requests == []


def _deliveries(settings: Settings) -> list[Delivery]:
    with session_scope(settings.dsn) as session:
        rows = list(session.execute(select(Delivery).order_by(Delivery.id)).scalars())
        session.expunge_all()
        return rows


def _due_now(settings: Settings) -> None:
    with session_scope(settings.dsn) as session:
        for row in session.execute(select(Delivery)).scalars():
            row.next_attempt_at = datetime.now(UTC) - timedelta(seconds=1)


def test_a_service_that_is_down_is_retried_with_its_hint_and_the_report_arrives_once(
    make_settings: Callable[..., Settings], pg_dsn: str
) -> None:
    with TelegramServer() as telegram:
        settings = _settings(make_settings, pg_dsn, telegram)
        headers = _user(settings, "seoyeon")
        with TestClient(create_app(settings)) as client:
            _set_up(client, headers, telegram)
        add_report(settings, 1, "AAPL")
        telegram.fail_next(1, status=503)
        assert notify_core(settings)["retried"] == 1
        telegram.rate_limit_next(1, retry_after=30)
        _due_now(settings)
        before = datetime.now(UTC)
        assert notify_core(settings)["retried"] == 1
        (row,) = _deliveries(settings)
        assert row.status == "failed" and row.attempts == 2 and "Telegram" in (row.last_error or "")
        assert row.next_attempt_at >= before + timedelta(seconds=29)  # Telegram's retry_after, not our 0 s
        _due_now(settings)
        assert notify_core(settings)["sent"] == 1
    reports = [m for m in telegram.messages if "headline 1" in m.text]
    assert len(reports) == 1 and _deliveries(settings)[0].status == "sent"


def test_a_revoked_token_is_dead_at_once_and_three_dead_in_a_row_suspend_the_subscription(
    make_settings: Callable[..., Settings], pg_dsn: str
) -> None:
    with DiscordServer() as discord:
        settings = _settings(make_settings, pg_dsn, discord)
        headers = _user(settings, "doyun")
        with TestClient(create_app(settings)) as client:
            _set_up(client, headers, discord)
        discord.token = "revoked-by-the-user"  # the webhook was deleted in Discord: 401 from now on
        for n in (1, 2, 3):
            add_report(settings, n, "AAPL")
            counts = notify_core(settings)
            assert counts["dead"] == 1 and counts["retried"] == 0, counts  # permanent: no retries
        rows = _deliveries(settings)
        assert [r.status for r in rows] == ["dead"] * 3 and all("Discord" in (r.last_error or "") for r in rows)
        assert all("revoked-by-the-user" not in (r.last_error or "") for r in rows)
        with session_scope(settings.dsn) as session:
            (sub,) = session.execute(select(Subscription)).scalars()
            assert sub.status == "Suspended"


def test_two_notifiers_at_once_send_each_report_once(make_settings: Callable[..., Settings], pg_dsn: str) -> None:
    with SlackServer() as slack:
        settings = _settings(make_settings, pg_dsn, slack)
        with TestClient(create_app(settings)) as client:
            for name in ("a", "b", "c", "d"):
                _set_up(client, _user(settings, f"user-{name}"), slack)
        for n in range(1, 6):
            add_report(settings, n, "AAPL")
        results: list[dict[str, Any]] = []
        workers = [threading.Thread(target=lambda: results.append(notify_core(settings))) for _ in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
    assert sum(r["sent"] for r in results) == 20 and sum(r["planned"] for r in results) == 20
    delivered = [m for m in slack.messages if "headline" in m.text]
    assert len(delivered) == 20  # 4 users × 5 reports, none twice
    assert all(r.status == "sent" for r in _deliveries(settings))
