"""The four stages as plain functions of (settings, work, trace_id) → a typed result.

Each calls the stage's service (`ingest.collect`, `analysis.service`, `publish.materialize`,
`notify.notifier`), which writes the stage's `job_runs` row. Run in this process by
`run_pipeline`, or inside Ray tasks and analyzer replicas by `cluster/`.

A failed analysis is a result (`Analyzed(status="failed")`): the other stages raise their
typed errors, which Ray may retry (transient source errors) and the sweep records.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from stockteacher.analysis.errors import AnalysisError, LLMError
from stockteacher.pipeline.results import Analyzed, Collected, Notified, Published
from stockteacher.settings import Settings
from stockteacher.store.db import StoreError

if TYPE_CHECKING:
    from stockteacher.analysis.llm import RequestLimiter

__all__ = ["STAGES", "analyze_stage", "collect_stage", "notify_stage", "publish_stage"]

STAGES = ("collect", "analyze", "publish", "notify")  # the order of a sweep


def collect_stage(
    settings: Settings, ticker: str, source: str, *, trace_id: str, path: str | Path | None = None
) -> Collected:
    """Collect `ticker` from `source`; raises the source's or the store's typed error."""
    from stockteacher.ingest.collect import collect

    outcome = collect(ticker, source, settings=settings, trace_id=trace_id, path=path)
    return Collected(
        ticker,
        source,
        outcome.fetched,
        outcome.unique,
        outcome.saved,
        stories=tuple(outcome.story_ids),
        new_stories=outcome.new_stories,
        invalid=outcome.invalid,
    )


def analyze_stage(
    settings: Settings,
    ticker: str,
    *,
    trace_id: str,
    reanalyze: bool = False,
    limiter: RequestLimiter | None = None,
) -> Analyzed:
    """Analyse `ticker`'s new stories; an analysis or store error is a `failed` result."""
    from stockteacher.analysis.service import analyze

    try:
        outcome = analyze(ticker, settings=settings, trace_id=trace_id, reanalyze=reanalyze, limiter=limiter)
    except LLMError as exc:  # a failed call is still paid for
        return Analyzed.failed(
            ticker,
            exc.code,
            str(exc),
            cost_usd=exc.cost_usd,
            prompt_tokens=exc.prompt_tokens,
            completion_tokens=exc.completion_tokens,
        )
    except (AnalysisError, StoreError) as exc:
        return Analyzed.failed(ticker, exc.code, str(exc))
    return Analyzed(
        ticker,
        outcome.status,
        insight_id=outcome.insight_id,
        analysis_id=outcome.analysis_id,
        model=outcome.model,
        prompt_tokens=outcome.prompt_tokens,
        completion_tokens=outcome.completion_tokens,
        cost_usd=outcome.cost_usd,
    )


def publish_stage(
    settings: Settings, analysis_ids: Iterable[int] | None, *, trace_id: str, ticker: str | None = None
) -> Published:
    """Reports for the given analyses (None: every analysis without a report)."""
    from stockteacher.publish.materialize import materialize_reports

    outcome = materialize_reports(settings=settings, analysis_ids=analysis_ids, trace_id=trace_id, ticker=ticker)
    return Published(ticker, tuple(outcome.published), tuple(outcome.drafts), outcome.skipped)


def notify_stage(settings: Settings, *, trace_id: str, record_idle: bool = True) -> Notified:
    """Plan the new reports' deliveries and send the due ones (see `notify.outbox`)."""
    from stockteacher.notify.notifier import notify_core

    counts = notify_core(settings, trace_id=trace_id, record_idle=record_idle)
    return Notified(trace_id, counts["planned"], counts["sent"], counts["retried"], counts["dead"])
