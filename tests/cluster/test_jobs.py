"""The job scripts: `--help`, a plain local run, and `ray job submit` against a cluster made
with `ray start --head` (its own ports, stopped afterwards without touching other Ray)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from stockteacher.store.db import session_scope
from stockteacher.store.models import JobRun, Report
from tests.net import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
JOBS = ["run_once", "collect", "analyze", "publish", "backfill", "start_scheduler"]


def job_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_ADDRESS", "POSTGRES_DSN", "DATABASE_URL"))}
    env.update(
        PATH=f"{BIN}:{env.get('PATH', '')}",
        RAY_USAGE_STATS_ENABLED="0",
        RAY_AUTH_MODE=env.get("RAY_AUTH_MODE", "disabled"),
    )
    return env


def last_json(text: str) -> dict[str, object]:
    return json.loads([line for line in text.strip().splitlines() if line.startswith("{")][-1])


@pytest.mark.parametrize("job", JOBS)
def test_every_job_has_help(job: str) -> None:
    result = subprocess.run(
        [sys.executable, f"jobs/{job}.py", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "usage:" in result.stdout


def test_job_exits_nonzero_with_a_json_reason_on_bad_input(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "jobs/backfill.py", "--path", str(tmp_path / "missing.csv")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=job_env(tmp_path),
    )
    assert result.returncode == 1
    summary = last_json(result.stdout)
    assert summary["status"] == "failed" and "no such file" in str(summary["error"])


@pytest.fixture
def ray_head(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A Ray cluster from `ray start --head --block` on free ports; yields the dashboard URL
    and the node's Prometheus metrics port."""
    dashboard, metrics_port = free_port(), free_port()
    temp_dir = Path(tempfile.mkdtemp(prefix="rayhead-", dir="/tmp"))  # Unix socket paths must stay short
    log = (tmp_path / "ray-start.log").open("w")
    cmd = [
        str(BIN / "ray"),
        "start",
        "--head",
        "--block",
        f"--port={free_port()}",
        f"--dashboard-port={dashboard}",
        "--num-cpus=2",
        "--include-dashboard=true",
        "--disable-usage-stats",
        f"--metrics-export-port={metrics_port}",
        f"--ray-client-server-port={free_port()}",
        f"--dashboard-agent-listen-port={free_port()}",
        f"--temp-dir={temp_dir}",
    ]
    proc = subprocess.Popen(cmd, env=job_env(tmp_path), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{dashboard}"
    try:
        deadline = time.monotonic() + 90
        while True:
            probe = subprocess.run(["curl", "-sf", f"{url}/api/version"], capture_output=True, timeout=10)
            if probe.returncode == 0:
                break
            assert proc.poll() is None, (tmp_path / "ray-start.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "ray start --head did not come up"
            time.sleep(1)
        yield url, metrics_port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # Ray drains for 30 s on SIGTERM; we need not wait
        except ProcessLookupError:
            pass
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_run_once_submitted_with_ray_job_submit(ray_head: tuple[str, int], tmp_path: Path) -> None:
    address, metrics_port = ray_head
    dsn = f"sqlite:///{tmp_path / 'jobs.db'}"
    runtime_env = {
        "env_vars": {
            "POSTGRES_DSN": dsn,
            "INGESTION_REDIS_URL": "redis://127.0.0.1:1/0",
            "LOCAL_STORAGE_ROOT": str(tmp_path / "storage"),
            "REDIS_SOCKET_TIMEOUT_SECONDS": "0.2",
        }
    }
    result = subprocess.run(
        [
            str(BIN / "ray"),
            "job",
            "submit",
            "--address",
            address,
            "--working-dir",
            ".",
            "--runtime-env-json",
            json.dumps(runtime_env),
            "--",
            "python",
            "jobs/run_once.py",
            "--tickers",
            "AAPL,TSLA",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=job_env(tmp_path),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = last_json(result.stdout)
    assert summary["status"] == "ok" and summary["published"] == 2
    with session_scope(dsn) as session:
        reports = session.scalars(select(Report)).all()
        traces = {r.trace_id for r in session.scalars(select(JobRun))}
    assert sorted(r.ticker for r in reports) == ["AAPL", "TSLA"]
    assert traces == {summary["trace_id"]}
    assert (tmp_path / "storage" / "reports" / "AAPL").is_dir()
    # The custom metrics reach the node's Prometheus endpoint (reported every ~10 s).
    deadline, text = time.monotonic() + 60, ""
    while "stockteacher_articles_saved" not in text and time.monotonic() < deadline:
        time.sleep(2)
        probe = subprocess.run(
            ["curl", "-s", f"http://127.0.0.1:{metrics_port}/metrics"], capture_output=True, text=True, timeout=10
        )
        text = probe.stdout
    assert "stockteacher_articles_saved" in text and "stockteacher_llm_calls" in text


def test_run_once_as_a_plain_script_on_local_ray(tmp_path: Path) -> None:
    env = job_env(tmp_path)
    env.update(
        POSTGRES_DSN=f"sqlite:///{tmp_path / 'plain.db'}",
        INGESTION_REDIS_URL="redis://127.0.0.1:1/0",
        LOCAL_STORAGE_ROOT=str(tmp_path / "storage"),
        REDIS_SOCKET_TIMEOUT_SECONDS="0.2",
    )
    result = subprocess.run(
        [sys.executable, "jobs/run_once.py", "--tickers", "MSFT"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = last_json(result.stdout)
    assert summary["status"] == "ok" and summary["published"] == 1
    assert "[collect] MSFT from sample" in result.stderr  # progress is shown
