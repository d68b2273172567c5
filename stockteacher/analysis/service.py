"""`analyze_core(ticker)`: the ticker's new stories → one validated analysis, saved once.

A story is *new* until an analysis covers it. The stories that fit the prompt's character
budget (most corroborated and newest first) are analysed together; the rest wait for the next
run. The analysis is keyed by sha256(ticker, story ids, prompt version, provider, model,
locale): an unchanged set is never sent to the LLM twice.

Every call writes one `job_runs` row (`stage=analyze`, `source=openai|offline`) with tokens
and cost — failed calls included, since a bad answer is still paid for — and the seed's log
events (`analyze.start`, `analyze.saved`, `analyze.no_articles`, `analyze.transient_error`,
`analyze.permanent_error`, `analyze.unexpected_error`). The analysis and its story links are
written in one transaction: on any failure nothing half-written stays.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import openai
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from stockteacher.analysis.errors import LLMError, TransientLLMError
from stockteacher.analysis.llm import OpenAIAnalyzer, RateLimitInfo, RequestLimiter
from stockteacher.analysis.offline import OFFLINE_MODEL, OfflineAnalyzer
from stockteacher.analysis.prompts import PROMPT_VERSION, Prompt, StoryInput, build_prompt
from stockteacher.analysis.schema import ReportDraft
from stockteacher.logs import get_logger, new_trace_id, pipeline_context
from stockteacher.settings import Settings, load_settings
from stockteacher.store.db import StoreError, session_scope
from stockteacher.store.jobs import FAILED, SUCCEEDED, JobRunRecord, job_run
from stockteacher.store.models import Analysis, AnalysisStory, Article, JobRun, Story
from stockteacher.tickers import service as tickers
from stockteacher.tickers.registry import lookup

__all__ = ["AnalyzeOutcome", "analyze", "analyze_core", "insight_id_for", "load_new_stories", "spent_today"]

log = get_logger(__name__)
MAX_CANDIDATE_STORIES = 60
SPEND_STAGES = ("analyze", "chat")


@dataclass
class AnalyzeOutcome:
    status: str  # saved | cached | no_articles
    insight_id: str | None
    analysis_id: int | None
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    story_ids: list[int]
    trace_id: str

    def summary(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "insight_id": self.insight_id,
            "model": self.model,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": round(self.cost_usd, 6),
        }


def spent_today(dsn: str, *, now: datetime | None = None) -> float:
    """USD recorded in `job_runs` today (UTC) by LLM-spending stages."""
    now = now or datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    with session_scope(dsn) as session:
        total = session.scalar(
            select(func.coalesce(func.sum(JobRun.cost_usd), 0.0)).where(
                JobRun.stage.in_(SPEND_STAGES), JobRun.started_at >= midnight
            )
        )
    return float(total or 0.0)


def load_new_stories(session: Session, ticker: str, *, limit: int = MAX_CANDIDATE_STORIES) -> list[StoryInput]:
    """The ticker's stories no analysis covers yet, with their representative article."""
    covered = select(AnalysisStory.story_id)
    rows = session.execute(
        select(Story, Article)
        .join(Article, Article.id == Story.representative_article_id)
        .where(Story.ticker == ticker, Story.id.not_in(covered))
        .order_by(Story.corroboration_count.desc(), Story.last_published_at.desc(), Story.id)
        .limit(limit)
    ).all()
    return [_story_input(story, article) for story, article in rows]


def _stories_by_id(session: Session, story_ids: list[int]) -> list[StoryInput]:
    rows = session.execute(
        select(Story, Article)
        .join(Article, Article.id == Story.representative_article_id)
        .where(Story.id.in_(story_ids))
    ).all()
    return [_story_input(story, article) for story, article in rows]


def _story_input(story: Story, article: Article) -> StoryInput:
    return StoryInput(
        story_id=story.id,
        title=article.title,
        description=article.description,
        source=article.source,
        url=article.url,
        published_at=article.published_at,
        corroboration_count=max(1, story.corroboration_count),
        language=article.language,
        published_estimated=article.published_at_estimated,
    )


def content_hash(ticker: str, story_ids: list[int], *, provider: str, model: str, locale: str) -> str:
    key = json.dumps(
        {"t": ticker, "s": sorted(story_ids), "v": PROMPT_VERSION, "p": provider, "m": model, "l": locale},
        sort_keys=True,
    )
    return hashlib.sha256(key.encode()).hexdigest()


def insight_id_for(digest: str) -> str:
    """The report id an analysis will be published under: stable, so publishing is idempotent."""
    return f"ins_{digest[:16]}"


