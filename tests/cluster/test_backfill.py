"""Backfills on Ray Data (the session's Ray, PostgreSQL): a directory mixing Parquet and JSON
Lines read once, bad rows counted by reason in the summary and `job_runs`, the `--tickers`
filter, a rerun that stores nothing, and the README's job line as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import func, select

from stockteacher.cluster.entrypoints import backfill_job
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope
from stockteacher.store.models import Article, JobRun, Story
from tests.factories.cluster import ROOT, job_env, last_json

COMPANIES = {"AAPL": "Apple", "MSFT": "Microsoft", "TSLA": "Tesla"}


def row(ticker: str, i: int) -> dict[str, object]:
    name = COMPANIES[ticker]
    return {
        "ticker": ticker,
        "title": f"{name} item {i}: {name} plans number {i * 7} for its next quarter",
        "url": f"https://wire{i % 5}.example/{ticker.lower()}/{i}",
        "description": f"What {name} said about plan {i}.",
        "published_at": f"2026-10-{1 + i % 28:02d}T09:00:00Z",
        "source_name": f"Wire {i % 5}",
    }


def write_inputs(directory: Path) -> int:
    """Two files over three tickers (30 good rows, 2 duplicates, 3 bad rows); their row count."""
    parquet = [row(t, i) for t in COMPANIES for i in range(6)] + [row("AAPL", 0)]
    parquet += [{**row("AAPL", 99), "title": None}, {**row("MSFT", 98), "ticker": "no such ticker!"}]
    pq.write_table(pa.Table.from_pylist(parquet), directory / "part-0.parquet")
    lines = [json.dumps(row(t, i)) for t in COMPANIES for i in range(6, 10)] + [json.dumps(row("TSLA", 6)), "{broken"]
    (directory / "part-1.jsonl").write_text("\n".join(lines) + "\n")
    return len(parquet) + len(lines)


def test_a_mixed_directory_is_read_once_bad_rows_counted_and_a_rerun_stores_nothing(
    ray_cluster: None, pg_dsn: str, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(postgres_dsn=pg_dsn)
    rows = write_inputs(tmp_path)

    first = backfill_job(str(tmp_path), settings=settings, analyze=False)
    assert first["status"] == "ok" and first["files"] == 2 and first["formats"] == ["jsonl", "parquet"]
    assert first["rows"] == rows  # every row read once, not once per ticker
    assert first["invalid"] == 3 and first["invalid_reasons"] == {"bad_ticker": 1, "malformed": 1, "no_title": 1}
    assert first["duplicates"] == 2 and first["saved"] == 30 and first["tickers"] == 3
    with session_scope(pg_dsn) as session:
        per_ticker = dict(session.execute(select(Article.ticker, func.count()).group_by(Article.ticker)).all())
        assert per_ticker == {"AAPL": 10, "MSFT": 10, "TSLA": 10}
        assert session.scalar(select(func.count()).select_from(Article).where(Article.story_id.is_(None))) == 0
        assert session.scalar(select(func.count()).select_from(Story)) > 0
        run = session.execute(select(JobRun).where(JobRun.trace_id == first["trace_id"])).scalar_one()
        assert (run.stage, run.status, run.fetched, run.saved) == ("backfill", "SUCCEEDED", rows, 30)
        assert run.details["invalid_reasons"] == first["invalid_reasons"]

    again = backfill_job(str(tmp_path), settings=settings, analyze=False)
    assert again["rows"] == rows and again["saved"] == 0 and again["already_stored"] == 30


def test_the_tickers_filter_stores_only_those_tickers(
    ray_cluster: None, pg_dsn: str, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    write_inputs(tmp_path)
    summary = backfill_job(
        str(tmp_path), tickers="msft,TSLA", settings=make_settings(postgres_dsn=pg_dsn), analyze=False
    )
    assert summary["saved"] == 20 and summary["tickers"] == 2
    assert summary["invalid_reasons"] == {"bad_ticker": 1, "malformed": 1}  # AAPL's bad row was filtered out first
    with session_scope(pg_dsn) as session:
        assert set(session.scalars(select(Article.ticker).distinct())) == {"MSFT", "TSLA"}


def test_the_backfill_job_as_the_readme_runs_it(tmp_path: Path) -> None:
    data = tmp_path / "news"
    data.mkdir()
    write_inputs(data)
    env = job_env(tmp_path)
    env.update(
        POSTGRES_DSN=f"sqlite:///{tmp_path / 'plain.db'}",
        INGESTION_REDIS_URL="redis://127.0.0.1:1/0",
        LOCAL_STORAGE_ROOT=str(tmp_path / "storage"),
        REDIS_SOCKET_TIMEOUT_SECONDS="0.2",
    )
    result = subprocess.run(
        [sys.executable, "jobs/backfill.py", "--path", str(data), "--tickers", "AAPL"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = last_json(result.stdout)
    assert summary["status"] == "ok" and summary["saved"] == 10 and summary["published"] == 1
    assert "[backfill] 1 tickers stored: 10 articles" in result.stderr  # progress is shown

    (data / "bad.csv").write_text("ticker,headline\nAAPL,x\n")
    refused = subprocess.run(
        [sys.executable, "jobs/backfill.py", "--path", str(data)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert refused.returncode == 2
    assert (
        last_json(refused.stdout)["error"]
        == "bad.csv is missing required column(s) title, url; it has: ticker, headline"
    )
