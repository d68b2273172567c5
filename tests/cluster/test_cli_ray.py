"""The Ray-facing CLI: `scheduler start|status|stop`, `scale analyzers N`, `run-once`."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from stockteacher.cli import main
from stockteacher.settings import Settings


def last(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, sqlite_dsn: str) -> None:
    monkeypatch.setenv("POSTGRES_DSN", sqlite_dsn)
    monkeypatch.setenv("INGESTION_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("REDIS_SOCKET_TIMEOUT_SECONDS", "0.2")
    monkeypatch.setenv("COLLECTION_SCHEDULES", '[{"ticker":"NVDA","source":"sample","interval_minutes":1440}]')
    monkeypatch.setenv("SCHEDULER_TICK_SECONDS", "3600")


def test_scheduler_lifecycle_and_scaling(ray_cluster: None, env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scale", "analyzers", "2", "--json"]) == 1
    assert last(capsys)["status"] == "not_running"  # the pool lives in the scheduler

    assert main(["scheduler", "start", "--json"]) == 0
    started = last(capsys)
    assert started["running"] is True and started["schedules"] == 1

    assert main(["scale", "analyzers", "3", "--json"]) == 0
    assert last(capsys)["size"] == 3
    assert main(["scheduler", "status", "--json"]) == 0
    status = last(capsys)
    assert status["analyzers"]["size"] == 3  # type: ignore[index]
    assert "NVDA:sample" in status["next_due"]  # type: ignore[operator]

    assert main(["scale", "analyzers", "0"]) == 2  # refused: a pool needs a replica
    capsys.readouterr()
    assert main(["scheduler", "stop", "--json"]) == 0
    assert last(capsys)["running"] is False
    assert main(["scheduler", "status", "--json"]) == 1
    assert last(capsys)["status"] == "not_running"


def test_run_once_cli(
    ray_cluster: None, env: None, capsys: pytest.CaptureFixture[str], make_settings: Callable[..., Settings]
) -> None:
    assert main(["run-once", "--tickers", "000660.KS", "--json"]) == 0
    summary = last(capsys)
    assert summary["status"] == "ok" and summary["published"] == 1 and summary["saved"] == 12
