"""The track record at scale: price history stored, every report graded, the API answering.

    python benchmarks/track_record.py [--reports-per-ticker 1000] [--admin-dsn postgresql://postgres@127.0.0.1:5432/postgres]

On a fresh PostgreSQL database: the sample series of the six demo tickers and both indices
from 2024-01-02 to 2026-11-30 (`refresh_prices`, the path `jobs/prices.py` takes), then
`--reports-per-ticker` published reports per ticker at random times over those years, then:

- `evaluate` once (every outcome computed and written, the records rewritten): the cold run;
- `evaluate` again with nothing new (what each sweep pays when no horizon passed): the warm run;
- `GET /api/track-record`, `GET /api/tickers/AAPL/track-record`, `GET /api/tickers/AAPL/prices`
  (a year of bars) and `GET /api/reports/{id}` (with its outcome) in-process through the ASGI
  app (`TestClient`, one client, sequential), 300 each after 20 warm-ups: what the handler,
  the database and the serialisation cost, without a network or a server in between. The
  reports cache (`API_CACHE_SECONDS`) answers repeated report reads; the track-record and price
  routes read the database every time.

The last line is `track: reports=… bars=… prices_s=… evaluate_cold_s=… evaluate_warm_s=… outcomes=…
api_p50_ms=…`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._pgdb import fresh_database  # noqa: E402
from stockteacher.demo import SAMPLE_TICKERS  # noqa: E402
from stockteacher.prices.sample import SamplePriceSource  # noqa: E402
from stockteacher.prices.service import refresh_prices, symbols_for  # noqa: E402
from stockteacher.settings import Settings  # noqa: E402
from stockteacher.store.db import session_scope  # noqa: E402
from stockteacher.store.models import Analysis, Report  # noqa: E402
from stockteacher.track.service import evaluate  # noqa: E402

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
START = date(2024, 1, 2)


def seed_reports(dsn: str, per_ticker: int) -> list[str]:
    rng = np.random.default_rng(7)
    span = (NOW - timedelta(days=2) - datetime(2024, 1, 10, tzinfo=UTC)).total_seconds()
    ids = []
    with session_scope(dsn) as session:
        for ticker in SAMPLE_TICKERS:
            analyses = [Analysis(ticker=ticker, content_hash=uuid.uuid4().hex * 2, prompt_version="bench",
                                 provider="offline", model="bench", locale="ko_KR", result={}, story_ids=[])
                        for _ in range(per_ticker)]  # fmt: skip
            session.add_all(analyses)
            session.flush()
            for analysis in analyses:
                published = datetime(2024, 1, 10, tzinfo=UTC) + timedelta(seconds=float(rng.random() * span))
                insight = f"bench_{uuid.uuid4().hex[:16]}"
                ids.append(insight)
                session.add(Report(
                    insight_id=insight, analysis_id=analysis.id, ticker=ticker, status="published",
                    published_at=published, headline=f"{ticker} news", summary_text="bench",
                    sentiment_score=float(np.clip(rng.normal(0, 0.45), -1, 1)), anomaly_score=0.0, tags=[],
                    keywords=[], glossary=[], anomalies=[], source_refs=[], attachments=[], quality_notes=[],
                    cost_usd=0.0, model="bench", locale="ko_KR", story_count=1, created_at=published,
                    updated_at=published, notify_planned_at=published,
                ))  # fmt: skip
    return ids


def timed_gets(client, path: str, headers: dict[str, str], n: int = 300) -> tuple[float, float]:
    for _ in range(20):
        assert client.get(path, headers=headers).status_code == 200, path
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        response = client.get(path, headers=headers)
        samples.append((time.perf_counter() - t) * 1000)
        assert response.status_code == 200
    samples.sort()
    return statistics.median(samples), samples[int(0.99 * (len(samples) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports-per-ticker", type=int, default=1000)
    parser.add_argument("--admin-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    dsn, drop = fresh_database(args.admin_dsn)
    try:
        settings = Settings(_env_file=None, postgres_dsn=dsn, auth_mode="api_key", price_source="sample")
        t = time.perf_counter()
        stored = asyncio.run(refresh_prices(settings, SamplePriceSource(now=NOW), symbols_for(SAMPLE_TICKERS),
                                            start=START, now=NOW))  # fmt: skip
        prices_s = time.perf_counter() - t
        assert not stored.errors
        ids = seed_reports(dsn, args.reports_per_ticker)
        t = time.perf_counter()
        cold = evaluate(settings, now=NOW)
        cold_s = time.perf_counter() - t
        t = time.perf_counter()
        warm = evaluate(settings, now=NOW)
        warm_s = time.perf_counter() - t
        assert warm.outcomes_added == 0
        print(f"prices: {stored.bars} bars of {len(stored.stored)} symbols in {prices_s:.2f} s "
              f"({stored.bars / prices_s:,.0f} bars/s, generation included)")  # fmt: skip
        print(f"evaluate cold: {len(ids)} reports, {cold.outcomes_added} outcomes, {cold.pending} pending, "
              f"{cold.records} records in {cold_s:.2f} s; warm (nothing new): {warm_s:.2f} s")  # fmt: skip

        from fastapi.testclient import TestClient

        from stockteacher.accounts.service import create_user
        from stockteacher.api.app import create_app

        _, key = create_user(settings, "bench", role="user")
        headers = {"Authorization": f"Bearer {key}"}
        results = {}
        with TestClient(create_app(settings)) as client:
            for name, path in [
                ("track_record", "/api/track-record"),
                ("ticker_track_record", "/api/tickers/AAPL/track-record"),
                ("prices_1y", "/api/tickers/AAPL/prices?from=2025-12-01&to=2026-11-30"),
                ("report_with_outcome", f"/api/reports/{ids[0]}"),
            ]:
                p50, p99 = timed_gets(client, path, headers)
                results[name] = (p50, p99)
                print(f"GET {path}: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
        print(
            f"track: reports={len(ids)} bars={stored.bars} prices_s={prices_s:.2f} evaluate_cold_s={cold_s:.2f} "
            f"evaluate_warm_s={warm_s:.2f} outcomes={cold.outcomes_added} "
            f"api_p50_ms={','.join(f'{k}:{v[0]:.2f}' for k, v in results.items())}"
        )
    finally:
        drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
