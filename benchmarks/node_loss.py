"""What losing nodes in the middle of a sweep costs, on one machine.

A head, two `collectors` nodes and two `analyzers` nodes, each started with cluster.yaml's
command line (tests/cluster/raycli.py). The same sweep runs twice, each time on fresh data
(its own tickers, so nothing is cached or de-duplicated away): `jobs/run_once.py` over N
tickers from a NewsAPI stand-in answering in 2 s, analysed through an OpenAI-protocol stand-in
answering in 6 s. The first sweep runs undisturbed; in the second, one collector node and
one analyzer node are SIGKILLed as soon as both have work in flight.

    python benchmarks/node_loss.py [--tickers 8]

prints `node_loss: tickers=… undisturbed_s=… killed_s=… …` with what was stored and sent.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pytest_httpserver import HTTPServer  # noqa: E402
from sqlalchemy import select  # noqa: E402

from benchmarks._pgdb import fresh_database  # noqa: E402
from stockteacher.store.db import session_scope  # noqa: E402
from stockteacher.store.models import Analysis, Article, JobRun, Report  # noqa: E402
from tests.cluster.raycli import (  # noqa: E402
    LocalCluster,
    calls_cut_off,
    last_json,
    make_node_home,
    node_env,
    slow_services_settings,
    ticker_of,
)
from tests.factories.cluster import citing_responder  # noqa: E402
from tests.servers.newsapi import PerCompanyNewsApi  # noqa: E402
from tests.servers.openai_server import FakeOpenAI  # noqa: E402

US_TICKERS = ["AAPL", "MSFT", "NVDA", "AMZN", "TSLA", "META", "NFLX", "AMD",
              "ORCL", "ADBE", "INTC", "QCOM", "CSCO", "PEP", "COST", "AVGO"]  # fmt: skip
PER_TICKER = 6


def _sweep(local: LocalCluster, env: dict[str, str], tickers: list[str]) -> subprocess.Popen[str]:
    python = str(local.home / "stockteacher-env" / "bin" / "python")
    return subprocess.Popen(
        [python, "jobs/run_once.py", "--tickers", ",".join(tickers), "--source", "news_api", "--address", local.gcs],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _busy(local: LocalCluster, llm: FakeOpenAI, dsn: str, ports: dict[str, set[int]]) -> tuple[str, str] | None:
    """(analyzer node, collector node) once both have work in flight."""
    with session_scope(dsn) as session:
        running = session.scalars(select(JobRun).where(JobRun.status == "RUNNING", JobRun.stage == "collect")).all()
    collecting = {local.node_of(r.details["worker"].get("node_id")) for r in running}
    for name in ports:
        ports[name] |= local.nodes[name].ports_to(llm.port)
    collector = next((n for n in ("collectors-1", "collectors-2") if n in collecting), None)
    analyzer = next((n for n in ports if any(r.client_port in ports[n] for r in llm.in_flight)), None)
    return (analyzer, collector) if collector and analyzer else None


def _outcome(dsn: str, trace: str, tickers: list[str], llm: FakeOpenAI) -> dict[str, Any]:
    with session_scope(dsn) as session:
        articles = session.execute(select(Article.ticker).where(Article.ticker.in_(tickers))).all()
        analyses = session.execute(select(Analysis.ticker).where(Analysis.trace_id == trace)).all()
        reports = session.execute(select(Report.ticker).where(Report.ticker.in_(tickers))).all()
        lost = session.scalars(
            select(JobRun).where(JobRun.trace_id == trace, JobRun.error_code == "attempt_lost")
        ).all()
    calls = Counter(ticker_of(r) for r in llm.chat_requests if ticker_of(r) in tickers)
    return {
        "articles": len(articles),
        "analyses": len(analyses),
        "reports": len(reports),
        "llm_calls": sum(calls.values()),
        "lost_attempts": dict(Counter(r.stage for r in lost)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickers", type=int, default=8, help=f"per sweep, at most {len(US_TICKERS) // 2}")
    args = parser.parse_args()
    first, second = US_TICKERS[: args.tickers], US_TICKERS[args.tickers : 2 * args.tickers]
    news_server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    news_server.start()
    news = PerCompanyNewsApi(news_server, api_key="bench", tickers=first + second, per_ticker=PER_TICKER)
    news.latency = 2.0
    llm = FakeOpenAI(api_key="test-key")
    llm.responder = citing_responder
    llm.default_delay = 6.0
    llm.start()
    dsn, drop = fresh_database("postgresql://postgres@127.0.0.1:5432/postgres")
    plain_dsn = dsn.replace("postgresql+psycopg://", "postgresql://", 1)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="nodeloss-") as tmp:
        endpoint = news_server.url_for("/v2/everything")
        settings = slow_services_settings(plain_dsn, Path(tmp), endpoint, "bench", llm.base_url, redis_db=12)
        home = make_node_home(Path(tmp) / "home", settings)
        env = node_env(home, STOCKTEACHER_ENV_FILE=str(home / "stockteacher" / ".env"))
        local = LocalCluster(home)
        try:
            for name, resources in (("collectors-1", {"collector": 8}), ("collectors-2", {"collector": 8}),
                                    ("analyzers-1", {"analyzer": 4}), ("analyzers-2", {"analyzer": 4})):  # fmt: skip
                local.add_node(name, resources)
            for label, tickers, kill in (("undisturbed", first, False), ("killed", second, True)):
                started = time.monotonic()
                job = _sweep(local, env, tickers)
                victims: tuple[str, str] | None = None
                ports: dict[str, set[int]] = {"analyzers-1": set(), "analyzers-2": set()}
                in_flight = 0
                while kill and victims is None and job.poll() is None:
                    victims = _busy(local, llm, dsn, ports)
                    if victims:
                        dead_ports = ports[victims[0]] | local.nodes[victims[0]].ports_to(llm.port)
                        for name in victims:
                            local.nodes[name].kill()
                        killed_at = time.monotonic()
                    time.sleep(0.2)
                out, _ = job.communicate(timeout=600)
                if victims:
                    in_flight = len(calls_cut_off(llm, dead_ports, killed_at))
                seconds = time.monotonic() - started
                summary = last_json(out)
                results[label] = {
                    "seconds": round(seconds, 1),
                    "status": summary["status"],
                    "killed": list(victims or ()),
                    "llm_in_flight_on_dead_node": in_flight,
                    **_outcome(dsn, summary["trace_id"], tickers, llm),
                }
                print(f"[{label}] {results[label]}", file=sys.stderr)
        finally:
            local.stop()
            llm.stop()
            news.close()
            news_server.stop()
            drop()
    u, k = results["undisturbed"], results["killed"]
    print(
        f"node_loss: tickers={args.tickers} undisturbed_s={u['seconds']} killed_s={k['seconds']} "
        f"articles={k['articles']}/{args.tickers * PER_TICKER} analyses={k['analyses']} reports={k['reports']} "
        f"llm_calls={k['llm_calls']} (undisturbed {u['llm_calls']}; in flight on the dead node "
        f"{k['llm_in_flight_on_dead_node']}) lost_attempts={k['lost_attempts']}"
    )


if __name__ == "__main__":
    main()
