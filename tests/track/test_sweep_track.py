"""A sweep fetches its tickers' prices (and their benchmarks') once per trading day and evaluates
the reports: in this process, as `run_pipeline` runs it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from stockteacher.pipeline import run_pipeline
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope
from stockteacher.store.models import PriceBar, TrackRecord


def test_a_sweep_stores_prices_once_per_trading_day_and_the_track_record(
    make_settings: Callable[..., Any], pg_dsn: str
) -> None:
    settings: Settings = make_settings(postgres_dsn=pg_dsn, analysis_provider="offline", price_source="auto")
    first = run_pipeline(settings, [("AAPL", "sample"), ("005930.KS", "sample")], stages=("collect", "analyze", "publish"))
    assert first.ok, first.summary()["errors"]
    track = first.summary()["track"]
    assert track["bars_stored"] > 0 and track["price_errors"] == {}
    with session_scope(pg_dsn) as session:
        symbols = set(session.scalars(select(PriceBar.ticker).distinct()))
        per_day = session.execute(
            select(func.count()).select_from(PriceBar).group_by(PriceBar.ticker, PriceBar.trading_date)
            .having(func.count() > 1)
        ).all()  # fmt: skip
        scopes = set(session.scalars(select(TrackRecord.scope)))
    assert symbols == {"AAPL", "^GSPC", "005930.KS", "^KS11"} and per_day == []
    assert scopes == {"*", "AAPL", "005930.KS"}
    # The next sweep of the day finds every symbol current and asks the source for nothing.
    again = run_pipeline(settings, [("AAPL", "sample"), ("005930.KS", "sample")], stages=("collect", "analyze", "publish"))
    assert again.summary()["track"]["bars_stored"] == 0 and again.summary()["track"]["symbols_current"] == 4


def test_prices_off_fetches_nothing_and_a_failing_source_does_not_fail_the_sweep(
    make_settings: Callable[..., Any], pg_dsn: str
) -> None:
    off: Settings = make_settings(postgres_dsn=pg_dsn, analysis_provider="offline", price_source="off")
    result = run_pipeline(off, [("AAPL", "sample")], stages=("collect", "analyze", "publish"))
    assert result.ok and result.summary()["track"] == {}  # no track step at all
    # Yahoo at an address where nothing listens: the price errors are reported, the news sweep is ok.
    broken: Settings = make_settings(
        postgres_dsn=pg_dsn, analysis_provider="offline", price_source="yahoo",
        yahoo_chart_endpoint="http://127.0.0.1:9/v8/finance/chart", yahoo_max_retries=0,
    )  # fmt: skip
    failed = run_pipeline(broken, [("MSFT", "sample")], stages=("collect", "analyze", "publish"))
    summary = failed.summary()
    assert summary["status"] == "ok" and summary["published"] == 1
    assert set(summary["track"]["price_errors"]) == {"MSFT", "^GSPC"}
    assert all("connection" in e for e in summary["track"]["price_errors"].values())
