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
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import psutil
import psycopg
import pytest
import ray
import redis
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select
from werkzeug import Request, Response

from stockteacher.store import migrate
from stockteacher.store.db import dispose_engines, session_scope
from stockteacher.store.models import Analysis, Article, JobRun, Report, ScheduleState
from tests.cluster.conftest import citing_responder, stop_local_ray
from tests.cluster.raycli import (
    ROOT,
    head_ports,
    last_json,
    make_node_home,
    node_env,
    output,
    run,
    shell,
    start_command,
    worker_ports,
)
from tests.conftest import PG_ADMIN_DSN, _admin_dsn_for, _unavailable
from tests.servers.newsapi import FakeNewsApi, make_articles
from tests.servers.openai_server import FakeOpenAI

NEWS_KEY = "news-test-key"
ARTICLES_PER_TICKER = 6
SWEEP_TICKERS = ["AAPL", "MSFT", "NVDA", "AMZN", "TSLA", "META", "NFLX", "AMD"]
SCHEDULED_TICKERS = ["ORCL", "ADBE", "INTC", "QCOM"]
NAMES = {
    "AAPL": "Apple", "MSFT": "Microsoft", "NVDA": "Nvidia", "AMZN": "Amazon", "TSLA": "Tesla", "META": "Meta",
    "NFLX": "Netflix", "AMD": "AMD", "ORCL": "Oracle", "ADBE": "Adobe", "INTC": "Intel", "QCOM": "Qualcomm",
}  # fmt: skip
# Fast detection of a dead node (Ray's defaults take ~30 s); a Ray config setting, not ours.
HEALTH = {"RAY_health_check_period_ms": "1000", "RAY_health_check_timeout_ms": "1000",
          "RAY_health_check_failure_threshold": "3"}  # fmt: skip


class SlowNews(FakeNewsApi):
    """NewsAPI with per-company answers (the term of the query that names one) and latency."""

    latency = 0.0
    _answering = threading.Lock()  # `articles` is the parent's per-server state

    def serve(self, request: Request) -> Response:
        terms = {t.strip().strip('"') for t in (request.args.get("q") or "").split(" OR ")}
        ticker = next((t for t, name in NAMES.items() if name in terms or t in terms), None)
        if self.latency:
            time.sleep(self.latency)
        with self._answering:
            self.articles = (
                make_articles(ARTICLES_PER_TICKER, about=NAMES[ticker], host=f"{ticker.lower()}.example.com")
                if ticker
                else []
            )
            return super().serve(request)


