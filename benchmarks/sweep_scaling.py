"""What a sweep costs per ticker, measured from outside: `stockteacher run-once` over N tickers.

Setup (issue #13): a NewsAPI-protocol server answering each query in 150 ms with 20 new
articles about the ticker it names, an OpenAI-protocol server answering in 600 ms with a
valid report, the rate limit out of the way (RPM/TPM and budgets far above what the run
uses), PostgreSQL (a fresh database per run, so every article is new) and Redis. Each N runs
as a fresh command, `stockteacher run-once --tickers … --source news_api --json`, on its own
local Ray, with the default analyzer pool (`ANALYZER_REPLICAS` × `ANALYZER_CONCURRENCY` = 8
slots) and `SCHEDULER_MAX_IN_FLIGHT`. Tickers are synthetic (`SA0001`, …), new in every run.

    python benchmarks/sweep_scaling.py [--n 10,100,600] [--profile DIR] [--verbose]

- seconds: the command's wall time, start to exit;
- startup_s: from the command's start to the first NewsAPI request (the first collector
  running), the mean over the runs;
- marginal_ms_per_ticker: the least-squares slope of seconds over N;
- llm_bound_s: what the LLM calls alone need at the largest N (N × 600 ms / slots);
- cpu_s per run / marginal_cpu_ms_per_ticker: the machine's busy CPU-seconds during the run
  (`/proc/stat`: the command, Ray, PostgreSQL, Redis and the protocol servers, of which the
  servers' own share is `servers_cpu_s`), and its slope over N. With 2 cores, a marginal wall
  time near half the marginal CPU time means the sweep is CPU-bound.

`--profile DIR` runs each command under `py-spy record --subprocesses` (the driver, Ray's
Python daemons and every worker: CPU samples, 50 per second), writes the collapsed stacks to
DIR/sweep-N.txt and prints where the CPU went: per process kind, and the heaviest functions
(inclusive) of each.

`--profile DIR --driver-only` samples the driver alone, wall clock (`py-spy --idle`): where
the command waits (Ray's start, the limiter, `ray.wait`).

`--env KEY=VALUE` (repeatable) sets a setting for the runs, e.g. `ANALYZER_CONCURRENCY=16`.

`--verbose` passes `--verbose` on: the workers' log events stream through the driver to its
console, as every run did before the progress work of #13.

The last line is `sweep: n=… seconds=… marginal_ms_per_ticker=… startup_s=… llm_bound_s=…
marginal_cpu_ms_per_ticker=… load_before=…`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
from pytest_httpserver import HTTPServer  # noqa: E402

from benchmarks._pgdb import fresh_database  # noqa: E402
from tests.factories.cluster import citing_responder  # noqa: E402
from tests.servers.newsapi import PerCompanyNewsApi  # noqa: E402
from tests.servers.openai_server import FakeOpenAI  # noqa: E402

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_DB = 9  # flushed before each run
NEWS_LATENCY, LLM_LATENCY, PER_TICKER = 0.15, 0.6, 20
CLI = Path(sys.executable).with_name("stockteacher")
PROFILE_RATE = 50  # samples per second per process


def tickers_for(run: int, n: int) -> list[str]:
    prefix = "S" + string.ascii_uppercase[run % 26]
    return [f"{prefix}{i:04d}" for i in range(n)]


def run_env(dsn: str, news_endpoint: str, llm_url: str, storage: Path) -> dict[str, str]:
    """A clean environment: only what the run needs (no `.env`, no developer settings)."""
    keep = ("PATH", "HOME", "LANG", "PYTHONPATH", "RAY_AUTH_MODE", "TMPDIR")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(
        RAY_USAGE_STATS_ENABLED="0",
        RAY_AUTH_MODE=env.get("RAY_AUTH_MODE", "disabled"),
        POSTGRES_DSN=dsn,
        INGESTION_REDIS_URL=f"redis://127.0.0.1:6379/{REDIS_DB}",
        LOCAL_STORAGE_ROOT=str(storage),
        NEWS_API_KEY="bench",
        NEWS_API_ENDPOINT=news_endpoint,
        NEWS_API_LANG="en",
        NEWS_API_TIMEOUT_SECONDS="30",
        OPENAI_API_KEY="test-key",
        OPENAI_BASE_URL=llm_url,
        ANALYSIS_REQUEST_TIMEOUT_SECONDS="60",
        ANALYSIS_RPM_LIMIT="1000000",
        ANALYSIS_TPM_LIMIT="1000000000",
        ANALYSIS_DAILY_BUDGET_USD="100000",
        DEFAULT_LOCALE="en_US",
    )
    return env


def one_run(run: int, n: int, news: PerCompanyNewsApi, endpoint: str, llm: FakeOpenAI,
            profile: Path | None, *, verbose: bool = False, driver_only: bool = False,
            extra_env: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    tickers = tickers_for(run, n)
    news.names = {t: t for t in tickers}
    dsn, drop = fresh_database(ADMIN_DSN)
    redis.Redis(db=REDIS_DB).flushdb()
    try:
        with tempfile.TemporaryDirectory(prefix="sweep-") as tmp:
            env = run_env(dsn.replace("postgresql+psycopg://", "postgresql://", 1), endpoint, llm.base_url,
                          Path(tmp) / "storage")  # fmt: skip
            env.update(extra_env or {})
            command = [str(CLI), "run-once", "--tickers", ",".join(tickers), "--source", "news_api", "--json"]
            if verbose:
                command.append("--verbose")
            if profile is not None:
                out = profile / f"sweep-{n}.txt"
                py_spy = str(Path(sys.executable).with_name("py-spy"))
                # The whole tree's CPU, or (driver_only) the driver's wall clock, waits included.
                how = ["--idle"] if driver_only else ["--subprocesses"]
                command = [py_spy, "record", *how, "--format", "raw", "--rate", str(PROFILE_RATE),
                           "-o", str(out), "--", *command]  # fmt: skip
            before = len(news.requests)
            busy_before, own_before = machine_busy_seconds(), time.process_time()
            started = time.monotonic()
            done = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True, timeout=1800)
            seconds = time.monotonic() - started
            busy = machine_busy_seconds() - busy_before
            servers = time.process_time() - own_before  # this process: the protocol servers
        first_request = min((r.at for r in news.requests[before:]), default=None)
        if done.returncode != 0:
            raise RuntimeError(f"run-once n={n} exited {done.returncode}: {done.stderr[-3000:]}")
        # The summary is the command's one JSON line; under --profile, py-spy writes its own lines too.
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if not lines:
            raise RuntimeError(f"run-once n={n} printed no summary: {done.stdout[-2000:]!r} {done.stderr[-2000:]}")
        summary = json.loads(lines[-1])
        stages = stage_timeline(dsn)
    finally:
        drop()
    return {
        "n": n,
        "seconds": round(seconds, 2),
        "startup_s": round(first_request - started, 2) if first_request else None,
        "status": summary["status"],
        "saved": summary["saved"],
        "published": summary["published"],
        "errors": len(summary["errors"]),
        "cpu_s": round(busy, 1),  # every core's busy time on the machine during the run
        "servers_cpu_s": round(servers, 1),
        "stages": stages,
    }


def stage_timeline(dsn: str) -> dict[str, str]:
    """Per stage, from the run's `job_runs`: how many, the first start and the last end (seconds
    after the first row of the run), and the mean time a run of it took."""
    import psycopg

    query = """
        SELECT stage, count(*), extract(epoch FROM min(started_at) - t0), extract(epoch FROM max(finished_at) - t0),
               avg(extract(epoch FROM finished_at - started_at))
        FROM job_runs, (SELECT min(started_at) AS t0 FROM job_runs) first GROUP BY stage, t0 ORDER BY 3
    """
    with psycopg.connect(dsn.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
        rows = conn.execute(query).fetchall()
    return {
        stage: f"{count} runs {float(first):.1f}-{float(last or 0):.1f} s, mean {float(mean or 0) * 1000:.0f} ms"
        for stage, count, first, last, mean in rows
    }


def machine_busy_seconds() -> float:
    """CPU-seconds every core of this machine has spent busy since boot (`/proc/stat`): the
    run's command, Ray's processes, PostgreSQL, Redis, the protocol servers, and anything else
    running (the load average says how quiet the machine was)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


