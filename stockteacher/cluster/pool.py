"""The analyzer pool: `ANALYZER_REPLICAS` async actors, each running up to
`ANALYZER_CONCURRENCY` analyses, resizable while work flows.

`submit()` hands a ticker to the least busy replica and returns an `ObjectRef`; the caller
waits on it (with `ray.wait`) and calls `done()`, which either returns the result or — when
the replica died mid-call — replaces the replica and resubmits the same work elsewhere, so a
dying replica loses nothing. Analyses are keyed by their story set in the database, so a
resubmitted analysis is stored exactly once.

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
from stockteacher.settings import Settings

__all__ = ["AnalyzerPool", "Job"]

log = get_logger(__name__)
DEAD = (RayActorError, ActorDiedError, ActorUnavailableError)


@dataclass
class _Replica:
    index: int
    handle: Any
    running: int = 0
    retiring: bool = False


@dataclass
class Job:
    ticker: str
    trace_id: str
    attempts: int = 0
    replica: _Replica | None = field(default=None, repr=False)


class AnalyzerPool:
    def __init__(self, settings: Settings, size: int | None = None, *, max_attempts: int = 3) -> None:
        self.settings = settings
        self.concurrency = settings.analyzer_concurrency
        self.max_attempts = max_attempts
        self._ids = itertools.count()
        self._replicas: list[_Replica] = []
        self._jobs: dict[Any, Job] = {}  # ObjectRef → job
        self._waiting: deque[Job] = deque()
        self._lock = threading.RLock()
        if settings.uses_openai:
            ensure_limiter(settings)  # the pool's owner sets the cluster's limits; replicas only ask
        self.resize(size or settings.analyzer_replicas)

    # -- replicas -------------------------------------------------------------------------
    def _spawn(self) -> _Replica:
        index = next(self._ids)
        handle = (
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
        return _Replica(index, handle)

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
    def submit(self, ticker: str, trace_id: str) -> None:
        """Queue an analysis; it starts as soon as a replica has room."""
        with self._lock:
            self._waiting.append(Job(ticker, trace_id))
            self._dispatch()

    def _dispatch(self) -> None:
        while self._waiting:
            candidates = [r for r in self._replicas if not r.retiring and r.running < self.concurrency]
            if not candidates:
                break
            replica = min(candidates, key=lambda r: (r.running, r.index))
            job = self._waiting.popleft()
            job.attempts += 1
            job.replica = replica
            replica.running += 1
            self._jobs[replica.handle.analyze.remote(job.ticker, job.trace_id)] = job
        metrics.set_gauge("queue_depth", len(self._waiting))
        metrics.set_gauge("in_flight", len(self._jobs))

    def pending_refs(self) -> list[Any]:
        with self._lock:
            return list(self._jobs)

    @property
    def busy(self) -> bool:
        return bool(self._jobs or self._waiting)

    def done(self, ref: Any) -> dict[str, Any] | None:
        """Collect a finished analysis. None when its replica died and the work was resubmitted."""
        with self._lock:
            job = self._jobs.pop(ref)
            replica = job.replica
            assert replica is not None
            replica.running -= 1
            try:
                result: dict[str, Any] = ray.get(ref)
            except DEAD as exc:
                self._replace(replica, exc)
                if job.attempts >= self.max_attempts:
                    self._dispatch()
                    return {
                        "status": "failed",
                        "ticker": job.ticker,
                        "error_code": "replica_died",
                        "error": f"analyzer replicas died {job.attempts} times",
                    }
                log.warning("analyzers.resubmit", ticker=job.ticker, attempt=job.attempts, replica=replica.index)
                self._waiting.appendleft(job)
                self._dispatch()
                return None
            self._reap()
            self._dispatch()
            return result

    def _replace(self, replica: _Replica, exc: BaseException) -> None:
        if replica in self._replicas:
            self._replicas.remove(replica)
            log.warning("analyzers.replica_died", replica=replica.index, error=type(exc).__name__)
            if not replica.retiring:
                self._replicas.append(self._spawn())

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
        with self._lock:
            for replica in self._replicas:
                ray.kill(replica.handle)
            self._replicas.clear()
