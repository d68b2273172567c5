"""Ray actors and tasks: thin shells around the plain stage functions.

- `LimiterActor` — one named async actor holding the `RateLimiter`; its methods only do
  arithmetic, so its event loop never blocks.
- `AnalyzerWorker` — an async analyzer replica; each analysis runs `analyze_stage` in a
  thread (the replica stays responsive) under the shared limiter.
- `collect_task` / `publish_task` / `notify_task` — Ray tasks for the pipeline's stages
  (`stockteacher.pipeline.stages`); transient source errors are retried by Ray, a bounded
  number of times. They return the stages' typed results.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import ray

from stockteacher.analysis.errors import CostLimitError
from stockteacher.cluster import metrics
from stockteacher.cluster.limiter import LIMITER_NAME, BudgetExhausted, RateLimiter
from stockteacher.cluster.placement import COLLECTOR, node_info, role_resources, scheduler_resources
from stockteacher.cluster.runtime import NAMESPACE, wait_until_gone
from stockteacher.logs import configure_logging, get_logger
from stockteacher.pipeline import Analyzed, Collected, Notified, Published, StageError, Tracked
from stockteacher.pipeline.stages import analyze_stage, collect_stage, notify_stage, publish_stage, track_stage
from stockteacher.settings import Settings
from stockteacher.sources.base import TransientSourceError
from stockteacher.store.jobs import set_worker_context

__all__ = [
    "AnalyzerWorker",
    "LimiterActor",
    "RayLimiterClient",
    "collect_task",
    "ensure_limiter",
    "limiter_handle",
    "notify_task",
    "evaluate_task",
    "prices_task",
    "publish_task",
    "track_options",
    "track_task",
]

if TYPE_CHECKING:  # the openai client's import (~1 s) is for the analyzer replicas alone
    from stockteacher.analysis.llm import RateLimitInfo

log = get_logger(__name__)


def _limits(settings: Settings) -> dict[str, Any]:
    return {
        "rpm": settings.analysis_rpm_limit,
        "tpm": settings.analysis_tpm_limit,
        "jitter_seconds": settings.analysis_rate_jitter_seconds,
        "daily_budget_usd": settings.analysis_daily_budget_usd,
    }


class LimiterActor:
    """The cluster's one `RateLimiter`, as an async actor (see `ensure_limiter`). Its limits are
    the settings it was created with, and nothing else: a change of limits makes a new actor,
    so that Ray restarting it after a crash cannot bring old limits back."""

    async def __init__(self, settings: Settings) -> None:
        from stockteacher.analysis.service import spent_today

        configure_logging(settings)
        spent = await asyncio.to_thread(spent_today, settings.dsn)
        self.limits = _limits(settings)
        self.limiter = RateLimiter(
            settings.analysis_rpm_limit,
            settings.analysis_tpm_limit,
            jitter_seconds=settings.analysis_rate_jitter_seconds,
            daily_budget_usd=settings.analysis_daily_budget_usd,
            spent_today_usd=spent,
        )

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

    async def settings_limits(self) -> dict[str, Any]:
        return self.limits

    async def stats(self) -> dict[str, Any]:
        return {**self.limiter.stats(), "jitter_seconds": self.limits["jitter_seconds"]}


def _limiter_actor(settings: Settings) -> Any:
    return (
        ray.remote(LimiterActor)
        .options(
            name=LIMITER_NAME,
            namespace=NAMESPACE,
            get_if_exists=True,
            lifetime="detached",
            num_cpus=0,
            resources=scheduler_resources(settings),
            max_restarts=-1,
            max_task_retries=-1,
        )
        .remote(settings)
    )


def limiter_handle(settings: Settings) -> Any:
    """The named limiter actor, for an analyzer replica: looked up (created only if missing),
    never re-configured. Its limits come from whoever drives the analyses (`ensure_limiter`)."""
    try:
        return ray.get_actor(LIMITER_NAME, namespace=NAMESPACE)
    except ValueError:
        return _limiter_actor(settings)


def ensure_limiter(settings: Settings, *, timeout: float = 30.0) -> Any:
    """The named limiter with `settings`' limits, for the owner of an analyzer pool (the
    scheduler, a job): the one place limits are set. A limiter holding other limits is replaced
    by one created with these (its spend so far is read back from `job_runs`)."""
    handle = _limiter_actor(settings)
    if ray.get(handle.settings_limits.remote(), timeout=timeout) == _limits(settings):
        return handle
    log.info("rate_limiter.replaced", **_limits(settings))
    ray.kill(handle, no_restart=True)
    wait_until_gone(LIMITER_NAME, timeout=timeout)
    handle = _limiter_actor(settings)
    ray.get(handle.settings_limits.remote(), timeout=timeout)
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
        self.node = node_info()
        set_worker_context(node_id=self.node["node_id"])
        self.limiter = (
            RayLimiterClient(limiter_handle(settings), late_seconds=settings.analysis_rate_jitter_seconds / 2)
            if settings.uses_openai
            else None
        )
        if settings.uses_openai:
            from stockteacher.analysis.llm import shared_client, warm_up

            warm_up(settings)  # the first real request must leave as soon as its slot comes
            shared_client(settings)
        self.running = 0

    async def analyze(self, ticker: str, trace_id: str, publish: bool = False) -> Analyzed:
        """Analyse `ticker`; with `publish`, publish a new analysis here too, in the same thread:
        a sweep's publish step costs no task and no worker process of its own (issue #13's
        profile: every extra process paid ~3 s of imports on a 2-core node)."""
        self.running += 1
        try:
            return await asyncio.to_thread(self._analyze_and_publish, ticker, trace_id, publish)
        finally:
            self.running -= 1

    def _analyze_and_publish(self, ticker: str, trace_id: str, publish: bool) -> Analyzed:
        outcome = self._analyze(ticker, trace_id)
        if not publish or outcome.status != "saved" or outcome.analysis_id is None:
            return outcome
        published: Published | StageError
        try:
            published = publish_stage(self.settings, [outcome.analysis_id], trace_id=trace_id, ticker=ticker)
        except Exception as exc:  # in job_runs already; recorded for this ticker by the sweep
            published = StageError.of("publish", exc, ticker=ticker)
        return replace(outcome, published=published)

    def _analyze(self, ticker: str, trace_id: str) -> Analyzed:
        started = time.perf_counter()
        outcome = analyze_stage(self.settings, ticker, trace_id=trace_id, limiter=self.limiter)
        if outcome.status == "failed":
            model = self.settings.analysis_model
            metrics.inc("llm_calls", stage="analyze", outcome=f"failed:{outcome.error_code}", model=model)
        else:
            metrics.record_llm_call(
                "analyze",
                outcome.status,
                outcome.model or self.settings.analysis_model,
                outcome.prompt_tokens,
                outcome.completion_tokens,
                outcome.cost_usd,
            )
        if outcome.status == "saved":
            metrics.observe("llm_latency", time.perf_counter() - started, model=outcome.model)
        return replace(outcome, replica=self.replica, **self.node)

    async def ping(self) -> dict[str, Any]:
        return {"replica": self.replica, "pid": os.getpid(), "running": self.running, **self.node}


@ray.remote(max_retries=0)
def collect_task(settings: Settings, ticker: str, source: str, trace_id: str, path: str | None = None) -> Collected:
    """`collect_stage` on a worker: the counts and the stories it touched, and where it ran."""
    configure_logging(settings)
    node = node_info()
    set_worker_context(node_id=node["node_id"])
    outcome = collect_stage(settings, ticker, source, trace_id=trace_id, path=path)
    metrics.inc("articles_fetched", outcome.fetched, ticker=ticker, source=source)
    metrics.inc("articles_unique", outcome.unique, ticker=ticker, source=source)
    metrics.inc("articles_saved", outcome.saved, ticker=ticker, source=source)
    metrics.inc("stories", outcome.new_stories, ticker=ticker)
    return replace(outcome, **node)


def collect_options(settings: Settings) -> dict[str, Any]:
    """Ray retries transient source failures (timeouts, 429, 5xx) and lost workers or nodes a
    bounded number of times; a collector asks for a `collector` node where there are such."""
    return {
        "max_retries": settings.collector_max_retries,
        "retry_exceptions": [TransientSourceError],
        "num_cpus": 0.25,
        "resources": role_resources(settings, COLLECTOR),
    }


@ray.remote(max_retries=2, num_cpus=0.1)
def publish_task(
    settings: Settings, analysis_ids: list[int] | None, trace_id: str, ticker: str | None = None
) -> Published:
    """`publish_stage` for the given analyses (None: every analysis without a report)."""
    configure_logging(settings)
    return publish_stage(settings, analysis_ids, trace_id=trace_id, ticker=ticker)


@ray.remote(max_retries=2)
def track_task(settings: Settings, pairs: list[tuple[str, str | None]], trace_id: str) -> Tracked:
    """`track_stage` on a worker: the swept tickers' new bars (once per trading day), then
    every report whose outcome became known, and the stored track records."""
    configure_logging(settings)
    set_worker_context(node_id=node_info()["node_id"])
    return track_stage(settings, pairs, trace_id=trace_id)


@ray.remote(max_retries=2)
def prices_task(
    settings: Settings, symbols: list[str], source: str, start: str | None, end: str | None, path: str | None = None
) -> dict[str, Any]:
    """Fetch and store daily bars of `symbols` from `start` to `end` (ISO dates; None: each
    symbol's missing days) with the price source `source`; what was stored, per symbol."""
    from datetime import date

    from stockteacher.prices import build_price_source
    from stockteacher.prices.service import refresh_prices

    configure_logging(settings)
    price_source = build_price_source(source, settings, path=path)
    result = asyncio.run(refresh_prices(
        settings, price_source, symbols,
        start=date.fromisoformat(start) if start else None, end=date.fromisoformat(end) if end else None,
    ))  # fmt: skip
    return {"stored": result.stored, "current": result.current, "errors": result.errors,
            "skipped_rows": getattr(price_source, "skipped", 0)}  # fmt: skip


@ray.remote(max_retries=2, num_cpus=0.1)
def evaluate_task(settings: Settings) -> dict[str, Any]:
    """Every published report's outcomes that became known, and the stored track records."""
    from stockteacher.track.service import evaluate

    configure_logging(settings)
    return evaluate(settings).as_dict()


def track_options(settings: Settings) -> dict[str, Any]:
    """Price fetches are collector work: on a `collector` node where there are such."""
    return {"num_cpus": 0.25, "resources": role_resources(settings, COLLECTOR)}


@ray.remote(max_retries=2, num_cpus=0.1)
def notify_task(settings: Settings, trace_id: str, record_idle: bool = True) -> Notified:
    """`notify_stage`: plan the new reports' deliveries and send the due ones (see notify.outbox)."""
    configure_logging(settings)
    return notify_stage(settings, trace_id=trace_id, record_idle=record_idle)
