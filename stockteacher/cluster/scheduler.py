"""The scheduler: one named, detached Ray actor that runs due sweeps.

`stockteacher-scheduler` in namespace `stockteacher`, created with `get_if_exists=True` (so
starting it twice never makes two) and unlimited restarts. Its memory is the database
(`schedule_state`, see `store/schedule.py`): a restarted scheduler — on another node, after its
node died — resumes the slots its predecessor claimed but did not finish, and never runs a
finished slot again. It owns the analyzer pool; sweeps run in a worker thread so that
`status()` answers during a sweep.

Its settings are the ones it was created with, which are also what Ray restarts it with. So
`scheduler start` with other settings (a changed `.env`) does not patch a running actor: it
waits for the current sweep to end (`drain`), replaces the actor by one created with the new
settings, and says which variables changed; the new pool sets the rate limiter's limits.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime
from typing import Any

import ray

from stockteacher.cluster.actors import notify_task
from stockteacher.cluster.placement import node_info, scheduler_resources
from stockteacher.cluster.pool import AnalyzerPool
from stockteacher.cluster.runtime import NAMESPACE
from stockteacher.cluster.sweep import run_sweep
from stockteacher.logs import configure_logging, get_logger, new_trace_id
from stockteacher.pipeline import SweepResult
from stockteacher.settings import Settings
from stockteacher.store import schedule
from stockteacher.store.db import session_scope
from stockteacher.store.models import AppMeta

__all__ = ["SCHEDULER_NAME", "Scheduler", "scheduler_handle"]

log = get_logger(__name__)
SCHEDULER_NAME = "stockteacher-scheduler"
_ENABLED_KEY = "scheduler_enabled"


def _set_enabled(settings: Settings, enabled: bool) -> None:
    with session_scope(settings.dsn) as session:
        row = session.get(AppMeta, _ENABLED_KEY)
        if row is None:
            session.add(AppMeta(key=_ENABLED_KEY, value="1" if enabled else "0"))
        else:
            row.value = "1" if enabled else "0"


def _is_enabled(settings: Settings) -> bool:
    with session_scope(settings.dsn) as session:
        row = session.get(AppMeta, _ENABLED_KEY)
        return row is not None and row.value == "1"


class Scheduler:
    async def __init__(self, settings: Settings) -> None:
        configure_logging(settings)
        self.settings = settings
        self.pool = await asyncio.to_thread(AnalyzerPool, settings)
        self.lock = threading.Lock()
        self.in_flight: set[tuple[str, str]] = set()
        self.last_errors: list[dict[str, Any]] = []
        self.last_sweep: dict[str, Any] | None = None
        self.sweeps = 0
        self.loop_task: asyncio.Task[None] | None = None
        self.started_at = time.time()
        self.node = node_info()
        self.sweeping = 0  # sweeps running in worker threads (`drain` waits for them)
        self.first_tick = True  # a fresh scheduler resumes its predecessor's unfinished slots
        if await asyncio.to_thread(_is_enabled, settings):
            log.info("scheduler.resuming")
            self.loop_task = asyncio.get_running_loop().create_task(self._loop())

    async def start(self) -> dict[str, Any]:
        await asyncio.to_thread(_set_enabled, self.settings, True)
        if self.loop_task is None or self.loop_task.done():
            self.loop_task = asyncio.get_running_loop().create_task(self._loop())
        log.info("scheduler.started")
        return await self.status()

    async def stop(self) -> dict[str, Any]:
        await asyncio.to_thread(_set_enabled, self.settings, False)
        if self.loop_task is not None:
            self.loop_task.cancel()
            self.loop_task = None
        log.info("scheduler.stopped")
        return await self.status()

    async def changed_settings(self, settings: Settings) -> list[str]:
        """The variables `settings` would change in this scheduler (empty: the same)."""
        return settings.changed_from(self.settings)

    async def drain(self, timeout: float) -> bool:
        """Stop ticking (the enabled flag stays as it is) and wait up to `timeout` seconds for
        running sweeps to end. True when none runs any more."""
        if self.loop_task is not None:
            self.loop_task.cancel()
            self.loop_task = None
        deadline = time.monotonic() + timeout
        while self.sweeping and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        return self.sweeping == 0

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the loop must outlive one bad tick; the error is kept and logged
                log.exception("scheduler.tick_failed")
                self._remember_error({"stage": "schedule", "error": f"{type(exc).__name__}: {exc}"})
            await asyncio.sleep(self.settings.scheduler_tick_seconds)

    async def tick(self) -> dict[str, Any] | None:
        """Run the sweep for every due pair (if any), waiting for it to finish."""
        resume, self.first_tick = self.first_tick, False
        with self.lock:
            busy = frozenset(self.in_flight)
        due = await asyncio.to_thread(schedule.due_pairs, self.settings, resume=resume, busy=busy)
        if not due:
            # No sweep this tick: still send what became due (digests at the open/close, retries).
            await asyncio.to_thread(self._notify_only)
            return None
        return await asyncio.to_thread(self._sweep_due, due)

    def _notify_only(self) -> None:
        try:
            ray.get(notify_task.remote(self.settings, new_trace_id(), False))  # no job_runs row when idle
        except ray.exceptions.RayError as exc:
            self._remember_error({"stage": "notify", "error": str(exc).splitlines()[0][:300]})

    def _sweep_due(self, due: list[schedule.DuePair]) -> dict[str, Any] | None:
        trace_id = new_trace_id()
        claimed = [p for p in due if schedule.claim_slot(self.settings, p, trace_id=trace_id)]
        if not claimed:
            return None
        pairs = [(p.ticker, p.source) for p in claimed]
        with self.lock:
            self.in_flight.update(pairs)
            self.sweeping += 1

        def finished(ticker: str, source: str, ok: bool, error: str | None) -> None:
            schedule.finish_slot(self.settings, ticker, source, ok=ok, error=error)
            with self.lock:
                self.in_flight.discard((ticker, source))

        try:
            result = run_sweep(self.settings, pairs, self.pool, trace_id=trace_id, on_collected=finished)
        finally:
            with self.lock:
                self.in_flight.difference_update(pairs)
                self.sweeping -= 1
        return self._record(result)

    def _record(self, result: SweepResult) -> dict[str, Any]:
        summary = result.summary()
        self.sweeps += 1
        self.last_sweep = {**summary, "finished_at": datetime.now(UTC).isoformat()}
        for error in result.errors:
            self._remember_error({**error.as_dict(), "trace_id": result.trace_id})
        return summary

    def _remember_error(self, error: dict[str, Any]) -> None:
        self.last_errors = ([{**error, "at": datetime.now(UTC).isoformat()}] + self.last_errors)[:20]

    async def run_now(self, tickers: list[str] | None = None, source: str | None = None) -> dict[str, Any]:
        """Sweep now: the given tickers (with `source`, default each one's scheduled sources or
        `sample`), or every scheduled pair — due or not. Not recorded as a schedule slot."""
        if tickers:
            wanted = schedule.scheduled_pairs(self.settings)
            pairs = [
                (t, s)
                for t in tickers
                for s in (
                    [source] if source else [s for (tt, s) in wanted if tt == t] or [self.settings.subscription_source]
                )
            ]
        else:
            pairs = list(await asyncio.to_thread(schedule.scheduled_pairs, self.settings))
        with self.lock:
            self.sweeping += 1
        try:
            result = await asyncio.to_thread(run_sweep, self.settings, pairs, self.pool)
        finally:
            with self.lock:
                self.sweeping -= 1
        return self._record(result)

    async def resize_analyzers(self, size: int) -> dict[str, Any]:
        await asyncio.to_thread(self.pool.resize, size)
        return await asyncio.to_thread(self.pool.status, placement=True)

    async def status(self) -> dict[str, Any]:
        due = await asyncio.to_thread(schedule.due_pairs, self.settings)
        wanted = await asyncio.to_thread(schedule.scheduled_pairs, self.settings)
        now = datetime.now(UTC)
        next_due = {
            f"{t}:{s}": (schedule.slot_for(now, interval).timestamp() + interval * 60)
            for (t, s), interval in wanted.items()
        }
        with self.lock:
            in_flight = sorted(f"{t}:{s}" for t, s in self.in_flight)
        return {
            "running": self.loop_task is not None and not self.loop_task.done(),
            "schedules": len(wanted),
            "due_now": [f"{p.ticker}:{p.source}" for p in due],
            "next_due": {k: datetime.fromtimestamp(v, UTC).isoformat() for k, v in sorted(next_due.items())},
            "in_flight": in_flight,
            "node": self.node,
            "analyzers": await asyncio.to_thread(self.pool.status, placement=True),
            "limiter": await self._limiter_stats(),
            "sweeps": self.sweeps,
            "last_sweep": self.last_sweep,
            "last_errors": self.last_errors[:5],
        }

    async def _limiter_stats(self) -> dict[str, Any] | None:
        if not self.settings.uses_openai:
            return None
        from stockteacher.cluster.actors import limiter_handle

        handle = await asyncio.to_thread(limiter_handle, self.settings)
        return await handle.stats.remote()  # type: ignore[no-any-return]

    async def ping(self) -> float:
        return self.started_at


def scheduler_handle(settings: Settings, *, create: bool = True) -> Any:
    """The cluster's scheduler actor; created (not started) if missing and `create`."""
    if not create:
        return ray.get_actor(SCHEDULER_NAME, namespace=NAMESPACE)
    return (
        ray.remote(Scheduler)
        .options(
            name=SCHEDULER_NAME,
            namespace=NAMESPACE,
            lifetime="detached",
            get_if_exists=True,
            max_restarts=-1,
            max_task_retries=-1,
            num_cpus=0,
            max_concurrency=16,
            resources=scheduler_resources(settings),
        )
        .remote(settings)
    )
