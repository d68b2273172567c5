"""The offline analyzer: deterministic, schema-valid, Korean under ko_KR, English under en_US."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from stockteacher.analysis.offline import OfflineAnalyzer, story_sentiment
from stockteacher.analysis.prompts import StoryInput
from stockteacher.analysis.schema import ReportDraft
from stockteacher.analysis.service import analyze_core, load_new_stories
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope
from stockteacher.store.models import Analysis, JobRun

HANGUL = re.compile(r"[가-힣]")


def story(sid: int, title: str, description: str = "", outlets: int = 1) -> StoryInput:
    return StoryInput(
        sid,
        title,
        description,
        "Wire",
        f"https://w.example/{sid}",
        datetime(2026, 11, 20, 9, sid % 60, tzinfo=UTC),
        outlets,
    )


def test_sentiment_follows_finance_words_in_both_languages() -> None:
    assert story_sentiment("Apple beats estimates and shares surge to a record") > 0.3
    assert story_sentiment("Tesla recalls 239,000 cars as shares plunge on lawsuit") < -0.3
    assert story_sentiment("삼성전자, 호실적에 주가 급등…사상 최고치") > 0.3
    assert story_sentiment("SK하이닉스 실적 부진에 주가 급락") < -0.3
    assert story_sentiment("적자 축소") > 0  # the longer phrase wins over 적자


def test_offline_report_is_valid_deterministic_and_korean(collected: Callable[..., Settings]) -> None:
    settings = collected("005930.KS")
    with session_scope(settings.dsn) as session:
        stories = load_new_stories(session, "005930.KS")
    first = OfflineAnalyzer().analyze("005930.KS", "삼성전자", stories, locale="ko_KR")
    second = OfflineAnalyzer().analyze("005930.KS", "삼성전자", list(reversed(stories)), locale="ko_KR")
    assert first == second  # deterministic, whatever the input order
    ReportDraft.model_validate(first.model_dump())
    assert HANGUL.search(first.headline) and HANGUL.search(first.summary_text)
    assert "오프라인 분석기" in first.summary_text  # clearly labelled
    assert 3 <= len(first.keywords) <= 10 and -1 <= first.sentiment_score <= 1
    assert {a.label for a in first.anomalies} >= {"buyback"}
    assert all(HANGUL.search(g.explanation) for g in first.glossary) and first.glossary
    assert first.cited_story_ids <= {s.story_id for s in stories}


def test_english_locale_gives_english_text() -> None:
    stories = [
        story(1, "Tesla recalls 239,000 Model Y vehicles over seat-belt issue", "The recall hits Tesla.", 3),
        story(2, "Tesla shares fall after analyst downgrade", "An analyst cut the target price."),
    ]
    draft = OfflineAnalyzer().analyze("TSLA", "Tesla", stories, locale="en_US")
    assert not HANGUL.search(draft.summary_text) and "offline analyzer" in draft.summary_text
    assert draft.headline.startswith("Tesla: Tesla recalls")
    assert draft.sentiment_score < 0
    labels = {a.label for a in draft.anomalies}
    assert "recall" in labels
    recall = next(a for a in draft.anomalies if a.label == "recall")
    assert recall.score >= 0.7  # corroborated by 3 outlets: boosted
    assert any(g.term.lower() == "recall" for g in draft.glossary)


def test_analyze_core_offline_costs_nothing_and_records_source_offline(collected: Callable[..., Settings]) -> None:
    settings = collected("AAPL", default_locale="ko_KR")
    result = analyze_core("AAPL", settings=settings)
    assert result["status"] == "saved" and result["model"] == "offline" and result["cost_usd"] == 0
    with session_scope(settings.dsn) as session:
        run = session.scalars(select(JobRun).where(JobRun.stage == "analyze")).one()
        analysis = session.scalars(select(Analysis)).one()
    assert (run.status, run.source, run.cost_usd) == ("SUCCEEDED", "offline", 0.0)
    assert analysis.provider == "offline" and analysis.locale == "ko_KR"
    assert analyze_core("AAPL", settings=settings)["status"] == "no_articles"


def test_provider_offline_wins_over_a_key(collected: Callable[..., Settings]) -> None:
    settings = collected("AAPL", openai_api_key="sk-unused-0000000000", analysis_provider="offline")
    assert analyze_core("AAPL", settings=settings)["model"] == "offline"


@pytest.mark.parametrize("ticker", ["AAPL", "TSLA", "NVDA", "MSFT", "005930.KS", "000660.KS"])
def test_every_sample_ticker_gets_a_valid_offline_report(collected: Callable[..., Settings], ticker: str) -> None:
    settings = collected(ticker)
    assert analyze_core(ticker, settings=settings)["status"] == "saved"


@pytest.mark.parametrize(
    ("report_name", "term"),
    [
        ("주요사항보고서(유상증자결정)", "유상증자"),
        ("주요사항보고서(무상증자결정)", "무상증자"),
        ("주요사항보고서(유무상증자결정)", "무상증자"),
        ("주요사항보고서(자기주식취득결정)", "자사주 매입(자기주식취득)"),
        ("주요사항보고서(자기주식처분결정)", "자사주 처분(자기주식처분)"),
        ("연결재무제표기준영업(잠정)실적(공정공시)", "잠정실적"),
        ("영업(잠정)실적(공정공시)", "공정공시"),
        ("단일판매ㆍ공급계약체결", "단일판매·공급계약 체결"),
        ("주요사항보고서(전환사채권발행결정)", "전환사채(CB)"),
        ("주요사항보고서(신주인수권부사채권발행결정)", "신주인수권부사채(BW)"),
        ("사업보고서 (2025.12)", "사업·반기·분기보고서"),
        ("반기보고서 (2026.06)", "사업·반기·분기보고서"),
        ("최대주주변경", "최대주주 변경"),
        ("주식등의대량보유상황보고서(일반)", "주식등의 대량보유 보고(5% 룰)"),
        ("임원ㆍ주요주주특정증권등소유상황보고서", "임원·주요주주 소유상황보고"),
        ("[기재정정]주요사항보고서(유상증자결정)", "기재정정"),
    ],
)
def test_dart_report_types_carry_their_beginner_glossary_entry(report_name: str, term: str) -> None:
    filing = StoryInput(
        7, report_name, None, "DART", "https://dart.fss.or.kr/dsaf001/main.do?rcpNo=20261201800001", None, 1
    )
    draft = OfflineAnalyzer().analyze("005930.KS", "삼성전자", [filing], locale="ko_KR")
    glossary = {g.term: g.explanation for g in draft.glossary}
    assert term in glossary, sorted(glossary)
    assert HANGUL.search(glossary[term]) and 20 <= len(glossary[term]) <= 400
