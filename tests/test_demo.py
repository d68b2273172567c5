"""`stockteacher demo --once` in a fresh directory: migrates SQLite under ./var, runs one sweep
on a local Ray over the sample tickers, serves the app on Ray Serve, answers a health check,
and exits 0, leaving a published report per sample ticker."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from stockteacher.demo import SAMPLE_TICKERS
from tests.net import free_port


@pytest.mark.timeout(420)
@pytest.mark.parametrize("dotenv", [False, True], ids=["no .env", "a copied .env.example"])
def test_demo_once_in_a_fresh_directory(tmp_path: Path, dotenv: bool) -> None:
    """As the Quickstart runs it, and as a user does after `cp .env.example .env` (whose
    defaults must need no network)."""
    if dotenv:
        shutil.copy(Path(__file__).resolve().parents[1] / ".env.example", tmp_path / ".env")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RAY_ADDRESS", "POSTGRES_DSN", "DATABASE_URL", "OPENAI_", "COLLECTION_", "AUTH_MODE"))
    }
    env.update(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE=os.environ.get("RAY_AUTH_MODE", "disabled"))
    port = free_port()
    cli = Path(sys.executable).with_name("stockteacher")
    done = subprocess.run(
        [str(cli), "demo", "--once", "--port", str(port), "--no-dashboard", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    (line,) = done.stdout.strip().splitlines()  # --json: the summary alone
    summary = json.loads(line)
    assert summary["status"] == "ok"
    assert summary["health"] == {"status": "ok"}
    assert summary["web"] == f"http://127.0.0.1:{port}/"
    assert summary["api_docs"] == f"http://127.0.0.1:{port}/docs"
    assert "[demo]" not in done.stderr and "[collect]" not in done.stderr  # --json: no progress

    database = tmp_path / "var" / "dev.db"
    assert database.is_file()
    with sqlite3.connect(database) as conn:
        published = dict(
            conn.execute("SELECT ticker, COUNT(*) FROM reports WHERE status = 'published' GROUP BY ticker").fetchall()
        )
    assert {t: published.get(t, 0) >= 1 for t in SAMPLE_TICKERS} == {t: True for t in SAMPLE_TICKERS}
    assert list((tmp_path / "var" / "storage" / "reports").glob("*/*.md"))
    # Prices and a track record with no network: the sample series for the tickers and their
    # benchmarks, the synthetic history evaluated (the sweep's own reports are too new).
    assert summary["sweep"]["track"]["price_errors"] == {} and summary["sweep"]["track"]["bars_stored"] > 0
    with sqlite3.connect(database) as conn:
        symbols = {t for (t,) in conn.execute("SELECT DISTINCT ticker FROM price_bars")}
        overall = conn.execute("SELECT calls, hit_rate FROM track_records WHERE scope = '*' AND horizon_days = 5").fetchone()
    assert symbols == {*SAMPLE_TICKERS, "^GSPC", "^KS11"}
    assert overall[0] >= 20 and 0 <= overall[1] <= 1
