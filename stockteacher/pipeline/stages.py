"""The four stages as plain functions of (settings, work, trace_id) → a typed result.

Each calls the stage's service (`ingest.collect`, `analysis.service`, `publish.materialize`,
`notify.notifier`), which writes the stage's `job_runs` row. Run in this process by
`run_pipeline`, or inside Ray tasks and analyzer replicas by `cluster/`.

A failed analysis is a result (`Analyzed(status="failed")`): the other stages raise their
typed errors, which Ray may retry (transient source errors) and the sweep records.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from stockteacher.analysis.errors import AnalysisError, LLMError
from stockteacher.pipeline.results import Analyzed, Collected, Notified, Published, Tracked
from stockteacher.settings import Settings
from stockteacher.store.db import StoreError

if TYPE_CHECKING:
    from stockteacher.analysis.llm import RequestLimiter

__all__ = ["STAGES", "analyze_stage", "collect_stage", "notify_stage", "publish_stage", "track_stage"]

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


def track_stage(
    settings: Settings, pairs: Iterable[tuple[str, str | None]], *, trace_id: str, now: datetime | None = None
) -> Tracked:
    """Fetch the swept tickers' and their benchmarks' new daily bars (a ticker already holding
    its last closed session is not asked again: once per trading day), then evaluate every
    published report whose outcome became known and rewrite the stored track records.
    A price source that fails is reported per symbol; the evaluation still runs on what is stored."""
    import asyncio

    from stockteacher.prices import build_price_source
    from stockteacher.prices.service import price_source_name, refresh_prices, symbols_for
    from stockteacher.store.jobs import job_run
    from stockteacher.track.service import evaluate

    by_source: dict[str, list[str]] = {}
    for ticker, source in pairs:
        name = price_source_name(settings, source)
        if name is not None:
            by_source.setdefault(name, []).append(ticker)
    stored, current, errors = 0, 0, {}
    with job_run(settings.dsn, stage="track", trace_id=trace_id) as run:
        for name, tickers in by_source.items():
            result = asyncio.run(
                refresh_prices(settings, build_price_source(name, settings), symbols_for(tickers), now=now)
            )
            stored += result.bars
            current += len(result.current)
            errors.update(result.errors)
        evaluation = evaluate(settings, now=now)
        run.record(details={"bars_stored": stored, "symbols_current": current, "price_errors": errors,
                            "outcomes_added": evaluation.outcomes_added, "pending": evaluation.pending})  # fmt: skip
    return Tracked(trace_id, stored, current, errors, evaluation.outcomes_added, evaluation.pending)
