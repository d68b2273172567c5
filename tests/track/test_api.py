"""Prices and the track record over HTTP: bars stored by the sample source, reports evaluated by
`track.service.evaluate`, read back through `/api/tickers/{t}/prices`, `/api/tickers/{t}/track-record`,
`/api/track-record` and the report's `outcome`."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

from fastapi.testclient import TestClient

from stockteacher.prices.sample import SamplePriceSource
from stockteacher.prices.service import refresh_prices, symbols_for
from stockteacher.settings import Settings
from stockteacher.track.service import evaluate

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _store_sample_prices(settings: Settings, tickers: list[str]) -> None:
    result = asyncio.run(
        refresh_prices(settings, SamplePriceSource(now=NOW), symbols_for(tickers), start=date(2026, 6, 1), now=NOW)
    )
    assert not result.errors and result.bars > 0


def test_prices_come_back_oldest_first_with_the_benchmark_named(
    api_settings: Settings, client: TestClient, users: Any
) -> None:
    _store_sample_prices(api_settings, ["AAPL"])
    body = client.get("/api/tickers/AAPL/prices?from=2026-11-20&to=2026-11-30", headers=users.alice).json()
    assert body["ticker"] == "AAPL" and body["currency"] == "USD" and body["benchmark"] == "^GSPC"
    days = [b["date"] for b in body["bars"]]
    # 26 Nov is Thanksgiving (no session); 27 Nov a half day (a session); 28-29 a weekend.
    assert days == ["2026-11-20", "2026-11-23", "2026-11-24", "2026-11-25", "2026-11-27", "2026-11-30"]
    index = client.get("/api/tickers/%5EGSPC/prices?from=2026-11-27&to=2026-11-27", headers=users.alice).json()
    assert [b["date"] for b in index["bars"]] == ["2026-11-27"]
    inverted = client.get("/api/tickers/AAPL/prices?from=2026-11-30&to=2026-11-01", headers=users.alice)
    assert inverted.status_code == 200 and inverted.json()["bars"] == []  # an empty range
    bad = client.get("/api/tickers/AAPL/prices?from=30.11.2026", headers=users.alice)
    assert bad.status_code == 422 and "from" in bad.text
    assert client.get("/api/tickers/AAPL/prices", headers={}).status_code == 401


def test_a_report_gets_its_outcome_and_the_track_record_is_stored(
    api_settings: Settings, client: TestClient, users: Any, make_reports: Any
) -> None:
    _store_sample_prices(api_settings, ["AAPL", "005930.KS"])
    # After the US close on Friday 20 Nov (21:30 UTC): day 0 is Monday 23 Nov.
    late, neutral, korean, fresh = make_reports([
        {"ticker": "AAPL", "published_at": datetime(2026, 11, 20, 21, 30, tzinfo=UTC), "sentiment_score": 0.5},
        {"ticker": "AAPL", "published_at": datetime(2026, 11, 2, 15, 0, tzinfo=UTC), "sentiment_score": 0.1},
        {"ticker": "005930.KS", "published_at": datetime(2026, 10, 1, 1, 0, tzinfo=UTC), "sentiment_score": -0.4},
        {"ticker": "AAPL", "published_at": datetime(2026, 12, 1, 22, 0, tzinfo=UTC), "sentiment_score": 0.9},
    ])  # fmt: skip
    result = evaluate(api_settings, now=NOW)
    assert result.reports == 4
    detail = client.get(f"/api/reports/{late}", headers=users.alice).json()
    outcome = detail["outcome"]
    assert set(outcome) == {"1", "5"}  # +20 sessions after 23 Nov has not come yet
    one = outcome["1"]
    assert one["base_date"] == "2026-11-23" and one["end_date"] == "2026-11-24" and one["benchmark"] == "^GSPC"
    prices = {b["date"]: b["adj_close"] for b in client.get(
        "/api/tickers/AAPL/prices?from=2026-11-23&to=2026-11-24", headers=users.alice).json()["bars"]}  # fmt: skip
    assert abs(one["return"] - (prices["2026-11-24"] / prices["2026-11-23"] - 1)) < 1e-12
    assert abs(one["excess_return"] - (one["return"] - one["benchmark_return"])) < 1e-12
    assert one["hit"] == (one["excess_return"] > 0)
    assert client.get(f"/api/reports/{fresh}", headers=users.alice).json()["outcome"] is None
    assert client.get(f"/api/reports/{neutral}", headers=users.alice).json()["outcome"]["5"]["hit"] is None
    # 1 Oct 2026 is a KRX session (Armed Forces Day is not a holiday that year); 10:00 KST.
    kr = client.get(f"/api/reports/{korean}", headers=users.alice).json()["outcome"]
    assert kr["20"]["benchmark"] == "^KS11" and kr["1"]["base_date"] == "2026-10-01"

    record = client.get("/api/tickers/AAPL/track-record", headers=users.alice).json()
    assert record["ticker"] == "AAPL" and record["benchmark"] == "^GSPC" and record["horizon_days"] == 5
    assert record["reports"] == 2 and record["calls"] == 1  # the neutral one makes no call
    assert record["enough_data"] is False and record["min_calls"] == 20
    assert record["hits"] == int(outcome["5"]["hit"])
    lo, hi = record["hit_rate_ci95"]
    assert 0 <= lo < hi <= 1
    assert set(record["by_horizon"]) == {"1", "5", "20"}
    overall = client.get("/api/track-record", headers=users.alice).json()
    assert overall["overall"]["ticker"] is None and overall["overall"]["reports"] == 3
    assert [t["ticker"] for t in overall["tickers"]] == ["005930.KS", "AAPL"]
    # Evaluating again adds nothing: a known outcome is written once.
    assert evaluate(api_settings, now=NOW).outcomes_added == 0
