"""SQLAlchemy tables shared by every stage.

The schema is created by Alembic (`stockteacher db upgrade`); the models here and the
migrations in `store/migrations/versions` are kept in step by a test that compares them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.expression import false

__all__ = [
    "Analysis",
    "AnalysisStory",
    "ApiKey",
    "ChatMessage",
    "ChatSession",
    "Delivery",
    "Favorite",
    "FeedToken",
    "PriceBar",
    "ReportOutcome",
    "TrackRecord",
    "NotificationChannel",
    "NotificationPolicy",
    "User",
    "AppMeta",
    "Article",
    "Report",
    "Subscription",
    "Base",
    "JobRun",
    "ScheduleState",
    "Story",
    "TickerEntry",
    "UTCDateTime",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: StockTeacher stores aware UTC times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# BigInteger primary keys that still autoincrement on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class AppMeta(Base):
    """Facts about this database itself (its `instance_id`)."""

    __tablename__ = "app_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)


class TickerEntry(Base):
    """A ticker an operator added, or names and aliases added to a bundled one
    (`stockteacher tickers add`); merged over the bundled `tickers.csv`."""

    __tablename__ = "tickers"

    symbol: Mapped[str] = mapped_column(String(20), primary_key=True)
    exchange: Mapped[str | None] = mapped_column(String(20), nullable=True)
    country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    name_en: Mapped[str | None] = mapped_column(String(200), nullable=True)
    name_ko: Mapped[str | None] = mapped_column(String(200), nullable=True)
    aliases_en: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    aliases_ko: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Story(Base):
    """Near-duplicate articles about one event from different outlets."""

    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticker: Mapped[str] = mapped_column(String(20), nullable=False)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    representative_article_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    article_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    corroboration_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    first_published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (Index("ix_stories_ticker_last_published", "ticker", "last_published_at"),)


class Article(Base):
    """One normalised news article about one ticker.

    The fingerprint (sha256 of canonical URL + normalised title) is unique per ticker: the same
    piece can be about two companies and then belongs to both tickers' reports.
    """

    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    ticker: Mapped[str] = mapped_column(String(20), nullable=False)
    canonical_url: Mapped[str] = mapped_column(Text, nullable=False)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    body: Mapped[str | None] = mapped_column(Text, nullable=True)
    author: Mapped[str | None] = mapped_column(String(300), nullable=True)
    source: Mapped[str] = mapped_column(String(200), nullable=False)
    source_type: Mapped[str] = mapped_column(String(20), nullable=False)
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The source gave no usable date: published_at is when the article was collected.
    published_at_estimated: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
    collected_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    story_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("stories.id", ondelete="SET NULL"), nullable=True
    )
    minhash: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    trace_id: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (
        UniqueConstraint("ticker", "fingerprint", name="uq_articles_ticker_fingerprint"),
        Index("ix_articles_ticker_published", "ticker", "published_at"),
        Index("ix_articles_story_id", "story_id"),
    )


class JobRun(Base):
    """One run of one pipeline stage: what ran, for what, how it ended, what it cost."""

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    stage: Mapped[str] = mapped_column(String(20), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    ticker: Mapped[str | None] = mapped_column(String(20), nullable=True)
    source: Mapped[str | None] = mapped_column(String(40), nullable=True)
    trace_id: Mapped[str] = mapped_column(String(64), nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    fetched: Mapped[int | None] = mapped_column(Integer, nullable=True)
    unique: Mapped[int | None] = mapped_column(Integer, nullable=True)
    saved: Mapped[int | None] = mapped_column(Integer, nullable=True)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    completion_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cost_usd: Mapped[float | None] = mapped_column(Float, nullable=True)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    __table_args__ = (
        Index("ix_job_runs_trace_id", "trace_id"),
        Index("ix_job_runs_stage_started", "stage", "started_at"),
        Index("ix_job_runs_ticker_started", "ticker", "started_at"),
    )


class ScheduleState(Base):
    """The scheduler's memory: the last slot run per (ticker, source), so restarts resume."""

    __tablename__ = "schedule_state"

    ticker: Mapped[str] = mapped_column(String(20), primary_key=True)
    source: Mapped[str] = mapped_column(String(20), primary_key=True)
    interval_minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    last_slot_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    last_trace_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Analysis(Base):
    """One analyzer answer for one set of stories; keyed by a hash so it is never paid twice."""

    __tablename__ = "analyses"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticker: Mapped[str] = mapped_column(String(20), nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    prompt_version: Mapped[str] = mapped_column(String(40), nullable=False)
    provider: Mapped[str] = mapped_column(String(20), nullable=False)
    model: Mapped[str] = mapped_column(String(100), nullable=False)
    locale: Mapped[str] = mapped_column(String(10), nullable=False)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    story_ids: Mapped[list[int]] = mapped_column(JSON, nullable=False)
    prompt_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    latency_ms: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    trace_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (Index("ix_analyses_ticker_created", "ticker", "created_at"),)


class AnalysisStory(Base):
    """Which stories an analysis covered: a story is "new" until some analysis covers it."""

    __tablename__ = "analysis_stories"

    analysis_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("analyses.id", ondelete="CASCADE"), primary_key=True
    )
    story_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True)

    __table_args__ = (Index("ix_analysis_stories_story", "story_id"),)


