"""Turn one report, or a digest of several, into a notification: subject, text, HTML, webhook JSON.

`render_notification(reports, locale, reason=..., base_url=...)` takes reports as
`stockteacher.publish.materialize.report_to_dict` gives them and returns a `Rendered`:

- `subject` — one line, e.g. "[StockTeacher] 삼성전자 긴급 알림: …" for one report or
  "[StockTeacher] 장 마감 요약 (3건)" for a digest (Korean for `ko_*`, English otherwise);
- `text` / `html` — per report: ticker, headline, a short summary, the sentiment in words, the
  most notable anomaly (if any), up to three sources, a link to the report on the web page,
  and a footer (not investment advice; where to change notification settings). The HTML escapes
  every piece of report text, links only `http(s)` URLs and loads nothing from elsewhere;
- `payload` — the JSON body of a webhook delivery::

      {"type": "reports", "reason": "daily_close", "sent_at": "<ISO 8601, UTC>",
       "reports": [{"insight_id", "ticker", "headline", "summary_text", "sentiment_score",
                    "anomaly_score", "url", "published_at", "sources": [{"title", "url"}]}]}

Pure functions: no I/O, no settings.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from stockteacher.core.vocabulary import sentiment_strength
from stockteacher.tickers.registry import TickerError, lookup

__all__ = [
    "REASONS",
    "Rendered",
    "language_of",
    "render_notification",
    "report_url",
    "sentiment_words",
    "short_message",
    "ticker_label",
    "verification_message",
]

REASONS = ("urgent", "intraday", "daily_open", "daily_close", "weekly")
MAX_SOURCES = 3
SUMMARY_CHARS = 280
SUBJECT_HEADLINE_CHARS = 90
# A chat message (Telegram, Slack, KakaoTalk, ...) lists at most this many reports of a digest.
SHORT_MAX_REPORTS = 5
SHORT_HEADLINE_CHARS = 120
# Mirrors the "urgent" tag of the materializer: above this the anomaly is worth a line of its own.
NOTABLE_ANOMALY = 0.7


@dataclass(frozen=True)
class Rendered:
    """A notification ready for any channel: e-mail uses subject/text/html, webhooks `payload`."""

    subject: str
    text: str
    html: str
    payload: dict[str, Any]


_WORDS: dict[str, dict[str, str]] = {
    "ko": {
        "urgent": "긴급 알림",
        "intraday": "장중 알림",
        "daily_open": "장 시작 전 요약",
        "daily_close": "장 마감 요약",
        "weekly": "주간 요약",
        "subject_one": "[StockTeacher] {name} {label}: {headline}",
        "subject_many": "[StockTeacher] {label} ({n}건)",
        "summary": "요약",
        "sentiment": "분위기",
        "anomaly": "눈여겨볼 점",
        "anomaly_score": "이상 징후 점수 {score:.2f}",
        "sources": "출처",
        "open": "리포트 보기",
        "very_positive": "매우 긍정적",
        "positive": "긍정적",
        "neutral": "중립",
        "negative": "부정적",
        "very_negative": "매우 부정적",
        "intro_one": "{name}에 새 리포트가 있습니다.",
        "intro_many": "구독하신 종목의 새 리포트 {n}건입니다.",
        "disclaimer": "이 알림은 뉴스 요약이며 투자 권유가 아닙니다. 투자 판단과 책임은 본인에게 있습니다.",
        "settings": "알림 받는 시간과 방법은 StockTeacher의 '알림 설정' 탭에서 바꿀 수 있습니다: {url}",
        "more": "외 {n}건",
        "short_disclaimer": "뉴스 요약이며 투자 권유가 아닙니다.",
    },
    "en": {
        "urgent": "Urgent alert",
        "intraday": "Intraday update",
        "daily_open": "Pre-open digest",
        "daily_close": "Market close digest",
        "weekly": "Weekly digest",
        "subject_one": "[StockTeacher] {label} for {name}: {headline}",
        "subject_many": "[StockTeacher] {label} ({n} reports)",
        "summary": "Summary",
        "sentiment": "Sentiment",
        "anomaly": "Worth noting",
        "anomaly_score": "anomaly score {score:.2f}",
        "sources": "Sources",
        "open": "Read the report",
        "very_positive": "strongly positive",
        "positive": "positive",
        "neutral": "neutral",
        "negative": "negative",
        "very_negative": "strongly negative",
        "intro_one": "There is a new report on {name}.",
        "intro_many": "{n} new reports on the tickers you follow.",
        "disclaimer": "This is a news summary, not investment advice. Investment decisions are your own.",
        "settings": "Change when and how you are notified in StockTeacher's Notifications tab: {url}",
        "more": "and {n} more",
        "short_disclaimer": "A news summary, not investment advice.",
    },
}


def language_of(locale: str) -> str:
    """The language a locale is written in: "ko" for `ko_*`, "en" otherwise."""
    return "ko" if (locale or "").lower().startswith("ko") else "en"


def _one_line(text: Any) -> str:
    """Collapse whitespace, including line breaks that must never reach a header."""
    return " ".join(str(text or "").split())


def _shorten(text: str, limit: int) -> str:
    text = _one_line(text)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:·") + "…"


def _is_web_url(url: Any) -> bool:
    return isinstance(url, str) and url.lower().startswith(("http://", "https://"))


def report_url(base_url: str, insight_id: str) -> str:
    """Where the web page shows this report."""
    return f"{base_url.rstrip('/')}/#report={quote(str(insight_id), safe='')}"


def sentiment_words(score: float, locale: str) -> str:
    """The sentiment score (-1…1) in words, with the same thresholds as the report tags."""
    return _WORDS[language_of(locale)][sentiment_strength(score)]


def verification_message(code: str, locale: str, *, minutes: int) -> tuple[str, str]:
    """The title and body of the test message that verifies a chat channel: the code to type
    back on the web page (no link: chat services open links to preview them)."""
    if language_of(locale) == "ko":
        return (
            "[StockTeacher] 알림 채널 확인",
            f"확인 코드: {code}\nStockTeacher의 '알림 설정' 탭에 이 코드를 {minutes}분 안에 입력하면 "
            "이 채널로 리포트 알림을 받습니다. 요청한 적이 없다면 무시하세요.",
        )
    return (
        "[StockTeacher] Confirm this channel",
        f"Confirmation code: {code}\nType it into StockTeacher's Notifications tab within {minutes} minutes "
        "to receive report alerts here. If you did not ask for this, ignore it.",
    )


def _ticker_name(ticker: str, language: str) -> str:
    try:
        info = lookup(ticker)
    except TickerError:
        return ticker
    name = info.name_ko if language == "ko" else info.name_en
    return name or info.name_en or ticker


def ticker_label(ticker: str, language: str) -> str:
    """The ticker with its name, e.g. 삼성전자 (005930.KS); the bare ticker if the registry has none."""
    name = _ticker_name(ticker, language)
    return ticker if name == ticker else f"{name} ({ticker})"


def _score(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


@dataclass(frozen=True)
class _Item:
    """What the text and HTML parts show of one report, in the reader's language."""

    label: str
    headline: str
    summary: str
    sentiment: str
    anomaly: str | None
    sources: list[tuple[str, str]]
    url: str