_FRAME = re.compile(r"\((?:[^():]*/)?(?P<file>[^/():]+):\d+\)$")  # `f (/a/b/c.py:12)` → `f (c.py)`


# What a Ray worker process ran, told by its frames (py-spy sees the command line a worker
# started with, not the `ray::…` title it sets): the first marker found in any of its stacks.
_WORKER_ROLES = (
    ("collect_task", "worker:collect_task"),
    ("AnalyzerWorker", "worker:AnalyzerWorker"),
    ("publish_task", "worker:publish_task"),
    ("notify_task", "worker:notify_task"),
    ("LimiterActor", "worker:LimiterActor"),
)


def process_kind(header: str) -> str:
    """`driver`, `worker`, `raylet`, `ray-daemon:dashboard`… from py-spy's `process N:"cmdline"`."""
    cmdline = header.split(":", 1)[1].strip('"') if ":" in header else header
    words = cmdline.split()
    if "default_worker.py" in cmdline:
        return "worker"
    if "stockteacher" in cmdline and "run-once" in cmdline:
        return "driver"
    script = next((w.rsplit("/", 1)[-1] for w in words[1:] if w.endswith(".py")), "")
    name = script.removesuffix(".py") or (words[0].rsplit("/", 1)[-1] if words else cmdline)
    return f"ray-daemon:{name}"[:60]


