"""Ray actors and tasks: thin shells around the plain stage functions.

- `LimiterActor` — one named async actor holding the `RateLimiter`; its methods only do
  arithmetic, so its event loop never blocks.
- `AnalyzerWorker` — an async analyzer replica; each analysis runs `analyze_core` in a
  thread (the replica stays responsive) under the shared limiter.
- `collect_task` / `publish_task` — Ray tasks for `collect_core` and the materializer;
  transient source errors are retried by Ray, a bounded number of times.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import ray

from stockteacher.analysis.errors import CostLimitError
from stockteacher.analysis.llm import RateLimitInfo
from stockteacher.cluster import metrics
from stockteacher.cluster.limiter import LIMITER_NAME, BudgetExhausted, RateLimiter
from stockteacher.cluster.runtime import NAMESPACE
from stockteacher.logs import configure_logging, get_logger
from stockteacher.settings import Settings
from stockteacher.sources.base import TransientSourceError

__all__ = [
    "AnalyzerWorker",
    "LimiterActor",
    "RayLimiterClient",
    "collect_task",
    "get_limiter",
    "publish_task",
]

log = get_logger(__name__)


class LimiterActor:
    """The cluster's one `RateLimiter`, as an async actor (see `get_limiter`)."""

    async def __init__(self, settings: Settings) -> None:
        from stockteacher.analysis.service import spent_today

        configure_logging(settings)
        spent = await asyncio.to_thread(spent_today, settings.dsn)
        self.limiter = RateLimiter(
            settings.analysis_rpm_limit,
            settings.analysis_tpm_limit,
            jitter_seconds=settings.analysis_rate_jitter_seconds,
            daily_budget_usd=settings.analysis_daily_budget_usd,
            spent_today_usd=spent,
        )

    async def configure(self, rpm: int, tpm: int, jitter_seconds: float, daily_budget_usd: float) -> None:
        """Adopt new limits (the last configuration wins) without forgetting granted slots."""
        self.limiter.rpm, self.limiter.tpm = rpm, tpm
        self.limiter.per_second = max(1, rpm // 60)
        self.limiter.short_window = 1.0 + jitter_seconds
        self.limiter.min_interval = self.limiter.short_window / self.limiter.per_second
        self.limiter.daily_budget = daily_budget_usd

    async def reserve(self, tokens: int) -> float | None:
        """The wall-clock time (`time.time()`) at which the caller may send, or None when the
        daily budget is spent. Absolute, so the reply's transit time does not shift the slot."""
        try:
            return time.time() + self.limiter.reserve(tokens)
        except BudgetExhausted:
            return None

    async def observe(self, info: dict[str, Any], status: int | None) -> None:
        before = self.limiter.pauses
        self.limiter.observe(info, status=status)
        if self.limiter.pauses > before:
            metrics.inc("limiter_pauses")

    async def record_cost(self, usd: float) -> float:
        return self.limiter.record_cost(usd)

    async def stats(self) -> dict[str, Any]:
        return self.limiter.stats()


def get_limiter(settings: Settings) -> Any:
    """The named limiter actor, created on first use (one per cluster) and given `settings`'s
    limits."""
    handle = (
        ray.remote(LimiterActor)
        .options(
            name=LIMITER_NAME,
            namespace=NAMESPACE,
            get_if_exists=True,
            lifetime="detached",
            num_cpus=0,
            max_restarts=-1,
            max_task_retries=-1,
        )
        .remote(settings)
    )
    ray.get(
        handle.configure.remote(
            settings.analysis_rpm_limit,
            settings.analysis_tpm_limit,
            settings.analysis_rate_jitter_seconds,
            settings.analysis_daily_budget_usd,
        )
    )
    return handle


class RayLimiterClient:
    """The analyzer's side of the shared limiter: asks, then sleeps in its own thread.

    A process stalled past its slot (a GC pause, a busy CPU) would send late and bunch with
    the next slot's request, which a provider counting requests per second refuses; so a
    request that wakes more than `late_seconds` after its slot gives the slot up and asks for
    a new one."""

    def __init__(self, handle: Any, *, late_seconds: float = 0.015, max_rebooks: int = 3) -> None:
        self.handle = handle
        self.late_seconds = late_seconds
        self.max_rebooks = max_rebooks

    def acquire(self, tokens: int) -> None:
        started = time.time()
        for attempt in range(self.max_rebooks + 1):
            send_at = ray.get(self.handle.reserve.remote(tokens))
            if send_at is None:
                raise CostLimitError("daily budget spent (cluster-wide limiter)", code="daily_budget")
            delay = send_at - time.time()
            if delay > 0:
                time.sleep(delay)
            late = time.time() - send_at
            if late <= self.late_seconds or attempt == self.max_rebooks:
                break
            log.info("rate_limiter.slot_missed", late_ms=round(late * 1000, 1))
        metrics.observe("limiter_wait", time.time() - started)

    def observe(self, info: RateLimitInfo, *, status: int | None) -> None:
        if status == 429 or info.remaining_requests == 0 or info.remaining_tokens == 0:
            ray.get(self.handle.observe.remote(info.as_dict(), status))  # everyone must see it now
        # Otherwise nothing to correct; saving a round trip per request.

    def record_cost(self, usd: float) -> None:
        if usd:
            self.handle.record_cost.remote(usd)


class AnalyzerWorker:
    """One analyzer replica. Run with `max_concurrency` = `ANALYZER_CONCURRENCY`."""

    def __init__(self, settings: Settings, replica: int) -> None:
        configure_logging(settings)
        self.settings = settings
        self.replica = replica
        self.limiter = (
            RayLimiterClient(get_limiter(settings), late_seconds=settings.analysis_rate_jitter_seconds / 2)
            if settings.uses_openai
            else None
        )
        if settings.uses_openai:
            from stockteacher.analysis.llm import shared_client, warm_up

            warm_up(settings)  # the first real request must leave as soon as its slot comes
            shared_client(settings)
        self.running = 0

    async def analyze(self, ticker: str, trace_id: str) -> dict[str, Any]:
        self.running += 1
        try:
            return await asyncio.to_thread(self._analyze, ticker, trace_id)
        finally:
            self.running -= 1

    def _analyze(self, ticker: str, trace_id: str) -> dict[str, Any]:
        from stockteacher.analysis.errors import AnalysisError
        from stockteacher.analysis.service import analyze

        started = time.perf_counter()
        try:
            outcome = analyze(ticker, settings=self.settings, trace_id=trace_id, limiter=self.limiter)
        except AnalysisError as exc:
            metrics.inc("llm_calls", outcome=f"failed:{exc.code}", model=self.settings.analysis_model)
            return {"status": "failed", "ticker": ticker, "error_code": exc.code, "error": str(exc)[:500]}
        metrics.inc("llm_calls", outcome=outcome.status, model=outcome.model)
        metrics.inc("llm_tokens", outcome.prompt_tokens, kind="prompt", model=outcome.model)
        metrics.inc("llm_tokens", outcome.completion_tokens, kind="completion", model=outcome.model)
        metrics.inc("llm_cost", outcome.cost_usd, model=outcome.model)
        if outcome.status == "saved":
            metrics.observe("llm_latency", time.perf_counter() - started, model=outcome.model)
        return {**outcome.summary(), "ticker": ticker, "analysis_id": outcome.analysis_id, "replica": self.replica}

    async def ping(self) -> dict[str, Any]:
        return {"replica": self.replica, "pid": os.getpid(), "running": self.running}


@ray.remote(max_retries=0)
def collect_task(
    settings: Settings, ticker: str, source: str, trace_id: str, path: str | None = None
) -> dict[str, Any]:
    """`collect_core` on a worker; returns the counts and the stories it touched."""
    from stockteacher.ingest.collect import collect

    configure_logging(settings)
    outcome = collect(ticker, source, settings=settings, trace_id=trace_id, path=path)
    metrics.inc("articles_fetched", outcome.fetched, ticker=ticker, source=source)
    metrics.inc("articles_unique", outcome.unique, ticker=ticker, source=source)
    metrics.inc("articles_saved", outcome.saved, ticker=ticker, source=source)
    metrics.inc("stories", len(outcome.story_ids), ticker=ticker)
    return {**outcome.counts(), "ticker": ticker, "source": source, "stories": outcome.story_ids}


def collect_options(settings: Settings) -> dict[str, Any]:
    """Ray retries transient source failures (timeouts, 429, 5xx) a bounded number of times."""
    return {
        "max_retries": settings.collector_max_retries,
        "retry_exceptions": [TransientSourceError],
        "num_cpus": 0.25,
    }


@ray.remote(max_retries=2, num_cpus=0.1)
def publish_task(
    settings: Settings, analysis_ids: list[int] | None, trace_id: str, ticker: str | None = None
) -> dict[str, Any]:
    """The materializer for the given analyses (None: every analysis without a report)."""
    from stockteacher.publish.materialize import materialize_reports

    configure_logging(settings)
    outcome = materialize_reports(settings=settings, analysis_ids=analysis_ids, trace_id=trace_id, ticker=ticker)
    return {**outcome.summary(), "insight_ids": outcome.published + outcome.drafts}


@ray.remote(max_retries=2, num_cpus=0.1)
def notify_task(settings: Settings, trace_id: str, record_idle: bool = True) -> dict[str, Any]:
    """The notifier: plan the new reports' deliveries and send the due ones (see notify.outbox)."""
    from stockteacher.notify.notifier import notify_core

    configure_logging(settings)
    return notify_core(settings, trace_id=trace_id, record_idle=record_idle)