def _notable_anomaly(report: Mapping[str, Any], language: str) -> str | None:
    anomalies = [a for a in report.get("anomalies") or [] if isinstance(a, Mapping) and a.get("label")]
    if anomalies:
        top = max(anomalies, key=lambda a: _score(a.get("score")))
        description = _one_line(top.get("description"))
        return f"{_one_line(top['label'])} — {description}" if description else _one_line(top["label"])
    score = _score(report.get("anomaly_score"))
    if score >= NOTABLE_ANOMALY:
        return _WORDS[language]["anomaly_score"].format(score=score)
    return None


def _sources(report: Mapping[str, Any], limit: int | None) -> list[tuple[str, str]]:
    refs = [r for r in report.get("source_refs") or [] if isinstance(r, Mapping) and _is_web_url(r.get("url"))]
    picked = refs if limit is None else refs[:limit]
    return [(_one_line(r.get("title")) or str(r["url"]), str(r["url"])) for r in picked]


def _item(report: Mapping[str, Any], language: str, base_url: str) -> _Item:
    score = _score(report.get("sentiment_score"))
    return _Item(
        label=ticker_label(str(report.get("ticker", "")), language),
        headline=_one_line(report.get("headline")),
        summary=_shorten(str(report.get("summary_text") or ""), SUMMARY_CHARS),
        sentiment=f"{sentiment_words(score, language)} ({score:+.2f})",
        anomaly=_notable_anomaly(report, language),
        sources=_sources(report, MAX_SOURCES),
        url=report_url(base_url, str(report.get("insight_id", ""))),
    )


