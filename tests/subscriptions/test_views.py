"""`/api/subscriptions` over HTTP (API.md): status codes, fields, enums, ownership."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories.api import ApiUsers, error, timestamp

# every test: a fresh reports cache, and a deadlock on its lock fails the test instead of hanging
pytestmark = pytest.mark.usefixtures("report_cache_guard")

SUBSCRIPTION_FIELDS = {"subscription_id", "user_id", "ticker", "alert_window", "status", "created_at", "updated_at"}
ALERT_WINDOWS = {"intraday", "daily_open", "daily_close", "weekly"}
SUBSCRIPTION_STATUSES = {"PendingVerification", "Active", "Suspended"}
SUMMARY_FIELDS = {"insight_id", "ticker", "published_at", "status", "sentiment_score", "headline", "tags", "favorite"}


# --- subscriptions -------------------------------------------------------------------------
def subscription(body: dict[str, Any]) -> dict[str, Any]:
    assert set(body) == SUBSCRIPTION_FIELDS, body
    assert re.fullmatch(r"sub_[0-9a-z]{12}", body["subscription_id"]), body["subscription_id"]
    assert body["alert_window"] in ALERT_WINDOWS and body["status"] in SUBSCRIPTION_STATUSES
    assert timestamp(body["updated_at"]) >= timestamp(body["created_at"])
    return body


def subscribe(client: TestClient, headers: dict[str, str], ticker: str, window: str = "daily_close") -> dict[str, Any]:
    response = client.post("/api/subscriptions", headers=headers, json={"ticker": ticker, "alert_window": window})
    assert response.status_code == 201, response.text
    return subscription(response.json())


@pytest.mark.parametrize(
    ("given", "stored"),
    [("aapl", "AAPL"), (" tsla ", "TSLA"), ("brk.b", "BRK.B"), ("005930", "005930.KS"), ("247540", "247540.KQ")],
)
def test_create_subscription_normalises_the_ticker(
    client: TestClient, users: ApiUsers, given: str, stored: str
) -> None:
    body = subscribe(client, users.alice, given, "weekly")
    assert body["ticker"] == stored and body["user_id"] == "alice" and body["alert_window"] == "weekly"


@pytest.mark.parametrize(
    "payload",
    [
        {"ticker": "AAPL", "alert_window": "hourly"},
        {"ticker": "AAPL", "alert_window": "DAILY_CLOSE"},
        {"ticker": "$AAPL", "alert_window": "daily_close"},
        {"ticker": "", "alert_window": "daily_close"},
        {"ticker": "A" * 101, "alert_window": "daily_close"},
        {"ticker": 5930, "alert_window": "daily_close"},
        {"ticker": "AAPL", "alert_window": "daily_close", "status": "Active"},
        {"alert_window": "daily_close"},
        None,
    ],
    ids=[
        "unknown-window",
        "window-case",
        "cashtag",
        "empty",
        "too-long",
        "number",
        "extra-field",
        "no-ticker",
        "no-body",
    ],  # fmt: skip
)
def test_create_subscription_rejects_bad_bodies_with_422(
    client: TestClient, users: ApiUsers, payload: dict[str, Any] | None
) -> None:
    error(client.post("/api/subscriptions", headers=users.alice, json=payload), 422)
    assert client.get("/api/subscriptions", headers=users.alice).json() == []


def test_subscribing_twice_to_the_same_ticker_is_409(client: TestClient, users: ApiUsers) -> None:
    subscribe(client, users.alice, "AAPL")
    for again in ("AAPL", "aapl"):
        response = client.post(
            "/api/subscriptions", headers=users.alice, json={"ticker": again, "alert_window": "weekly"}
        )
        assert "AAPL" in error(response, 409)
    subscribe(client, users.alice, "005930")
    duplicate = client.post("/api/subscriptions", headers=users.alice, json={"ticker": "005930.ks"})
    error(duplicate, 409)
    subscribe(client, users.bob, "AAPL")  # another user's subscription is no duplicate


def test_list_subscriptions_shows_only_your_own(client: TestClient, users: ApiUsers) -> None:
    mine = [subscribe(client, users.alice, t) for t in ("AAPL", "TSLA")]
    subscribe(client, users.bob, "MSFT")
    listing = client.get("/api/subscriptions", headers=users.alice)
    assert listing.status_code == 200
    body = [subscription(item) for item in listing.json()]
    assert [s["subscription_id"] for s in body] == [s["subscription_id"] for s in mine]
    assert {s["user_id"] for s in body} == {"alice"}


def test_patch_subscription_changes_the_window(client: TestClient, users: ApiUsers) -> None:
    created = subscribe(client, users.alice, "AAPL", "intraday")
    url = f"/api/subscriptions/{created['subscription_id']}"
    patched = client.patch(url, headers=users.alice, json={"alert_window": "weekly"})
    assert patched.status_code == 200
    body = subscription(patched.json())
    assert body["alert_window"] == "weekly" and body["ticker"] == "AAPL"
    assert body["created_at"] == created["created_at"]
    assert timestamp(body["updated_at"]) >= timestamp(created["updated_at"])
    assert client.get("/api/subscriptions", headers=users.alice).json()[0]["alert_window"] == "weekly"

    for bad in ({"alert_window": "monthly"}, {}, {"alert_window": "daily_open", "ticker": "TSLA"}):
        error(client.patch(url, headers=users.alice, json=bad), 422)
    error(
        client.patch("/api/subscriptions/sub_000000000000", headers=users.alice, json={"alert_window": "weekly"}), 404
    )


def test_delete_subscription_is_204_then_404(client: TestClient, users: ApiUsers) -> None:
    created = subscribe(client, users.alice, "AAPL")
    url = f"/api/subscriptions/{created['subscription_id']}"
    deleted = client.delete(url, headers=users.alice)
    assert deleted.status_code == 204 and deleted.content == b""
    error(client.delete(url, headers=users.alice), 404)
    error(client.patch(url, headers=users.alice, json={"alert_window": "weekly"}), 404)
    assert client.get("/api/subscriptions", headers=users.alice).json() == []
    subscribe(client, users.alice, "AAPL")  # and the ticker can be subscribed to again


def test_another_users_subscription_is_404_and_stays_unchanged(client: TestClient, users: ApiUsers) -> None:
    alices = subscribe(client, users.alice, "AAPL", "daily_open")
    url = f"/api/subscriptions/{alices['subscription_id']}"
    assert client.get("/api/subscriptions", headers=users.bob).json() == []
    error(client.patch(url, headers=users.bob, json={"alert_window": "weekly"}), 404)
    error(client.delete(url, headers=users.bob), 404)
    assert client.get("/api/subscriptions", headers=users.alice).json() == [alices]
