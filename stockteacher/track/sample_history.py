"""The demo's synthetic report history, so that `stockteacher demo` shows a track record.

A track record needs reports old enough for their +1/+5/+20 trading days to have passed; the
demo's own sweep publishes today's. So the demo adds, once, ten past reports per sample ticker,
spread over the last three and a half months, every one marked as synthetic
(`model = "sample-history"`, a headline starting "[예시]", a summary that says what it is).

Their sentiment is drawn the way news usually reads: mostly from the stock's move over the
three sessions *before* publication (news reports what already happened), plus noise, from a
fixed seed; never from what came after. So the demo's hit rate is what such reads honestly
earn on a random walk (about a coin flip), which is also the lesson the panel teaches.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
from sqlalchemy import exists, select

from stockteacher.prices.calendars import last_closed_session, market_for, next_close, sessions_between
from stockteacher.prices.sample import sample_bars
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope
from stockteacher.store.models import Analysis, Report, utcnow
from stockteacher.track.evaluate import call_of

__all__ = ["MODEL", "REPORTS_PER_TICKER", "seed_sample_history"]

MODEL = "sample-history"
REPORTS_PER_TICKER = 10
NAMES = {"AAPL": "애플", "MSFT": "마이크로소프트", "NVDA": "엔비디아", "TSLA": "테슬라",
         "005930.KS": "삼성전자", "000660.KS": "SK하이닉스"}  # fmt: skip


def _times(ticker: str, now: datetime) -> list[tuple[datetime, float]]:
    """Publication times and sentiments of `ticker`'s synthetic history."""
    market = market_for(ticker)
    last = last_closed_session(market, now)
    sessions = sessions_between(market, last - timedelta(days=110), last)
    closes = {b.trading_date: b.adj_close for b in sample_bars(ticker, sessions[0], last, now=now)}
    rng = np.random.default_rng(zlib.crc32(f"history:{ticker}".encode()))
    picks = sorted(rng.choice(np.arange(5, len(sessions) - 2), size=REPORTS_PER_TICKER, replace=False))
    out = []
    for index in picks:
        day = sessions[int(index)]
        before = closes[sessions[int(index) - 3]]
        move = math.log(closes[day] / before)  # the three sessions up to and including that day
        sentiment = float(np.clip(12 * move + rng.normal(0, 0.25), -0.95, 0.95))
        # Published an hour after that session's close: day 0 is the next session.
        close = next_close(market, datetime.combine(day, time(0), tzinfo=UTC) - timedelta(hours=12))
        out.append((close + timedelta(hours=1), round(sentiment, 2)))
    return out


def seed_sample_history(settings: Settings, tickers: list[str], *, now: datetime | None = None) -> int:
    """Add the synthetic history of the sample `tickers` once; how many reports were added (0
    when the database already holds it)."""
    now = now or utcnow()
    added = 0
    with session_scope(settings.dsn) as session:
        if session.scalar(select(exists().where(Report.model == MODEL))):
            return 0
        for ticker in tickers:
            if ticker not in NAMES:
                continue
            for n, (published_at, sentiment) in enumerate(_times(ticker, now)):
                digest = hashlib.sha256(f"{MODEL}:{ticker}:{n}:{published_at.isoformat()}".encode()).hexdigest()
                analysis = Analysis(
                    ticker=ticker, content_hash=digest, prompt_version=MODEL, provider="offline", model=MODEL,
                    locale="ko_KR", result={}, story_ids=[], created_at=published_at,
                )  # fmt: skip
                session.add(analysis)
                session.flush()
                tone = {1: "긍정적", -1: "부정적", 0: "중립적"}[call_of(sentiment)]
                day: date = published_at.date()
                session.add(Report(
                    insight_id=f"hist_{digest[:16]}", analysis_id=analysis.id, ticker=ticker, status="published",
                    published_at=published_at,
                    headline=f"[예시] {NAMES[ticker]} {day.month}월 {day.day}일 뉴스 정리 ({tone})",
                    summary_text=(
                        f"데모용으로 만든 예시 과거 리포트입니다(합성 데이터, 실제 뉴스가 아님). "
                        f"적중 기록이 어떻게 계산되는지 보여 주려고 {NAMES[ticker]}의 지난 주가 흐름에 맞춰 "
                        f"감성 점수 {sentiment:+.2f}를 붙였습니다."
                    ),
                    sentiment_score=sentiment, anomaly_score=0.0, tags=[], keywords=[], glossary=[], anomalies=[],
                    source_refs=[], attachments=[], quality_notes=["synthetic sample history (demo)"],
                    cost_usd=0.0, model=MODEL, locale="ko_KR", story_count=0,
                    created_at=published_at, updated_at=published_at, notify_planned_at=published_at,
                ))  # fmt: skip
                added += 1
    return added
