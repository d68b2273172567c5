"""Feeds of the published reports, and the private tokens of the per-user feeds.

- `ticker_feed(symbol)`: one ticker's published reports; `user_feed(token)`: the published
  reports of every ticker the token's owner subscribes to (any status: a subscription that
  waits for a channel or is suspended still names a ticker the user follows). Either lists at
  most `FEED_MAX_ITEMS`, newest `published_at` first; drafts and hidden reports never appear.
- A token is `stf_` and 43 URL-safe characters, shown once (`create_token`); only its SHA-256
  is stored (`FeedToken`, one per user). Making a new one replaces the old, and `revoke_token`
  deletes it: from then on the old address is unknown (`NotFound`, the same as a token that never
  existed or whose owner is disabled).
- `last_used_at` is written at most once a minute per token, by a compare-and-set UPDATE, so a
  reader polling every few seconds is not a write per request.

The documents themselves are `feeds.documents` (pure).
"""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, load_only

from stockteacher.accounts.service import user_locale
from stockteacher.core.errors import NotFound
from stockteacher.feeds.documents import FORMATS, Feed, FeedItem
from stockteacher.notify.render import language_of, report_url, sentiment_words, ticker_label
from stockteacher.settings import Settings
from stockteacher.store.models import FeedToken, Report, Subscription, User, utcnow

__all__ = [
    "LAST_USED_EVERY",
    "TOKEN_PREFIX",
    "create_token",
    "feed_urls",
    "published_reports",
    "revoke_token",
    "ticker_feed",
    "token_status",
    "user_feed",
    "user_for_token",
]

FEED_COLUMNS = (
    Report.insight_id, Report.ticker, Report.headline, Report.summary_text, Report.sentiment_score,
    Report.tags, Report.source_refs, Report.locale, Report.published_at, Report.updated_at,
)  # fmt: skip
TOKEN_PREFIX = "stf_"
LAST_USED_EVERY = timedelta(minutes=1)
UNKNOWN_TOKEN = "unknown or revoked feed token; make a new one with POST /api/feeds/token"
_WORDS = {
    "ko": {
        "ticker_description": "{label}에 대한 StockTeacher 리포트: 출처가 있는 쉬운 뉴스 요약입니다. "
        "투자 권유가 아닙니다.",
        "user_title": "StockTeacher · 구독 종목",
        "user_description": "구독한 종목의 StockTeacher 리포트: 출처가 있는 쉬운 뉴스 요약입니다. "
        "투자 권유가 아닙니다.",
        "sources": "출처",
    },
    "en": {
        "ticker_description": "StockTeacher reports on {label}: sourced, beginner-friendly news summaries. "
        "Not investment advice.",
        "user_title": "StockTeacher · My subscriptions",
        "user_description": "StockTeacher reports on the tickers you subscribe to: sourced, beginner-friendly "
        "news summaries. Not investment advice.",
        "sources": "Sources",
    },
}


# --- the feeds --------------------------------------------------------------------------------
def published_reports(tickers: Sequence[str], *, limit: int, db_session: Session) -> list[Report]:
    """The newest `limit` published reports of `tickers`, newest first."""
    if not tickers:
        return []
    stmt = (
        select(Report)
        .options(load_only(*FEED_COLUMNS))  # not the other JSON columns: decoding them was half the query's time
        .where(Report.status == "published", Report.ticker.in_(list(tickers)))
        .order_by(Report.published_at.desc(), Report.insight_id)
        .limit(limit)
    )
    return list(db_session.execute(stmt).scalars())


def ticker_feed(symbol: str, settings: Settings, *, db_session: Session) -> Feed:
    """`symbol`'s feed (normalised already); a ticker with no published reports has no items."""
    reports = published_reports([symbol], limit=settings.feed_max_items, db_session=db_session)
    language = _feed_language(reports, settings.default_locale)
    label = ticker_label(symbol, language)
    return _feed(
        reports,
        settings,
        title=f"StockTeacher · {label}",
        description=_WORDS[language]["ticker_description"].format(label=label),
        language=language,
        path=symbol,
    )


