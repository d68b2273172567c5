"""Store throughput: 50,000 articles with 30 % duplicates into PostgreSQL, bulk vs row by row.

    python benchmarks/store_throughput.py [--articles 50000] [--batch 1000] [--admin-dsn ...]

Both paths get the same pre-normalised rows in the same order, in transactions of `--batch`
rows (as collectors write them):

- bulk:    `insert_articles` — one `INSERT ... ON CONFLICT DO NOTHING RETURNING` per batch;
- rowwise: one plain `INSERT ... ON CONFLICT (ticker, fingerprint) DO NOTHING` per row, sent
  on the driver's cursor (psycopg prepares it server-side after a few runs): the cheapest
  row-at-a-time write, with no ORM, no look-up first, and no SQLAlchemy per row.

Every row carries the real MinHash signature of its text (`minhash_signature`, as collectors
store it), computed before either clock starts. Each path runs against its own freshly
migrated database. Articles/s counts every input row, duplicates included. The last line is
`store: bulk=<N>/s rowwise=<M>/s ratio=<N/M>`.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._pgdb import fresh_database  # noqa: E402
from stockteacher.ingest.cluster import minhash_signature, to_bytes  # noqa: E402
from stockteacher.ingest.repository import insert_articles  # noqa: E402
from stockteacher.store.db import session_scope  # noqa: E402
from stockteacher.store.models import Article  # noqa: E402

TICKERS = ["AAPL", "MSFT", "NVDA", "TSLA", "AMZN", "GOOGL", "META", "005930.KS", "000660.KS", "035420.KS"]


def make_rows(n: int, duplicate_share: float, seed: int = 42) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    distinct = int(n * (1 - duplicate_share))
    base = datetime(2026, 11, 1, tzinfo=UTC)
    rows = []
    for i in range(distinct):
        ticker = TICKERS[i % len(TICKERS)]
        url = f"https://news{i % 37}.example/{ticker.lower()}/{i}"
        title = f"{ticker} headline number {i} about markets and earnings"
        description = f"A synthetic description of news item {i} on {ticker}, about two sentences long. " * 2
        rows.append(
            {
                "fingerprint": hashlib.sha256(f"{url}\n{title.lower()}".encode()).hexdigest(),
                "ticker": ticker,
                "canonical_url": url,
                "url": url,
                "title": title,
                "description": description,
                "body": "Body text. " * 40,
                "author": None,
                "source": f"Outlet {i % 37}",
                "source_type": "file",
                "language": "en",
                "published_at": base + timedelta(minutes=i),
                "published_at_estimated": False,
                "collected_at": base,
                # What `collect` stores: the signature of title + description, 64 × uint64.
                "minhash": to_bytes(minhash_signature(f"{title}\n{description}")),
                "trace_id": "bench",
            }
        )
    rows += [dict(rng.choice(rows)) for _ in range(n - distinct)]
    rng.shuffle(rows)
    return rows


_COLUMNS = (
    "fingerprint", "ticker", "canonical_url", "url", "title", "description", "body", "author", "source",
    "source_type", "language", "published_at", "published_at_estimated", "collected_at", "minhash", "trace_id",
)  # fmt: skip
_ROW_INSERT = (
    f"INSERT INTO articles ({', '.join(_COLUMNS)}) VALUES ({', '.join(f'%({c})s' for c in _COLUMNS)}) "
    "ON CONFLICT (ticker, fingerprint) DO NOTHING"
)


def insert_rowwise(session: Any, rows: Sequence[dict[str, Any]]) -> int:
    """The row-by-row baseline: one plain `INSERT ... ON CONFLICT DO NOTHING` per row."""
    cursor = session.connection().connection.dbapi_connection.cursor()
    saved = 0
    for row in rows:
        cursor.execute(_ROW_INSERT, row)
        saved += cursor.rowcount
    return saved


def run(
    admin_dsn: str, rows: Sequence[dict[str, Any]], batch: int, writer: Callable[[Any, Sequence[dict[str, Any]]], Any]
) -> tuple[float, int]:
    dsn, drop = fresh_database(admin_dsn)
    try:
        started = time.perf_counter()
        for start in range(0, len(rows), batch):
            with session_scope(dsn) as session:
                writer(session, rows[start : start + batch])
        elapsed = time.perf_counter() - started
        with session_scope(dsn) as session:
            stored = session.query(Article).count()
        return elapsed, stored
    finally:
        drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=50_000)
    parser.add_argument("--duplicates", type=float, default=0.30)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--admin-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()

    started = time.perf_counter()
    rows = make_rows(args.articles, args.duplicates)
    print(f"made rows with MinHash signatures in {time.perf_counter() - started:.1f}s")
    expected = len({(r["ticker"], r["fingerprint"]) for r in rows})
    print(f"rows={len(rows)} distinct={expected} batch={args.batch}")

    bulk_s, bulk_stored = run(args.admin_dsn, rows, args.batch, insert_articles)
    print(f"bulk:    {bulk_s:.2f}s stored={bulk_stored}")
    row_s, row_stored = run(args.admin_dsn, rows, args.batch, insert_rowwise)
    print(f"rowwise: {row_s:.2f}s stored={row_stored}")
    assert bulk_stored == row_stored == expected, (bulk_stored, row_stored, expected)

    bulk_rate, row_rate = len(rows) / bulk_s, len(rows) / row_s
    print(f"store: bulk={bulk_rate:.0f}/s rowwise={row_rate:.0f}/s ratio={bulk_rate / row_rate:.1f}")


if __name__ == "__main__":
    main()
