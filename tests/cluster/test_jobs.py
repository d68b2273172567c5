"""The job scripts run as plain scripts: `--help`, bad input, a run on a local Ray. Through
`ray job submit` on a cluster: test_ray_cli.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories.cluster import ROOT, job_env, last_json

JOBS = ["run_once", "collect", "analyze", "publish", "backfill", "start_scheduler"]


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
    assert result.returncode == 2  # bad input, as the CLI's exit codes say
    summary = last_json(result.stdout)
    assert summary["status"] == "failed" and summary["error_code"] == "bad_input"
    assert "no such file" in str(summary["error"])


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
    # Progress is shown, one plain line per stage (stderr is no terminal here), and the
    # workers' logs stay in their files.
    assert "[collect] 1/1 tickers" in result.stderr and "[publish] 1/1 analyses" in result.stderr
    assert "worker logs: " in result.stderr and "collect.saved" not in result.stderr


def test_the_scheduler_job_without_a_cluster_says_where_to_point_it(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "jobs/start_scheduler.py", "--status"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**job_env(tmp_path), "POSTGRES_DSN": f"sqlite:///{tmp_path / 'x.db'}"},
    )
    assert result.returncode == 2
    summary = last_json(result.stdout)
    assert summary["error_code"] == "ray_address" and "pass --address auto" in summary["error"]
    assert "Started a local Ray instance" not in result.stderr  # refused before starting a throwaway Ray
