"""The analyzer pool: a replica dying mid-call loses nothing; resizing while work flows loses
nothing; four replicas together stay under the provider's rate limit."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import ray
from sqlalchemy import select

from stockteacher.cluster.pool import AnalyzerPool
from stockteacher.ingest.collect import collect_core
from stockteacher.pipeline import Analyzed
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope
from stockteacher.store.models import Analysis
from tests.factories.cluster import citing_responder
from tests.servers.openai_server import FakeOpenAI

SAMPLE = ["AAPL", "TSLA", "NVDA", "MSFT", "005930.KS", "000660.KS"]


def drain(pool: AnalyzerPool, timeout: float = 120) -> list[Analyzed]:
    outcomes: list[Analyzed] = []
    deadline = time.monotonic() + timeout
    while pool.busy:
        assert time.monotonic() < deadline, "the pool did not finish in time"
        ready, _ = ray.wait(pool.pending_refs(), num_returns=1, timeout=5)
        for ref in ready:
            outcome = pool.done(ref)
            if outcome is not None:
                outcomes.append(outcome)
    return outcomes


def analyses(dsn: str) -> list[str]:
    with session_scope(dsn) as session:
        return list(session.scalars(select(Analysis.ticker)))


def llm_settings(make_settings: Callable[..., Settings], dsn: str, server: FakeOpenAI, **extra: Any) -> Settings:
    return make_settings(
        postgres_dsn=dsn,
        openai_api_key="test-key",
        openai_base_url=server.base_url,
        analysis_retry_backoff_seconds=0.01,
        **extra,
    ).for_workers()


def test_replica_killed_mid_call_work_completes_elsewhere_once(
    ray_cluster: None, sqlite_dsn: str, llm_server: FakeOpenAI, make_settings: Callable[..., Settings]
) -> None:
    llm_server.responder = citing_responder
    llm_server.default_delay = 3.0  # a slow model: the kill lands while the call is open
    settings = llm_settings(make_settings, sqlite_dsn, llm_server, analyzer_concurrency=1)
    collect_core("AAPL", "sample", settings=settings)
    pool = AnalyzerPool(settings, 2)
    try:
        pool.submit("AAPL", "trace-kill")
        llm_server.wait_for_calls(1, timeout=60)
        victim = next(job.replica for job in pool._jobs.values())
        ray.kill(victim.handle, no_restart=True)
        outcomes = drain(pool)
        assert pool.size == 2  # the dead replica was replaced
    finally:
        pool.shutdown()
    assert [o.status for o in outcomes] == ["saved"]
    assert outcomes[0].replica != victim.index
    assert analyses(sqlite_dsn) == ["AAPL"]  # exactly one analysis stored
    assert llm_server.calls == 2


def test_resizing_up_and_down_while_work_flows_loses_nothing(
    ray_cluster: None, sqlite_dsn: str, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(postgres_dsn=sqlite_dsn, analyzer_concurrency=1).for_workers()  # offline analyzer
    for ticker in SAMPLE:
        collect_core(ticker, "sample", settings=settings)
    pool = AnalyzerPool(settings, 1)
    try:
        for ticker in SAMPLE:
            pool.submit(ticker, "trace-resize")
        assert pool.resize(3) == 3
        first = pool.done(ray.wait(pool.pending_refs(), num_returns=1)[0][0])
        assert pool.resize(1) == 1  # shrink while work is still running
        outcomes = [first, *drain(pool)]
        assert pool.size == 1 and pool.status()["retiring"] == 0
    finally:
        pool.shutdown()
    assert sorted(o.ticker for o in outcomes if o) == sorted(SAMPLE)
    assert {o.status for o in outcomes if o} == {"saved"}
    assert sorted(analyses(sqlite_dsn)) == sorted(SAMPLE)


def write_many_tickers(path: Path, n: int) -> list[str]:
    tickers = [f"ZQ{chr(65 + i)}" for i in range(n)]  # unknown tickers, matched by symbol
    rows = [
        {
            "ticker": t,
            "title": f"{t} shares move on news {j}",
            "url": f"https://w.example/{t}/{j}",
            "description": f"{t} story {j} " + "x" * j,
        }
        for t in tickers
        for j in range(2)
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return tickers


def test_four_replicas_share_one_rate_limit(
    ray_cluster: None, sqlite_dsn: str, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    tickers = write_many_tickers(tmp_path / "news.jsonl", 10)
    with FakeOpenAI(api_key="test-key", requests_per_second_limit=1) as server:  # the provider: 60 RPM
        server.responder = citing_responder
        settings = llm_settings(
            make_settings,
            sqlite_dsn,
            server,
            analysis_rpm_limit=60,
            analysis_rate_jitter_seconds=0.1,
            analyzer_concurrency=3,
        )
        for ticker in tickers:
            collect_core(ticker, "file", settings=settings, path=tmp_path / "news.jsonl")
        pool = AnalyzerPool(settings, 4)
        try:
            for ticker in tickers:
                pool.submit(ticker, "trace-rate")
            outcomes = drain(pool, timeout=180)
        finally:
            pool.shutdown()
        times = [r.at for r in server.chat_requests]
        count_429 = server.count_429
    assert {o.status for o in outcomes} == {"saved"} and len(outcomes) == 10
    assert count_429 == 0
    # From the server's own log: never two requests within one second, so never more than
    # 60 in a minute however the four replicas interleave.
    assert min(b - a for a, b in pairwise(sorted(times))) >= 0.95
    assert len(times) == 10