class Report(Base):
    """A published (or draft/hidden) report: what readers see; one per analysis."""

    __tablename__ = "reports"

    insight_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    analysis_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("analyses.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    ticker: Mapped[str] = mapped_column(String(20), nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    headline: Mapped[str] = mapped_column(Text, nullable=False)
    summary_text: Mapped[str] = mapped_column(Text, nullable=False)
    sentiment_score: Mapped[float] = mapped_column(Float, nullable=False)
    anomaly_score: Mapped[float] = mapped_column(Float, nullable=False)
    tags: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    keywords: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    glossary: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    anomalies: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    source_refs: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    quality_notes: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    cost_usd: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    model: Mapped[str] = mapped_column(String(100), nullable=False)
    locale: Mapped[str] = mapped_column(String(10), nullable=False)
    story_count: Mapped[int] = mapped_column(Integer, nullable=False)
    trace_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # When the notifier queued this report's deliveries (NULL: not yet; migration 0005).
    notify_planned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        Index("ix_reports_ticker_published", "ticker", "published_at"),
        Index("ix_reports_status_published", "status", "published_at"),
    )


class Subscription(Base):
    """A user's subscription to a ticker (API.md `Subscription`)."""

    __tablename__ = "subscriptions"

    subscription_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), nullable=False)
    ticker: Mapped[str] = mapped_column(String(20), nullable=False)
    alert_window: Mapped[str] = mapped_column(String(20), nullable=False)
    status: Mapped[str] = mapped_column(String(24), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (
        UniqueConstraint("user_id", "ticker", name="uq_subscriptions_user_ticker"),
        Index("ix_subscriptions_ticker_status", "ticker", "status"),
    )


class User(Base):
    """An account; `role` is `user` or `admin` (admins see jobs and everyone's usage)."""

    __tablename__ = "users"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(12), nullable=False, default="user")
    locale: Mapped[str | None] = mapped_column(String(10), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ApiKey(Base):
    """An API key, stored as the sha256 of the key; the key itself is shown once."""

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (Index("ix_api_keys_user", "user_id"),)


class Favorite(Base):
    """A report a user starred."""

    __tablename__ = "favorites"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    insight_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("reports.insight_id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (Index("ix_favorites_insight", "insight_id"),)


class ChatSession(Base):
    """A conversation of one user about one report (API.md `ChatSession`)."""

    __tablename__ = "chat_sessions"

    session_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), nullable=False)
    insight_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("reports.insight_id", ondelete="CASCADE"), nullable=False
    )
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (Index("ix_chat_sessions_user", "user_id", "started_at"),)


