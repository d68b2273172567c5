"""Notification tests' rows on PostgreSQL: users with subscriptions, verified channels and a
policy, and published reports to announce, all stamped `NOW`; and the `whsec_` secret the local
webhook receiver (`hook` fixture) checks signatures with. Channel targets and secrets are sealed
with the settings' SECRET_KEY, as the API stores them."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from stockteacher.core.crypto import mask_url, seal
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope
from stockteacher.store.models import NotificationChannel, NotificationPolicy, Subscription, User
from tests.factories.reports import insert_reports

__all__ = ["NOW", "WEBHOOK_SECRET", "add_report", "add_user"]

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # a Wednesday: 12:00 in Seoul, 22:00 in New York
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"stockteacher-test-webhook-key-32").decode()


def add_report(settings: Settings, n: int, ticker: str = "AAPL", *, anomaly: float = 0.1, sentiment: float = 0.1,
               status: str = "published") -> str:  # fmt: skip
    """Report number `n` (id `ins_<n as 16 hex digits>`), published at `NOW` in Korean; its id."""
    (insight_id,) = insert_reports(
        settings,
        [
            {
                "insight_id": f"ins_{n:016x}",
                "ticker": ticker,
                "status": status,
                "published_at": NOW,
                "headline": f"headline {n}",
                "summary_text": "A summary long enough to publish.",
                "sentiment_score": sentiment,
                "anomaly_score": anomaly,
                "locale": "ko_KR",
            }
        ],  # fmt: skip
    )
    return insight_id


def add_user(settings: Settings, user_id: str, *, tickers: dict[str, str], channels: tuple[str, ...] = ("webhook",),
             policy: dict[str, Any] | None = None, status: str = "Active", saved_policy: bool = True,
             target: str | None = None) -> None:  # fmt: skip
    """User `user_id` following `tickers` ({ticker: alert window}) with a verified channel of each
    kind in `channels` (webhooks and Apprise sent to `target`, default `https://hooks.test/<user>`,
    webhooks signed with `WEBHOOK_SECRET`) and (unless `saved_policy` is false) a policy:
    immediate, daily, Seoul time, those channels, updated by `policy`."""
    keys = settings.secret_keys
    url = target or f"https://hooks.test/{user_id}"
    with session_scope(settings.dsn) as session:
        session.add(User(user_id=user_id, role="user", created_at=NOW))
        for i, (ticker, window) in enumerate(tickers.items()):
            session.add(
                Subscription(
                    subscription_id=f"sub_{user_id}_{i}",
                    user_id=user_id,
                    ticker=ticker,
                    alert_window=window,
                    status=status,
                    created_at=NOW,
                    updated_at=NOW,
                )  # fmt: skip
            )
        for channel in channels:
            session.add(
                NotificationChannel(
                    user_id=user_id,
                    channel=channel,
                    address=f"{user_id}@example.com" if channel == "email" else mask_url(url),
                    target=None if channel == "email" else seal(keys, url),
                    secret=seal(keys, WEBHOOK_SECRET) if channel == "webhook" else None,
                    status="verified",
                    verified_at=NOW,
                    created_at=NOW,
                    updated_at=NOW,
                )  # fmt: skip
            )
        policy = {"timezone": "Asia/Seoul", "window": "immediate", "frequency": "daily", "channels": list(channels),
                  **(policy or {})}  # fmt: skip
        if saved_policy:
            session.add(NotificationPolicy(user_id=user_id, updated_at=NOW, **policy))