def _company(ticker: str, locale: str) -> str | None:
    info = lookup(ticker)
    return (info.name_ko if locale == "ko_KR" else info.name_en) or info.name_en


def _latest_story_ids(session: Session, ticker: str) -> list[int]:
    latest = session.scalars(
        select(Analysis)
        .where(Analysis.ticker == ticker)
        .order_by(Analysis.created_at.desc(), Analysis.id.desc())
        .limit(1)
    ).first()
    return list(latest.story_ids) if latest else []


def analyze_core(
    ticker: str,
    *,
    settings: Settings | None = None,
    trace_id: str | None = None,
    client: openai.OpenAI | None = None,
    reanalyze: bool = False,
    on_rate_limits: Callable[[RateLimitInfo], None] | None = None,
    limiter: RequestLimiter | None = None,
) -> dict[str, Any]:
    """Analyse `ticker`'s new stories; see the module docstring. Returns
    `{"status", "insight_id", "model", "prompt_tokens", "completion_tokens", "cost_usd"}`."""
    return analyze(
        ticker,
        settings=settings,
        trace_id=trace_id,
        client=client,
        reanalyze=reanalyze,
        on_rate_limits=on_rate_limits,
        limiter=limiter,
    ).summary()


def analyze(
    ticker: str,
    *,
    settings: Settings | None = None,
    trace_id: str | None = None,
    client: openai.OpenAI | None = None,
    reanalyze: bool = False,
    on_rate_limits: Callable[[RateLimitInfo], None] | None = None,
    limiter: RequestLimiter | None = None,
) -> AnalyzeOutcome:
    settings = settings or load_settings()
    symbol = lookup(ticker).symbol
    trace_id = trace_id or new_trace_id()
    provider = "openai" if settings.uses_openai else "offline"
    model = settings.analysis_model if provider == "openai" else OFFLINE_MODEL
    locale = settings.default_locale
    with (
        pipeline_context(trace_id=trace_id, ticker=symbol, source=provider, stage="analyze"),
        job_run(
            settings.dsn,
            stage="analyze",
            trace_id=trace_id,
            ticker=symbol,
            source=provider,
            supersede=True,
            on_error=_failed,
        ) as run,
    ):
        call = _Call(symbol, settings, run, trace_id, provider, model, locale, client, on_rate_limits, limiter)
        return _analyze(call, reanalyze=reanalyze)


def _failed(exc: BaseException) -> dict[str, Any]:
    """The failed run's log event and `job_runs` columns; a failed call is still paid for."""
    if isinstance(exc, LLMError):
        event = "analyze.transient_error" if isinstance(exc, TransientLLMError) else "analyze.permanent_error"
        attempts = exc.context.get("attempts")
        log.error(
            event,
            status=FAILED,
            error_code=exc.code,
            error=str(exc),
            cost_usd=round(exc.cost_usd, 6),
            attempts=attempts,
        )
        return {
            "error_code": exc.code,
            "error_message": str(exc),
            "prompt_tokens": exc.prompt_tokens,
            "completion_tokens": exc.completion_tokens,
            "cost_usd": exc.cost_usd,
            "details": {"attempts": attempts},
        }
    if isinstance(exc, StoreError):
        log.error("analyze.store_error", status=FAILED, error=str(exc))
        return {"error_code": exc.code, "error_message": str(exc)}
    log.exception("analyze.unexpected_error", status=FAILED)
    return {"error_code": "unexpected_error", "error_message": f"{type(exc).__name__}: {exc}"}


@dataclass
class _Call:
    """Everything one analysis run needs, so helpers take one argument instead of ten."""

    symbol: str
    settings: Settings
    run: JobRunRecord
    trace_id: str
    provider: str
    model: str
    locale: str
    client: openai.OpenAI | None
    on_rate_limits: Callable[[RateLimitInfo], None] | None
    limiter: RequestLimiter | None


