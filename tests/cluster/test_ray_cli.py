"""Ray's CLI as a supported client: a head started with cluster.yaml's own command line on a
fresh node (nothing activated, settings in the node's `.env`), then the README's commands,
verbatim, as subprocesses — `ray job submit` for every job, `serve deploy serve_config.yaml`,
`serve status`, requests to the API, `serve shutdown`, `ray stop`.

The session's in-process Ray is shut down first: `ray stop` stops every Ray on the machine."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import feedparser
import httpx
import psutil
import pytest
import yaml
from sqlalchemy import func, select

from stockteacher.core.crypto import new_key
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope
from stockteacher.store.models import Article, JobRun, PriceBar, Report, TrackRecord
from tests.cluster.raycli import (
    ROOT,
    client_env,
    head_ports,
    last_json,
    make_node_home,
    node_env,
    output,
    run,
    shell,
    start_command,
    submit,
)
from tests.factories.cluster import citing_responder, stop_local_ray
from tests.factories.notify import WEBHOOK_SECRET, add_user
from tests.factories.services import flushed_redis, new_pg_database
from tests.net import free_port
from tests.servers.openai_server import FakeOpenAI
from tests.servers.webhook import WebhookReceiver

SECRET = f"nk-{uuid.uuid4().hex}"  # a NEWS_API_KEY that must never show outside the node's .env
NODE_KEY = new_key()  # the node's SECRET_KEY: seals channel secrets; never outside the node's .env either


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A head node from cluster.yaml's start command, on a PostgreSQL database never migrated."""
    flushed_redis(14)
    with new_pg_database("stockteacher_cli") as dsn, FakeOpenAI(api_key="test-key") as llm:
        llm.responder = citing_responder
        yield from _head(tmp_path_factory, dsn, llm)


def _head(tmp_path_factory: pytest.TempPathFactory, dsn: str, llm: FakeOpenAI) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("head")
    home = make_node_home(
        tmp / "home",
        {
            "POSTGRES_DSN": dsn,
            "INGESTION_REDIS_URL": "redis://127.0.0.1:6379/14",
            "LOCAL_STORAGE_ROOT": str(tmp / "storage"),
            "NEWS_API_KEY": SECRET,
            "OPENAI_API_KEY": "test-key",
            "OPENAI_BASE_URL": llm.base_url,
            "SECRET_KEY": NODE_KEY,
            "COLLECTION_SCHEDULES": '[{"ticker": "AMZN", "source": "sample", "interval_minutes": 1440}]',
            "SCHEDULER_TICK_SECONDS": "3600",
        },
    )
    stop_local_ray()
    ports = head_ports()
    # One node does everything: it offers the resources of both worker types (cluster.yaml's
    # NODE_TYPE_RESOURCES=on makes collectors and analyzers ask for them).
    line = start_command("head", flags=["--num-cpus=2", '--resources={"collector": 8, "analyzer": 4}'], ports=ports)
    started = shell(line, node_env(home))
    assert started.returncode == 0, output(started)
    dashboard = f"http://127.0.0.1:{ports['dashboard-port']}"
    try:
        yield {
            "home": home,
            "dsn": dsn,
            "dashboard": dashboard,
            "gcs": f"127.0.0.1:{ports['port']}",
            "metrics_port": ports["metrics-export-port"],
            "client": client_env(tmp / "client", dashboard),
            "node": node_env(home, STOCKTEACHER_ENV_FILE=str(home / "stockteacher" / ".env")),
            "tmp": tmp,
            "llm": llm,
        }
    finally:
        # The README's way off: `ray stop` on the node (what `ray down` runs on each node).
        stopped = run([str(home / "stockteacher-env" / "bin" / "ray"), "stop"], node_env(home), timeout=120)
        assert stopped.returncode == 0, output(stopped)
        left = [p for p in psutil.process_iter(["cmdline"]) if "gcs_server" in " ".join(p.info["cmdline"] or [])]
        assert not left, "ray stop left a GCS running"


def _db(head: dict[str, Any]) -> str:
    return head["dsn"].replace("postgresql://", "postgresql+psycopg://", 1)