def _subject(reports: Sequence[Mapping[str, Any]], language: str, reason: str) -> str:
    words = _WORDS[language]
    if len(reports) == 1:
        report = reports[0]
        return words["subject_one"].format(
            name=_ticker_name(str(report.get("ticker", "")), language),
            label=words[reason],
            headline=_shorten(str(report.get("headline") or ""), SUBJECT_HEADLINE_CHARS),
        )
    return words["subject_many"].format(label=words[reason], n=len(reports))


def _intro(reports: Sequence[Mapping[str, Any]], language: str) -> str:
    words = _WORDS[language]
    if len(reports) == 1:
        return words["intro_one"].format(name=_ticker_name(str(reports[0].get("ticker", "")), language))
    return words["intro_many"].format(n=len(reports))


def _settings_url(base_url: str) -> str:
    return base_url.rstrip("/") + "/"


def _footer_lines(language: str, base_url: str) -> tuple[str, str]:
    words = _WORDS[language]
    return words["disclaimer"], words["settings"].format(url=_settings_url(base_url))


def _text(items: Sequence[_Item], intro: str, language: str, base_url: str) -> str:
    words = _WORDS[language]
    lines = [intro, ""]
    for item in items:
        lines += [f"■ {item.label} · {item.headline}", f"{words['summary']}: {item.summary}"]
        lines.append(f"{words['sentiment']}: {item.sentiment}")
        if item.anomaly:
            lines.append(f"{words['anomaly']}: {item.anomaly}")
        if item.sources:
            lines.append(f"{words['sources']}:")
            lines += [f"  - {title}: {url}" for title, url in item.sources]
        lines += [f"{words['open']}: {item.url}", ""]
    disclaimer, settings = _footer_lines(language, base_url)
    lines += ["—", disclaimer, settings, ""]
    return "\n".join(lines)


def _link(url: str, text: str) -> str:
    if not _is_web_url(url):  # never an href with javascript:, data: …
        return html.escape(text)
    return f'<a href="{html.escape(url, quote=True)}">{html.escape(text)}</a>'


def _html_item(item: _Item, words: Mapping[str, str]) -> str:
    e = html.escape
    parts = [
        '<div style="margin:0 0 20px;padding:12px 16px;border:1px solid #ddd;border-radius:6px">',
        f'<p style="margin:0;color:#555;font-size:13px">{e(item.label)}</p>',
        f'<h2 style="margin:4px 0 8px;font-size:18px">{e(item.headline)}</h2>',
        f'<p style="margin:0 0 8px">{e(item.summary)}</p>',
        f'<p style="margin:0 0 4px"><strong>{e(words["sentiment"])}:</strong> {e(item.sentiment)}</p>',
    ]
    if item.anomaly:
        parts.append(f'<p style="margin:0 0 4px"><strong>{e(words["anomaly"])}:</strong> {e(item.anomaly)}</p>')
    if item.sources:
        links = "".join(f"<li>{_link(url, title)}</li>" for title, url in item.sources)
        parts.append(f'<p style="margin:8px 0 0"><strong>{e(words["sources"])}</strong></p>')
        parts.append(f'<ul style="margin:4px 0 8px;padding-left:20px">{links}</ul>')
    parts.append(f'<p style="margin:8px 0 0">{_link(item.url, words["open"] + " →")}</p>')
    parts.append("</div>")
    return "".join(parts)


