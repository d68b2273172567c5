"""Analyzer throughput under a provider's rate limit: the Ray analyzer pool behind the shared
limiter, against plain threads calling `analyze_core` with no limiter.

    python benchmarks/analyzer_throughput.py [--limit-rpm 1200] [--tickers 60] [--per-ticker 10]
                                             [--baseline-workers 2,32]

Setup: a local OpenAI-protocol server that answers after 250 ms and answers 429 whenever more
than L/60 requests arrived within the last second (providers enforce per-minute limits over
short windows, so a burst of a whole minute's quota is refused). 60 tickers × 10 stories
are collected into a fresh PostgreSQL database per run; the prompt budget admits one story, so
each analysis covers one story and every ticker needs 10 analyses, one after another (a
ticker's next analysis starts when its previous one is finished). 600 analyses in all.

- pool: `ANALYZER_REPLICAS` Ray actors × `ANALYZER_CONCURRENCY`, `ANALYSIS_RPM_LIMIT = L`;
- baseline: W threads calling `analyze_core`, no limiter, each on its own database. W = 2 is
  the original system's default worker concurrency; W = replicas × concurrency (32) is a
  baseline as concurrent as the pool, so that the speed-up is not just 32 slots against 2.

Both clocks start at the same point: workers up and warm (the pool's replicas have answered a
ping and warmed their `openai` client; the baseline's process has warmed its shared client and
database pool), first analysis handed over; both stop at the last result. The pool's start-up
(spawning replicas) is printed separately. A = analyses saved per minute of wall time. The
last line is `analyzer: achieved_rpm=<A> limit_rpm=<L> utilisation=<A/L> http_429=<n>
baseline_rpm=<B> speedup=<A/B> baseline<W>_rpm=<B_W> speedup<W>=<A/B_W> ...` (`baseline_rpm`
is the first W).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import queue
import random
import re
import string
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ray  # noqa: E402

from benchmarks._pgdb import fresh_database  # noqa: E402
from stockteacher.analysis.llm import shared_client  # noqa: E402
from stockteacher.analysis.service import analyze_core  # noqa: E402
from stockteacher.cluster.pool import AnalyzerPool  # noqa: E402
from stockteacher.ingest.collect import collect_core  # noqa: E402
from stockteacher.logs import configure_logging  # noqa: E402
from stockteacher.settings import Settings  # noqa: E402
from stockteacher.store.db import get_engine  # noqa: E402
from tests.servers.openai_server import FakeOpenAI  # noqa: E402

_STORY = re.compile(r"\[story id=(\d+)\]")


def responder(body: dict[str, Any]) -> str:
    prompt = "\n".join(m.get("content", "") for m in body.get("messages", []))
    ids = [int(i) for i in _STORY.findall(prompt)][:1] or [0]
    return json.dumps(
        {
            "headline": "h",
            "summary_text": "A summary long enough to be published.",
            "keywords": ["a", "b", "c"],
            "sentiment_score": 0.0,
            "anomalies": [],
            "glossary": [],
            "citations": [{"claim": "c", "story_ids": ids}],
        }
    )


def serve_llm(conn: Any, api_key: str, per_second: int, latency: float) -> None:
    """The fake provider in its own process, so that its clock and its GIL are its own."""
    with FakeOpenAI(api_key=api_key, requests_per_second_limit=per_second) as server:
        server.responder = responder
        server.default_delay = latency
        # Warm the fake provider itself (its first request pays for lazy imports), so that
        # its timing noise is not charged to the system under test.
        import httpx

        httpx.post(
            f"{server.base_url}/chat/completions",
            headers={"Authorization": f"Bearer {api_key}"},
            json={"model": "warm-up", "messages": [{"role": "user", "content": "[story id=0]"}]},
            timeout=10,
        )
        server.reset()
        conn.send(server.base_url)
        while True:
            command = conn.recv()
            if command == "stop":
                return
            if command == "reset":
                server.reset()
            conn.send({"calls": server.calls, "count_429": server.count_429})


class Provider:
    def __init__(self, per_second: int, latency: float) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=serve_llm, args=(child, "bench-key", per_second, latency), daemon=True)
        self.process.start()
        self.base_url = self.conn.recv()

    def ask(self, command: str) -> dict[str, int]:
        self.conn.send(command)
        return self.conn.recv()  # type: ignore[no-any-return]

    def stop(self) -> None:
        self.conn.send("stop")
        self.process.join(timeout=10)


def seed(settings: Settings, tickers: list[str], per_ticker: int, folder: Path) -> None:
    rng = random.Random(7)

    def words(n: int) -> str:
        return " ".join("".join(rng.choice(string.ascii_lowercase) for _ in range(7)) for _ in range(n))

    path = folder / "news.jsonl"
    rows = [
        {
            "ticker": t,
            "title": f"{t} {words(6)}",
            "description": f"{t} {words(12)}",
            "url": f"https://bench.example/{t}/{i}",
            "published_at": f"2026-11-2{i % 6}T0{i % 9}:00:00Z",
        }
        for t in tickers
        for i in range(per_ticker)
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    for ticker in tickers:
        collect_core(ticker, "file", settings=settings, path=path)


def _cpu_times() -> tuple[int, int]:
    """(total, idle) jiffies of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(fields), fields[3] + fields[4]