def test_the_node_runs_ray_from_the_venv_with_the_nodes_env_file(head: dict[str, Any]) -> None:
    deadline = time.monotonic() + 60
    while True:  # the autoscaler's first report takes a few seconds
        status = run(["ray", "status", f"--address={head['gcs']}"], head["client"], timeout=60)
        if "CPU" in status.stdout or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert status.returncode == 0 and "8.0 collector" in status.stdout, output(status)
    raylet = next(
        p for p in psutil.process_iter(["cmdline", "environ"]) if (p.info["cmdline"] or [""])[0].endswith("/raylet")
    )
    environ = raylet.info["environ"] or {}
    assert environ["PATH"].startswith(str(head["home"] / "stockteacher-env" / "bin") + ":")
    assert environ["STOCKTEACHER_ENV_FILE"] == str(head["home"] / "stockteacher" / ".env")
    # The dashboard and its Jobs API answer on loopback only.
    port = int(head["dashboard"].rsplit(":", 1)[1])
    listening = {c.laddr.ip for c in psutil.net_connections("tcp") if c.status == "LISTEN" and c.laddr.port == port}
    assert listening == {"127.0.0.1"}


def test_a_job_on_a_database_never_migrated_says_to_run_db_upgrade(head: dict[str, Any]) -> None:
    result = submit(head["client"], "jobs/run_once.py", "--tickers", "AAPL,TSLA")
    assert result.returncode != 0
    summary = last_json(result.stdout)
    assert summary["status"] == "failed" and summary["error_code"] == "db_not_migrated"
    assert "run `stockteacher db upgrade`" in summary["error"]
    text = output(result)
    assert "exit code 2" in text
    assert "ProgrammingError" not in text and "RayTaskError" not in text


def test_a_job_on_a_node_without_postgres_dsn_refuses_instead_of_using_sqlite(head: dict[str, Any]) -> None:
    bare_home = head["tmp"] / "bare"  # a node whose .env was never copied, and no STOCKTEACHER_ENV_FILE
    bare_home.mkdir()
    result = run(
        [str(head["home"] / "stockteacher-env" / "bin" / "python"), "jobs/collect.py", "--tickers", "AAPL",
         "--address", head["gcs"]],
        node_env(bare_home),
    )  # fmt: skip
    assert result.returncode == 2, output(result)
    assert "POSTGRES_DSN is not set on this node" in last_json(result.stdout)["error"]


def test_db_upgrade_on_the_node(head: dict[str, Any]) -> None:
    # What `ray exec cluster.yaml '…'` runs on the head: an SSH shell, nothing activated.
    result = shell("cd ~/stockteacher && ~/stockteacher-env/bin/stockteacher db upgrade", node_env(head["home"]))
    assert result.returncode == 0, output(result)
    assert "database at revision 00" in result.stdout


def test_run_once_with_ray_job_submit(head: dict[str, Any]) -> None:
    # alice follows AAPL with a webhook sealed under the node's SECRET_KEY: the sweep's notifier
    # (a Ray task on the node) must open it with the key from the node's .env alone.
    sealing = Settings(_env_file=None, postgres_dsn=_db(head), secret_key=NODE_KEY)
    with WebhookReceiver(secret=WEBHOOK_SECRET) as hook:
        add_user(sealing, "alice", tickers={"AAPL": "intraday"}, policy={"timezone": "UTC"}, target=hook.url)
        result = submit(head["client"], "jobs/run_once.py", "--tickers", "AAPL,TSLA")
        delivered = [r for r in hook.requests if r.json()["type"] == "reports"]
    assert result.returncode == 0, output(result)
    assert len(delivered) == 1 and delivered[0].signature_valid  # Standard Webhooks, verified by the library
    assert [r["ticker"] for r in delivered[0].json()["reports"]] == ["AAPL"]
    summary = last_json(result.stdout)
    assert summary["status"] == "ok" and summary["published"] == 2
    with session_scope(_db(head)) as session:
        reports = sorted(r.ticker for r in session.scalars(select(Report)))
        traces = {r.trace_id for r in session.scalars(select(JobRun).where(JobRun.stage != "notify"))}
    assert reports == ["AAPL", "TSLA"] and traces == {summary["trace_id"]}
    assert (head["tmp"] / "storage" / "reports" / "AAPL").is_dir()
    # The sweep fetched the sample tickers' bars and their benchmark's (PRICE_SOURCE=auto).
    assert summary["track"]["price_errors"] == {} and summary["track"]["bars_stored"] > 0
    with session_scope(_db(head)) as session:
        assert set(session.scalars(select(PriceBar.ticker).distinct())) == {"AAPL", "TSLA", "^GSPC"}


