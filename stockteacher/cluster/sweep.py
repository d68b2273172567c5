"""The pipeline's `Sweep` (see `stockteacher.pipeline.sweep`) run on Ray, with one `trace_id`.

The order of the stages is the `Sweep`'s; this module only runs them in parallel: one
collector task per (ticker, source), at most `SCHEDULER_MAX_IN_FLIGHT` at once (`ray.wait`
provides the backpressure), the analyses on the analyzer pool, whose replica publishes each
new analysis in the same call (no task or worker process per report), and the notifier as a
task at the end. A stage that fails fails its ticker only.

Progress comes from the same loop: each result `ray.wait` hands back is recorded by the
`Sweep`, which passes it to `on_progress` (`run_on_ray` shows it, one line per stage).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import ray
from ray.exceptions import RayError

from stockteacher.cluster import metrics
from stockteacher.cluster.actors import collect_options, collect_task, notify_task, track_options, track_task
from stockteacher.cluster.pool import AnalyzerPool
from stockteacher.cluster.runtime import worker_logs_note
from stockteacher.logs import pipeline_context
from stockteacher.pipeline import STAGES, Collected, Progress, StageError, Sweep, SweepResult, sweep_progress
from stockteacher.settings import Settings

__all__ = ["SweepResult", "run_on_ray", "run_sweep"]


def run_sweep(
    settings: Settings,
    pairs: Iterable[tuple[str, str | None]],
    pool: AnalyzerPool | None,
    *,
    stages: Iterable[str] = STAGES,
    trace_id: str | None = None,
    on_collected: Callable[[str, str, bool, str | None], None] | None = None,
    on_progress: Progress | None = None,
    path: str | None = None,
) -> SweepResult:
    """Run one sweep over `pairs` on Ray; see the module docstring. `pool` runs the analyses
    (None for a sweep without the analyze stage). `on_collected(ticker, source, ok, error)`
    lets the scheduler record each pair's slot as it finishes."""
    sweep = Sweep(pairs, stages=stages, trace_id=trace_id, on_progress=on_progress)
    if pool is None and "analyze" in sweep.stages:
        raise ValueError("a sweep that analyses needs an analyzer pool")
    todo = [(t, s) for t, s in sweep.pairs if s is not None] if sweep.collects else []  # the Sweep checks sources
    collecting: dict[Any, tuple[str, str]] = {}
    options = collect_options(settings)

    def analyse(tickers: list[str]) -> None:
        for ticker in tickers:
            if pool is not None:  # there is one whenever the sweep analyses
                pool.submit(ticker, sweep.trace_id, publish="publish" in sweep.stages)

    with pipeline_context(trace_id=sweep.trace_id, stage="sweep"):
        analyse(sweep.start())
        while todo or collecting or (pool is not None and pool.busy):
            while todo and len(collecting) < settings.scheduler_max_in_flight:
                ticker, source = todo.pop(0)
                ref = collect_task.options(**options).remote(settings, ticker, source, sweep.trace_id, path)
                collecting[ref] = (ticker, source)
            waiting = [*collecting, *(pool.pending_refs() if pool is not None else [])]
            if not waiting:  # only queued analyses, no replica free yet
                time.sleep(0.05)
                continue
            ready, _ = ray.wait(waiting, num_returns=1, timeout=30)
            for ref in ready:
                if ref in collecting:
                    ticker, source = collecting.pop(ref)
                    analyse(sweep.collected(ticker, source, _collected(ref, ticker, source, on_collected)))
                elif pool is not None:
                    outcome = pool.done(ref)
                    if outcome is None:  # the pool's own business, or resubmitted after a replica died
                        continue
                    # A new analysis comes back published (or with its publish failure) when
                    # the sweep publishes: the replica ran the publish stage too.
                    if sweep.analyzed(outcome) and outcome.published is not None:
                        sweep.published(outcome.published)
        if sweep.tracks and settings.price_source != "off":
            sweep.tracked(_get(track_task.options(**track_options(settings)).remote(
                settings, list(sweep.pairs), sweep.trace_id), "track"))  # fmt: skip
        if sweep.notifies:
            sweep.notified(_get(notify_task.remote(settings, sweep.trace_id), "notify"))
        result = sweep.finish()
        metrics.observe("sweep_duration", result.duration_seconds)
    return result


def _get(ref: Any, stage: str, *, ticker: str | None = None, source: str | None = None) -> Any:
    """The task's result, or its failure as a `StageError` for the sweep to record."""
    try:
        return ray.get(ref)
    except RayError as exc:
        return StageError.of(stage, exc, ticker=ticker, source=source)


def _collected(
    ref: Any, ticker: str, source: str, on_collected: Callable[[str, str, bool, str | None], None] | None
) -> Collected | StageError:
    outcome: Collected | StageError = _get(ref, "collect", ticker=ticker, source=source)
    if on_collected:
        error = f"{outcome.error_code}: {outcome.error}" if isinstance(outcome, StageError) else None
        on_collected(ticker, source, error is None, error)
    return outcome


def run_on_ray(
    settings: Settings,
    pairs: Iterable[tuple[str, str | None]],
    *,
    stages: Iterable[str] = STAGES,
    path: str | None = None,
    progress: bool = True,
    trace_id: str | None = None,
) -> SweepResult:
    """One sweep with an analyzer pool of its own, shut down at the end (the jobs, `run-once`,
    `backfill`, the demo); the scheduler keeps its pool and calls `run_sweep`. With `progress`,
    one line per stage on stderr (in place on a terminal), after a line saying where the
    workers' logs go."""
    stages = tuple(stages)
    with sweep_progress(enabled=progress, header=worker_logs_note() if progress else None) as on_progress:
        # Started in the background: the first collectors run while the limiter and the
        # replicas come up (start-up, issue #13).
        pool = AnalyzerPool(settings, background=True) if "analyze" in stages else None
        try:
            return run_sweep(
                settings, pairs, pool, stages=stages, trace_id=trace_id, path=path, on_progress=on_progress
            )
        finally:
            if pool is not None:
                pool.shutdown()
