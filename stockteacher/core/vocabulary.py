"""The words StockTeacher uses, each defined once: enums (as `Literal` types, with their values
as tuples), the thresholds that turn scores into words, and which HTTP statuses are worth a retry.

The API schemas, the settings, the stages and the web page (through `GET /api/config`, key
`vocabulary`) all read them from here; nothing else writes "0.2" or "webhook".
"""

from __future__ import annotations

from typing import Any, Literal, get_args

__all__ = [
    "ALERT_WINDOWS",
    "CHANNELS",
    "COLLECTED_SUBSCRIPTIONS",
    "FREQUENCIES",
    "LOCALES",
    "POLICY_WINDOWS",
    "REPORT_STATUSES",
    "SENTIMENTS",
    "SENTIMENT_BAND",
    "SOURCES",
    "SUBSCRIPTION_STATUSES",
    "URGENT_ANOMALY",
    "URGENT_ONLY_ANOMALY",
    "URGENT_SENTIMENT",
    "VERY_STRONG_SENTIMENT",
    "AlertWindow",
    "Channel",
    "ChannelStatus",
    "Frequency",
    "Locale",
    "PolicyWindow",
    "ReportStatus",
    "Sentiment",
    "Source",
    "SubscriptionStatus",
    "is_transient_status",
    "is_urgent",
    "sentiment_label",
    "sentiment_strength",
    "vocabulary",
]

# --- enums -----------------------------------------------------------------------------------
Source = Literal["news_api", "rss", "naver", "dart", "file", "sample"]
"""Where news comes from (`COLLECTION_SCHEDULES[].source`, `SUBSCRIPTION_SOURCE`)."""

AlertWindow = Literal["intraday", "daily_open", "daily_close", "weekly"]
"""When a subscription wants to hear about its ticker (API.md `Subscription.alert_window`)."""

PolicyWindow = Literal["morning_open", "daily_close", "immediate"]
"""When a user's notifications go out (API.md `NotificationPolicy.window`)."""

Frequency = Literal["daily", "weekly"]
Channel = Literal["webhook", "email", "apprise"]
"""How a user is told; the order is the order the web page lists them in."""

ChannelStatus = Literal["pending", "verified"]
SubscriptionStatus = Literal["PendingVerification", "Active", "Suspended"]
"""The states of `subscriptions.service`'s state machine."""
ReportStatus = Literal["draft", "published", "hidden"]
Sentiment = Literal["positive", "negative", "neutral"]
Locale = Literal["ko_KR", "en_US"]

SOURCES: tuple[str, ...] = get_args(Source)
ALERT_WINDOWS: tuple[str, ...] = get_args(AlertWindow)
POLICY_WINDOWS: tuple[str, ...] = get_args(PolicyWindow)
FREQUENCIES: tuple[str, ...] = get_args(Frequency)
CHANNELS: tuple[str, ...] = get_args(Channel)
CHANNEL_STATUSES: tuple[str, ...] = get_args(ChannelStatus)
SUBSCRIPTION_STATUSES: tuple[str, ...] = get_args(SubscriptionStatus)
REPORT_STATUSES: tuple[str, ...] = get_args(ReportStatus)
SENTIMENTS: tuple[str, ...] = get_args(Sentiment)
COLLECTED_SUBSCRIPTIONS: tuple[str, ...] = ("Active", "PendingVerification")
"""Subscriptions whose ticker the scheduler collects (all but suspended ones)."""
LOCALES: tuple[str, ...] = get_args(Locale)

# --- thresholds ------------------------------------------------------------------------------
SENTIMENT_BAND = 0.2
"""|sentiment| ≤ this is neutral: the report tag, the `sentiment=` filter, the words in alerts
and the colour on the web page."""

VERY_STRONG_SENTIMENT = 0.6
"""|sentiment| ≥ this is "very" positive or negative in alerts."""

URGENT_ONLY_ANOMALY = 0.4
"""API.md's `urgent_only` filter of `GET /api/reports` (wider than what notifications call urgent)."""

URGENT_ANOMALY = 0.7
URGENT_SENTIMENT = -0.6
"""A report is urgent (tagged, and sent at once whatever the window) when its anomaly score is
at least `URGENT_ANOMALY` or its sentiment at most `URGENT_SENTIMENT`."""


def sentiment_label(score: float) -> Sentiment:
    """positive above the band, negative below it, neutral inside (edges included)."""
    if score > SENTIMENT_BAND:
        return "positive"
    if score < -SENTIMENT_BAND:
        return "negative"
    return "neutral"


def sentiment_strength(score: float) -> str:
    """The five words alerts use: very_positive, positive, neutral, negative, very_negative."""
    label = sentiment_label(score)
    if label != "neutral" and abs(score) >= VERY_STRONG_SENTIMENT:
        return f"very_{label}"
    return label


def is_urgent(anomaly_score: float, sentiment_score: float) -> bool:
    """A report is urgent when it is very unusual or strongly negative."""
    return anomaly_score >= URGENT_ANOMALY or sentiment_score <= URGENT_SENTIMENT


# --- HTTP ------------------------------------------------------------------------------------
_TRANSIENT_STATUSES = frozenset({408, 425, 429})


def is_transient_status(status: int, *, also: tuple[int, ...] = ()) -> bool:
    """Whether an HTTP answer is worth retrying: request timeout (408), too early (425), rate
    limited (429) and every 5xx, for every remote we call (news sources, the LLM, webhooks).
    `also` adds statuses one remote uses for "try again" (OpenAI's 409 on a conflict)."""
    return status >= 500 or status in _TRANSIENT_STATUSES or status in also


def vocabulary() -> dict[str, Any]:
    """The enums and thresholds the web page needs, as `GET /api/config` serves them."""
    return {
        "alert_windows": list(ALERT_WINDOWS),
        "policy_windows": list(POLICY_WINDOWS),
        "frequencies": list(FREQUENCIES),
        "channels": list(CHANNELS),
        "channel_statuses": list(CHANNEL_STATUSES),
        "subscription_statuses": list(SUBSCRIPTION_STATUSES),
        "report_statuses": list(REPORT_STATUSES),
        "sentiments": list(SENTIMENTS),
        "locales": list(LOCALES),
        "sources": list(SOURCES),
        "sentiment_band": SENTIMENT_BAND,
        "very_strong_sentiment": VERY_STRONG_SENTIMENT,
        "urgent_anomaly": URGENT_ANOMALY,
        "urgent_sentiment": URGENT_SENTIMENT,
    }