def test_price_history_and_the_track_record_with_ray_job_submit(head: dict[str, Any]) -> None:
    prices = submit(head["client"], "jobs/prices.py", "--tickers", "MSFT,000660.KS", "--source", "sample",
                    "--from", "2026-06-01", "--to", "2026-11-30")  # fmt: skip
    assert prices.returncode == 0, output(prices)
    summary = last_json(prices.stdout)
    assert summary["status"] == "ok" and set(summary["stored"]) == {"MSFT", "000660.KS", "^GSPC", "^KS11"}
    again = last_json(submit(head["client"], "jobs/prices.py", "--tickers", "MSFT,000660.KS", "--source", "sample",
                             "--from", "2026-06-01", "--to", "2026-11-30").stdout)  # fmt: skip
    assert again["stored"] == summary["stored"]  # the same days replaced, none added
    with session_scope(_db(head)) as session:
        days = session.scalar(select(func.count()).select_from(PriceBar).where(PriceBar.ticker == "MSFT"))
    assert days == summary["stored"]["MSFT"]
    bad = submit(head["client"], "jobs/prices.py", "--tickers", "MSFT", "--from", "30/11/2026")
    assert bad.returncode != 0 and "exit code 2" in output(bad) and "YYYY-MM-DD" in last_json(bad.stdout)["error"]
    evaluated = submit(head["client"], "jobs/evaluate.py")
    assert evaluated.returncode == 0, output(evaluated)
    result = last_json(evaluated.stdout)
    assert result["status"] == "ok" and result["records"] >= 3
    with session_scope(_db(head)) as session:
        assert session.scalar(select(func.count()).select_from(TrackRecord).where(TrackRecord.scope == "*")) == 3


def test_every_other_job_with_ray_job_submit(head: dict[str, Any]) -> None:
    collected = submit(head["client"], "jobs/collect.py", "--tickers", "MSFT", "--source", "sample")
    assert collected.returncode == 0, output(collected)
    assert last_json(collected.stdout)["saved"] > 0
    analyzed = submit(head["client"], "jobs/analyze.py", "--tickers", "MSFT")
    assert analyzed.returncode == 0, output(analyzed)
    assert last_json(analyzed.stdout)["analyses"] == 1
    published = submit(head["client"], "jobs/publish.py")
    assert published.returncode == 0, output(published)
    assert last_json(published.stdout)["status"] == "ok"
    backfill = submit(
        head["client"],
        "jobs/backfill.py",
        "--path",
        "stockteacher/sources/data/sample_articles.jsonl",
        "--tickers",
        "NVDA",
    )
    assert backfill.returncode == 0, output(backfill)
    assert last_json(backfill.stdout)["published"] == 1
    with session_scope(_db(head)) as session:
        assert sorted(r.ticker for r in session.scalars(select(Report))) == ["AAPL", "MSFT", "NVDA", "TSLA"]
        assert session.scalar(select(func.count()).select_from(Article).where(Article.ticker == "NVDA")) > 0


def test_the_scheduler_through_jobs_and_the_cli_on_the_node(head: dict[str, Any]) -> None:
    started = submit(head["client"], "jobs/start_scheduler.py")
    assert started.returncode == 0, output(started)
    assert last_json(started.stdout)["running"] is True
    status = submit(head["client"], "jobs/start_scheduler.py", "--status")
    summary = last_json(status.stdout)
    assert summary["running"] is True and "AMZN:sample" in summary["next_due"]
    assert summary["analyzers"]["replicas"] and all(r["state"] == "running" for r in summary["analyzers"]["replicas"])
    # On the head itself (`ray exec cluster.yaml '…'`): `--address auto` finds the cluster that
    # `ray start` recorded.
    on_head = node_env(head["home"])
    cli = shell(
        "cd ~/stockteacher && ~/stockteacher-env/bin/stockteacher scale analyzers 3 --address auto --json", on_head
    )
    assert cli.returncode == 0, output(cli)
    assert last_json(cli.stdout)["size"] == 3
    cli = shell(
        "cd ~/stockteacher && ~/stockteacher-env/bin/stockteacher scheduler status --address auto --json", on_head
    )
    assert cli.returncode == 0, output(cli)
    assert last_json(cli.stdout)["running"] is True and last_json(cli.stdout)["analyzers"]["size"] == 3
    # Without an address, on a machine whose cluster runs: refused, with what to do.
    bare = shell("cd ~/stockteacher && ~/stockteacher-env/bin/stockteacher run-once --tickers AAPL --json", on_head)
    assert bare.returncode == 2 and "pass --address auto" in bare.stderr
    stopped = submit(head["client"], "jobs/start_scheduler.py", "--stop")
    assert stopped.returncode == 0 and last_json(stopped.stdout)["running"] is False


