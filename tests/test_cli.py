"""The `stockteacher collect` command: its JSON last line, exit codes and messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from stockteacher.cli import main
from stockteacher.store.db import session_scope
from stockteacher.store.models import JobRun


def _last_json(text: str) -> dict[str, object]:
    return json.loads(text.strip().splitlines()[-1])


def test_collect_sample_json_last_line_is_the_counts(tmp_path: Path) -> None:
    # A real process, as a user runs it: SQLite under ./var is created and migrated.
    env = {"PATH": "/usr/bin:/bin", "INGESTION_REDIS_URL": "redis://127.0.0.1:1/0", "HOME": str(tmp_path)}
    cmd = [sys.executable, "-m", "stockteacher.cli", "collect", "AAPL", "--source", "sample", "--json"]
    first = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    counts = _last_json(first.stdout)
    assert set(counts) == {"fetched", "unique", "saved", "invalid"} and counts["invalid"] == 0
    assert counts["fetched"] >= 10 and counts["saved"] == counts["unique"] > 0
    assert (tmp_path / "var" / "dev.db").is_file()
    assert "collect.saved" in first.stderr  # the log events go to stderr, the result to stdout


def test_collect_twice_saves_nothing_new(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("INGESTION_REDIS_URL", "redis://127.0.0.1:1/0")
    assert main(["collect", "TSLA", "--source", "sample", "--json"]) == 0
    first = _last_json(capsys.readouterr().out)
    assert main(["collect", "TSLA", "--source", "sample", "--json"]) == 0
    second = _last_json(capsys.readouterr().out)
    assert first["saved"] > 0 and second == {"fetched": first["fetched"], "unique": 0, "saved": 0, "invalid": 0}


def test_collect_failure_exits_1_with_reason_and_failed_job_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INGESTION_REDIS_URL", "redis://127.0.0.1:1/0")
    assert main(["collect", "AAPL", "--source", "news_api", "--json"]) == 1  # no NEWS_API_KEY
    payload = _last_json(capsys.readouterr().out)
    assert payload["status"] == "failed" and payload["error_code"] == "apiKeyMissing"
    with session_scope("sqlite:///./var/dev.db") as session:
        run = session.scalars(select(JobRun)).one()
    assert (run.stage, run.status, run.error_code) == ("collect", "FAILED", "apiKeyMissing")
    assert "NEWS_API_KEY" in (run.error_message or "")


def test_collect_rejects_a_malformed_ticker(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["collect", "AA PL", "--source", "sample"]) == 2
    assert "invalid ticker" in capsys.readouterr().err


def test_collect_file_with_missing_column_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INGESTION_REDIS_URL", "redis://127.0.0.1:1/0")
    bad = tmp_path / "bad.csv"
    bad.write_text("title,link_to_story\nApple rises,https://x.example/1\n")
    assert main(["collect", "AAPL", "--source", "file", "--path", str(bad), "--json"]) == 1
    payload = _last_json(capsys.readouterr().out)
    assert payload["error_code"] == "missing_column" and "url" in str(payload["error"])
