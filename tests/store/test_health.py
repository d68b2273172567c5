"""A database that is not ready says what to do, in one line: in the check itself, and from the
`stockteacher` commands and job scripts a user runs (as subprocesses, exit code 2, JSON last)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stockteacher.store import migrate
from stockteacher.store.health import (
    DatabaseNotMigrated,
    DatabaseUnreachable,
    check_database,
    display_dsn,
)
from tests.net import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_an_unmigrated_database_names_the_fix(empty_pg: str) -> None:
    with pytest.raises(DatabaseNotMigrated) as info:
        check_database(empty_pg)
    message = str(info.value)
    assert "not migrated (no schema yet)" in message
    assert "run `stockteacher db upgrade`" in message and "POSTGRES_DSN" in message
    assert "\n" not in message and display_dsn(empty_pg) in message


def test_an_older_schema_names_both_revisions(empty_pg: str) -> None:
    migrate.upgrade(empty_pg, "0001_ingestion")
    with pytest.raises(DatabaseNotMigrated, match=r"revision 0001_ingestion, this code needs 00\d\d_\w+\)"):
        check_database(empty_pg)
    migrate.upgrade(empty_pg)
    check_database(empty_pg)  # at head: no error


def test_a_schema_newer_than_the_code_is_not_mistaken_for_an_old_one(empty_pg: str) -> None:
    import psycopg

    migrate.upgrade(empty_pg)
    with psycopg.connect(empty_pg, autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'ffff_from_the_future'")
    with pytest.raises(DatabaseNotMigrated, match="does not know: a newer StockTeacher migrated it"):
        check_database(empty_pg)


def test_an_unreachable_database_fails_fast_with_its_address_and_no_password() -> None:
    dsn = f"postgresql://app:s3cret-pw@127.0.0.1:{free_port()}/st"
    started = time.monotonic()
    with pytest.raises(DatabaseUnreachable) as info:
        check_database(dsn)
    assert time.monotonic() - started < 15
    message = str(info.value)
    assert message.startswith("cannot reach the database at postgresql://app:***@127.0.0.1:")
    assert "s3cret-pw" not in message and "\n" not in message


def _run(args: list[str], dsn: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{BIN}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "POSTGRES_DSN": dsn,
        "INGESTION_REDIS_URL": "redis://127.0.0.1:1/0",
        "REDIS_SOCKET_TIMEOUT_SECONDS": "0.2",
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled"),
    }
    return subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)


def test_commands_refuse_an_unmigrated_database_with_exit_2(empty_pg: str, tmp_path: Path) -> None:
    result = _run([str(BIN / "stockteacher"), "collect", "AAPL", "--source", "sample", "--json"], empty_pg, tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "job_runs" not in result.stderr
    (line,) = [entry for entry in result.stderr.splitlines() if entry.startswith("error:")]
    assert "run `stockteacher db upgrade`" in line
    assert json.loads(result.stdout.splitlines()[-1])["error_code"] == "db_not_migrated"

    upgraded = _run([str(BIN / "stockteacher"), "db", "upgrade"], empty_pg, tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    again = _run([str(BIN / "stockteacher"), "collect", "AAPL", "--source", "sample", "--json"], empty_pg, tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout.splitlines()[-1])["saved"] > 0


def test_a_job_on_an_unmigrated_database_prints_the_fix_and_its_json(empty_pg: str, tmp_path: Path) -> None:
    result = _run([str(BIN / "python"), str(ROOT / "jobs/run_once.py"), "--tickers", "AAPL"], empty_pg, tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary == {
        "status": "failed",
        "error_code": "db_not_migrated",
        "error": summary["error"],
    } and "run `stockteacher db upgrade`" in summary["error"]
    assert "RayTaskError" not in result.stderr and "ProgrammingError" not in result.stderr


def test_db_upgrade_on_an_unreachable_server_says_so(tmp_path: Path) -> None:
    dsn = f"postgresql://postgres@127.0.0.1:{free_port()}/st"
    result = _run([str(BIN / "stockteacher"), "db", "upgrade"], dsn, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: cannot reach the database at postgresql://")