def summarise_profile(path: Path, n: int, *, top: int = 12) -> str:
    """CPU seconds per process kind (workers by what they ran: collectors, analyzer replicas, …;
    `worker:other` for those that only started or idled) and the heaviest functions per kind."""
    from collections import Counter, defaultdict

    stacks: list[tuple[str, str, list[str], int]] = []  # (pid header, kind, frames, samples)
    roles: dict[str, str] = {}
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        # py-spy --subprocesses nests each process under its parents: `process A:…;process B:…;frames`.
        parts = stack.split(";")
        last = max(i for i, part in enumerate(parts) if i == 0 or part.startswith("process "))
        header, calls = parts[last], parts[last + 1 :]
        kind = process_kind(header)
        pid = header.split(":", 1)[0]
        if kind == "worker" and pid not in roles:
            joined = ";".join(calls)
            for marker, role in _WORKER_ROLES:
                if marker in joined:
                    roles[pid] = role
                    break
        stacks.append((pid, kind, calls, int(count)))
    per_kind: Counter[str] = Counter()
    frames: dict[str, Counter[str]] = defaultdict(Counter)
    processes: dict[str, set[str]] = defaultdict(set)
    for pid, kind, calls, count in stacks:
        if kind == "worker":
            kind = roles.get(pid, "worker:other")
        per_kind[kind] += count
        processes[kind].add(pid)
        for name in dict.fromkeys(_FRAME.sub(lambda m: f"({m['file']})", call) for call in calls):
            frames[kind][name] += count
    out = [f"profile n={n}: CPU seconds by process kind (total {sum(per_kind.values()) / PROFILE_RATE:.1f} s)"]
    for kind, samples in per_kind.most_common():
        out.append(f"  {samples / PROFILE_RATE:7.1f} s  {kind} ({len(processes[kind])} processes)")
    for kind, _ in per_kind.most_common(5):
        out.append(f"  heaviest in {kind} (inclusive CPU s):")
        out.extend(f"    {c / PROFILE_RATE:7.2f}  {name}" for name, c in frames[kind].most_common(top))
    return "\n".join(out)


def slope(points: list[tuple[int, float]]) -> float:
    """Least-squares seconds per ticker."""
    mean_n = sum(n for n, _ in points) / len(points)
    mean_s = sum(s for _, s in points) / len(points)
    den = sum((n - mean_n) ** 2 for n, _ in points)
    return sum((n - mean_n) * (s - mean_s) for n, s in points) / den if den else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", default="10,100,600", help="comma-separated ticker counts (e.g. 5,20 for a quick run)")
    parser.add_argument("--profile", type=Path, help="py-spy every run; collapsed stacks into this directory")
    parser.add_argument(
        "--driver-only", action="store_true", help="with --profile: the driver alone, wall clock (waits included)"
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE", help="a setting for the runs (repeatable)"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="the workers' logs through the driver (as before #13's progress work)"
    )
    args = parser.parse_args()
    counts = [int(x) for x in args.n.split(",") if x.strip()]
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per NewsAPI request
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    news_server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    news_server.start()
    news = PerCompanyNewsApi(news_server, api_key="bench", tickers=[], per_ticker=PER_TICKER)
    news.latency = NEWS_LATENCY
    llm = FakeOpenAI(api_key="test-key")
    llm.responder = citing_responder
    llm.default_delay = LLM_LATENCY
    llm.start()
    results = []
    load_before = os.getloadavg()[0]
    try:
        for run, n in enumerate(counts):
            result = one_run(
                run,
                n,
                news,
                news_server.url_for("/v2/everything"),
                llm,
                args.profile,
                verbose=args.verbose,
                driver_only=args.driver_only,
                extra_env=dict(e.split("=", 1) for e in args.env),
            )
            print(f"[n={n}] {result}", file=sys.stderr, flush=True)
            if args.profile:
                print(summarise_profile(args.profile / f"sweep-{n}.txt", n), file=sys.stderr, flush=True)
            results.append(result)
    finally:
        llm.stop()
        news.close()
        news_server.stop()
    slots = 2 * 4  # ANALYZER_REPLICAS × ANALYZER_CONCURRENCY, the defaults
    marginal = slope([(r["n"], r["seconds"]) for r in results]) * 1000 if len(results) > 1 else float("nan")
    cpu_marginal = slope([(r["n"], r["cpu_s"]) for r in results]) * 1000 if len(results) > 1 else float("nan")
    startups = [r["startup_s"] for r in results if r["startup_s"] is not None]
    print(
        f"sweep: n={','.join(str(r['n']) for r in results)} "
        f"seconds={','.join(str(r['seconds']) for r in results)} "
        f"marginal_ms_per_ticker={marginal:.0f} "
        f"startup_s={sum(startups) / len(startups):.1f} "
        f"llm_bound_s={max(counts) * LLM_LATENCY / slots:.1f} "
        f"marginal_cpu_ms_per_ticker={cpu_marginal:.0f} "
        f"load_before={load_before:.1f}"
    )


if __name__ == "__main__":
    main()