class ChatMessage(Base):
    """One chat message; agent messages carry their citations, tokens and cost."""

    __tablename__ = "chat_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    session_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("chat_sessions.session_id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[str] = mapped_column(String(64), nullable=False)
    sender: Mapped[str] = mapped_column(String(8), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    citations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    model: Mapped[str | None] = mapped_column(String(100), nullable=True)
    prompt_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    trace_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (
        Index("ix_chat_messages_session", "session_id", "id"),
        Index("ix_chat_messages_user_created", "user_id", "created_at"),
    )


class NotificationPolicy(Base):
    """How and when a user wants to hear about new reports (API.md `NotificationPolicy`)."""

    __tablename__ = "notification_policies"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False)
    window: Mapped[str] = mapped_column(String(16), nullable=False)
    frequency: Mapped[str] = mapped_column(String(8), nullable=False)
    channels: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    quiet_hours_start: Mapped[str | None] = mapped_column(String(5), nullable=True)
    quiet_hours_end: Mapped[str | None] = mapped_column(String(5), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class NotificationChannel(Base):
    """Where a user can be reached: an e-mail address, a webhook, or an Apprise URL (Telegram,
    Slack, Discord, KakaoTalk, LINE, ntfy, …).

    `address` is what the API shows (an e-mail address; a webhook or Apprise URL with its
    secrets masked). What delivery needs in full is sealed with `SECRET_KEY` (`core.crypto`):
    `target` (the webhook or Apprise URL), `secret` (the webhook's `whsec_` key) and, for an
    overlap window after a rotation, `previous_secret`. A channel is `pending` until verified
    (the webhook answered a signed ping; the e-mail's link was opened; the code sent over
    Apprise was typed back); only verified channels receive reports.
    """

    __tablename__ = "notification_channels"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    address: Mapped[str] = mapped_column(Text, nullable=False)
    target: Mapped[str | None] = mapped_column(Text, nullable=True)
    secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    previous_secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="pending")
    verification_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    verification_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    verification_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class FeedToken(Base):
    """A user's private feed address (`/feeds/user/<token>.rss`): only the token's SHA-256 is
    kept, so the URL is shown once when made; deleting the row revokes it."""

    __tablename__ = "feed_tokens"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Delivery(Base):
    """The outbox: one report for one user on one channel, written with the decision to send.

    `pending → sent | failed | dead`: `failed` waits for `next_attempt_at`, `dead` is final.
    The unique key means a report is never queued (so never sent) twice to the same place.
    """

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    insight_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("reports.insight_id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[str] = mapped_column(String(64), nullable=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    subscription_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="pending")
    reason: Mapped[str] = mapped_column(String(16), nullable=False)
    digest_key: Mapped[str] = mapped_column(String(80), nullable=False)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    trace_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        UniqueConstraint("insight_id", "user_id", "channel", name="uq_deliveries_report_user_channel"),
        Index("ix_deliveries_status_next", "status", "next_attempt_at"),
        Index("ix_deliveries_user", "user_id", "created_at"),
    )


class PriceBar(Base):
    """One daily bar of one symbol (a ticker or a benchmark such as `^GSPC`), one row per
    trading day: re-fetching a day replaces it (a late correction, a split's re-adjustment)."""

    __tablename__ = "price_bars"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticker: Mapped[str] = mapped_column(String(20), nullable=False)
    trading_date: Mapped[date] = mapped_column(Date, nullable=False)
    open: Mapped[float | None] = mapped_column(Float, nullable=True)
    high: Mapped[float | None] = mapped_column(Float, nullable=True)
    low: Mapped[float | None] = mapped_column(Float, nullable=True)
    close: Mapped[float] = mapped_column(Float, nullable=False)
    adj_close: Mapped[float] = mapped_column(Float, nullable=False)
    volume: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    currency: Mapped[str | None] = mapped_column(String(8), nullable=True)
    source: Mapped[str] = mapped_column(String(20), nullable=False)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (UniqueConstraint("ticker", "trading_date", name="uq_price_bars_ticker_date"),)


class ReportOutcome(Base):
    """What a published report's stock did next at one horizon (trading days), against its
    market benchmark, measured from the first close after publication (migration 0009)."""

    __tablename__ = "report_outcomes"

    insight_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("reports.insight_id", ondelete="CASCADE"), primary_key=True
    )
    horizon_days: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticker: Mapped[str] = mapped_column(String(20), nullable=False)
    benchmark: Mapped[str] = mapped_column(String(20), nullable=False)
    base_date: Mapped[date] = mapped_column(Date, nullable=False)
    end_date: Mapped[date] = mapped_column(Date, nullable=False)
    stock_return: Mapped[float] = mapped_column(Float, nullable=False)
    benchmark_return: Mapped[float] = mapped_column(Float, nullable=False)
    excess_return: Mapped[float] = mapped_column(Float, nullable=False)
    sentiment_score: Mapped[float] = mapped_column(Float, nullable=False)
    # NULL when the report made no call (|sentiment| inside the neutral band).
    hit: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (Index("ix_report_outcomes_ticker_horizon", "ticker", "horizon_days"),)


class TrackRecord(Base):
    """The stored track record of one ticker (or `*`, every ticker) at one horizon, so the API
    never recomputes it per request; rewritten by each evaluation."""

    __tablename__ = "track_records"

    scope: Mapped[str] = mapped_column(String(20), primary_key=True)
    horizon_days: Mapped[int] = mapped_column(Integer, primary_key=True)
    reports: Mapped[int] = mapped_column(Integer, nullable=False)
    calls: Mapped[int] = mapped_column(Integer, nullable=False)
    hits: Mapped[int] = mapped_column(Integer, nullable=False)
    hit_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    ci_low: Mapped[float | None] = mapped_column(Float, nullable=True)
    ci_high: Mapped[float | None] = mapped_column(Float, nullable=True)
    mean_excess_return: Mapped[float | None] = mapped_column(Float, nullable=True)
    buckets: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
