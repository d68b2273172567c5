"""API throughput and latency: the same FastAPI app through Ray Serve and through plain uvicorn,
with as many uvicorn worker processes as Serve has API replicas.

    python benchmarks/api_latency.py [--reports 10000] [--clients 16] [--seconds 20]
                                     [--api-replicas N] [--haproxy] [--cache-seconds S]

Setup: a fresh PostgreSQL database seeded with `--reports` published reports over 60 tickers,
and `--articles` stored articles (with stories) of the first report's ticker, so that chat
retrieval really indexes and searches them; one user with an API key (API-key mode, so every
request authenticates). The load (wrk when installed, else aiohttp in its own process) keeps
`--clients` requests in flight for `--seconds` after a 3 s warm-up, alternating
`GET /api/reports?limit=20` and `GET /api/reports/{id}` of random reports.

Three servers run the same `create_app`, one after another:
- uvicorn, 1 process (the single-process figure);
- uvicorn, `--workers N` (N = `--api-replicas`; `uvicorn --factory` on `app_from_env`), the
  like-for-like comparison for Serve;
- Ray Serve with N ingress replicas (+ the chat replica), behind Serve's Python proxy or, with
  `--haproxy`, HAProxy in throughput-optimized mode.

Which requests the report cache answers: each uvicorn process writes its `ReportCache` hit and
miss counts when it exits (warm-up included), printed as `cache: hits=… misses=…`. The list
page is one cache key; the detail of a random one of 10,000 reports is a hit only if some
earlier request in the same process (within `API_CACHE_SECONDS`) fetched it.

Then chat: time to first chunk of an SSE answer through Serve, against the local LLM server's
own time to first token measured with the openai client directly (the server waits 200 ms
before its first token); the difference is what our stack adds (session and message stored,
retrieval over the ticker's articles, prompt, the chat deployment's handle).

Last line: `api: serve_rps=<S> uvicorn_rps=<U> ratio=<S/U> serve_p99_ms=<P> uvicorn1_rps=<U1>
uvicorn1_p99_ms=<P1> workers=<N>` (U: uvicorn with N workers; the chat figures are on the line
before it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._pgdb import fresh_database  # noqa: E402
from stockteacher.settings import Settings  # noqa: E402
from tests.net import free_port  # noqa: E402

ADMIN_DSN = os.environ.get("STOCKTEACHER_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")


def seed(settings: Settings, count: int) -> list[str]:
    """`count` published reports (and their analyses), inserted in bulk."""
    from sqlalchemy import insert

    from stockteacher.store.db import session_scope
    from stockteacher.store.models import Analysis, Report

    rng = random.Random(11)
    tickers = [f"T{i:02d}" for i in range(60)]
    now = datetime.now(UTC)
    analyses, reports, ids = [], [], []
    for i in range(count):
        ticker = tickers[i % len(tickers)]
        insight_id = f"ins_{i:016x}"
        ids.append(insight_id)
        published = now - timedelta(minutes=10 * i)
        sentiment = round(rng.uniform(-1, 1), 3)
        analyses.append(
            dict(
                id=i + 1,
                ticker=ticker,
                content_hash=f"{i:064x}",
                prompt_version="bench",
                provider="offline",
                model="offline",
                locale="ko_KR",
                result={},
                story_ids=[],
                created_at=published,
            )  # fmt: skip
        )
        reports.append(
            dict(
                insight_id=insight_id,
                analysis_id=i + 1,
                ticker=ticker,
                status="published",
                published_at=published,
                headline=f"{ticker} headline {i}",
                summary_text=f"Summary of report {i} about {ticker}. " * 6,
                sentiment_score=sentiment,
                anomaly_score=round(rng.random(), 3),
                tags=["neutral"],
                keywords=["earnings", "guidance", f"kw{i % 50}"],
                glossary=[{"term": "EPS", "explanation": "Earnings per share."}],
                anomalies=[],
                source_refs=[{"url": f"https://news.example.com/{i}", "title": f"Source {i}"}],
                attachments=[],
                quality_notes=[],
                cost_usd=0.0,
                model="offline",
                locale="ko_KR",
                story_count=3,
                created_at=published,
                updated_at=published,
            )  # fmt: skip
        )
    with session_scope(settings.dsn) as session:
        for start in range(0, count, 2000):
            session.execute(insert(Analysis), analyses[start : start + 2000])
            session.execute(insert(Report), reports[start : start + 2000])
    return ids


def seed_articles(settings: Settings, ticker: str, count: int) -> None:
    """`count` stored articles of `ticker` in stories of 3, through the bulk insert path."""
    from sqlalchemy import insert

    from stockteacher.ingest.repository import insert_articles
    from stockteacher.store.db import session_scope
    from stockteacher.store.models import Article, Story

    rng = random.Random(5)
    topics = ["EPS", "earnings per share", "guidance", "revenue", "dividend", "buyback", "margin", "supply chain"]
    now = datetime.now(UTC)
    rows = []
    for i in range(count):
        topic = rng.choice(topics)
        title = f"{ticker} {topic} update {i // 3}: analysts weigh the quarter"
        rows.append(
            dict(
                fingerprint=f"{i:064x}",
                ticker=ticker,
                canonical_url=f"https://news.example/{ticker}/{i}",
                url=f"https://news.example/{ticker}/{i}",
                title=title,
                description=f"{ticker} reported {topic} figures; outlet {i % 3} sums up what changed.",
                body=" ".join(f"Sentence {j} on {topic} and what it means for {ticker} holders." for j in range(12)),
                author=None,
                source=f"Outlet {i % 3}",
                source_type="file",
                language="en",
                published_at=now - timedelta(minutes=i),
                published_at_estimated=False,
                collected_at=now,
                minhash=None,
                trace_id="bench",
            )  # fmt: skip
        )
    with session_scope(settings.dsn) as session:
        inserted = insert_articles(session, rows)
        stories = (
            session.execute(
                insert(Story).returning(Story.id, sort_by_parameter_order=True),
                [
                    dict(
                        ticker=ticker,
                        title=rows[i]["title"],
                        representative_article_id=inserted[i][0],
                        article_count=3,
                        corroboration_count=3,
                        created_at=now,
                        updated_at=now,
                    )  # fmt: skip
                    for i in range(0, len(inserted), 3)
                ],
            )
            .scalars()
            .all()
        )
        for n, (article_id, _) in enumerate(inserted):
            session.execute(Article.__table__.update().where(Article.id == article_id).values(story_id=stories[n // 3]))


# --- load generator (its own process) ------------------------------------------------------
async def _load(base: str, key: str, ids: list[str], clients: int, seconds: float, warmup: float) -> dict[str, Any]:
    import aiohttp

    headers = {"Authorization": f"Bearer {key}"}
    latencies: list[float] = []
    errors = 0
    rng = random.Random(3)
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def client(n: int, until: float, record: bool) -> None:
            nonlocal errors
            i = n
            while time.perf_counter() < until:
                i += 1
                url = f"{base}/api/reports?limit=20" if i % 2 else f"{base}/api/reports/{rng.choice(ids)}"
                start = time.perf_counter()
                async with session.get(url) as response:
                    await response.read()
                    ok = response.status == 200
                if record:
                    latencies.append(time.perf_counter() - start)
                    errors += not ok

        await asyncio.gather(*(client(n, time.perf_counter() + warmup, False) for n in range(clients)))
        began = time.perf_counter()
        await asyncio.gather(*(client(n, began + seconds, True) for n in range(clients)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
        "requests": len(latencies),
        "errors": errors,
        "load": "aiohttp",
    }


def _load_process(conn: Any, *args: Any) -> None:
    conn.send(asyncio.run(_load(*args)))


WRK_SCRIPT = """
ids = {%s}
counter = 0
wrk.headers["Authorization"] = "Bearer %s"
request = function()
  counter = counter + 1
  if counter %% 2 == 1 then
    return wrk.format("GET", "/api/reports?limit=20")
  end
  return wrk.format("GET", "/api/reports/" .. ids[math.random(#ids)])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK %%d %%d %%d %%d %%f %%f\\n", summary.requests, summary.duration,
    e.status + e.connect + e.read + e.write + e.timeout, summary.requests,
    latency:percentile(50), latency:percentile(99)))
end
"""


def measure_wrk(base: str, key: str, ids: list[str], clients: int, seconds: float) -> dict[str, Any]:
    """wrk (C, event loop) as the load: it leaves the 2 cores to the servers under test."""
    import subprocess
    import tempfile

    script = WRK_SCRIPT % (",".join(f'"{i}"' for i in ids), key)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    run = ["wrk", "-t2", f"-c{clients}", "-s", handle.name, base]
    subprocess.run([*run[:3], "-d3s", *run[3:]], check=True, capture_output=True)  # warm-up
    out = subprocess.run([*run[:3], f"-d{int(seconds)}s", *run[3:]], check=True, capture_output=True, text=True)
    os.unlink(handle.name)
    line = next(x for x in out.stdout.splitlines() if x.startswith("WRK "))
    requests, duration_us, errors, _, p50_us, p99_us = line.split()[1:]
    return {
        "rps": int(requests) / (int(duration_us) / 1e6),
        "p50_ms": float(p50_us) / 1000,
        "p99_ms": float(p99_us) / 1000,
        "requests": int(requests),
        "errors": int(errors),
        "load": "wrk",
    }


def measure(base: str, key: str, ids: list[str], clients: int, seconds: float) -> dict[str, Any]:
    import shutil

    if shutil.which("wrk"):
        return measure_wrk(base, key, ids, clients, seconds)
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_load_process, args=(child, base, key, ids, clients, seconds, 3.0))
    process.start()
    result = parent.recv()
    process.join()
    return result


def wait_ready(url: str, timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} never became ready")


def app_from_env() -> Any:
    """The app for `uvicorn --factory`: settings from the environment (what `settings_env`
    sets); on exit, this process's report-cache counts go to `$BENCH_CACHE_STATS/<pid>.json`."""
    import logging

    from stockteacher.api.app import create_app

    logging.disable(logging.INFO)
    if os.environ.get("BENCH_SWITCH_INTERVAL"):  # diagnosis: how much the GIL's hand-over costs
        sys.setswitchinterval(float(os.environ["BENCH_SWITCH_INTERVAL"]))
    app = create_app(Settings(_env_file=None))
    folder = os.environ.get("BENCH_CACHE_STATS")
    if folder:
        cache, serving = app.state.report_cache, app.router.lifespan_context

        @contextlib.asynccontextmanager
        async def lifespan(app: Any) -> AsyncIterator[Any]:
            # uvicorn ends a worker by re-raising SIGTERM after shutdown: atexit never runs.
            async with serving(app) as state:
                yield state
            counts = {"hits": cache.hits, "misses": cache.misses}
            Path(folder, f"{os.getpid()}.json").write_text(json.dumps(counts))

        app.router.lifespan_context = lifespan
    return app


def settings_env(settings: Settings) -> dict[str, str]:
    """`settings` as the environment variables `Settings(_env_file=None)` reads back."""
    env = {}
    for name in settings.model_fields_set:
        value = getattr(settings, name)
        if value is None:
            continue
        value = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        env[Settings.model_fields[name].alias or name.upper()] = str(value)
    return env


class Uvicorn:
    """`uvicorn --workers N` on the app factory, in a subprocess; `stop()` returns the cache counts."""

    def __init__(self, settings: Settings, port: int, workers: int) -> None:
        self.stats = tempfile.mkdtemp(prefix="bench-cache-")
        env = {**os.environ, **settings_env(settings), "BENCH_CACHE_STATS": self.stats, "PYTHONPATH": str(ROOT)}
        command = [
            sys.executable, "-m", "uvicorn", "--factory", "benchmarks.api_latency:app_from_env",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, env=env, cwd=ROOT)
        wait_ready(f"http://127.0.0.1:{port}/healthz")

    def stop(self) -> dict[str, int]:
        import shutil

        self.process.terminate()
        self.process.wait(timeout=60)
        counts = {"hits": 0, "misses": 0, "processes": 0}
        for path in Path(self.stats).glob("*.json"):
            for name, value in json.loads(path.read_text()).items():
                counts[name] += value
            counts["processes"] += 1
        shutil.rmtree(self.stats, ignore_errors=True)
        return counts


def measure_uvicorn(
    settings: Settings, workers: int, key: str, ids: list[str], clients: int, seconds: float
) -> dict[str, Any]:
    port = free_port()
    server = Uvicorn(settings, port, workers)
    try:
        result = measure(f"http://127.0.0.1:{port}", key, ids, clients, seconds)
    finally:
        cache = server.stop()
    lookups = cache["hits"] + cache["misses"]
    print(
        f"uvicorn --workers {workers}: {result}\n"
        f"  cache: hits={cache['hits']} misses={cache['misses']} "
        f"({cache['hits'] / max(1, lookups):.0%} of look-ups, {cache['processes']} processes reported)",
        flush=True,
    )
    return result


# --- chat time to first chunk --------------------------------------------------------------
def chat_first_chunk(base: str, key: str, insight_id: str, llm_url: str, rounds: int) -> dict[str, float]:
    import httpx
    import openai

    headers = {"Authorization": f"Bearer {key}"}
    direct, through = [], []
    client = openai.OpenAI(api_key="bench-key", base_url=llm_url, max_retries=0)
    with httpx.Client(timeout=30, trust_env=False, headers=headers) as http:
        session_id = http.post(f"{base}/api/chat/sessions", json={"insight_id": insight_id}).json()["session_id"]
        for _ in range(rounds):
            start = time.perf_counter()
            stream = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    direct.append(time.perf_counter() - start)
                    break
            stream.close()

            start = time.perf_counter()
            with http.stream(
                "POST",
                f"{base}/api/chat/sessions/{session_id}/messages",
                json={"content": "What does EPS mean here?"},
                headers={"Accept": "text/event-stream"},
            ) as response:
                for line in response.iter_lines():
                    if line.startswith("event: chunk"):
                        through.append(time.perf_counter() - start)
                        break
    med_direct, med_through = statistics.median(direct), statistics.median(through)
    # The first question builds the ticker's retrieval index; the median is of warm questions.
    return {"llm_ttft_ms": 1000 * med_direct, "chat_ttfc_ms": 1000 * med_through,
            "overhead_ms": 1000 * (med_through - med_direct), "first_ms": 1000 * through[0]}  # fmt: skip


def serve_llm(conn: Any) -> None:
    from tests.servers.openai_server import FakeOpenAI

    with FakeOpenAI(api_key="bench-key", stream_first_chunk_delay=0.2, stream_chunk_delay=0.01) as server:
        server.default_content = "EPS는 주당순이익입니다 [1]. Earnings per share [1]."
        conn.send(server.base_url)
        conn.recv()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=10_000)
    parser.add_argument("--articles", type=int, default=300, help="stored articles of the chat report's ticker")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--chat-rounds", type=int, default=10)
    parser.add_argument("--api-replicas", type=int, default=1, help="Serve ingress replicas = uvicorn workers")
    parser.add_argument("--cache-seconds", type=float, default=None, help="API_CACHE_SECONDS (default: settings')")
    parser.add_argument("--no-serve", action="store_true", help="uvicorn only (no Ray)")
    parser.add_argument(
        "--haproxy",
        action="store_true",
        help="Serve's HAProxy ingress and throughput-optimized mode (RAY_SERVE_ENABLE_HA_PROXY=1, "
        "RAY_SERVE_THROUGHPUT_OPTIMIZED=1) instead of the default Python proxy",
    )
    args = parser.parse_args()
    if args.haproxy:
        os.environ["RAY_SERVE_ENABLE_HA_PROXY"] = "1"
        os.environ["RAY_SERVE_THROUGHPUT_OPTIMIZED"] = "1"
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")

    from stockteacher.accounts.service import create_user

    dsn, drop = fresh_database(ADMIN_DSN)
    ctx = multiprocessing.get_context("spawn")
    llm_parent, llm_child = ctx.Pipe()
    llm = ctx.Process(target=serve_llm, args=(llm_child,), daemon=True)
    llm.start()
    llm_url = llm_parent.recv()
    try:
        extra = {} if args.cache_seconds is None else {"api_cache_seconds": args.cache_seconds}
        settings = Settings(
            _env_file=None, postgres_dsn=dsn, auth_mode="api_key", analysis_provider="auto",
            openai_api_key="bench-key", openai_base_url=llm_url, structlog_level="WARNING",
            local_storage_root=str(Path("var/bench-storage").resolve()), **extra,
        )  # fmt: skip
        started = time.perf_counter()
        ids = seed(settings, args.reports)
        chat_ticker = "T00"  # ids[0]'s ticker
        seed_articles(settings, chat_ticker, args.articles)
        print(
            f"seeded {len(ids)} reports and {args.articles} {chat_ticker} articles "
            f"in {time.perf_counter() - started:.1f}s; API_CACHE_SECONDS={settings.api_cache_seconds:g}",
            flush=True,
        )
        _, key = create_user(settings, "bench")

        single = measure_uvicorn(settings, 1, key, ids, args.clients, args.seconds)
        workers = args.api_replicas
        many = single if workers == 1 else measure_uvicorn(settings, workers, key, ids, args.clients, args.seconds)
        if args.no_serve:
            print(
                f"api: uvicorn_rps={many['rps']:.0f} uvicorn_p99_ms={many['p99_ms']:.0f} "
                f"uvicorn1_rps={single['rps']:.0f} uvicorn1_p99_ms={single['p99_ms']:.0f} workers={workers}"
            )
            return
        serve_result, chat = run_serve(settings, args, key, ids, llm_url)
        print(
            f"chat: llm_ttft_ms={chat['llm_ttft_ms']:.1f} chat_ttfc_ms={chat['chat_ttfc_ms']:.1f} "
            f"overhead_ms={chat['overhead_ms']:.1f} first_question_ms={chat['first_ms']:.1f} "
            f"({args.articles} {chat_ticker} articles indexed)",
            flush=True,
        )
        ratio = serve_result["rps"] / many["rps"]
        mode = "haproxy" if args.haproxy else "proxy"
        print(f"serve mode={mode} api_replicas={workers} load={serve_result['load']}", flush=True)
        print(
            f"api: serve_rps={serve_result['rps']:.0f} uvicorn_rps={many['rps']:.0f} ratio={ratio:.2f} "
            f"serve_p99_ms={serve_result['p99_ms']:.0f} uvicorn1_rps={single['rps']:.0f} "
            f"uvicorn1_p99_ms={single['p99_ms']:.0f} workers={workers}"
        )
    finally:
        llm_parent.send("stop")
        llm.join(timeout=5)
        drop()


def run_serve(
    settings: Settings, args: argparse.Namespace, key: str, ids: list[str], llm_url: str
) -> tuple[dict[str, Any], dict[str, float]]:
    import ray
    from ray import serve

    from stockteacher.api.serve import build_application

    ray.init(address="local", num_cpus=2, include_dashboard=False, namespace="stockteacher-bench")
    try:
        serve_port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": serve_port})
        app = build_application(settings, api_replicas=args.api_replicas)
        serve.run(app, name="stockteacher", route_prefix="/", blocking=False)
        base = f"http://127.0.0.1:{serve_port}"
        wait_ready(f"{base}/healthz")
        serve_result = measure(base, key, ids, args.clients, args.seconds)
        print(f"serve: {serve_result}", flush=True)
        chat = chat_first_chunk(base, key, ids[0], llm_url, args.chat_rounds)
        serve.shutdown()
        return serve_result, chat
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