def _analyze(call: _Call, *, reanalyze: bool) -> AnalyzeOutcome:
    symbol, settings, run, trace_id = call.symbol, call.settings, call.run, call.trace_id
    provider, model, locale = call.provider, call.model, call.locale
    with session_scope(settings.dsn) as session:
        tickers.refresh(session)  # the company's name as operators gave it, for the prompt
        if reanalyze:
            stories = _stories_by_id(session, _latest_story_ids(session, symbol))
        else:
            stories = load_new_stories(session, symbol)
    if not stories:
        log.info("analyze.no_articles", status=SUCCEEDED)
        run.record(
            prompt_tokens=0,
            completion_tokens=0,
            cost_usd=0.0,
            details={"result": "no_articles"},
        )
        return AnalyzeOutcome("no_articles", None, None, model, 0, 0, 0.0, [], trace_id)

    company = _company(symbol, locale)
    prompt = build_prompt(symbol, company, stories, locale=locale, char_budget=settings.analysis_prompt_char_budget)
    digest = content_hash(symbol, prompt.story_ids, provider=provider, model=model, locale=locale)
    log.info(
        "analyze.start",
        stories=len(prompt.story_ids),
        waiting=len(stories) - len(prompt.story_ids),
        model=model,
        prompt_chars=len(prompt.text),
    )

    cached = _find_cached(settings.dsn, digest)
    if cached is not None:
        log.info("analyze.cached", status=SUCCEEDED, analysis_id=cached, model=model)
        run.record(
            prompt_tokens=0,
            completion_tokens=0,
            cost_usd=0.0,
            details={"result": "cached", "analysis_id": cached},
        )
        return AnalyzeOutcome("cached", insight_id_for(digest), cached, model, 0, 0, 0.0, prompt.story_ids, trace_id)

    started = time.perf_counter()
    draft, usage = _run_analyzer(call, company, stories, prompt)
    latency_ms = (time.perf_counter() - started) * 1000
    analysis_id = _save(
        settings.dsn, symbol, digest, provider, model, locale, draft, prompt, usage, latency_ms, trace_id
    )
    log.info(
        "analyze.saved",
        status=SUCCEEDED,
        analysis_id=analysis_id,
        model=model,
        prompt_tokens=usage["prompt_tokens"],
        completion_tokens=usage["completion_tokens"],
        llm_cost=round(usage["cost_usd"], 6),
        latency_ms=round(latency_ms, 1),
        stories=len(prompt.story_ids),
    )
    run.record(
        prompt_tokens=usage["prompt_tokens"],
        completion_tokens=usage["completion_tokens"],
        cost_usd=usage["cost_usd"],
        details={
            "result": "saved",
            "analysis_id": analysis_id,
            "attempts": usage["attempts"],
            "story_ids": prompt.story_ids,
            "latency_ms": round(latency_ms, 1),
        },
    )
    return AnalyzeOutcome(
        "saved",
        insight_id_for(digest),
        analysis_id,
        model,
        usage["prompt_tokens"],
        usage["completion_tokens"],
        usage["cost_usd"],
        prompt.story_ids,
        trace_id,
    )


def _run_analyzer(
    call: _Call, company: str | None, stories: list[StoryInput], prompt: Prompt
) -> tuple[ReportDraft, dict[str, Any]]:
    settings = call.settings
    if call.provider == "offline":
        chosen = [s for s in stories if s.story_id in set(prompt.story_ids)]
        draft = OfflineAnalyzer().analyze(call.symbol, company, chosen, locale=settings.default_locale)
        return draft, {"prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0, "attempts": 1}
    analyzer = OpenAIAnalyzer(
        settings,
        client=call.client,
        spent_today=lambda: spent_today(settings.dsn),
        on_rate_limits=call.on_rate_limits,
        limiter=call.limiter,
    )
    result = analyzer.analyze(prompt)
    return result.draft, {
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "cost_usd": result.cost_usd,
        "attempts": result.attempts,
    }


def _find_cached(dsn: str, digest: str) -> int | None:
    with session_scope(dsn) as session:
        return session.scalar(select(Analysis.id).where(Analysis.content_hash == digest))


def _save(
    dsn: str,
    symbol: str,
    digest: str,
    provider: str,
    model: str,
    locale: str,
    draft: ReportDraft,
    prompt: Prompt,
    usage: dict[str, Any],
    latency_ms: float,
    trace_id: str,
) -> int:
    try:
        with session_scope(dsn) as session:
            existing = session.scalar(select(Analysis.id).where(Analysis.content_hash == digest))
            if existing is not None:  # another worker finished the same set first
                return int(existing)
            analysis = Analysis(
                ticker=symbol,
                content_hash=digest,
                prompt_version=prompt.version,
                provider=provider,
                model=model,
                locale=locale,
                result=draft.model_dump(),
                story_ids=prompt.story_ids,
                prompt_tokens=usage["prompt_tokens"],
                completion_tokens=usage["completion_tokens"],
                cost_usd=usage["cost_usd"],
                latency_ms=latency_ms,
                trace_id=trace_id,
            )
            session.add(analysis)
            session.flush()
            session.add_all(AnalysisStory(analysis_id=analysis.id, story_id=sid) for sid in prompt.story_ids)
            return int(analysis.id)
    except IntegrityError:
        # Another replica saved the same story set between our check and our insert.
        existing = _find_cached(dsn, digest)
        if existing is None:
            raise
        return existing
    except SQLAlchemyError as exc:
        raise StoreError(f"saving the analysis failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}") from exc
