"""One pipeline sweep on Ray: collect → analyze → publish, with one `trace_id` for the batch.

One collector task per (ticker, source), at most `SCHEDULER_MAX_IN_FLIGHT` at once
(`ray.wait` provides the backpressure). When all of a ticker's collectors are done, the
ticker goes to the analyzer pool; each saved analysis goes to the materializer. Every stage
writes `job_runs` rows carrying the sweep's `trace_id`.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import ray
from ray.exceptions import RayError

from stockteacher.cluster import metrics
from stockteacher.cluster.actors import collect_options, collect_task, notify_task, publish_task
from stockteacher.cluster.pool import AnalyzerPool
from stockteacher.logs import get_logger, new_trace_id, pipeline_context
from stockteacher.settings import Settings

__all__ = ["SweepResult", "run_sweep"]

log = get_logger(__name__)


@dataclass
class SweepResult:
    trace_id: str
    collected: dict[str, dict[str, Any]] = field(default_factory=dict)
    analyzed: dict[str, dict[str, Any]] = field(default_factory=dict)
    published: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    notified: dict[str, Any] = field(default_factory=dict)
    duration_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> dict[str, Any]:
        totals = {k: sum(c.get(k, 0) for c in self.collected.values()) for k in ("fetched", "unique", "saved")}
        return {
            "status": "ok" if self.ok else "partial" if (self.collected or self.analyzed) else "failed",
            "trace_id": self.trace_id,
            **totals,
            "analyses": sum(1 for a in self.analyzed.values() if a.get("status") in ("saved", "cached")),
            "published": len(self.published),
            "insight_ids": self.published,
            "notified": self.notified,
            "errors": self.errors,
            "duration_seconds": round(self.duration_seconds, 2),
        }


def _error_of(exc: BaseException) -> dict[str, Any]:
    cause = getattr(exc, "cause", None) or exc
    return {"error_code": getattr(cause, "code", type(cause).__name__), "error": str(cause).splitlines()[0][:300]}


def run_sweep(
    settings: Settings,
    pairs: Iterable[tuple[str, str]],
    pool: AnalyzerPool,
    *,
    trace_id: str | None = None,
    on_collected: Callable[[str, str, bool, str | None], None] | None = None,
    on_progress: Callable[[str, dict[str, Any]], None] | None = None,
    path: str | None = None,
) -> SweepResult:
    """Run one sweep over `pairs`; see the module docstring. `on_collected(ticker, source, ok,
    error)` lets the scheduler record each pair's slot as it finishes."""
    result = SweepResult(trace_id or new_trace_id())
    started = time.perf_counter()
    todo = list(dict.fromkeys(pairs))
    remaining_per_ticker: dict[str, int] = defaultdict(int)
    for ticker, _ in todo:
        remaining_per_ticker[ticker] += 1
    collecting: dict[Any, tuple[str, str]] = {}
    publishing: dict[Any, str] = {}
    options = collect_options(settings)
    progress = on_progress or (lambda _stage, _data: None)

    with pipeline_context(trace_id=result.trace_id, stage="sweep"):
        log.info("sweep.start", pairs=len(todo))
        while todo or collecting or pool.busy or publishing:
            while todo and len(collecting) < settings.scheduler_max_in_flight:
                ticker, source = todo.pop(0)
                ref = collect_task.options(**options).remote(settings, ticker, source, result.trace_id, path)
                collecting[ref] = (ticker, source)
            waiting = [*collecting, *pool.pending_refs(), *publishing]
            if not waiting:  # only queued analyses, no replica free yet
                time.sleep(0.05)
                continue
            ready, _ = ray.wait(waiting, num_returns=1, timeout=30)
            for ref in ready:
                if ref in collecting:
                    ticker, source = collecting.pop(ref)
                    _collected(result, pool, ref, ticker, source, remaining_per_ticker, on_collected, progress)
                elif ref in publishing:
                    ticker = publishing.pop(ref)
                    try:
                        result.published.extend(ray.get(ref)["insight_ids"])
                    except RayError as exc:
                        result.errors.append({"stage": "publish", "ticker": ticker, **_error_of(exc)})
                else:
                    outcome = pool.done(ref)
                    if outcome is None:  # resubmitted after a replica died
                        continue
                    ticker = outcome["ticker"]
                    result.analyzed[ticker] = outcome
                    progress("analyze", outcome)
                    if outcome.get("status") == "failed":
                        result.errors.append(
                            {
                                "stage": "analyze",
                                "ticker": ticker,
                                "error_code": outcome.get("error_code"),
                                "error": outcome.get("error"),
                            }
                        )
                    elif outcome.get("status") == "saved":
                        ref = publish_task.remote(settings, [outcome["analysis_id"]], result.trace_id, ticker)
                        publishing[ref] = ticker
        # The last stage, in the same sweep: urgent reports reach immediate subscribers now,
        # not at the scheduler's next tick.
        try:
            result.notified = ray.get(notify_task.remote(settings, result.trace_id))
            progress("notify", result.notified)
        except RayError as exc:
            result.errors.append({"stage": "notify", "ticker": None, **_error_of(exc)})
        result.duration_seconds = time.perf_counter() - started
        metrics.observe("sweep_duration", result.duration_seconds)
        log.info(
            "sweep.done",
            **{k: v for k, v in result.summary().items() if k not in ("insight_ids", "errors")},
            errors=len(result.errors),
        )
    return result


def _collected(
    result: SweepResult,
    pool: AnalyzerPool,
    ref: Any,
    ticker: str,
    source: str,
    remaining_per_ticker: dict[str, int],
    on_collected: Callable[[str, str, bool, str | None], None] | None,
    progress: Callable[[str, dict[str, Any]], None],
) -> None:
    try:
        counts = ray.get(ref)
    except RayError as exc:
        error = _error_of(exc)
        result.errors.append({"stage": "collect", "ticker": ticker, "source": source, **error})
        if on_collected:
            on_collected(ticker, source, False, f"{error['error_code']}: {error['error']}")
    else:
        result.collected[f"{ticker}:{source}"] = counts
        progress("collect", counts)
        if on_collected:
            on_collected(ticker, source, True, None)
    remaining_per_ticker[ticker] -= 1
    if remaining_per_ticker[ticker] == 0:
        # Analyse even when this sweep saved nothing: stories left over from an earlier
        # prompt budget, or an earlier failed analysis, are picked up here.
        pool.submit(ticker, result.trace_id)
