"""Analyzer throughput under a provider's rate limit: the Ray analyzer pool behind the shared
limiter, against two sequential workers (the original system's default concurrency).

    python benchmarks/analyzer_throughput.py [--limit-rpm 1200] [--tickers 60] [--per-ticker 10]

Setup: a local OpenAI-protocol server that answers after 250 ms and answers 429 whenever more
than L/60 requests arrived within the last second (providers enforce per-minute limits over
short windows, so a burst of a whole minute's quota is refused). 60 tickers × 10 stories
are collected into a fresh PostgreSQL database; the prompt budget admits one story, so each
analysis covers one story and every ticker needs 10 analyses, one after another (each
ticker's next analysis starts when its previous one is stored). 600 analyses in all.

- pool: `ANALYZER_REPLICAS` Ray actors × `ANALYZER_CONCURRENCY`, `ANALYSIS_RPM_LIMIT = L`;
- baseline: two threads calling `analyze_core` in turn, no limiter, on a second database.

A = completed analyses per minute of wall time (first submit to last result). The last line
is `analyzer: achieved_rpm=<A> limit_rpm=<L> utilisation=<A/L> http_429=<n> baseline_rpm=<B> speedup=<A/B>`.
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
from stockteacher.analysis.service import analyze_core  # noqa: E402
from stockteacher.cluster.pool import AnalyzerPool  # noqa: E402
from stockteacher.ingest.collect import collect_core  # noqa: E402
from stockteacher.logs import configure_logging  # noqa: E402
from stockteacher.settings import Settings  # noqa: E402
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


def run_pool(settings: Settings, tickers: list[str], per_ticker: int) -> tuple[int, float]:
    pool = AnalyzerPool(settings)
    ray.get([h.ping.remote() for h in pool.handles()])  # replicas up before the clock starts
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
        return done, time.perf_counter() - started
    finally:
        pool.shutdown()


def run_baseline(settings: Settings, tickers: list[str], per_ticker: int, workers: int = 2) -> tuple[int, float]:
    work: queue.Queue[str] = queue.Queue()
    for _ in range(per_ticker):
        for ticker in tickers:
            work.put(ticker)
    done = [0]
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        while True:
            try:
                ticker = work.get_nowait()
            except queue.Empty:
                return
            try:
                if analyze_core(ticker, settings=settings)["status"] == "saved":
                    with lock:
                        done[0] += 1
            except BaseException as exc:  # recorded and reported below
                errors.append(exc)
                return

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"baseline failed: {errors[0]!r}")
    return done[0], time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit-rpm", type=int, default=1200)
    parser.add_argument("--tickers", type=int, default=60)
    parser.add_argument("--per-ticker", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.25)
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-baseline", action="store_true", help="skip the baseline (for tuning the pool)")
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

        pool_dsn, drop_pool = fresh_database(args.admin_dsn)
        base_dsn, drop_base = fresh_database(args.admin_dsn)
        try:
            pool_settings, base_settings = settings_for(pool_dsn), settings_for(base_dsn)
            configure_logging(pool_settings)
            seed(pool_settings, tickers, args.per_ticker, Path(tmp))
            seed(base_settings, tickers, args.per_ticker, Path(tmp))
            ray.init(
                address="local", num_cpus=2, include_dashboard=False, namespace="stockteacher", log_to_driver=False
            )
            server.ask("reset")
            cpu_before = _cpu_times()
            done, seconds = run_pool(pool_settings, tickers, args.per_ticker)
            cpu_after = _cpu_times()
            busy = 1 - (cpu_after[1] - cpu_before[1]) / max(1, cpu_after[0] - cpu_before[0])
            stats = server.ask("stats")
            http_429, pool_calls = stats["count_429"], stats["calls"]
            achieved = done / seconds * 60
            print(
                f"pool:     {done}/{total} analyses in {seconds:.1f}s  ({achieved:.0f}/min, "
                f"{pool_calls} requests, {http_429} answered 429, machine CPU busy {busy:.0%})"
            )
            ray.shutdown()
            if args.no_baseline:
                print(
                    f"analyzer: achieved_rpm={achieved:.0f} limit_rpm={limit} "
                    f"utilisation={achieved / limit:.3f} http_429={http_429}"
                )
                return
            server.ask("reset")
            base_done, base_seconds = run_baseline(base_settings, tickers, args.per_ticker)
            baseline = base_done / base_seconds * 60
            print(
                f"baseline: {base_done}/{total} analyses in {base_seconds:.1f}s  ({baseline:.0f}/min, "
                f"{server.ask('stats')['count_429']} answered 429)"
            )
        finally:
            if ray.is_initialized():
                ray.shutdown()
            server.stop()
            drop_pool()
            drop_base()
    print(
        f"analyzer: achieved_rpm={achieved:.0f} limit_rpm={limit} utilisation={achieved / limit:.3f} "
        f"http_429={http_429} baseline_rpm={baseline:.0f} speedup={achieved / baseline:.2f}"
    )


if __name__ == "__main__":
    main()
