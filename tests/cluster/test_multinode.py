"""Several nodes on one machine, each started with cluster.yaml's worker command line and the
resources of one of its node types; then nodes die.

- Collector tasks run on `collectors` nodes and analyzer replicas on `analyzers` nodes; eight
  replicas want two analyzer nodes: four wait (the demand an autoscaler acts on) until a second
  one joins.
- A collector node and an analyzer node are SIGKILLed in the middle of a sweep (slow NewsAPI,
  slow OpenAI): the sweep finishes on the others, every article is stored once, every ticker
  gets one analysis and one report, only the LLM calls in flight on the dead node are sent
  again (once each), and `job_runs` closes the lost attempts as `attempt_lost`.
- The node holding the scheduler actor is SIGKILLed mid-sweep: Ray restarts the scheduler on
  another node, which resumes the cut-off slots.

Worker nodes are killed the way a node dies: SIGKILL to its raylet and everything under it.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select

from stockteacher.store import migrate
from stockteacher.store.db import session_scope
from stockteacher.store.models import Analysis, Article, JobRun, Report, ScheduleState
from tests.cluster.raycli import (
    ROOT,
    LocalCluster,
    Node,
    calls_cut_off,
    last_json,
    make_node_home,
    node_env,
    output,
    run,
    slow_services_settings,
    ticker_of,
)
from tests.factories.cluster import citing_responder, stop_local_ray
from tests.factories.services import flushed_redis, new_pg_database
from tests.servers.newsapi import PerCompanyNewsApi
from tests.servers.openai_server import FakeOpenAI

NEWS_KEY = "news-test-key"
ARTICLES_PER_TICKER = 6
SWEEP_TICKERS = ["AAPL", "MSFT", "NVDA", "AMZN", "TSLA", "META", "NFLX", "AMD"]
SCHEDULED_TICKERS = ["ORCL", "ADBE", "INTC", "QCOM"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    flushed_redis(13)
    with new_pg_database("stockteacher_nodes") as dsn:
        yield from _cluster(tmp_path_factory, dsn)


def _cluster(tmp_path_factory: pytest.TempPathFactory, dsn: str) -> Iterator[dict[str, Any]]:
    migrate.upgrade(dsn)
    news_server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    news_server.start()
    news = PerCompanyNewsApi(
        news_server, api_key=NEWS_KEY, tickers=SWEEP_TICKERS + SCHEDULED_TICKERS, per_ticker=ARTICLES_PER_TICKER
    )
    llm = FakeOpenAI(api_key="test-key")
    llm.responder = citing_responder
    llm.start()
    tmp = tmp_path_factory.mktemp("nodes")
    home = make_node_home(
        tmp / "home",
        slow_services_settings(dsn, tmp, news_server.url_for("/v2/everything"), NEWS_KEY, llm.base_url, redis_db=13),
    )
    stop_local_ray()  # `ray stop` at the end stops every Ray on this machine
    local = LocalCluster(home)
    try:
        local.add_node("collectors-1", {"collector": 8})
        local.add_node("collectors-2", {"collector": 8})
        local.add_node("analyzers-1", {"analyzer": 4})
        yield {
            "home": home,
            "dsn": dsn.replace("postgresql://", "postgresql+psycopg://", 1),
            "gcs": local.gcs,
            "nodes": local.nodes,
            "add_node": local.add_node,
            "local": local,
            "news": news,
            "llm": llm,
            # A shell on the head: the node's .env, nothing activated.
            "on_head": node_env(home, STOCKTEACHER_ENV_FILE=str(home / "stockteacher" / ".env")),
        }
    finally:
        local.stop()
        llm.stop()
        news.close()
        news_server.stop()


def _stockteacher(cluster: dict[str, Any], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    binary = str(cluster["home"] / "stockteacher-env" / "bin" / "stockteacher")
    return run([binary, *args, "--address", cluster["gcs"], "--json"], cluster["on_head"], timeout=timeout)


def _node_of(cluster: dict[str, Any], node_id: str | None) -> str | None:
    return cluster["local"].node_of(node_id)  # type: ignore[no-any-return]


def _ray_status_demands(cluster: dict[str, Any]) -> str:
    binary = str(cluster["home"] / "stockteacher-env" / "bin" / "ray")
    return run([binary, "status", f"--address={cluster['gcs']}"], cluster["on_head"], timeout=60).stdout


def test_work_lands_on_nodes_of_its_type_and_eight_replicas_want_a_second_analyzer_node(
    cluster: dict[str, Any],
) -> None:
    llm: FakeOpenAI = cluster["llm"]
    llm.default_delay = 0.0
    started = _stockteacher(cluster, "scheduler", "start")
    assert started.returncode == 0, output(started)
    assert _node_of(cluster, last_json(started.stdout)["node"]["node_id"]) is None  # on the head, not a worker
    done = _stockteacher(cluster, "scheduler", "run-now", timeout=240)  # no schedules yet: nothing to do
    assert done.returncode == 0, output(done)

    scaled = _stockteacher(cluster, "scale", "analyzers", "8")
    assert scaled.returncode == 0, output(scaled)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        replicas = last_json(_stockteacher(cluster, "scheduler", "status").stdout)["analyzers"]["replicas"]
        states = Counter(r["state"] for r in replicas)
        if states["running"] == 4:
            break
        time.sleep(1)
    assert states == {"running": 4, "pending": 4}, replicas
    assert {_node_of(cluster, r.get("node_id")) for r in replicas if r["state"] == "running"} == {"analyzers-1"}
    deadline = time.monotonic() + 60
    while "analyzer" not in _ray_status_demands(cluster).split("Demands:")[-1] and time.monotonic() < deadline:
        time.sleep(2)
    assert "analyzer" in _ray_status_demands(cluster).split("Demands:")[-1]  # what an autoscaler acts on

    cluster["add_node"]("analyzers-2", {"analyzer": 4})  # what the autoscaler would start
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        replicas = last_json(_stockteacher(cluster, "scheduler", "status").stdout)["analyzers"]["replicas"]
        if all(r["state"] == "running" for r in replicas):
            break
        time.sleep(1)
    placed = Counter(_node_of(cluster, r.get("node_id")) for r in replicas)
    assert placed == {"analyzers-1": 4, "analyzers-2": 4}, replicas
    stopped = _stockteacher(cluster, "scheduler", "stop")
    assert stopped.returncode == 0, output(stopped)


def test_nodes_die_mid_sweep_and_nothing_is_lost(cluster: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    llm: FakeOpenAI = cluster["llm"]
    news: PerCompanyNewsApi = cluster["news"]
    llm.reset()
    llm.default_delay = 6.0
    news.latency = 2.0
    binary = str(cluster["home"] / "stockteacher-env" / "bin" / "python")
    job = subprocess.Popen(
        [binary, "jobs/run_once.py", "--tickers", ",".join(SWEEP_TICKERS), "--source", "news_api",
         "--address", cluster["gcs"]],
        cwd=ROOT,
        env=cluster["on_head"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    dsn = cluster["dsn"]
    nodes = cluster["nodes"]
    # Wait until LLM calls are in flight on an analyzer node and collectors run on a collector node.
    deadline = time.monotonic() + 120
    victims: list[Node] = []
    ports: dict[str, set[int]] = {n: set() for n in ("analyzers-1", "analyzers-2")}
    while time.monotonic() < deadline and job.poll() is None:
        with session_scope(dsn) as session:
            running = session.scalars(select(JobRun).where(JobRun.status == "RUNNING")).all()
        collecting = Counter(_node_of(cluster, r.details["worker"].get("node_id")) for r in running
                             if r.stage == "collect")  # fmt: skip
        for name in ports:
            ports[name] |= nodes[name].ports_to(llm.port)
        busy_collectors = [n for n in ("collectors-1", "collectors-2") if collecting[n]]
        busy_analyzers = [n for n in ports if any(r.client_port in ports[n] for r in llm.in_flight)]
        if busy_collectors and busy_analyzers:
            victims = [nodes[busy_analyzers[0]], nodes[busy_collectors[0]]]
            break
        time.sleep(0.2)
    assert victims, "never saw collectors and LLM calls in flight together"
    with session_scope(dsn) as session:
        lost_collects = session.scalar(
            select(func.count()).select_from(JobRun).where(JobRun.status == "RUNNING", JobRun.stage == "collect")
        )
    dead_ports = ports[victims[0].name] | victims[0].ports_to(llm.port)
    for victim in victims:
        victim.kill()
    killed_at = time.monotonic()
    out, err = job.communicate(timeout=280)
    lost_calls = [ticker_of(r) for r in calls_cut_off(llm, dead_ports, killed_at)]
    assert job.returncode == 0, out[-3000:] + err[-3000:]
    summary = last_json(out)
    trace = summary["trace_id"]

    with session_scope(dsn) as session:
        articles = Counter(
            t for (t,) in session.execute(select(Article.ticker).where(Article.ticker.in_(SWEEP_TICKERS)))
        )
        analyses = Counter(t for (t,) in session.execute(select(Analysis.ticker).where(Analysis.trace_id == trace)))
        reports = Counter(t for (t,) in session.execute(select(Report.ticker).where(Report.ticker.in_(SWEEP_TICKERS))))
        runs = session.scalars(select(JobRun).where(JobRun.trace_id == trace)).all()
    calls = Counter(ticker_of(r) for r in llm.chat_requests)
    repeated = {t: n - 1 for t, n in calls.items() if n > 1}
    lost_rows = [r for r in runs if r.error_code == "attempt_lost"]
    expected = {t: ARTICLES_PER_TICKER for t in SWEEP_TICKERS}
    with capsys.disabled():
        print(
            f"\nnode-kill: killed {victims[1].name} ({lost_collects} collectors running) and {victims[0].name} "
            f"({len(lost_calls)} LLM calls in flight); articles stored {sum(articles.values())}/"
            f"{sum(expected.values())}, analyses {sum(analyses.values())}, reports {sum(reports.values())}, "
            f"duplicates {sum(articles.values()) - len(set(articles)) * ARTICLES_PER_TICKER}, LLM calls "
            f"{sum(calls.values())} for {len(SWEEP_TICKERS)} tickers (repeated {sum(repeated.values())}), "
            f"attempt_lost rows {Counter(r.stage for r in lost_rows)}"
        )
    assert summary["status"] == "ok" and summary["published"] == len(SWEEP_TICKERS), summary
    assert dict(articles) == expected  # every article, once
    assert dict(analyses) == {t: 1 for t in SWEEP_TICKERS} and dict(reports) == {t: 1 for t in SWEEP_TICKERS}
    # Only the dead node's lost attempts are repeated, once each: a call cut off on the wire, or
    # one answered just before the kill whose replica died before its attempt closed (the
    # replica stores the analysis and publishes after the answer arrives).
    lost_attempts = {r.ticker for r in lost_rows if r.stage in ("analyze", "publish")}
    made_by_lost_attempts = Counter(
        ticker_of(r) for r in llm.chat_requests if r.client_port in dead_ports and ticker_of(r) in lost_attempts
    )
    assert repeated == dict(made_by_lost_attempts)
    assert not [r for r in runs if r.status == "RUNNING"]  # no row claims work nobody does
    # The lost analyses are recorded: every call in flight on the dead node belongs to one.
    assert set(lost_calls) <= {r.ticker for r in lost_rows if r.stage == "analyze"}
    # Every collector lost ran on the killed node: those running there when it died, and one that
    # may have started there between the count above and the kill.
    lost_collect_nodes = [_node_of(cluster, r.details["worker"].get("node_id")) for r in lost_rows if r.stage == "collect"]
    assert len(lost_collect_nodes) >= collecting[victims[1].name] >= 1
    assert set(lost_collect_nodes) == {victims[1].name}


def test_the_scheduler_moves_off_a_dead_node_and_resumes_its_slots(cluster: dict[str, Any]) -> None:
    llm: FakeOpenAI = cluster["llm"]
    news: PerCompanyNewsApi = cluster["news"]
    llm.reset()
    llm.default_delay = 3.0
    news.latency = 3.0
    add_node = cluster["add_node"]
    add_node("collectors-3", {"collector": 8})  # the autoscaler keeps min_workers collectors
    schedules = json.dumps([{"ticker": t, "source": "news_api", "interval_minutes": 1440} for t in SCHEDULED_TICKERS])
    env = {**cluster["on_head"], "COLLECTION_SCHEDULES": schedules, "SCHEDULER_RESOURCE": "collector"}
    binary = str(cluster["home"] / "stockteacher-env" / "bin" / "stockteacher")
    started = run([binary, "scheduler", "start", "--address", cluster["gcs"], "--json"], env, timeout=180)
    assert started.returncode == 0, output(started)
    live = [n.name for n in cluster["nodes"].values() if "collector" in n.resources and not n.dead]
    home = _node_of(cluster, last_json(started.stdout)["node"]["node_id"])
    assert home in live and len(live) == 2, (home, live)  # pinned to a node offering `collector`
    dsn = cluster["dsn"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with session_scope(dsn) as session:
            first = session.scalars(select(ScheduleState.last_trace_id).where(ScheduleState.last_status == "RUNNING"))
            first_traces = set(first)
        if first_traces:
            break
        time.sleep(0.2)
    assert first_traces, "the scheduler never claimed its slots"
    cluster["nodes"][home].kill()

    (survivor,) = [n for n in live if n != home]
    deadline = time.monotonic() + 240
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        shown = run([binary, "scheduler", "status", "--address", cluster["gcs"], "--json"], env, timeout=60)
        if shown.returncode == 0:
            status = last_json(shown.stdout)
            with session_scope(dsn) as session:
                states = session.scalars(select(ScheduleState)).all()
                reported = session.scalar(
                    select(func.count()).select_from(Report).where(Report.ticker.in_(SCHEDULED_TICKERS))
                )
            done = [s for s in states if s.ticker in SCHEDULED_TICKERS and s.last_status == "SUCCEEDED"]
            if len(done) == len(SCHEDULED_TICKERS) and reported == len(SCHEDULED_TICKERS):
                break
        time.sleep(2)
    assert _node_of(cluster, status.get("node", {}).get("node_id")) == survivor  # restarted on the other node
    with session_scope(dsn) as session:
        states = {s.ticker: s for s in session.scalars(select(ScheduleState)) if s.ticker in SCHEDULED_TICKERS}
        reports = Counter(
            t for (t,) in session.execute(select(Report.ticker).where(Report.ticker.in_(SCHEDULED_TICKERS)))
        )
        articles = Counter(
            t for (t,) in session.execute(select(Article.ticker).where(Article.ticker.in_(SCHEDULED_TICKERS)))
        )
        stale = session.scalars(
            select(JobRun).where(JobRun.trace_id.in_(first_traces), JobRun.status == "RUNNING")
        ).all()
    assert {t: s.last_status for t, s in states.items()} == {t: "SUCCEEDED" for t in SCHEDULED_TICKERS}
    assert all(s.last_trace_id not in first_traces for s in states.values())  # resumed by the new scheduler
    assert dict(reports) == {t: 1 for t in SCHEDULED_TICKERS}
    assert dict(articles) == {t: ARTICLES_PER_TICKER for t in SCHEDULED_TICKERS}
    assert not stale  # the cut-off sweep's rows were closed as lost
    stopped = run([binary, "scheduler", "stop", "--address", cluster["gcs"], "--json"], env, timeout=120)
    assert stopped.returncode == 0, output(stopped)
