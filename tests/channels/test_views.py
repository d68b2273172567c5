"""`/api/notifications/…` over HTTP: the policy (API.md) and its validation, time zones."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories.api import ApiUsers, error

# every test: a fresh reports cache, and a deadlock on its lock fails the test instead of hanging
pytestmark = pytest.mark.usefixtures("report_cache_guard")

SUMMARY_FIELDS = {"insight_id", "ticker", "published_at", "status", "sentiment_score", "headline", "tags", "favorite"}
POLICY_FIELDS = {"user_id", "timezone", "window", "frequency", "channels", "quiet_hours_start", "quiet_hours_end"}
OUR_POLICY_FIELDS = {"locale"}  # the language of alerts and e-mails


# --- notifications -------------------------------------------------------------------------
DEFAULT_POLICY = {
    "timezone": "Asia/Seoul",
    "window": "daily_close",
    "frequency": "daily",
    "channels": [],  # every verified channel
    "quiet_hours_start": None,
    "quiet_hours_end": None,
    "locale": "ko_KR",  # our addition, from DEFAULT_LOCALE
}
CUSTOM_POLICY = {
    "timezone": "America/New_York",
    "window": "morning_open",
    "frequency": "weekly",
    "channels": ["apprise", "webhook"],
    "quiet_hours_start": "08:30",
    "quiet_hours_end": "17:45",
}


def test_notification_policy_defaults(client: TestClient, users: ApiUsers) -> None:
    response = client.get("/api/notifications/policy", headers=users.alice)
    assert response.status_code == 200
    assert response.json() == {"user_id": "alice", **DEFAULT_POLICY}


def test_notification_policy_round_trips_and_is_per_user(client: TestClient, users: ApiUsers) -> None:
    put = client.put("/api/notifications/policy", headers=users.alice, json=CUSTOM_POLICY)
    assert put.status_code == 200
    assert set(put.json()) == POLICY_FIELDS | OUR_POLICY_FIELDS
    assert put.json() == {"user_id": "alice", **CUSTOM_POLICY, "locale": "ko_KR"}
    english = client.put("/api/notifications/policy", headers=users.alice, json={**CUSTOM_POLICY, "locale": "en_US"})
    assert english.status_code == 200 and english.json()["locale"] == "en_US"
    assert client.put("/api/notifications/policy", headers=users.alice, json={"locale": "fr_FR"}).status_code == 422
    client.put("/api/notifications/policy", headers=users.alice, json=CUSTOM_POLICY)  # locale unchanged
    assert client.get("/api/notifications/policy", headers=users.alice).json()["locale"] == "en_US"
    client.put("/api/notifications/policy", headers=users.alice, json={**CUSTOM_POLICY, "locale": "ko_KR"})
    assert client.get("/api/notifications/policy", headers=users.alice).json() == put.json()
    assert client.get("/api/notifications/policy", headers=users.bob).json() == {"user_id": "bob", **DEFAULT_POLICY}

    again = {**CUSTOM_POLICY, "channels": ["email"], "quiet_hours_start": None, "quiet_hours_end": None}
    assert client.put("/api/notifications/policy", headers=users.alice, json=again).json() == {
        "locale": "ko_KR",
        "user_id": "alice",
        **again,
    }


@pytest.mark.parametrize(
    "change",
    [
        {"timezone": "Mars/Olympus_Mons"},
        {"timezone": "KST"},
        {"channels": ["sms"]},
        {"channels": "email"},
        {"quiet_hours_start": "22:00", "quiet_hours_end": None},
        {"quiet_hours_start": None, "quiet_hours_end": "07:00"},
        {"quiet_hours_start": "22:00", "quiet_hours_end": "07:00"},
        {"quiet_hours_start": "09:00", "quiet_hours_end": "09:00"},
        {"quiet_hours_start": "7:00", "quiet_hours_end": "09:00"},
        {"quiet_hours_start": "09:00", "quiet_hours_end": "24:00"},
        {"quiet_hours_start": "09:60", "quiet_hours_end": "10:00"},
        {"quiet_hours_start": "0900", "quiet_hours_end": "1000"},
        {"window": "evening"},
        {"frequency": "hourly"},
        {"extra": True},
    ],
)
def test_bad_notification_policies_are_422(client: TestClient, users: ApiUsers, change: dict[str, Any]) -> None:
    error(client.put("/api/notifications/policy", headers=users.alice, json={**CUSTOM_POLICY, **change}), 422)
    assert client.get("/api/notifications/policy", headers=users.alice).json() == {"user_id": "alice", **DEFAULT_POLICY}


def test_timezones_are_iana_names(client: TestClient, users: ApiUsers) -> None:
    response = client.get("/api/notifications/timezones", headers=users.alice)
    assert response.status_code == 200
    zones = response.json()
    assert {"Asia/Seoul", "America/New_York", "UTC"} <= set(zones)
    assert zones == sorted(zones) and all(isinstance(z, str) for z in zones)
    error(client.get("/api/notifications/timezones"), 401)
