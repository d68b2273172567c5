"""Reports for tests: rows inserted directly (for filters, paging and ranking), reports made by
the real pipeline from the bundled sample news, and reports as `report_to_dict` gives them."""

from __future__ import annotations

import uuid
from typing import Any

from stockteacher.settings import Settings

__all__ = ["REPORT_DEFAULTS", "insert_reports", "make_report", "run_sample_pipeline"]

REPORT_DEFAULTS: dict[str, Any] = {
    "status": "published",
    "sentiment_score": 0.0,
    "anomaly_score": 0.0,
    "tags": [],
    "keywords": [],
    "glossary": [{"term": "배당", "explanation": "회사가 이익의 일부를 주주에게 나눠 주는 것."}],
    "anomalies": [],
    "source_refs": [{"url": "https://news.example/a", "title": "A headline"}],
    "attachments": [],
    "quality_notes": [],
    "cost_usd": 0.0,
    "model": "offline-test",
    "locale": "en_US",
    "story_count": 1,
}


def insert_reports(settings: Settings, rows: list[dict[str, Any]]) -> list[str]:
    """Insert `Report` rows, each with the `Analysis` row its `analysis_id` needs; their ids.

    A row needs `ticker` and an aware `published_at`; `headline` and `summary_text` default to
    something bland, `insight_id` to a fresh `ins_…`, the rest to `REPORT_DEFAULTS`.
    """
    from stockteacher.store.db import session_scope
    from stockteacher.store.models import Analysis, Report

    ids: list[str] = []
    with session_scope(settings.dsn) as session:
        for row in rows:
            values = {**REPORT_DEFAULTS, **row}
            values.setdefault("insight_id", f"ins_{uuid.uuid4().hex[:16]}")
            values.setdefault("headline", f"{values['ticker']} news")
            values.setdefault("summary_text", f"What happened to {values['ticker']}.")
            values.setdefault("created_at", values["published_at"])
            values.setdefault("updated_at", values["published_at"])
            analysis = Analysis(
                ticker=values["ticker"],
                content_hash=uuid.uuid4().hex * 2,
                prompt_version="test",
                provider="offline",
                model=values["model"],
                locale=values["locale"],
                result={},
                story_ids=[],
            )
            session.add(analysis)
            session.flush()
            session.add(Report(analysis_id=analysis.id, **values))
            ids.append(values["insight_id"])
    return ids


def run_sample_pipeline(settings: Settings, tickers: tuple[str, ...] = ("AAPL", "TSLA")) -> list[str]:
    """Collect, analyze and publish the sample news for `tickers` (the pipeline in this process,
    without notifying); the published report ids."""
    from stockteacher.pipeline import run_pipeline

    stages = ("collect", "analyze", "publish")
    result = run_pipeline(settings, [(t, "sample") for t in tickers], stages=stages)
    assert result.ok, result.summary()["errors"]
    return [i for p in result.published for i in p.published]


def make_report(**overrides: Any) -> dict[str, Any]:
    """A report as `report_to_dict` gives it (an urgent, negative 삼성전자 report in Korean)."""
    report: dict[str, Any] = {
        "insight_id": "a1b2c3d4e5f60718",
        "ticker": "005930.KS",
        "published_at": "2024-05-02T06:30:00+00:00",
        "status": "published",
        "sentiment_score": -0.72,
        "headline": "삼성전자, 반도체 수출 둔화 우려에 급락",
        "tags": ["negative", "urgent"],
        "summary_text": "삼성전자 주가가 반도체 수출 둔화 우려로 장중 6% 넘게 떨어졌습니다. 외국인 매도가 이어졌습니다.",
        "anomaly_score": 0.81,
        "keywords": ["반도체", "수출", "외국인"],
        "source_refs": [
            {"url": f"https://news.example.com/{i}", "title": f"기사 {i}", "source": "example"} for i in range(1, 5)
        ],
        "attachments": [],
        "glossary": [{"term": "외국인 매도", "explanation": "해외 투자자가 주식을 파는 것"}],
        "anomalies": [{"label": "급락", "description": "하루 만에 6% 하락", "score": 0.81}],
        "cost_usd": 0.0012,
        "model": "offline",
        "locale": "ko_KR",
    }
    report.update(overrides)
    return report