def run_pool(settings: Settings, tickers: list[str], per_ticker: int) -> tuple[int, float, float]:
    """(analyses saved, seconds from the first submit to the last result, start-up seconds)."""
    spawned = time.perf_counter()
    pool = AnalyzerPool(settings)
    ray.get([h.ping.remote() for h in pool.handles()])  # replicas up and warm before the clock starts
    startup = time.perf_counter() - spawned
    remaining = dict.fromkeys(tickers, per_ticker)
    done = 0
    started = time.perf_counter()
    try:
        for ticker in tickers:
            pool.submit(ticker, "bench")
        while pool.busy:
            ready, _ = ray.wait(pool.pending_refs(), num_returns=1)
            outcome = pool.done(ready[0])
            if outcome is None:
                continue
            if outcome.status != "saved":
                raise RuntimeError(f"analysis failed: {outcome}")
            done += 1
            remaining[outcome.ticker] -= 1
            if remaining[outcome.ticker]:
                pool.submit(outcome.ticker, "bench")
        return done, time.perf_counter() - started, startup
    finally:
        pool.shutdown()


def run_baseline(settings: Settings, tickers: list[str], per_ticker: int, workers: int) -> tuple[int, int, float]:
    """(analyses saved, failed, seconds): `workers` threads, each ticker's analyses in turn."""
    work: queue.Queue[str | None] = queue.Queue()
    for ticker in tickers:
        work.put(ticker)
    remaining = dict.fromkeys(tickers, per_ticker)
    outstanding = [len(tickers) * per_ticker]
    saved, failed = [0], [0]
    lock = threading.Lock()

    def worker() -> None:
        while (ticker := work.get()) is not None:
            try:
                ok = analyze_core(ticker, settings=settings)["status"] == "saved"
            except Exception:  # counted: an unlimited baseline may exhaust its retries on 429s
                ok = False
            with lock:
                saved[0] += ok
                failed[0] += not ok
                remaining[ticker] -= 1
                outstanding[0] -= 1
                if remaining[ticker]:
                    work.put(ticker)
                if not outstanding[0]:
                    for _ in range(workers):
                        work.put(None)

    # Warm as the pool's replicas are before its clock: the shared openai client, DB connections.
    shared_client(settings)
    with get_engine(settings.dsn).connect():
        pass
    threads = [threading.Thread(target=worker) for _ in range(workers)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return saved[0], failed[0], time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit-rpm", type=int, default=1200)
    parser.add_argument("--tickers", type=int, default=60)
    parser.add_argument("--per-ticker", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.25)
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-baseline", action="store_true", help="skip the baseline (for tuning the pool)")
    parser.add_argument(
        "--baseline-workers",
        default="2,32",
        help="comma-separated thread counts for the baseline (default: 2, the original system's, and 32)",
    )
    parser.add_argument("--admin-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")

    tickers = [f"BT{i:02d}" for i in range(args.tickers)]
    total = args.tickers * args.per_ticker
    limit = args.limit_rpm
    server = Provider(limit // 60, args.latency)
    with tempfile.TemporaryDirectory() as tmp:

        def settings_for(dsn: str) -> Settings:
            return Settings(
                _env_file=None,
                postgres_dsn=dsn,
                ingestion_redis_url="redis://127.0.0.1:1/0",
                redis_socket_timeout_seconds=0.2,
                local_storage_root=str(Path(tmp) / "storage"),
                openai_api_key="bench-key",
                openai_base_url=server.base_url,
                analysis_rpm_limit=limit,
                analysis_tpm_limit=100_000_000,
                analysis_daily_budget_usd=1000,
                analysis_prompt_char_budget=500,
                analysis_retry_max_attempts=5,
                analysis_retry_backoff_seconds=0.2,
                analyzer_replicas=args.replicas,
                analyzer_concurrency=args.concurrency,
                structlog_level="WARNING",
            ).for_workers()

        baseline_workers = [] if args.no_baseline else [int(w) for w in args.baseline_workers.split(",")]
        pool_dsn, drop_pool = fresh_database(args.admin_dsn)
        drops = [drop_pool]
        base_dsns = []
        for _ in baseline_workers:
            dsn, drop = fresh_database(args.admin_dsn)
            base_dsns.append(dsn)
            drops.append(drop)
        baselines: list[tuple[int, float]] = []
        try:
            pool_settings = settings_for(pool_dsn)
            configure_logging(pool_settings)
            for settings in (pool_settings, *map(settings_for, base_dsns)):
                seed(settings, tickers, args.per_ticker, Path(tmp))
            ray.init(
                address="local", num_cpus=2, include_dashboard=False, namespace="stockteacher", log_to_driver=False
            )
            server.ask("reset")
            cpu_before = _cpu_times()
            done, seconds, startup = run_pool(pool_settings, tickers, args.per_ticker)
            cpu_after = _cpu_times()
            busy = 1 - (cpu_after[1] - cpu_before[1]) / max(1, cpu_after[0] - cpu_before[0])
            stats = server.ask("stats")
            http_429, pool_calls = stats["count_429"], stats["calls"]
            achieved = done / seconds * 60
            print(
                f"pool:     {done}/{total} analyses in {seconds:.1f}s  ({achieved:.0f}/min, "
                f"{pool_calls} requests, {http_429} answered 429, machine CPU busy {busy:.0%}; "
                f"start-up before the clock {startup:.1f}s, {done / (seconds + startup) * 60:.0f}/min with it)"
            )
            ray.shutdown()
            if args.no_baseline:
                print(
                    f"analyzer: achieved_rpm={achieved:.0f} limit_rpm={limit} "
                    f"utilisation={achieved / limit:.3f} http_429={http_429}"
                )
                return
            for workers, dsn in zip(baseline_workers, base_dsns, strict=True):
                server.ask("reset")
                base_done, base_failed, base_seconds = run_baseline(
                    settings_for(dsn), tickers, args.per_ticker, workers
                )
                stats = server.ask("stats")
                rate = base_done / base_seconds * 60
                baselines.append((workers, rate))
                print(
                    f"baseline: {workers:2d} threads: {base_done}/{total} analyses saved ({base_failed} failed) in "
                    f"{base_seconds:.1f}s  ({rate:.0f}/min, {stats['calls']} requests, "
                    f"{stats['count_429']} answered 429)",
                    flush=True,
                )
        finally:
            if ray.is_initialized():
                ray.shutdown()
            server.stop()
            for drop in drops:
                drop()
    each = " ".join(f"baseline{w}_rpm={rate:.0f} speedup{w}={achieved / rate:.2f}" for w, rate in baselines)
    print(
        f"analyzer: achieved_rpm={achieved:.0f} limit_rpm={limit} utilisation={achieved / limit:.3f} "
        f"http_429={http_429} baseline_rpm={baselines[0][1]:.0f} speedup={achieved / baselines[0][1]:.2f} {each}"
    )


if __name__ == "__main__":
    main()
