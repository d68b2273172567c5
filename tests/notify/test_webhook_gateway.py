"""Webhooks as a user meets them, on PostgreSQL through the API: Standard Webhooks signatures
checked by the `standardwebhooks` library, secret rotation with an overlap window, and the
URL and secret sealed at rest under SECRET_KEY (and what happens without it, or with another)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select, text
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from stockteacher.accounts.service import create_user
from stockteacher.api.app import create_app
from stockteacher.core.crypto import new_key, open_sealed
from stockteacher.notify.notifier import notify_core
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope
from stockteacher.store.models import Delivery, NotificationChannel
from tests.factories.notify import add_report
from tests.servers.webhook import ReceivedWebhook, WebhookReceiver

TOKEN_PATH = "/hooks/T0KEN-private-part"


@pytest.fixture
def settings(make_settings: Callable[..., Settings], pg_dsn: str) -> Settings:
    return make_settings(postgres_dsn=pg_dsn, auth_mode="api_key", webhook_allow_private_hosts=True)


@pytest.fixture
def receiver() -> WebhookReceiver:
    """Records and answers 200; the tests verify signatures themselves, with each secret."""
    with WebhookReceiver(secret=None, path=TOKEN_PATH) as hook:
        yield hook  # type: ignore[misc]


def _set_up(client: TestClient, headers: dict[str, str], url: str) -> str:
    """Subscribe to AAPL, set the webhook (the server makes the secret), notify at once."""
    client.post("/api/subscriptions", json={"ticker": "AAPL", "alert_window": "intraday"}, headers=headers)
    put = client.put("/api/notifications/channels/webhook", json={"url": url}, headers=headers)
    assert put.status_code == 200 and put.json()["status"] == "verified", put.text
    policy = {"timezone": "UTC", "window": "immediate", "channels": ["webhook"]}
    assert client.put("/api/notifications/policy", json=policy, headers=headers).status_code == 200
    return put.json()["secret"]


def _verifies(secret: str, request: ReceivedWebhook) -> bool:
    try:
        Webhook(secret).verify(request.body, dict(request.headers), json_parse=False)
    except WebhookVerificationError:
        return False
    return True


def _reports(hook: WebhookReceiver) -> list[ReceivedWebhook]:
    return [r for r in hook.requests if r.json()["type"] == "reports"]


def test_a_rotated_secret_signs_beside_the_old_one_for_the_overlap_then_alone(
    settings: Settings, receiver: WebhookReceiver
) -> None:
    _, key = create_user(settings, "alice")
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(settings)) as client:
        old = _set_up(client, headers, receiver.url)
        assert old.startswith("whsec_") and _verifies(old, receiver.requests[0])  # the verification ping
        before = datetime.now(UTC)
        rotated = client.post("/api/notifications/channels/webhook/rotate-secret", headers=headers)
        assert rotated.status_code == 200, rotated.text
        new, until = rotated.json()["secret"], datetime.fromisoformat(rotated.json()["previous_valid_until"])
        assert new.startswith("whsec_") and new != old
        assert before + timedelta(hours=24) <= until <= datetime.now(UTC) + timedelta(hours=24)
        (channel,) = client.get("/api/notifications/channels", headers=headers).json()
        assert channel["secret"] is None and channel["status"] == "verified"  # shown once, still verified
        assert datetime.fromisoformat(channel["previous_secret_valid_until"]) == until

    add_report(settings, 1, "AAPL")
    assert notify_core(settings)["sent"] == 1
    (during,) = _reports(receiver)
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert _verifies(new, during) and _verifies(old, during)  # receivers can switch at their pace

    with session_scope(settings.dsn) as session:  # the overlap has passed
        session.get(NotificationChannel, ("alice", "webhook")).previous_secret_until = before - timedelta(seconds=1)
    add_report(settings, 2, "AAPL")
    assert notify_core(settings)["sent"] == 1
    after = _reports(receiver)[-1]
    assert after.json()["reports"][0]["insight_id"] != during.json()["reports"][0]["insight_id"]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert _verifies(new, after) and not _verifies(old, after)


def test_rotating_without_a_webhook_is_404(settings: Settings) -> None:
    _, key = create_user(settings, "bob")
    with TestClient(create_app(settings)) as client:
        response = client.post("/api/notifications/channels/webhook/rotate-secret", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 404 and "PUT /api/notifications/channels/webhook" in response.json()["detail"]


def test_a_secret_of_our_own_must_be_a_standard_one(settings: Settings, receiver: WebhookReceiver) -> None:
    _, key = create_user(settings, "carol")
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(settings)) as client:
        body = {"url": receiver.url, "secret": "my-own-long-enough-secret"}
        refused = client.put("/api/notifications/channels/webhook", json=body, headers=headers)
        assert refused.status_code == 422 and "whsec_" in refused.json()["detail"]
        assert client.get("/api/notifications/channels", headers=headers).json() == []
    assert receiver.count == 0


def test_url_and_secret_are_sealed_at_rest_and_the_api_shows_them_masked(
    settings: Settings, receiver: WebhookReceiver, capfd: pytest.CaptureFixture[str]
) -> None:
    _, key = create_user(settings, "dave")
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(settings)) as client:
        secret = _set_up(client, headers, receiver.url)
        (shown,) = client.get("/api/notifications/channels", headers=headers).json()
    assert shown["address"] == f"http://127.0.0.1:{receiver.port}/…part" and "T0KEN" not in str(shown)

    with session_scope(settings.dsn) as session:
        row = session.execute(text("SELECT * FROM notification_channels WHERE user_id = 'dave'")).mappings().one()
    stored = " ".join(str(value) for value in row.values())
    assert "T0KEN" not in stored and secret not in stored and secret.removeprefix("whsec_") not in stored
    assert open_sealed(settings.secret_keys, row["target"]) == receiver.url
    assert open_sealed(settings.secret_keys, row["secret"]) == secret
    with pytest.raises(Exception, match="does not open with SECRET_KEY"):
        open_sealed(new_key(), row["secret"])
    out, err = capfd.readouterr()
    assert secret not in out + err and "T0KEN" not in out + err


def test_without_secret_key_a_webhook_is_refused_with_what_to_do_and_nothing_is_stored(
    make_settings: Callable[..., Settings], pg_dsn: str, receiver: WebhookReceiver
) -> None:
    settings = make_settings(postgres_dsn=pg_dsn, auth_mode="api_key", webhook_allow_private_hosts=True, secret_key=None)
    _, key = create_user(settings, "erin")
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(settings)) as client:
        response = client.put("/api/notifications/channels/webhook", json={"url": receiver.url}, headers=headers)
        assert response.status_code == 503
        assert "SECRET_KEY" in response.json()["detail"] and "stockteacher secret-key" in response.json()["detail"]
        assert client.get("/api/notifications/channels", headers=headers).json() == []
    assert receiver.count == 0


def test_a_replaced_secret_key_retries_deliveries_until_the_old_key_is_listed_again(
    settings: Settings, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    _, key = create_user(settings, "frank")
    with TestClient(create_app(settings)) as client:
        _set_up(client, {"Authorization": f"Bearer {key}"}, receiver.url)
    add_report(settings, 1, "AAPL")
    replaced = settings.model_copy(update={"secret_key": SecretStr(new_key())})
    assert notify_core(replaced)["retried"] == 1
    with session_scope(settings.dsn) as session:
        (row,) = session.execute(select(Delivery)).scalars()
        assert row.status == "failed" and "SECRET_KEY" in (row.last_error or "")
        row.next_attempt_at = datetime.now(UTC)
    newest = new_key()
    both = settings.model_copy(update={"secret_key": SecretStr(f"{newest},{settings.secret_keys}")})
    assert notify_core(both)["sent"] == 1  # the old key listed after the new one opens it
    assert len(_reports(receiver)) == 1

    # `secret-key --reseal` seals everything under the first key: then the old one can go
    env = {**os.environ, "POSTGRES_DSN": settings.dsn, "SECRET_KEY": both.secret_keys or ""}
    resealed = subprocess.run([sys.executable, "-m", "stockteacher.cli", "secret-key", "--reseal"], env=env,
                              capture_output=True, text=True, timeout=60, cwd=tmp_path)  # fmt: skip
    assert resealed.returncode == 0 and "resealed 2 stored secret(s)" in resealed.stdout, resealed.stderr
    add_report(settings, 2, "AAPL")
    alone = settings.model_copy(update={"secret_key": SecretStr(newest)})
    assert notify_core(alone)["sent"] == 1 and len(_reports(receiver)) == 2


def test_secret_key_command_prints_a_key_settings_accept_and_bad_keys_are_refused_by_position(
    tmp_path: Path,
) -> None:
    cli = [sys.executable, "-m", "stockteacher.cli"]

    def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cli, *args], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                              env={**os.environ, **env})  # fmt: skip

    made = run("secret-key").stdout.strip()
    checked = run("settings", "check", SECRET_KEY=made)
    assert checked.returncode == 0 and made not in checked.stdout + checked.stderr
    refused = run("settings", "check", SECRET_KEY=f"{made},not-a-key-value")
    assert refused.returncode == 2 and "key 2 of 2 is not a Fernet key" in refused.stderr
    assert "not-a-key-value" not in refused.stdout + refused.stderr and made not in refused.stderr
