"""Rendering reports into notifications: language, content, escaping, the webhook payload."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from stockteacher.notify.render import (
    REASONS,
    Rendered,
    render_notification,
    report_url,
    sentiment_words,
    short_message,
)
from tests.factories.reports import make_report

BASE = "https://stocks.example.org/"


def test_one_urgent_report_in_korean_has_everything_a_reader_needs() -> None:
    report = make_report()
    rendered = render_notification([report], "ko_KR", reason="urgent", base_url=BASE)

    assert isinstance(rendered, Rendered)
    assert rendered.subject == "[StockTeacher] 삼성전자 긴급 알림: 삼성전자, 반도체 수출 둔화 우려에 급락"
    link = "https://stocks.example.org/#report=a1b2c3d4e5f60718"
    for part in (rendered.text, rendered.html):
        assert "005930.KS" in part
        assert "반도체 수출 둔화 우려에 급락" in part
        assert "매우 부정적" in part  # sentiment in words
        assert "급락" in part and "하루 만에 6% 하락" in part  # the anomaly
        assert "https://news.example.com/1" in part and "https://news.example.com/3" in part
        assert "https://news.example.com/4" not in part  # top three sources only
        assert link in part
        assert "투자 권유가 아닙니다" in part
        assert "알림 설정" in part
    assert f'href="{link}"' in rendered.html
    assert '<html lang="ko">' in rendered.html


def test_english_for_en_us() -> None:
    report = make_report(
        ticker="AAPL",
        headline="Apple beats earnings estimates",
        summary_text="Apple reported revenue above expectations, driven by services.",
        sentiment_score=0.45,
        anomalies=[],
        anomaly_score=0.1,
    )
    rendered = render_notification([report], "en_US", reason="intraday", base_url=BASE)

    assert rendered.subject == "[StockTeacher] Intraday update for Apple: Apple beats earnings estimates"
    assert "Sentiment: positive (+0.45)" in rendered.text
    assert "Worth noting" not in rendered.text  # no anomaly, no line
    assert "not investment advice" in rendered.text
    assert "Notifications tab" in rendered.text
    assert "긍정" not in rendered.text and "투자" not in rendered.html


def test_a_digest_lists_every_report() -> None:
    reports = [
        make_report(insight_id=f"id{i:014d}", ticker=ticker, headline=f"헤드라인 {ticker}")
        for i, ticker in enumerate(["005930.KS", "000660.KS", "AAPL"])
    ]
    ko = render_notification(reports, "ko_KR", reason="daily_close", base_url=BASE)
    en = render_notification(reports, "en_US", reason="weekly", base_url=BASE)

    assert ko.subject == "[StockTeacher] 장 마감 요약 (3건)"
    assert en.subject == "[StockTeacher] Weekly digest (3 reports)"
    for rendered in (ko, en):
        for report in reports:
            assert report["headline"] in rendered.text and report["headline"] in rendered.html
            assert report_url(BASE, report["insight_id"]) in rendered.text
            assert f'href="{report_url(BASE, report["insight_id"])}"' in rendered.html
        assert [r["insight_id"] for r in rendered.payload["reports"]] == [r["insight_id"] for r in reports]
    assert "SK하이닉스" in ko.text and "Apple (AAPL)" in en.text


def test_html_escapes_report_text_and_loads_nothing_from_elsewhere() -> None:
    report = make_report(
        headline='<script>alert("x")</script> & more',
        summary_text="<img src=x onerror=alert(1)> summary that is long enough",
        anomalies=[{"label": "<b>", "description": "<iframe>", "score": 0.9}],
        source_refs=[
            {"url": "javascript:alert(1)", "title": "evil"},
            {"url": 'https://ok.example/a?x=1&y="2"', "title": "<i>title</i>"},
        ],
    )
    rendered = render_notification([report], "en_US", reason="urgent", base_url=BASE)
    html = rendered.html

    assert "<script>" not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more" in html
    assert "<img" not in html and "<iframe>" not in html and "<b>" not in html and "<i>" not in html
    assert "javascript:" not in html and "javascript:" not in rendered.text  # not a web URL: dropped
    assert 'href="https://ok.example/a?x=1&amp;y=&quot;2&quot;"' in html
    tags = re.findall(r"<[^>]*>", html)
    assert not [t for t in tags if re.search(r"\bsrc=|^<(link|img|script|style|iframe)\b", t, re.IGNORECASE)]
    assert not re.search(r"@import|url\(", html, re.IGNORECASE)
    # the plain text is not HTML and keeps the words as written
    assert '<script>alert("x")</script> & more' in rendered.text


def test_subject_is_one_line_and_short() -> None:
    report = make_report(headline="첫 줄\r\nBcc: someone@example.com " + "아주 긴 제목 " * 40)
    rendered = render_notification([report], "ko_KR", reason="urgent", base_url=BASE)

    assert "\n" not in rendered.subject and "\r" not in rendered.subject
    assert len(rendered.subject) < 140
    assert rendered.subject.endswith("…")


def test_payload_is_the_documented_webhook_body() -> None:
    now = datetime(2024, 5, 2, 7, 0, tzinfo=UTC)
    report = make_report()
    rendered = render_notification([report], "ko_KR", reason="urgent", base_url=BASE, now=now)

    assert rendered.payload == {
        "type": "reports",
        "reason": "urgent",
        "reports": [
            {
                "insight_id": report["insight_id"],
                "ticker": "005930.KS",
                "headline": report["headline"],
                "summary_text": report["summary_text"],
                "sentiment_score": -0.72,
                "anomaly_score": 0.81,
                "url": "https://stocks.example.org/#report=a1b2c3d4e5f60718",
                "published_at": "2024-05-02T06:30:00+00:00",
                "sources": [{"title": f"기사 {i}", "url": f"https://news.example.com/{i}"} for i in range(1, 5)],
            }
        ],
        "sent_at": "2024-05-02T07:00:00+00:00",
    }
    json.dumps(rendered.payload)  # serialisable as is


@pytest.mark.parametrize(
    ("score", "ko", "en"),
    [
        (0.8, "매우 긍정적", "strongly positive"),
        (0.3, "긍정적", "positive"),
        (0.0, "중립", "neutral"),
        (-0.3, "부정적", "negative"),
        (-0.6, "매우 부정적", "strongly negative"),
    ],
)
def test_sentiment_in_words(score: float, ko: str, en: str) -> None:
    assert sentiment_words(score, "ko_KR") == ko
    assert sentiment_words(score, "en_US") == en


def test_every_reason_renders_and_unknown_ones_are_refused() -> None:
    for reason in REASONS:
        assert render_notification([make_report()], "ko_KR", reason=reason, base_url=BASE).subject
    with pytest.raises(ValueError, match="unknown notification reason"):
        render_notification([make_report()], "ko_KR", reason="hourly", base_url=BASE)
    with pytest.raises(ValueError, match="no reports"):
        render_notification([], "ko_KR", reason="urgent", base_url=BASE)


def test_a_high_anomaly_score_without_details_is_still_mentioned_and_long_summaries_are_cut() -> None:
    report = make_report(ticker="ZZZQ", anomalies=[], anomaly_score=0.9, summary_text="word " * 200)
    rendered = render_notification([report], "en_US", reason="urgent", base_url=BASE)

    assert "Worth noting: anomaly score 0.90" in rendered.text
    assert "[StockTeacher] Urgent alert for ZZZQ:" in rendered.subject  # unknown ticker: its symbol
    summary_line = next(line for line in rendered.text.splitlines() if line.startswith("Summary: "))
    assert len(summary_line) < 300 and summary_line.endswith("…")
    assert rendered.payload["reports"][0]["summary_text"] == report["summary_text"]  # webhooks get it whole


def test_short_message_is_plain_text_for_a_chat() -> None:
    report = make_report()
    title, body = short_message([report], "ko_KR", reason="urgent", base_url=BASE)

    assert title == render_notification([report], "ko_KR", reason="urgent", base_url=BASE).subject
    assert "삼성전자, 반도체 수출 둔화 우려에 급락" in title  # one report: the headline is the title's, not repeated
    assert body.splitlines()[:3] == [
        "■ 삼성전자 (005930.KS)",
        "분위기: 매우 부정적 (-0.72)",
        "https://stocks.example.org/#report=a1b2c3d4e5f60718",
    ]
    assert body.endswith("투자 권유가 아닙니다.")
    assert "<" not in body and "&" not in body
    assert len(title) + len(body) < 200  # KakaoTalk's text template holds 200 characters


def test_short_digest_lists_five_reports_and_counts_the_rest() -> None:
    reports = [
        make_report(insight_id=f"id{i:014d}", ticker="AAPL", headline=f"Headline {i}", sentiment_score=0.45)
        for i in range(7)
    ]
    title, body = short_message(reports, "en_US", reason="daily_close", base_url=BASE)
    ko_title, ko_body = short_message(reports, "ko", reason="daily_close", base_url=BASE)

    assert title == "[StockTeacher] Market close digest (7 reports)"
    assert [f"Headline {i}" in body for i in range(7)] == [True] * 5 + [False] * 2
    assert report_url(BASE, reports[4]["insight_id"]) in body
    assert report_url(BASE, reports[5]["insight_id"]) not in body
    assert "Apple (AAPL)" in body and "Sentiment: positive (+0.45)" in body
    assert "and 2 more" in body and "not investment advice" in body
    assert ko_title == "[StockTeacher] 장 마감 요약 (7건)"
    assert "외 2건" in ko_body and "분위기: 긍정적 (+0.45)" in ko_body
    with pytest.raises(ValueError):
        short_message([], "en", reason="urgent", base_url=BASE)
