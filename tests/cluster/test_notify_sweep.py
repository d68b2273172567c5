"""News triggers the alert, not the clock: an urgent report reaches an immediate subscriber's
webhook within the sweep that published it, with no scheduler tick in between."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from stockteacher.cluster.pool import AnalyzerPool
from stockteacher.cluster.sweep import run_sweep
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope
from stockteacher.store.models import JobRun, Report
from tests.factories.notify import WEBHOOK_SECRET, add_user
from tests.servers.webhook import WebhookReceiver


def test_an_urgent_report_goes_out_in_the_sweep_that_published_it(
    ray_cluster: None, pg_dsn: str, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(postgres_dsn=pg_dsn, analysis_provider="offline").for_workers()
    with WebhookReceiver(secret=WEBHOOK_SECRET) as hook:
        # alice wants the AAPL digest at the close, but her policy is `immediate`: urgent news now
        add_user(settings, "alice", tickers={"AAPL": "daily_close"}, policy={"timezone": "UTC"}, target=hook.url)
        add_user(settings, "bob", tickers={"AAPL": "daily_close"}, policy={"window": "daily_close"}, target=hook.url)
        pool = AnalyzerPool(settings, 1)
        try:
            result = run_sweep(settings, [("AAPL", "sample")], pool)
        finally:
            pool.shutdown()
        summary = result.summary()
        assert summary["status"] == "ok", summary["errors"]
        with session_scope(settings.dsn) as session:
            (report,) = session.execute(select(Report)).scalars().all()
            notify_runs = session.execute(select(JobRun).where(JobRun.stage == "notify")).scalars().all()
        assert report.anomaly_score >= 0.7  # the sample's EU probe: urgent
        assert summary["notified"]["sent"] == 1 and summary["notified"]["planned"] == 2
        (delivered,) = [r for r in hook.requests if r.json()["type"] == "reports"]
        assert delivered.signature_valid
        assert delivered.json()["reason"] == "urgent" and delivered.path.endswith("/hook")
        assert [r["insight_id"] for r in delivered.json()["reports"]] == [report.insight_id]
        assert [r.trace_id for r in notify_runs] == [result.trace_id]  # the same sweep, the same trace
