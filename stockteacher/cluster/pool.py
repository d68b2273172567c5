"""The analyzer pool: `ANALYZER_REPLICAS` async actors, each running up to
`ANALYZER_CONCURRENCY` analyses, resizable while work flows.

`submit()` queues a ticker; it goes to the least busy replica that is *up*. The caller waits
on `pending_refs()` (with `ray.wait`) and hands each ready ref to `done()`, which returns a
finished analysis (`pipeline.Analyzed`), or None for the pool's own business: a new replica
answered its first ping (it gets work from now on), or a replica died — then it is replaced
and its work is resubmitted elsewhere, so a dying replica (or node) loses nothing. Analyses
are keyed by their story set in the database, so a resubmitted analysis is stored exactly once.

Work goes to replicas that have answered first. A replica made to replace a dead one gets
none before it answers: after a node dies, Ray may still place it on that node for a moment,
and a job must not spend its attempts there. Replicas of the initial size or a resize may take
work while they start, when no answered replica has room. A job gives up (`replica_died`) only
after `max_attempts` deaths of replicas that were running it; replicas that keep dying before
they come up (`max_start_failures` in a row) fail the queue with the reason.

Shrinking retires replicas: they take no new work, finish what they run, then are killed.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import ray
from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError

from stockteacher.cluster import metrics
from stockteacher.cluster.actors import AnalyzerWorker, ensure_limiter
from stockteacher.cluster.placement import ANALYZER, role_resources
from stockteacher.logs import get_logger
from stockteacher.pipeline import Analyzed
from stockteacher.settings import Settings

__all__ = ["AnalyzerPool", "Job"]

log = get_logger(__name__)
DEAD = (RayActorError, ActorDiedError, ActorUnavailableError)


@dataclass
class _Replica:
    index: int
    handle: Any
    ready_ref: Any = None  # its first ping, until it answers
    ready: bool = False
    trusted: bool = True  # may take work before it answers (not a replacement)
    running: int = 0
    retiring: bool = False


@dataclass
class Job:
    ticker: str
    trace_id: str
    publish: bool = False
    attempts: int = 0
    replica: _Replica | None = field(default=None, repr=False)


class AnalyzerPool:
    def __init__(
        self,
        settings: Settings,
        size: int | None = None,
        *,
        max_attempts: int = 3,
        max_start_failures: int = 5,
        background: bool = False,
    ) -> None:
        """Set the cluster's rate limits (`ensure_limiter`) and start `size` replicas. With
        `background`, that happens in a thread and the constructor returns at once: work
        submitted meanwhile waits in the queue (a sweep's collectors start while the limiter
        and the replicas come up, instead of after; a failure to start fails the queued work
        with its reason)."""
        self.settings = settings
        self.concurrency = settings.analyzer_concurrency
        self.max_attempts = max_attempts
        self.max_start_failures = max_start_failures
        self._start_failures = 0
        self._ids = itertools.count()
        self._replicas: list[_Replica] = []
        self._jobs: dict[Any, Job] = {}  # ObjectRef → job
        self._waiting: deque[Job] = deque()
        self._lock = threading.RLock()
        self._started = threading.Event()
        self._start_error: str | None = None
        size = size or settings.analyzer_replicas
        if background:
            threading.Thread(target=self._start, args=(size,), name="analyzer-pool-start", daemon=True).start()
        else:
            self._start(size, raise_errors=True)

    def _start(self, size: int, *, raise_errors: bool = False) -> None:
        try:
            if self.settings.uses_openai:
                ensure_limiter(self.settings)  # the pool's owner sets the cluster's limits; replicas only ask
            self.resize(size)
        except Exception as exc:
            if raise_errors:
                raise
            log.error("analyzers.start_failed", error=f"{type(exc).__name__}: {exc}")
            self._start_error = f"the analyzer pool did not start: {type(exc).__name__}: {str(exc)[:300]}"
        finally:
            self._started.set()
        with self._lock:
            self._dispatch()  # what was submitted while starting

    # -- replicas -------------------------------------------------------------------------
    def _spawn(self) -> _Replica:
        index = next(self._ids)
        handle: Any = (
            ray.remote(AnalyzerWorker)
            .options(
                max_concurrency=self.concurrency + 1,  # + 1: `ping` answers while every slot works
                num_cpus=self.settings.analyzer_num_cpus,
                resources=role_resources(self.settings, ANALYZER),
                max_restarts=0,
                name=None,
            )
            .remote(self.settings, index)
        )
        return _Replica(index, handle, ready_ref=handle.ping.remote())

    def resize(self, size: int) -> int:
        """Grow or shrink to `size` active replicas; returns the new size."""
        if size < 1:
            raise ValueError("the analyzer pool needs at least one replica")
        with self._lock:
            active = [r for r in self._replicas if not r.retiring]
            for _ in range(size - len(active)):
                self._replicas.append(self._spawn())
            for replica in sorted(active, key=lambda r: r.running)[: max(0, len(active) - size)]:
                replica.retiring = True
            self._reap()
            log.info("analyzers.resized", size=size, retiring=sum(r.retiring for r in self._replicas))
            metrics.set_gauge("pool_size", size)
            return size

    def _reap(self) -> None:
        for replica in [r for r in self._replicas if r.retiring and r.running == 0]:
            self._replicas.remove(replica)
            ray.kill(replica.handle)

    @property
    def size(self) -> int:
        return sum(1 for r in self._replicas if not r.retiring)

    def handles(self) -> list[Any]:
        return [r.handle for r in self._replicas if not r.retiring]

    # -- work -----------------------------------------------------------------------------
    def submit(self, ticker: str, trace_id: str, *, publish: bool = False) -> None:
        """Queue an analysis; it starts as soon as a replica has room. With `publish`, the
        replica also publishes a new analysis (`Analyzed.published`)."""
        with self._lock:
            self._waiting.append(Job(ticker, trace_id, publish=publish))
            self._dispatch()

    def _refresh(self) -> None:
        """Mark replicas whose first ping has come back (without waiting)."""
        starting = {r.ready_ref: r for r in self._replicas if not r.ready}
        if not starting:
            return
        answered, _ = ray.wait(list(starting), num_returns=len(starting), timeout=0)
        for ref in answered:
            self._came_up(ref, refreshing=True)

    def _dispatch(self) -> None:
        if not self._started.is_set():
            return  # queued until the limiter and the replicas are there (`_start` dispatches then)
        if self._start_error is not None:
            self._fail_waiting(self._start_error)
            return
        if self._waiting:
            self._refresh()
        while self._waiting:
            free = [r for r in self._replicas if not r.retiring and r.running < self.concurrency]
            candidates = [r for r in free if r.ready] or [r for r in free if r.trusted]
            if not candidates:
                break
            replica = min(candidates, key=lambda r: (r.running, r.index))
            job = self._waiting.popleft()
            job.attempts += 1
            job.replica = replica
            replica.running += 1
            self._jobs[replica.handle.analyze.remote(job.ticker, job.trace_id, job.publish)] = job
        metrics.set_gauge("queue_depth", len(self._waiting))
        metrics.set_gauge("in_flight", len(self._jobs))

    def pending_refs(self) -> list[Any]:
        """What the caller waits on: running analyses, and first pings of replicas coming up
        (only while there is work for them)."""
        with self._lock:
            starting = [r.ready_ref for r in self._replicas if not r.ready] if self._waiting else []
            return [*self._jobs, *starting]

    @property
    def busy(self) -> bool:
        return bool(self._jobs or self._waiting)

    def done(self, ref: Any) -> Analyzed | None:
        """Collect a finished analysis. None when `ref` was a replica coming up, or when its
        replica died and the work was resubmitted."""
        with self._lock:
            if ref not in self._jobs:
                self._came_up(ref)
                return None
            job = self._jobs.pop(ref)
            replica = job.replica
            if replica is None:  # failed without a replica (see `_fail_waiting`)
                return ray.get(ref)  # type: ignore[no-any-return]
            replica.running -= 1
            try:
                result: Analyzed = ray.get(ref)
            except DEAD as exc:
                self._replace(replica, exc)
                if job.attempts >= self.max_attempts:
                    self._dispatch()
                    return Analyzed.failed(job.ticker, "replica_died", f"analyzer replicas died {job.attempts} times")
                log.warning("analyzers.resubmit", ticker=job.ticker, attempt=job.attempts, replica=replica.index)
                self._waiting.appendleft(job)
                self._dispatch()
                return None
            self._reap()
            self._dispatch()
            return result

    def _came_up(self, ref: Any, *, refreshing: bool = False) -> None:
        replica = next((r for r in self._replicas if r.ready_ref == ref), None)
        if replica is None:  # replaced or retired meanwhile
            return None
        try:
            ray.get(ref)
        except DEAD as exc:
            self._start_failures += 1
            log.warning("analyzers.start_failed", replica=replica.index, error=type(exc).__name__)
            self._replace(replica, exc)
            if self._start_failures >= self.max_start_failures:
                self._fail_waiting(f"analyzer replicas keep dying before they start: {str(exc).splitlines()[0]}")
            return None
        replica.ready, replica.ready_ref = True, None
        self._start_failures = 0
        if not refreshing:
            self._dispatch()
        return None

    def _fail_waiting(self, reason: str) -> None:
        """Every queued job fails now; each outcome is a ready ref the caller collects as usual."""
        for job in self._waiting:
            job.replica = None
            self._jobs[ray.put(Analyzed.failed(job.ticker, "replica_died", reason))] = job
        self._waiting.clear()

    def _replace(self, replica: _Replica, exc: BaseException) -> None:
        if replica in self._replicas:
            self._replicas.remove(replica)
            log.warning("analyzers.replica_died", replica=replica.index, error=type(exc).__name__)
            if not replica.retiring:
                replacement = self._spawn()
                replacement.trusted = False
                self._replicas.append(replacement)

    def status(self, *, placement: bool = False) -> dict[str, Any]:
        """Size and work; with `placement`, where each replica runs (`pending` while Ray has no
        node for it, e.g. waiting for the autoscaler to start an analyzer node)."""
        with self._lock:
            status: dict[str, Any] = {
                "size": self.size,
                "retiring": sum(r.retiring for r in self._replicas),
                "in_flight": len(self._jobs),
                "queued": len(self._waiting),
                "concurrency_per_replica": self.concurrency,
                "resources": role_resources(self.settings, ANALYZER),
            }
            replicas = list(self._replicas)
        if placement:
            status["replicas"] = self._placement(replicas)
        return status

    @staticmethod
    def _placement(replicas: list[_Replica], timeout: float = 2.0) -> list[dict[str, Any]]:
        pings = {r.index: r.handle.ping.remote() for r in replicas}
        ready, _ = ray.wait(list(pings.values()), num_returns=len(pings), timeout=timeout)
        answered = set(ready)
        out = []
        for replica in replicas:
            ref = pings[replica.index]
            entry: dict[str, Any] = {"replica": replica.index, "retiring": replica.retiring, "running": replica.running}
            if ref in answered:
                try:
                    info = ray.get(ref)
                    entry.update(state="running", node_id=info["node_id"], node_ip=info["node_ip"])
                except DEAD:
                    entry.update(state="dead")
            else:
                entry.update(state="pending")
            out.append(entry)
        return out

    def shutdown(self) -> None:
        self._started.wait(timeout=120)  # a pool still starting in the background: its replicas too
        with self._lock:
            for replica in self._replicas:
                ray.kill(replica.handle)
            self._replicas.clear()