def _html(items: Sequence[_Item], subject: str, intro: str, language: str, base_url: str) -> str:
    e = html.escape
    words = _WORDS[language]
    before, _, after = words["settings"].partition("{url}")
    url = _settings_url(base_url)
    settings = e(before) + _link(url, url) + e(after)
    body = "".join(_html_item(item, words) for item in items)
    return (
        f'<!DOCTYPE html><html lang="{language}"><head><meta charset="utf-8">'
        f"<title>{e(subject)}</title></head>"
        '<body style="margin:0;padding:16px;font-family:sans-serif;line-height:1.5;color:#222">'
        f'<div style="max-width:640px;margin:0 auto"><p>{e(intro)}</p>{body}'
        f'<hr style="border:none;border-top:1px solid #ddd">'
        f'<p style="color:#666;font-size:12px">{e(words["disclaimer"])}<br>{settings}</p>'
        "</div></body></html>"
    )


def _payload_report(report: Mapping[str, Any], base_url: str) -> dict[str, Any]:
    return {
        "insight_id": report.get("insight_id"),
        "ticker": report.get("ticker"),
        "headline": report.get("headline"),
        "summary_text": report.get("summary_text"),
        "sentiment_score": report.get("sentiment_score"),
        "anomaly_score": report.get("anomaly_score"),
        "url": report_url(base_url, str(report.get("insight_id", ""))),
        "published_at": report.get("published_at"),
        "sources": [{"title": title, "url": url} for title, url in _sources(report, None)],
    }


def render_notification(
    reports: Sequence[Mapping[str, Any]],
    locale: str,
    *,
    reason: str,
    base_url: str,
    now: datetime | None = None,
) -> Rendered:
    """Render one report (or a digest of several) for `locale` (`ko_KR` → Korean, else English).

    `reason` is why it is sent (`urgent|intraday|daily_open|daily_close|weekly`); `base_url`
    is the web page's public address; `now` (default: the current time) becomes `sent_at`.
    """
    if reason not in REASONS:
        raise ValueError(f"unknown notification reason {reason!r}; expected one of {', '.join(REASONS)}")
    if not reports:
        raise ValueError("nothing to render: no reports")
    language = language_of(locale)
    items = [_item(report, language, base_url) for report in reports]
    subject = _subject(reports, language, reason)
    intro = _intro(reports, language)
    sent_at = (now or datetime.now(UTC)).astimezone(UTC).isoformat()
    payload = {
        "type": "reports",
        "reason": reason,
        "reports": [_payload_report(report, base_url) for report in reports],
        "sent_at": sent_at,
    }
    return Rendered(
        subject=subject,
        text=_text(items, intro, language, base_url),
        html=_html(items, subject, intro, language, base_url),
        payload=payload,
    )


def short_message(reports: Sequence[Mapping[str, Any]], locale: str, *, reason: str, base_url: str) -> tuple[str, str]:
    """`(title, body)` for a chat or push service: plain text, no HTML, a few lines per report.

    The title is the subject line of `render_notification` (one report: with its headline); the
    body has, per report, the company and ticker, the headline (a digest's; a single report's is
    the title's), the sentiment in words and the link to the report, at most
    `SHORT_MAX_REPORTS` of a digest (then "외 N건" / "and N more"), and a one-line disclaimer.
    """
    if reason not in REASONS:
        raise ValueError(f"unknown notification reason {reason!r}; expected one of {', '.join(REASONS)}")
    if not reports:
        raise ValueError("nothing to render: no reports")
    language = language_of(locale)
    words = _WORDS[language]
    blocks: list[str] = []
    single = len(reports) == 1  # its headline is the title's already (title-less services join the two)
    for report in reports[:SHORT_MAX_REPORTS]:
        score = _score(report.get("sentiment_score"))
        lines = [
            f"■ {ticker_label(str(report.get('ticker', '')), language)}",
            *([] if single else [_shorten(str(report.get("headline") or ""), SHORT_HEADLINE_CHARS)]),
            f"{words['sentiment']}: {sentiment_words(score, language)} ({score:+.2f})",
            report_url(base_url, str(report.get("insight_id", ""))),
        ]
        blocks.append("\n".join(lines))
    if len(reports) > SHORT_MAX_REPORTS:
        blocks.append(words["more"].format(n=len(reports) - SHORT_MAX_REPORTS))
    blocks.append(words["short_disclaimer"])
    return _subject(reports, language, reason), "\n\n".join(blocks)