class Node:
    def __init__(self, name: str, resources: dict[str, float], node_manager_port: int | None) -> None:
        self.name, self.resources, self.node_manager_port = name, resources, node_manager_port
        self.node_id: str | None = None
        self.dead = False

    def raylet(self) -> psutil.Process:
        flag = f"--node_manager_port={self.node_manager_port}"
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = proc.info["cmdline"] or []
            if cmdline and cmdline[0].endswith("/raylet") and flag in cmdline:
                return proc
        raise LookupError(f"no raylet for {self.name}")

    def processes(self) -> list[psutil.Process]:
        raylet = self.raylet()
        return [raylet, *raylet.children(recursive=True)]

    def kill(self) -> None:
        self.dead = True
        for proc in self.processes():
            try:
                proc.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    name = f"stockteacher_nodes_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        redis.Redis.from_url("redis://127.0.0.1:6379/13", socket_connect_timeout=2).flushdb()
    except (psycopg.OperationalError, redis.exceptions.ConnectionError) as exc:
        _unavailable("PostgreSQL or Redis", exc)
    dsn = _admin_dsn_for(name)
    migrate.upgrade(dsn)
    news_server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    news_server.start()
    news = SlowNews(news_server, api_key=NEWS_KEY)
    llm = FakeOpenAI(api_key="test-key")
    llm.responder = citing_responder
    llm.start()
    tmp = tmp_path_factory.mktemp("nodes")
    settings = {
        "POSTGRES_DSN": dsn,
        "INGESTION_REDIS_URL": "redis://127.0.0.1:6379/13",
        "LOCAL_STORAGE_ROOT": str(tmp / "storage"),
        "NEWS_API_KEY": NEWS_KEY,
        "NEWS_API_ENDPOINT": news_server.url_for("/v2/everything"),
        "NEWS_API_LANG": "en",
        "NEWS_API_TIMEOUT_SECONDS": "30",
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": llm.base_url,
        "ANALYSIS_REQUEST_TIMEOUT_SECONDS": "60",
        "ANALYZER_REPLICAS": "2",
        "ANALYZER_CONCURRENCY": "2",
        "SCHEDULER_MAX_IN_FLIGHT": "4",
        "SCHEDULER_TICK_SECONDS": "1",
        "COLLECTOR_MAX_RETRIES": "3",
        "DEFAULT_LOCALE": "en_US",
    }
    home = make_node_home(tmp / "home", settings)
    stop_local_ray()  # `ray stop` at the end stops every Ray on this machine
    ports = head_ports()
    head_env = node_env(home, **HEALTH)
    started = shell(start_command("head", flags=["--num-cpus=2"], ports=ports), head_env)
    assert started.returncode == 0, output(started)
    gcs = f"127.0.0.1:{ports['port']}"
    nodes: dict[str, Node] = {}

    def add_node(name: str, resources: dict[str, float]) -> Node:
        wports = worker_ports()
        flags = ["--num-cpus=2", f"--resources={json.dumps(resources)}"]
        result = shell(start_command("worker", flags=flags, ports=wports, head_address=gcs), node_env(home))
        assert result.returncode == 0, output(result)
        node = Node(name, resources, wports["node-manager-port"])
        deadline = time.monotonic() + 60
        while node.node_id is None and time.monotonic() < deadline:
            for info in ray.nodes():
                if info["Alive"] and info["NodeManagerPort"] == node.node_manager_port:
                    node.node_id = info["NodeID"]
            time.sleep(0.5)
        assert node.node_id, f"{name} did not join"
        nodes[name] = node
        return node

    ray.init(address=gcs, namespace="stockteacher", log_to_driver=False)
    try:
        add_node("collectors-1", {"collector": 8})
        add_node("collectors-2", {"collector": 8})
        add_node("analyzers-1", {"analyzer": 4})
        yield {
            "home": home,
            "dsn": dsn.replace("postgresql://", "postgresql+psycopg://", 1),
            "gcs": gcs,
            "nodes": nodes,
            "add_node": add_node,
            "news": news,
            "llm": llm,
            # A shell on the head: the node's .env, nothing activated.
            "on_head": node_env(home, STOCKTEACHER_ENV_FILE=str(home / "stockteacher" / ".env")),
        }
    finally:
        ray.shutdown()
        run([str(home / "stockteacher-env" / "bin" / "ray"), "stop"], node_env(home), timeout=120)
        llm.stop()
        news.close()
        news_server.stop()
        dispose_engines()
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _stockteacher(cluster: dict[str, Any], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    binary = str(cluster["home"] / "stockteacher-env" / "bin" / "stockteacher")
    return run([binary, *args, "--address", cluster["gcs"], "--json"], cluster["on_head"], timeout=timeout)


def _node_of(cluster: dict[str, Any], node_id: str | None) -> str | None:
    return next((n.name for n in cluster["nodes"].values() if n.node_id == node_id), None)


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


def _killed_llm_calls(llm: FakeOpenAI, node: Node) -> list[str]:
    """Tickers of the LLM calls in flight from `node`'s processes, by the callers' TCP ports."""
    ports = set()
    for proc in node.processes():
        try:
            ports.update(c.laddr.port for c in proc.net_connections("tcp") if c.raddr and c.raddr.port == llm.port)
        except psutil.NoSuchProcess:
            pass
    return [_ticker_of(r) for r in llm.in_flight if r.client_port in ports]


def _ticker_of(request: Any) -> str:
    prompt = "\n".join(m.get("content", "") for m in request.messages)
    return prompt.split("ticker: ", 1)[1].split()[0]


def test_nodes_die_mid_sweep_and_nothing_is_lost(cluster: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    llm: FakeOpenAI = cluster["llm"]
    news: SlowNews = cluster["news"]
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
    while time.monotonic() < deadline and job.poll() is None:
        with session_scope(dsn) as session:
            running = session.scalars(select(JobRun).where(JobRun.status == "RUNNING")).all()
        collecting = Counter(_node_of(cluster, r.details["worker"].get("node_id")) for r in running
                             if r.stage == "collect")  # fmt: skip
        calling = {n: _killed_llm_calls(llm, nodes[n]) for n in ("analyzers-1", "analyzers-2")}
        busy_collectors = [n for n in ("collectors-1", "collectors-2") if collecting[n]]
        busy_analyzers = [n for n, calls in calling.items() if calls]
        if busy_collectors and busy_analyzers:
            victims = [nodes[busy_collectors[0]], nodes[busy_analyzers[0]]]
            break
        time.sleep(0.2)
    assert victims, "never saw collectors and LLM calls in flight together"
    lost_calls = _killed_llm_calls(llm, victims[1])
    with session_scope(dsn) as session:
        lost_collects = session.scalar(
            select(func.count()).select_from(JobRun).where(JobRun.status == "RUNNING", JobRun.stage == "collect")
        )
    for victim in victims:
        victim.kill()
    out, err = job.communicate(timeout=280)
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
    calls = Counter(_ticker_of(r) for r in llm.chat_requests)
    repeated = {t: n - 1 for t, n in calls.items() if n > 1}
    lost_rows = [r for r in runs if r.error_code == "attempt_lost"]
    expected = {t: ARTICLES_PER_TICKER for t in SWEEP_TICKERS}
    with capsys.disabled():
        print(
            f"\nnode-kill: killed {victims[0].name} ({lost_collects} collectors running) and {victims[1].name} "
            f"({len(lost_calls)} LLM calls in flight); articles stored {sum(articles.values())}/"
            f"{sum(expected.values())}, analyses {sum(analyses.values())}, reports {sum(reports.values())}, "
            f"duplicates {sum(articles.values()) - len(set(articles)) * ARTICLES_PER_TICKER}, LLM calls "
            f"{sum(calls.values())} for {len(SWEEP_TICKERS)} tickers (repeated {sum(repeated.values())}), "
            f"attempt_lost rows {Counter(r.stage for r in lost_rows)}"
        )
    assert summary["status"] == "ok" and summary["published"] == len(SWEEP_TICKERS), summary
    assert dict(articles) == expected  # every article, once
    assert dict(analyses) == {t: 1 for t in SWEEP_TICKERS} and dict(reports) == {t: 1 for t in SWEEP_TICKERS}
    assert repeated == dict(Counter(lost_calls))  # only the calls in flight on the dead node, once each
    assert not [r for r in runs if r.status == "RUNNING"]  # no row claims work nobody does
    # The lost analyses are recorded: every call in flight on the dead node belongs to one.
    assert set(lost_calls) <= {r.ticker for r in lost_rows if r.stage == "analyze"}
    assert sum(1 for r in lost_rows if r.stage == "collect") == lost_collects


def test_the_scheduler_moves_off_a_dead_node_and_resumes_its_slots(cluster: dict[str, Any]) -> None:
    llm: FakeOpenAI = cluster["llm"]
    news: SlowNews = cluster["news"]
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