def user_feed(token: str, settings: Settings, *, db_session: Session, now: datetime | None = None) -> Feed:
    """The feed of the token's owner's subscriptions; `NotFound` for an unknown token."""
    user_id = user_for_token(token, db_session=db_session, now=now)
    stmt = select(Subscription.ticker).where(Subscription.user_id == user_id).distinct()
    tickers = sorted(db_session.execute(stmt).scalars())
    reports = published_reports(tickers, limit=settings.feed_max_items, db_session=db_session)
    fallback = user_locale(user_id, settings.default_locale, db_session=db_session)
    language = _feed_language(reports, fallback)
    words = _WORDS[language]
    return _feed(
        reports,
        settings,
        title=words["user_title"],
        description=words["user_description"],
        language=language,
        path=f"user/{token}",
    )


def feed_urls(base_url: str, path: str) -> dict[str, str]:
    """The feed's address in each format: `<base>/feeds/<path>.rss` …"""
    return {fmt: f"{base_url.rstrip('/')}/feeds/{path}.{fmt}" for fmt in FORMATS}


def _feed(reports: list[Report], settings: Settings, *, title: str, description: str, language: str, path: str) -> Feed:
    return Feed(
        title=title,
        description=description,
        language=language,
        home_page_url=settings.public_base_url.rstrip("/") + "/",
        feed_urls=feed_urls(settings.public_base_url, path),
        items=tuple(_item(report, settings.public_base_url) for report in reports),
    )


def _feed_language(reports: list[Report], fallback_locale: str) -> str:
    """The language most of the reports are written in (the newest's on a tie), else the fallback's."""
    if not reports:
        return language_of(fallback_locale)
    return Counter(language_of(r.locale) for r in reports).most_common(1)[0][0]


def _item(report: Report, base_url: str) -> FeedItem:
    language = language_of(report.locale)
    categories = [report.ticker, sentiment_words(report.sentiment_score, report.locale)]
    categories += [tag for tag in report.tags if isinstance(tag, str) and tag and tag not in categories]
    return FeedItem(
        insight_id=report.insight_id,
        title=report.headline,
        url=report_url(base_url, report.insight_id),
        summary=report.summary_text,
        text=_text(report, language),
        language=language,
        categories=tuple(categories),
        published_at=report.published_at,
        updated_at=report.updated_at,
    )


def _text(report: Report, language: str) -> str:
    """The summary, then the sources it was written from (title and address, one a line)."""
    sources = [
        f"- {ref.get('title') or ref['url']} {ref['url']}".rstrip()
        for ref in report.source_refs
        if isinstance(ref, dict) and isinstance(ref.get("url"), str) and ref["url"]
    ]
    if not sources:
        return report.summary_text
    return "\n".join([report.summary_text, "", f"{_WORDS[language]['sources']}:", *sources])


# --- tokens -----------------------------------------------------------------------------------
def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(user_id: str, *, db_session: Session, now: datetime | None = None) -> tuple[str, FeedToken]:
    """A new token for the user (the old one, if any, stops working); the token and its row."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = db_session.get(FeedToken, user_id)
    if row is None:
        row = FeedToken(user_id=user_id)
        db_session.add(row)
    row.token_hash, row.created_at, row.last_used_at = _hash(token), now or utcnow(), None
    db_session.flush()
    return token, row


def token_status(user_id: str, *, db_session: Session) -> FeedToken | None:
    return db_session.get(FeedToken, user_id)


def revoke_token(user_id: str, *, db_session: Session) -> None:
    """Delete the user's token; `NotFound` if there is none."""
    row = db_session.get(FeedToken, user_id)
    if row is None:
        raise NotFound("you have no feed token")
    db_session.delete(row)
    db_session.flush()


def user_for_token(token: str, *, db_session: Session, now: datetime | None = None) -> str:
    """The owner of a live token (and a note that it was used); `NotFound` otherwise."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise NotFound(UNKNOWN_TOKEN)
    digest = _hash(token)
    stmt = (
        select(FeedToken.user_id)
        .outerjoin(User, User.user_id == FeedToken.user_id)
        .where(FeedToken.token_hash == digest, User.disabled_at.is_(None))
    )
    user_id = db_session.execute(stmt).scalar_one_or_none()
    if user_id is None:
        raise NotFound(UNKNOWN_TOKEN)
    _touch(digest, now or utcnow(), db_session=db_session)
    return user_id


def _touch(digest: str, now: datetime, *, db_session: Session) -> None:
    """`last_used_at = now` unless it was set less than `LAST_USED_EVERY` ago (compare-and-set)."""
    db_session.execute(
        update(FeedToken)
        .where(
            FeedToken.token_hash == digest,
            or_(FeedToken.last_used_at.is_(None), FeedToken.last_used_at <= now - LAST_USED_EVERY),
        )
        .values(last_used_at=now)
    )
