"""analyze_core against a local OpenAI-protocol server: each answer ends in the right error
class, the right number of calls, the right job_runs row, and a consistent database."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from stockteacher.analysis.errors import CostLimitError, PermanentLLMError, TransientLLMError
from stockteacher.analysis.llm import RateLimitInfo
from stockteacher.analysis.service import analyze_core
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope
from stockteacher.store.models import Analysis, AnalysisStory, JobRun
from tests.factories.analysis import new_story_ids
from tests.servers.openai_server import FakeOpenAI, Reply


def answer(story_ids: list[int], **overrides: Any) -> str:
    body = {
        "headline": "애플, EU 반독점 조사 착수",
        "summary_text": "유럽연합이 애플 앱스토어 수수료에 대한 조사를 시작했습니다. 여러 매체가 같은 소식을 전했습니다.",
        "keywords": ["애플", "EU", "반독점"],
        "sentiment_score": -0.3,
        "anomalies": [{"label": "regulatory_probe", "description": "EU 조사", "score": 0.6}],
        "glossary": [{"term": "반독점", "explanation": "한 회사가 시장을 독차지하지 못하게 막는 규칙입니다."}],
        "citations": [{"claim": "EU가 조사를 시작했다", "story_ids": story_ids[:1]}],
    }
    body.update(overrides)
    return json.dumps(body, ensure_ascii=False)


@pytest.fixture
def llm(collected: Callable[..., Settings], llm_server: FakeOpenAI) -> Callable[..., Settings]:
    def factory(**overrides: Any) -> Settings:
        options: dict[str, Any] = {
            "openai_api_key": "test-key",
            "openai_base_url": llm_server.base_url,
            "analysis_retry_backoff_seconds": 0.01,
            "analysis_retry_max_attempts": 2,
            "analysis_request_timeout_seconds": 5,
            **overrides,
        }
        return collected("AAPL", **options)

    return factory


def job_run(settings: Settings) -> JobRun:
    with session_scope(settings.dsn) as session:
        return session.scalars(select(JobRun).where(JobRun.stage == "analyze").order_by(JobRun.id.desc())).first()


def analyses(settings: Settings) -> tuple[int, int]:
    with session_scope(settings.dsn) as session:
        return (
            session.scalar(select(func.count()).select_from(Analysis)),
            session.scalar(select(func.count()).select_from(AnalysisStory)),
        )


def test_valid_answer_is_saved_with_tokens_cost_and_job_run(
    llm: Callable[..., Settings], llm_server: FakeOpenAI
) -> None:
    settings = llm()
    ids = new_story_ids(settings)
    llm_server.script(Reply.ok(answer(ids), prompt_tokens=1200, completion_tokens=300))
    result = analyze_core("AAPL", settings=settings)

    assert llm_server.calls == 1
    assert result["status"] == "saved" and result["model"] == "gpt-4o-mini"
    assert (result["prompt_tokens"], result["completion_tokens"]) == (1200, 300)
    assert result["cost_usd"] == pytest.approx((1200 * 0.15 + 300 * 0.60) / 1e6)
    assert result["insight_id"].startswith("ins_")
    run = job_run(settings)
    assert (run.status, run.source, run.prompt_tokens, run.completion_tokens) == ("SUCCEEDED", "openai", 1200, 300)
    assert run.cost_usd == pytest.approx(result["cost_usd"])
    count, links = analyses(settings)
    assert count == 1 and links == len(ids)  # every story in the prompt is now covered
    request = llm_server.last_request
    assert request.response_format["type"] == "json_schema"
    assert request.headers["authorization"] == "Bearer test-key"
    prompt = "\n".join(m["content"] for m in request.messages)
    assert all(f"[story id={sid}]" in prompt for sid in ids)
    assert "투자 조언" in prompt  # ko_KR rules by default


@pytest.mark.parametrize(
    ("make_content", "code"),
    [
        (lambda ids: answer(ids)[:-5], "invalid_json"),
        (lambda ids: answer(ids, sentiment_score=3.5), "schema_invalid"),
        (lambda ids: answer(ids, keywords=["only-one"]), "schema_invalid"),
        (lambda ids: json.dumps({"headline": "x"}), "schema_invalid"),
        (lambda ids: answer(ids, citations=[{"claim": "x", "story_ids": [999999]}]), "unknown_citation"),
    ],
)
def test_bad_answers_are_transient_retried_then_fail_cleanly(
    llm: Callable[..., Settings], llm_server: FakeOpenAI, make_content: Callable[[list[int]], str], code: str
) -> None:
    settings = llm()
    ids = new_story_ids(settings)
    llm_server.script(*[Reply.ok(make_content(ids), prompt_tokens=1000, completion_tokens=100)] * 2)
    with pytest.raises(TransientLLMError) as info:
        analyze_core("AAPL", settings=settings)

    assert info.value.code == code
    assert llm_server.calls == 2  # ANALYSIS_RETRY_MAX_ATTEMPTS
    run = job_run(settings)
    assert (run.status, run.error_code) == ("FAILED", code)
    assert run.prompt_tokens == 2000 and run.cost_usd > 0  # bad answers are still paid for
    assert analyses(settings) == (0, 0)
    assert new_story_ids(settings) == ids  # nothing consumed: the next run tries the same stories


def test_unknown_citation_then_valid_answer_succeeds_on_retry(
    llm: Callable[..., Settings], llm_server: FakeOpenAI
) -> None:
    settings = llm()
    ids = new_story_ids(settings)
    llm_server.script(Reply.ok(answer(ids, citations=[{"claim": "x", "story_ids": [424242]}])), Reply.ok(answer(ids)))
    assert analyze_core("AAPL", settings=settings)["status"] == "saved"
    assert llm_server.calls == 2
    assert job_run(settings).details["attempts"] == 2


def test_429_with_retry_after_is_honoured(llm: Callable[..., Settings], llm_server: FakeOpenAI) -> None:
    settings = llm()
    llm_server.script(Reply.rate_limited(retry_after=1), Reply.ok(answer(new_story_ids(settings))))
    assert analyze_core("AAPL", settings=settings)["status"] == "saved"
    assert llm_server.calls == 2
    assert llm_server.gaps()[0] >= 0.95


def test_429_with_retry_after_ms_is_honoured(llm: Callable[..., Settings], llm_server: FakeOpenAI) -> None:
    settings = llm()
    llm_server.script(
        Reply.rate_limited(retry_after=None, retry_after_ms=600), Reply.ok(answer(new_story_ids(settings)))
    )
    assert analyze_core("AAPL", settings=settings)["status"] == "saved"
    assert 0.55 <= llm_server.gaps()[0] < 5


def test_persistent_429_fails_transient(llm: Callable[..., Settings], llm_server: FakeOpenAI) -> None:
    settings = llm()
    llm_server.script(*[Reply.rate_limited(retry_after=0.05)] * 3)
    with pytest.raises(TransientLLMError) as info:
        analyze_core("AAPL", settings=settings)
    assert info.value.code == "rate_limited" and llm_server.calls == 2
    assert job_run(settings).error_code == "rate_limited" and analyses(settings) == (0, 0)


def test_insufficient_quota_is_permanent_and_not_retried(llm: Callable[..., Settings], llm_server: FakeOpenAI) -> None:
    settings = llm()
    llm_server.script(Reply.insufficient_quota(), Reply.ok(answer(new_story_ids(settings))))
    with pytest.raises(PermanentLLMError) as info:
        analyze_core("AAPL", settings=settings)
    assert info.value.code == "insufficient_quota" and llm_server.calls == 1
    assert (job_run(settings).status, job_run(settings).error_code) == ("FAILED", "insufficient_quota")


def test_500_is_retried(llm: Callable[..., Settings], llm_server: FakeOpenAI) -> None:
    settings = llm()
    llm_server.script(Reply.server_error(500), Reply.ok(answer(new_story_ids(settings))))
    assert analyze_core("AAPL", settings=settings)["status"] == "saved"
    assert llm_server.calls == 2


def test_401_is_permanent(llm: Callable[..., Settings], llm_server: FakeOpenAI) -> None:
    settings = llm()
    llm_server.script(Reply.unauthorized())
    with pytest.raises(PermanentLLMError) as info:
        analyze_core("AAPL", settings=settings)
    assert info.value.code == "auth_error" and llm_server.calls == 1
    assert "test-key" not in (job_run(settings).error_message or "")


def test_400_is_permanent(llm: Callable[..., Settings], llm_server: FakeOpenAI) -> None:
    settings = llm()
    llm_server.script(Reply.bad_request("max_tokens is too large", param="max_tokens"))
    with pytest.raises(PermanentLLMError) as info:
        analyze_core("AAPL", settings=settings)
    assert info.value.code == "bad_request" and llm_server.calls == 1


def test_slow_answer_past_the_timeout_is_transient(llm: Callable[..., Settings], llm_server: FakeOpenAI) -> None:
    settings = llm(analysis_request_timeout_seconds=0.4)
    ids = new_story_ids(settings)
    llm_server.script(Reply.slow(2.0, content=answer(ids)), Reply.slow(2.0, content=answer(ids)))
    with pytest.raises(TransientLLMError) as info:
        analyze_core("AAPL", settings=settings)
    assert info.value.code == "timeout" and llm_server.calls == 2
    assert job_run(settings).error_code == "timeout" and analyses(settings) == (0, 0)


def test_usage_over_the_cap_is_refused_and_its_cost_recorded(
    llm: Callable[..., Settings], llm_server: FakeOpenAI
) -> None:
    settings = llm()
    llm_server.script(Reply.ok(answer(new_story_ids(settings)), prompt_tokens=200_000, completion_tokens=20_000))
    with pytest.raises(CostLimitError) as info:
        analyze_core("AAPL", settings=settings)
    assert info.value.code == "cost_limit_exceeded" and llm_server.calls == 1
    run = job_run(settings)
    assert run.error_code == "cost_limit_exceeded" and run.cost_usd == pytest.approx(0.042)
    assert analyses(settings) == (0, 0)


def test_cost_cap_refuses_before_any_request(llm: Callable[..., Settings], llm_server: FakeOpenAI) -> None:
    settings = llm(analysis_cost_limit_usd=0.0001)
    with pytest.raises(CostLimitError) as info:
        analyze_core("AAPL", settings=settings)
    assert info.value.code == "cost_limit" and llm_server.calls == 0
    assert "ANALYSIS_COST_LIMIT_USD" in str(info.value)
    assert (job_run(settings).status, job_run(settings).cost_usd) == ("FAILED", 0.0)


def test_daily_budget_stops_the_next_call(llm: Callable[..., Settings], llm_server: FakeOpenAI) -> None:
    settings = llm(analysis_daily_budget_usd=0.001)
    ids = new_story_ids(settings)
    llm_server.script(Reply.ok(answer(ids), prompt_tokens=4000, completion_tokens=1000))  # $0.0012
    analyze_core("AAPL", settings=settings)
    collect_more = settings.model_copy()
    from stockteacher.ingest.collect import collect_core

    collect_core("TSLA", "sample", settings=collect_more)
    with pytest.raises(CostLimitError) as info:
        analyze_core("TSLA", settings=settings)
    assert info.value.code == "daily_budget" and llm_server.calls == 1
    with session_scope(settings.dsn) as session:
        spent = session.scalar(select(func.sum(JobRun.cost_usd)).where(JobRun.stage == "analyze"))
    assert spent == pytest.approx(0.0012)
    assert job_run(settings).error_code == "daily_budget"


def test_yesterdays_spend_does_not_count(llm: Callable[..., Settings], llm_server: FakeOpenAI) -> None:
    from stockteacher.analysis.service import spent_today

    settings = llm()
    with session_scope(settings.dsn) as session:
        session.add(
            JobRun(
                stage="analyze",
                status="SUCCEEDED",
                trace_id="old",
                cost_usd=99.0,
                started_at=datetime(2020, 1, 1, tzinfo=UTC),
            )
        )
    assert spent_today(settings.dsn) == 0.0


def test_unchanged_story_set_makes_no_second_call(llm: Callable[..., Settings], llm_server: FakeOpenAI) -> None:
    settings = llm()
    llm_server.script(Reply.ok(answer(new_story_ids(settings))))
    first = analyze_core("AAPL", settings=settings)
    second = analyze_core("AAPL", settings=settings)  # no new stories
    again = analyze_core("AAPL", settings=settings, reanalyze=True)  # the very same set again
    assert llm_server.calls == 1
    assert second["status"] == "no_articles"
    assert again["status"] == "cached" and again["insight_id"] == first["insight_id"] and again["cost_usd"] == 0
    assert analyses(settings)[0] == 1


def test_server_without_json_schema_falls_back_to_json_mode(collected: Callable[..., Settings]) -> None:
    with FakeOpenAI(api_key="k", reject_json_schema=True) as server:
        settings = collected(
            "AAPL", openai_api_key="k", openai_base_url=server.base_url, analysis_retry_backoff_seconds=0.01
        )
        server.script(Reply.ok(answer(new_story_ids(settings))))
        assert analyze_core("AAPL", settings=settings)["status"] == "saved"
        formats = [r.response_format["type"] for r in server.chat_requests]
    assert formats == ["json_schema", "json_object"]


def test_rate_limit_headers_reach_the_caller(llm: Callable[..., Settings], llm_server: FakeOpenAI) -> None:
    settings = llm()
    llm_server.script(Reply.ok(answer(new_story_ids(settings))))
    seen: list[RateLimitInfo] = []
    analyze_core("AAPL", settings=settings, on_rate_limits=seen.append)
    assert seen and seen[-1].limit_requests == 500 and seen[-1].remaining_requests is not None
    assert seen[-1].reset_requests_seconds == pytest.approx(0.12)
    assert seen[-1].reset_tokens_seconds == pytest.approx(6.0)


def test_english_locale_prompt(llm: Callable[..., Settings], llm_server: FakeOpenAI) -> None:
    settings = llm(default_locale="en_US")
    llm_server.script(Reply.ok(answer(new_story_ids(settings))))
    analyze_core("AAPL", settings=settings)
    system = llm_server.last_request.messages[0]["content"]
    assert "Give no investment advice" in system and "Never invent numbers" in system
