"""The pipeline's one definition, run in this process: the order of the stages, one trace_id,
per-ticker fault isolation, and typed results that pickle (as they must to cross Ray)."""

from __future__ import annotations

import pickle
from collections.abc import Callable

import pytest
from sqlalchemy import select

from stockteacher.pipeline import Analyzed, Collected, Notified, Published, StageError, Sweep, run_pipeline
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope
from stockteacher.store.models import JobRun, Report


def runs(dsn: str) -> list[JobRun]:
    with session_scope(dsn) as session:
        return list(session.scalars(select(JobRun).order_by(JobRun.id)))


def test_a_sweep_runs_every_stage_in_order_under_one_trace(
    sqlite_dsn: str, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(postgres_dsn=sqlite_dsn, analysis_provider="offline")
    seen: list[tuple[str, str]] = []
    result = run_pipeline(
        settings,
        [("AAPL", "sample"), ("TSLA", "sample")],
        on_progress=lambda stage, r: seen.append((stage, type(r).__name__)),
    )
    summary = result.summary()
    assert summary["status"] == "ok", summary["errors"]
    assert summary["analyses"] == 2 and summary["published"] == 2 and summary["saved"] > 0
    assert set(summary) == {
        "status",
        "trace_id",
        "fetched",
        "unique",
        "saved",
        "analyses",
        "published",
        "insight_ids",
        "notified",
        "track",
        "errors",
        "duration_seconds",
    }
    assert summary["track"] == {}  # PRICE_SOURCE=off: no prices, no track step
    assert summary["notified"]["status"] == "ok" and summary["notified"]["trace_id"] == result.trace_id
    assert seen == [
        ("sweep", "Planned"),
        ("collect", "Collected"),
        ("analyze", "Analyzed"),
        ("publish", "Published"),
        ("collect", "Collected"),
        ("analyze", "Analyzed"),
        ("publish", "Published"),
        ("notify", "Notified"),
    ]
    rows = runs(sqlite_dsn)
    assert [(r.stage, r.ticker) for r in rows] == [
        ("collect", "AAPL"),
        ("analyze", "AAPL"),
        ("publish", "AAPL"),
        ("collect", "TSLA"),
        ("analyze", "TSLA"),
        ("publish", "TSLA"),
        ("notify", None),
    ]
    assert {r.trace_id for r in rows} == {result.trace_id} and {r.status for r in rows} == {"SUCCEEDED"}
    with session_scope(sqlite_dsn) as session:
        assert sorted(session.scalars(select(Report.insight_id))) == sorted(summary["insight_ids"])


def test_a_failing_source_fails_its_ticker_only(sqlite_dsn: str, make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(postgres_dsn=sqlite_dsn, analysis_provider="offline")  # news_api without a key
    summary = run_pipeline(settings, [("AAPL", "sample"), ("TSLA", "news_api")]).summary()
    assert summary["status"] == "partial"
    assert [(e["stage"], e["ticker"], e["source"], e["error_code"]) for e in summary["errors"]] == [
        ("collect", "TSLA", "news_api", "apiKeyMissing")
    ]
    assert summary["published"] == 1  # AAPL's report; TSLA was analysed anyway (nothing new)
    failed = [r for r in runs(sqlite_dsn) if r.status == "FAILED"]
    assert [(r.stage, r.ticker, r.error_code) for r in failed] == [("collect", "TSLA", "apiKeyMissing")]


def test_part_of_the_pipeline(sqlite_dsn: str, make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(postgres_dsn=sqlite_dsn, analysis_provider="offline")
    collected = run_pipeline(settings, [("NVDA", "sample")], stages=("collect",))
    assert collected.collected["NVDA:sample"].saved > 0 and not collected.analyzed
    analyzed = run_pipeline(settings, [("NVDA", None)], stages=("analyze", "publish"))
    assert analyzed.analyzed["NVDA"].status == "saved" and len(analyzed.insight_ids) == 1
    assert [r.stage for r in runs(sqlite_dsn)] == ["collect", "analyze", "publish"]
    with pytest.raises(ValueError, match="stages must be"):
        Sweep([("NVDA", "sample")], stages=("collect", "chat"))


def test_stage_results_pickle() -> None:
    results = [
        Collected("AAPL", "sample", 3, 2, 2, stories=(1, 2), node_id="n1"),
        Analyzed("AAPL", "saved", insight_id="ins_1", analysis_id=7, model="offline", replica=0),
        Analyzed.failed("AAPL", "daily_budget", "x" * 900, cost_usd=0.1),
        Published("AAPL", ("ins_1",), (), 0),
        Notified("t", planned=2, sent=1),
        StageError.of("collect", RuntimeError("boom\nsecond line"), ticker="AAPL", source="sample"),
    ]
    assert [pickle.loads(pickle.dumps(r)) for r in results] == results
    assert len(results[2].error or "") == 500  # a failure's message stays short across Ray
    assert results[-1].as_dict() == {
        "stage": "collect",
        "ticker": "AAPL",
        "source": "sample",
        "error_code": "RuntimeError",
        "error": "boom",
    }