def test_secrets_stay_on_the_node(head: dict[str, Any]) -> None:
    jobs = httpx.get(f"{head['dashboard']}/api/jobs/", timeout=30)
    assert jobs.status_code == 200 and jobs.json()
    assert SECRET not in jobs.text and NODE_KEY not in jobs.text  # no runtime_env carries them
    submitted = [job for job in jobs.json() if job.get("submission_id")]
    assert len(submitted) >= 8
    for job in submitted:
        logs = run(["ray", "job", "logs", job["submission_id"]], head["client"], timeout=60)
        assert SECRET not in logs.stdout + logs.stderr and NODE_KEY not in logs.stdout + logs.stderr


def _series_total(text: str, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def test_metrics_reach_prometheus_under_the_names_the_readme_gives(head: dict[str, Any]) -> None:
    from stockteacher.cluster.metrics import prometheus_name
    from stockteacher.store.models import Story

    wanted = [
        prometheus_name(n)
        for n in ("stockteacher_articles_saved", "stockteacher_llm_calls", "stockteacher_stories_new")
    ]
    with session_scope(_db(head)) as session:
        stories = session.scalar(select(func.count()).select_from(Story))
        articles = session.scalar(select(func.count()).select_from(Article))
    deadline, text = time.monotonic() + 60, ""
    while time.monotonic() < deadline:
        text = httpx.get(f"http://127.0.0.1:{head['metrics_port']}/metrics", timeout=10).text
        if all(name in text for name in wanted) and _series_total(text, wanted[2]) >= stories:
            break
        time.sleep(2)
    assert all(f"\n{name}{{" in text for name in wanted), [n for n in wanted if n not in text]
    # Counted once each: every stored article, and every story created (not the joined ones).
    assert _series_total(text, "ray_stockteacher_articles_saved_total") == articles
    assert _series_total(text, "ray_stockteacher_stories_new_total") == stories
    readme = (ROOT / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in wanted)


def test_serve_deploy_serve_config_yaml(head: dict[str, Any], tmp_path: Path) -> None:
    config = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    port = free_port()
    config["http_options"]["port"] = port  # the only change: 8000 may be taken on this machine
    copy = tmp_path / "serve_config.yaml"
    copy.write_text(yaml.safe_dump(config))
    client = head["client"]
    deployed = run(["serve", "deploy", str(copy)], client, timeout=120)
    assert deployed.returncode == 0, output(deployed)
    deadline, status = time.monotonic() + 240, {}
    while time.monotonic() < deadline:
        shown = run(["serve", "status"], client, timeout=60)
        status = yaml.safe_load(shown.stdout) or {}
        app = (status.get("applications") or {}).get("stockteacher") or {}
        if app.get("status") in ("RUNNING", "DEPLOY_FAILED"):
            break
        time.sleep(3)
    app = status["applications"]["stockteacher"]
    assert app["status"] == "RUNNING", app.get("message")
    assert {d: v["status"] for d, v in app["deployments"].items()} == {"api": "HEALTHY", "chat": "HEALTHY"}
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=30, trust_env=False) as http:
        assert http.get("/healthz").status_code == 200
        reports = http.get("/api/reports", params={"limit": 10}).json()
        with session_scope(_db(head)) as session:
            published = sorted(r.ticker for r in session.scalars(select(Report).where(Report.status == "published")))
        assert sorted(r["ticker"] for r in reports) == published and len(published) >= 4
        assert "StockTeacher" in http.get("/").text
        # The feeds come through the same app: a published ticker's RSS, then a 304 on its ETag.
        feed = http.get(f"/feeds/{published[0]}.rss")
        assert feed.status_code == 200 and feed.headers["content-type"].startswith("application/rss+xml")
        assert feedparser.parse(feed.content).entries
        again = http.get(f"/feeds/{published[0]}.rss", headers={"If-None-Match": feed.headers["etag"]})
        assert again.status_code == 304
        # Chat through the chat deployment: an LLM call, counted with stage=chat.
        session = http.post("/api/chat/sessions", json={"insight_id": reports[0]["insight_id"]})
        assert session.status_code == 201
        answer = http.post(f"/api/chat/sessions/{session.json()['session_id']}/messages", json={"content": "EPS?"})
        assert answer.status_code == 201, answer.text
    deadline, chat_calls = time.monotonic() + 60, 0.0
    while time.monotonic() < deadline and not chat_calls:
        text = httpx.get(f"http://127.0.0.1:{head['metrics_port']}/metrics", timeout=10).text
        chat_calls = _series_total(text, "ray_stockteacher_llm_calls_total", stage="chat")
        time.sleep(2)
    assert chat_calls == 1
    down = run(["serve", "shutdown", "-y"], client, timeout=120)
    assert down.returncode == 0, output(down)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{base}/healthz", timeout=5, trust_env=False)
