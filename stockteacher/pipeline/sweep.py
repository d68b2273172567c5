"""The pipeline's one definition: collect → analyze → publish → notify, as a `Sweep`.

A `Sweep` knows the order and nothing about how stages run. The runner (this module's
`run_pipeline`, in this process; `cluster.sweep.run_sweep`, on Ray) starts the stages it is
told to and hands each result back:

- every (ticker, source) pair is collected; when the last of a ticker's collectors has
  ended (failed or not), the ticker is analysed — even when this sweep saved nothing: stories
  left over from an earlier prompt budget, or an earlier failed analysis, are picked up;
- a new analysis (`saved`) is published; a cached one has its report already;
- when everything else has ended, the notifier runs once, in the same sweep, so that urgent
  reports reach immediate subscribers now and not at the scheduler's next tick.

A sweep may run a part of this: `stages=("collect",)` only collects, `("analyze", "publish")`
analyses the given tickers without collecting. One `trace_id` joins every stage's
`job_runs` rows and log events; a failure is recorded for its ticker (`SweepResult.errors`)
and the other tickers go on.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from stockteacher.logs import get_logger, new_trace_id, pipeline_context
from stockteacher.pipeline.results import (
    Analyzed,
    Collected,
    Notified,
    Planned,
    Published,
    StageError,
    SweepResult,
    Tracked,
)
from stockteacher.pipeline.stages import STAGES, analyze_stage, collect_stage, notify_stage, publish_stage, track_stage
from stockteacher.settings import Settings

__all__ = ["Progress", "Sweep", "run_pipeline"]

log = get_logger(__name__)
# `on_progress(stage, event)`: ("sweep", Planned) first, then each stage's result as it ends —
# failures (`StageError`) included, so that a display reaches N/N (see `pipeline.progress`).
Progress = Callable[[str, Planned | Collected | Analyzed | Published | Notified | StageError], None]


class Sweep:
    """The order of one sweep over `pairs` of (ticker, source); see the module docstring.

    Without the collect stage, the sources are not used: pass `(ticker, None)`."""

    def __init__(
        self,
        pairs: Iterable[tuple[str, str | None]],
        *,
        stages: Iterable[str] = STAGES,
        trace_id: str | None = None,
        on_progress: Progress | None = None,
    ) -> None:
        wanted = set(stages)
        if not wanted or wanted - set(STAGES):
            raise ValueError(f"stages must be some of {', '.join(STAGES)}; got {sorted(wanted)}")
        self.stages = tuple(s for s in STAGES if s in wanted)
        self.pairs = list(dict.fromkeys(pairs))
        if self.collects and any(source is None for _, source in self.pairs):
            raise ValueError("a sweep that collects needs a source for every ticker")
        self.result = SweepResult(trace_id or new_trace_id())
        self._collecting = Counter(ticker for ticker, _ in self.pairs)
        self._progress = on_progress or (lambda _stage, _result: None)
        self._started = time.perf_counter()

    @property
    def trace_id(self) -> str:
        return self.result.trace_id

    @property
    def collects(self) -> bool:
        return "collect" in self.stages

    @property
    def notifies(self) -> bool:
        return "notify" in self.stages

    def start(self) -> list[str]:
        """Log the start; the tickers to analyse at once (every ticker, when not collecting)."""
        self._started = time.perf_counter()
        log.info("sweep.start", pairs=len(self.pairs), stages=list(self.stages))
        self._progress("sweep", Planned(self.trace_id, self.stages, tuple(self.pairs)))
        return [] if self.collects or "analyze" not in self.stages else list(self._collecting)

    def collected(self, ticker: str, source: str, outcome: Collected | StageError) -> list[str]:
        """Record one collector's end; `[ticker]` when it was the ticker's last and the sweep
        analyses."""
        if isinstance(outcome, StageError):
            self.result.errors.append(outcome)
        else:
            self.result.collected[f"{ticker}:{source}"] = outcome
        self._progress("collect", outcome)
        self._collecting[ticker] -= 1
        return [ticker] if self._collecting[ticker] == 0 and "analyze" in self.stages else []

    def analyzed(self, outcome: Analyzed) -> list[int]:
        """Record one analysis; the analysis ids to publish (a new analysis, if the sweep publishes)."""
        self.result.analyzed[outcome.ticker] = outcome
        self._progress("analyze", outcome)
        if outcome.status == "failed":
            self.result.errors.append(
                StageError("analyze", outcome.ticker, outcome.error_code or "error", outcome.error or "")
            )
        elif outcome.status == "saved" and outcome.analysis_id is not None and "publish" in self.stages:
            return [outcome.analysis_id]
        return []

    def published(self, outcome: Published | StageError) -> None:
        if isinstance(outcome, StageError):
            self.result.errors.append(outcome)
        else:
            self.result.published.append(outcome)
        self._progress("publish", outcome)

    @property
    def tracks(self) -> bool:
        """Whether the sweep fetches prices and evaluates reports: when it publishes."""
        return "publish" in self.stages

    def tracked(self, outcome: Tracked | StageError) -> None:
        """Record the track step; its failure is reported in the summary's `track`, and logged,
        but does not make the news sweep partial."""
        if isinstance(outcome, StageError):
            self.result.track_error = outcome
            log.warning("sweep.track_failed", error_code=outcome.error_code, error=outcome.error)
        else:
            self.result.tracked = outcome
            if outcome.price_errors:
                log.warning("sweep.price_errors", symbols=sorted(outcome.price_errors))

    def notified(self, outcome: Notified | StageError) -> None:
        if isinstance(outcome, StageError):
            self.result.errors.append(outcome)
        else:
            self.result.notified = outcome
        self._progress("notify", outcome)

    def finish(self) -> SweepResult:
        """Log the end; the result, with its duration."""
        self.result.duration_seconds = time.perf_counter() - self._started
        summary = self.result.summary()
        log.info(
            "sweep.done",
            **{k: v for k, v in summary.items() if k not in ("insight_ids", "errors")},
            errors=len(self.result.errors),
        )
        return self.result


def run_pipeline(
    settings: Settings,
    pairs: Iterable[tuple[str, str | None]],
    *,
    stages: Iterable[str] = STAGES,
    trace_id: str | None = None,
    path: str | Path | None = None,
    reanalyze: bool = False,
    on_progress: Progress | None = None,
) -> SweepResult:
    """Run one sweep in this process, one stage at a time (no Ray); see the module docstring.
    `path` is the file for the `file` source; `reanalyze` analyses the latest set again."""
    sweep = Sweep(pairs, stages=stages, trace_id=trace_id, on_progress=on_progress)
    with pipeline_context(trace_id=sweep.trace_id, stage="sweep"):
        ready = sweep.start()
        for ticker in ready:
            _analyze_and_publish(settings, sweep, ticker, reanalyze=reanalyze)
        for ticker, source in sweep.pairs if sweep.collects else ():
            assert source is not None  # checked by the Sweep
            collected: Collected | StageError
            try:
                collected = collect_stage(settings, ticker, source, trace_id=sweep.trace_id, path=path)
            except Exception as exc:  # recorded for this ticker (and in job_runs); the others go on
                collected = StageError.of("collect", exc, ticker=ticker, source=source)
            for ready_ticker in sweep.collected(ticker, source, collected):
                _analyze_and_publish(settings, sweep, ready_ticker, reanalyze=reanalyze)
        if sweep.tracks and settings.price_source != "off":
            try:
                sweep.tracked(track_stage(settings, sweep.pairs, trace_id=sweep.trace_id))
            except Exception as exc:  # reported in the summary; the news sweep stands
                sweep.tracked(StageError.of("track", exc))
        if sweep.notifies:
            try:
                sweep.notified(notify_stage(settings, trace_id=sweep.trace_id))
            except Exception as exc:  # recorded, like any stage's failure
                sweep.notified(StageError.of("notify", exc))
        return sweep.finish()


def _analyze_and_publish(settings: Settings, sweep: Sweep, ticker: str, *, reanalyze: bool) -> None:
    try:
        analyzed = analyze_stage(settings, ticker, trace_id=sweep.trace_id, reanalyze=reanalyze)
    except Exception as exc:  # an unexpected error: in job_runs already, and for this ticker only
        error = StageError.of("analyze", exc, ticker=ticker)
        analyzed = Analyzed.failed(ticker, error.error_code, error.error)
    analysis_ids = sweep.analyzed(analyzed)
    if not analysis_ids:
        return
    published: Published | StageError
    try:
        published = publish_stage(settings, analysis_ids, trace_id=sweep.trace_id, ticker=ticker)
    except Exception as exc:  # recorded for this ticker (and in job_runs)
        published = StageError.of("publish", exc, ticker=ticker)
    sweep.published(published)
